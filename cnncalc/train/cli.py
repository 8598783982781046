"""``python -m cnncalc train | ladder | worker | runs | cancel | delete | resume`` (the engine and run store the
app uses). The CLI acts as the teacher unless ``--owner NAME`` names a student.

Whatever is typed, a command ends with a result or with one ``error: …`` line on stderr and exit code 2 —
never a traceback: options are checked (:class:`TrainConfig` validates every field, :func:`require_device`
asks PyTorch whether the device exists) before the run store is touched, and a store that cannot be opened
(corrupt, read-only, not a file) is reported with the folder and how to choose another one.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sqlite3
import sys
from contextlib import contextmanager
from pathlib import Path

from .config import DEVICES, LADDER, TrainConfig, check_device, cpu_ladder, quick_config


class CommandError(Exception):
    """A command that cannot run as typed; ``python -m cnncalc`` prints ``error: <message>`` and exits 2."""


def add_parsers(sub) -> None:
    t = sub.add_parser("train", help="train a network (CIFAR-10 lab experiments)",
                       description="Train and record the run in the run store (visible in the app).")
    d = TrainConfig()
    t.add_argument("--preset", default=d.preset, help="cnncalc preset (default: lab)")
    t.add_argument("--spec", help="a text spec instead of a preset")
    t.add_argument("--data", default=d.data, help="cifar10 | mnist | synthetic | PATH to an ImageFolder tree")
    t.add_argument("--epochs", type=int, default=d.epochs)
    t.add_argument("--batch-size", type=int, default=d.batch_size)
    t.add_argument("--lr", type=float, default=d.lr)
    t.add_argument("--device", default=d.device, help=DEVICES)
    t.add_argument("--limit", type=int, help="examples per split (default: all)")
    t.add_argument("--test-limit", type=int, help="test examples, when fewer than --limit (default: as --limit)")
    t.add_argument("--max-seconds", type=float, help="time budget in seconds, data loading included: training "
                                                     "stops in time for the final evaluation (default: none)")
    t.add_argument("--quick", action="store_true",
                   help="the quick CPU recipe (config.QUICK): the lab net learning CIFAR-10 in about a minute; "
                        "options left at their defaults take the recipe's values")
    t.add_argument("--standardize", default=d.standardize, choices=["none", "lab", "train"])
    t.add_argument("--augment", default=d.augment, choices=["none", "cropflip", "padcrop"])
    t.add_argument("--zca", action="store_true", help="ZCA whitening (fast pipeline)")
    t.add_argument("--optimizer", default=d.optimizer, choices=["sgd", "adam", "adamw"])
    t.add_argument("--momentum", type=float, default=d.momentum)
    t.add_argument("--nesterov", action="store_true")
    t.add_argument("--weight-decay", type=float, default=d.weight_decay)
    t.add_argument("--schedule", default=d.schedule, choices=["none", "exponential", "step", "cosine", "onecycle"])
    t.add_argument("--gamma", type=float, default=d.gamma, help="ExponentialLR factor per epoch")
    t.add_argument("--dropout", type=float, default=d.dropout, help="dropout before the last fc")
    t.add_argument("--batchnorm", action="store_true", help="batch norm after each conv")
    t.add_argument("--pipeline", default=d.pipeline, choices=["fast", "lab"])
    t.add_argument("--precision", default=d.precision, choices=["auto", "fp32", "bf16"],
                   help="auto: bf16 autocast on CUDA and on CPUs with AMX, else fp32")
    t.add_argument("--workers", type=int, default=d.workers, help="DataLoader workers (lab pipeline)")
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--compile", action="store_true", help="torch.compile the model (GPU, long runs)")
    t.add_argument("--graph", default=d.graph, choices=["auto", "off"],
                   help="auto: on CUDA each training step is one CUDA graph (fast pipeline); off: eager steps")
    t.add_argument("--data-dir", help="run store folder (default: $CNNCALC_DATA or ./data)")
    t.add_argument("--owner", help="record the run as this student's (default: the teacher's)")
    t.add_argument("--json", action="store_true", help="one JSON line per epoch")
    t.set_defaults(run=_train)
    lad = sub.add_parser("ladder", help="run the lab's six steps one after the other and summarise them",
                         description="Each step of the lab's ladder (config.LADDER) as a run in the store, then "
                                     "a table: final and best test top-1, and the test-loss minimum.")
    lad.add_argument("--data", default=d.data)
    lad.add_argument("--device", default=d.device, help=DEVICES)
    lad.add_argument("--limit", type=int, help="examples per split (default: all)")
    lad.add_argument("--epochs", type=int, help="override every step's epochs (default: the ladder's 30–100)")
    lad.add_argument("--steps", default=",".join(_step_numbers()), help="which steps, e.g. 1,3")
    lad.add_argument("--cpu", action="store_true", help="each step scaled to a few minutes on a CPU "
                                                          "(config.cpu_ladder: 10,000 images, a third of the epochs)")
    lad.add_argument("--data-dir")
    lad.add_argument("--owner", help="record the runs as this student's (default: the teacher's)")
    lad.add_argument("--json", action="store_true")
    lad.set_defaults(run=_ladder)
    _add_run_commands(sub)
    w = sub.add_parser("worker", help="execute queued runs (started by the app)")
    w.add_argument("--data-dir")
    w.add_argument("--device", default="auto", help=DEVICES)
    w.add_argument("--idle-exit", type=float, help="exit after this many idle seconds")
    w.set_defaults(run=_worker)


def _add_run_commands(sub) -> None:
    """runs, cancel, delete, resume: the run store from the command line, as the teacher or ``--owner``."""
    r = sub.add_parser("runs", help="list the runs of the store (status, owner, result)")
    r.add_argument("--data-dir")
    r.add_argument("--json", action="store_true", help="one JSON object per run")
    r.set_defaults(run=_runs)
    for verb, text in (("cancel", "cancel a queued or running run"), ("delete", "delete a finished run"),
                       ("resume", "continue an interrupted, stopped or cancelled run from its last checkpoint")):
        c = sub.add_parser(verb, help=text)
        c.add_argument("run_id", type=int, metavar="RUN")
        c.add_argument("--data-dir")
        c.add_argument("--owner", help="act as this student (default: the teacher, who may act on any run)")
        if verb == "resume":
            c.add_argument("--queue", action="store_true", help="queue it for the app's worker instead of "
                                                                 "training it here")
            c.add_argument("--json", action="store_true", help="one JSON line per epoch")
        c.set_defaults(run=_act, verb=verb)


def _owner(args):
    from ..server.identity import cli_owner
    try:
        return cli_owner(getattr(args, "owner", None))
    except ValueError as err:
        raise CommandError(f"--owner: {err}") from None


def _root(args):
    from .store import default_root
    return args.data_dir or default_root()


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig of ``train``'s options (every option of the parser is a field of the config). With
    ``--quick``: the quick recipe (:func:`config.quick_config` for ``--data`` and ``--seed``), every option that
    differs from its default overriding it (an option given at its default cannot be told from one not given)."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    given = {k: v for k, v in vars(args).items() if k in known}
    if not getattr(args, "quick", False):
        return TrainConfig(**given)
    default = TrainConfig()
    recipe = quick_config(given["data"], seed=given["seed"])
    return recipe.replace(**{k: v for k, v in given.items() if v != getattr(default, k)})


def require_device(name: str) -> None:
    """Raise :class:`CommandError` unless this machine has the device ``name`` (already spelled right, see
    :func:`check_device`): asked before a run is recorded, so ``--device cuda`` on a laptop is one clear
    line instead of a run that fails inside PyTorch."""
    if name in ("auto", "cpu"):
        return  # every machine has a CPU; the check then costs no torch import
    import torch
    if name.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise CommandError("no CUDA device here: use --device cpu or auto")
        index = int(name.partition(":")[2] or 0)
        if index >= count:
            raise CommandError(f"no CUDA device {index} here (this machine has cuda:0 to cuda:{count - 1}): "
                               "use one of those, or --device auto")
    elif name == "mps" and not torch.backends.mps.is_available():
        raise CommandError("no MPS (Apple GPU) device here: use --device cpu or auto")


@contextmanager
def _store_errors(root):
    """Turn a run store that cannot be opened or written — garbage in runs.sqlite, a read-only folder,
    runs.sqlite being a folder — into a :class:`CommandError` naming the folder and the way out."""
    from .store import NotAllowed
    try:
        yield
    except NotAllowed:  # somebody else's run: not a store problem
        raise
    except (sqlite3.Error, OSError) as err:  # PermissionError is an OSError
        raise CommandError(f"the run store at {Path(root).resolve()} cannot be used: {err} "
                           "(set --data-dir or $CNNCALC_DATA to a writable folder)") from None


def _open_store(root):
    from .store import RunStore
    with _store_errors(root):
        return RunStore(root)


def _checked(make) -> TrainConfig:
    """``make()``'s config, with its device present on this machine; ValueError → CommandError."""
    try:
        cfg = make()
    except ValueError as err:  # TrainConfig names the field, the value and the range
        raise CommandError(str(err)) from None
    require_device(cfg.device)
    return cfg


def _train(args: argparse.Namespace) -> int:
    cfg = _checked(lambda: config_from_args(args))
    root = _root(args)
    store = _open_store(root)
    from .store import describe
    from .engine import pick_device  # torch: imported once the command is known to run
    with _store_errors(root):
        run_id = store.start_external(cfg, "quick recipe · " + describe(cfg) if args.quick else "", _owner(args),
                                      os.getpid(), str(pick_device(cfg.device)), variant="")
    return _run_here(store, run_id, args.json)


def _run_here(store, run_id: int, as_json: bool) -> int:
    """Train a run this process has recorded as running, printing its epochs as they land."""
    from .worker import execute
    run = store.get(run_id)
    printed = 0

    def show():  # print epochs as they land in the store
        nonlocal printed
        for e in store.epochs(run_id)[printed:]:
            e.pop("batch_losses")
            print(json.dumps(e) if as_json else
                  f"epoch {e['epoch']:3d}  train loss {e['train_loss']:.3f} top-1 {e['train_top1']:.1%} "
                  f"top-5 {e['train_top5']:.1%} | test loss {e['test_loss']:.3f} top-1 {e['test_top1']:.1%} "
                  f"top-5 {e['test_top5']:.1%} | lr {e['lr']:.4g} | {e['seconds']:.1f} s", flush=True)
            printed += 1

    import threading
    done = threading.Event()

    def poll():
        while not done.wait(0.5):
            show()
    threading.Thread(target=poll, daemon=True).start()
    try:
        status = execute(store, run)
    except KeyboardInterrupt:
        store.finish(run_id, "interrupted", "stopped from the keyboard")
        status = "interrupted"
    done.set()
    show()
    final = store.get(run_id)
    print(json.dumps({"run": run_id, "status": status, "message": final.message}) if as_json
          else f"run {run_id}: {status} — {final.message}", file=sys.stdout if status == "done" else sys.stderr)
    return 0 if status == "done" else 1


def _runs(args: argparse.Namespace) -> int:
    root = _root(args)
    store = _open_store(root)
    with _store_errors(root):
        runs = store.list()
    for r in runs:
        row = {"run": r.id, "status": r.status, "owner": r.owner_name or r.owner, "name": r.name,
               "progress": round(r.progress, 3), "message": r.message}
        print(json.dumps(row, ensure_ascii=False) if args.json else
              f"#{r.id:<5} {r.status:11} {row['owner'][:16]:16} {r.name[:50]:50} {r.message[:70]}")
    return 0


def _act(args: argparse.Namespace) -> int:
    """cancel / delete / resume RUN as the teacher or --owner; a refusal is one error line, exit 2."""
    who, root = _owner(args), _root(args)
    store = _open_store(root)
    try:
        with _store_errors(root):
            if args.verb != "resume":
                getattr(store, args.verb)(args.run_id, who)
                print(f"run {args.run_id}: {args.verb}{'led' if args.verb == 'cancel' else 'd'}")
                return 0
            run = store.resume(args.run_id, who)
            if args.queue:
                from .worker import ensure_worker
                ensure_worker(root)
                print(f"run {run.id}: queued again — {run.message}")
                return 0
            from .engine import pick_device
            claimed = store.claim(os.getpid(), str(pick_device(run.config.device)), run_id=run.id)
    except KeyError:
        raise CommandError(f"there is no run {args.run_id} in this store (python -m cnncalc runs lists them)") from None
    except (PermissionError, ValueError) as err:
        raise CommandError(str(err)) from None
    if claimed is None:
        raise CommandError(f"run {args.run_id} was taken by a worker first: watch it in the app")
    print(f"run {claimed.id}: {claimed.message}", flush=True)
    return _run_here(store, claimed.id, args.json)


def _worker(args: argparse.Namespace) -> int:
    from .worker import serve
    try:
        check_device(args.device)
    except ValueError as err:
        raise CommandError(str(err)) from None
    require_device(args.device)
    if args.idle_exit is not None and not args.idle_exit >= 0:  # NaN would compare false and serve forever
        raise CommandError(f"--idle-exit {args.idle_exit!r}: give seconds ≥ 0 (inf: never exit)")
    root = _root(args)
    _open_store(root)  # fails here, with the folder named, rather than inside the serving loop
    with _store_errors(root):  # the worker's lock file lives in the same folder
        serve(root, args.device, args.idle_exit)
    return 0


def _step_numbers() -> list[str]:
    return [name.split()[0] for name in LADDER]


def ladder_steps(text: str) -> list[str]:
    """The ladder's step names chosen by ``--steps`` (``'1,3'``), in the ladder's order; a CommandError listing
    the steps that exist for anything else — a typo must not quietly run nothing."""
    numbers = _step_numbers()
    wanted = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [x for x in wanted if x not in numbers]
    if unknown or not wanted:
        listed = "; ".join(LADDER)
        shown = ", ".join(repr(x if len(x) <= 20 else x[:20] + "…") for x in unknown[:5]) or repr(text)
        raise CommandError(f"--steps {shown}: {'no such step' if unknown else 'no step given'}; the ladder's "
                           f"steps are {listed} "
                           f"(give their numbers separated by commas, e.g. --steps 1,3)")
    return [name for name in LADDER if name.split()[0] in wanted]


def _ladder(args: argparse.Namespace) -> int:
    steps = ladder_steps(args.steps)
    overrides = {} if args.epochs is None else {"epochs": args.epochs}  # 0 is refused by TrainConfig, not ignored
    if args.limit is not None:
        overrides["limit"] = args.limit
    settings = {name: cpu_ladder(LADDER[name]) if args.cpu else LADDER[name] for name in steps}
    configs = {name: _checked(lambda changes=settings[name]: TrainConfig(
        data=args.data, device=args.device, **{**changes, **overrides})) for name in steps}
    root = _root(args)
    store = _open_store(root)
    from .engine import pick_device  # torch: imported once the command is known to run
    from .worker import execute
    rows = []
    for name, cfg in configs.items():
        with _store_errors(root):
            run_id = store.start_external(cfg, f"ladder {name}", _owner(args), os.getpid(),
                                          str(pick_device(cfg.device)), variant="")
        status = execute(store, store.get(run_id))
        epochs = store.epochs(run_id)
        best = max(epochs, key=lambda e: e["test_top1"]) if epochs else None
        low = min(epochs, key=lambda e: e["test_loss"]) if epochs else None
        row = {"step": name, "run": run_id, "status": status, "epochs": len(epochs),
               "final_top1": epochs[-1]["test_top1"] if epochs else None,
               "best_top1": best and best["test_top1"], "best_epoch": best and best["epoch"],
               "min_test_loss": low and low["test_loss"], "min_loss_epoch": low and low["epoch"],
               "s_per_epoch": sum(e["seconds"] for e in epochs) / len(epochs) if epochs else None}
        rows.append(row)
        print(json.dumps(row) if args.json else
              f"{name:40} {status:9} final {row['final_top1'] or 0:.1%}  best {row['best_top1'] or 0:.1%} "
              f"(epoch {row['best_epoch']})  min test loss {row['min_test_loss'] or 0:.3f} "
              f"(epoch {row['min_loss_epoch']})  {row['s_per_epoch'] or 0:.2f} s/epoch", flush=True)
    return 0 if all(r["status"] == "done" for r in rows) else 1

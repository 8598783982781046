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

from ..server.limits import BACKENDS
from .config import DEVICES, LADDER, TrainConfig, check_device, cpu_ladder, quick_config


class CommandError(Exception):
    """A command that cannot run as typed; ``python -m cnncalc`` prints ``error: <message>`` and exits 2."""


def add_parsers(sub) -> None:
    t = sub.add_parser("train", help="train a network (CIFAR-10 lab experiments)",
                       description="Train and record the run in the run store (visible in the app).")
    add_train_options(t)
    t.add_argument("--data-dir", help="run store folder (default: $CNNCALC_DATA or ./data)")
    t.add_argument("--owner", help="record the run as this student's (default: the teacher's)")
    t.add_argument("--json", action="store_true", help="one JSON line per epoch")
    t.set_defaults(run=_train)
    q = sub.add_parser("submit", help="queue a run for the worker (as the page does) and print its id",
                       description="Queue a run without training it here: the server's worker — embedded, or the "
                                   "Ray backend — trains it. The classroom quotas apply as on the page.")
    add_train_options(q)
    q.add_argument("--name", default="", help="the run's name in the list (default: its settings)")
    q.add_argument("--data-dir", help="run store folder (default: $CNNCALC_DATA or ./data)")
    q.add_argument("--owner", help="queue the run as this student's (default: the teacher's)")
    q.add_argument("--json", action="store_true", help="one JSON object: the run, its place in the queue")
    q.set_defaults(run=_submit)
    d = TrainConfig()
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
    w = sub.add_parser("worker", help="execute queued runs (the embedded worker is started by the app)",
                       description="Serve the run store's queue. embedded: one process per device on this machine "
                                   "(the app starts it). ray: every run as a Ray actor on any machine of a Ray "
                                   "cluster (README: A class on several GPU machines).")
    w.add_argument("--data-dir")
    w.add_argument("--device", default="auto", help=DEVICES + " (ray: auto or cuda ask each run a GPU, cpu a CPU)")
    w.add_argument("--idle-exit", type=float, help="exit after this many idle seconds")
    w.add_argument("--backend", choices=BACKENDS, help="embedded | ray (default: the server setting, backend "
                                                       "under [server] in classroom.toml or $CNNCALC_BACKEND; "
                                                       "else embedded)")
    w.add_argument("--ray-address", help="ray: the cluster to join (auto, or HOST:6379; default: a local Ray)")
    w.add_argument("--gpus-per-run", type=float, default=1.0, help="ray: GPUs each run asks for (default 1)")
    w.add_argument("--cpus-per-run", type=float, default=1.0, help="ray: CPUs each run asks for (default 1)")
    w.add_argument("--checkpoint-seconds", type=float, default=None,
                   help="ray: at most one checkpoint per run per this many seconds, each crossing the network to "
                        "the web host (default 30; 0: after every epoch)")
    w.set_defaults(run=_worker)


def add_train_options(p) -> None:
    """The options of a run's settings (``train`` and ``submit``): one per TrainConfig field."""
    d = TrainConfig()
    p.add_argument("--preset", default=d.preset, help="cnncalc preset (default: lab)")
    p.add_argument("--spec", help="a text spec instead of a preset")
    p.add_argument("--data", default=d.data, help="cifar10 | mnist | synthetic | PATH to an ImageFolder tree")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--device", default=d.device, help=DEVICES)
    p.add_argument("--limit", type=int, help="examples per split (default: all)")
    p.add_argument("--test-limit", type=int, help="test examples, when fewer than --limit (default: as --limit)")
    p.add_argument("--max-seconds", type=float, help="time budget in seconds, data loading included: training "
                                                     "stops in time for the final evaluation (default: none)")
    p.add_argument("--quick", action="store_true",
                   help="the quick CPU recipe (config.QUICK): the lab net learning CIFAR-10 in about a minute; "
                        "options left at their defaults take the recipe's values")
    p.add_argument("--standardize", default=d.standardize, choices=["none", "lab", "train"])
    p.add_argument("--augment", default=d.augment, choices=["none", "cropflip", "padcrop"])
    p.add_argument("--zca", action="store_true", help="ZCA whitening (fast pipeline)")
    p.add_argument("--optimizer", default=d.optimizer, choices=["sgd", "adam", "adamw"])
    p.add_argument("--momentum", type=float, default=d.momentum)
    p.add_argument("--nesterov", action="store_true")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--schedule", default=d.schedule, choices=["none", "exponential", "step", "cosine", "onecycle"])
    p.add_argument("--gamma", type=float, default=d.gamma, help="ExponentialLR factor per epoch")
    p.add_argument("--dropout", type=float, default=d.dropout, help="dropout before the last fc")
    p.add_argument("--batchnorm", action="store_true", help="batch norm after each conv")
    p.add_argument("--pipeline", default=d.pipeline, choices=["fast", "lab"])
    p.add_argument("--precision", default=d.precision, choices=["auto", "fp32", "bf16"],
                   help="auto: bf16 autocast on CUDA and on CPUs with AMX, else fp32")
    p.add_argument("--workers", type=int, default=d.workers, help="DataLoader workers (lab pipeline)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--compile", action="store_true", help="torch.compile the model (GPU, long runs)")
    p.add_argument("--graph", default=d.graph, choices=["auto", "off"],
                   help="auto: on CUDA each training step is one CUDA graph (fast pipeline); off: eager steps")

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
               "progress": round(r.progress, 3), "device": r.device, "phase": r.phase, "message": r.message}
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


def _backend(root) -> str:
    """The server's backend setting (limits.queue_backend); a bad value is a CommandError naming it."""
    from ..server.limits import queue_backend
    try:
        return queue_backend(root)
    except ValueError as err:
        raise CommandError(str(err)) from None


def _worker(args: argparse.Namespace) -> int:
    try:
        check_device(args.device)
    except ValueError as err:
        raise CommandError(str(err)) from None
    if args.idle_exit is not None and not args.idle_exit >= 0:  # NaN would compare false and serve forever
        raise CommandError(f"--idle-exit {args.idle_exit!r}: give seconds ≥ 0 (inf: never exit)")
    root = _root(args)
    backend = args.backend or _backend(root)
    if backend == "ray":
        return _ray_worker(args, root)
    if args.ray_address or args.checkpoint_seconds is not None:
        raise CommandError("--ray-address and --checkpoint-seconds are options of the Ray backend: add --backend ray")
    from .worker import serve
    require_device(args.device)
    _open_store(root)  # fails here, with the folder named, rather than inside the serving loop
    with _store_errors(root):  # the worker's lock file lives in the same folder
        serve(root, args.device, args.idle_exit)
    return 0


def _ray_worker(args: argparse.Namespace, root) -> int:
    """``worker --backend ray``: the devices are the cluster's, not this machine's (the web host may have no
    GPU), so only the kind is checked: auto or cuda ask each run for GPUs, cpu for CPUs."""
    if args.device not in ("auto", "cuda", "cpu"):
        raise CommandError(f"--device {args.device}: with --backend ray give auto or cuda (each run asks the "
                           "cluster for --gpus-per-run GPUs) or cpu (--cpus-per-run CPUs); Ray picks the machine")
    try:
        from . import ray_backend
    except ImportError as err:
        raise CommandError(str(err)) from None
    try:
        resources = ray_backend.Resources(0.0 if args.device == "cpu" else args.gpus_per_run, args.cpus_per_run)
    except ValueError as err:
        raise CommandError(f"--gpus-per-run/--cpus-per-run: {err}") from None
    seconds = ray_backend.CHECKPOINT_SECONDS if args.checkpoint_seconds is None else args.checkpoint_seconds
    if not 0 <= seconds <= 86_400:
        raise CommandError(f"--checkpoint-seconds {seconds!r}: give seconds from 0 to 86400")
    _open_store(root)
    with _store_errors(root):
        try:
            ray_backend.serve(root, args.ray_address, resources, args.idle_exit, checkpoint_seconds=seconds)
        except ray_backend.RayUnavailable as err:
            raise CommandError(str(err)) from None
    return 0


def _submit(args: argparse.Namespace) -> int:
    """Queue a run as the page does (the classroom quotas apply; the teacher is exempt from the per-owner count
    only) and print its id on stdout — the place in the queue and who serves it on stderr (``--json``: one
    object on stdout). With the embedded backend a worker is started here if none runs, as the page does."""
    from ..server.limits import load_limits
    from .store import QuotaExceeded, describe
    root = _root(args)
    backend = _backend(root)
    try:
        cfg = config_from_args(args)
    except ValueError as err:
        raise CommandError(str(err)) from None
    if backend == "embedded":
        require_device(cfg.device)  # this machine trains it; with Ray the cluster's machines do
    try:
        limits = load_limits(root)
    except ValueError as err:
        raise CommandError(str(err)) from None
    who, store = _owner(args), _open_store(root)
    name = args.name.strip()[:200] or ("quick recipe · " + describe(cfg) if args.quick else "")
    with _store_errors(root):
        try:
            run_id = store.enqueue(cfg, name, who, limits)
        except QuotaExceeded as err:
            raise CommandError(str(err)) from None
        started = False
        if backend == "embedded":
            from .worker import ensure_worker
            started = ensure_worker(root)
        place = store.queue_position(run_id, limits)
    position = place.position if place else None
    served = ("the Ray worker (python -m cnncalc worker --backend ray)" if backend == "ray" else
              "a worker started now" if started else "the running worker")
    if args.json:
        print(json.dumps({"run": run_id, "status": "queued", "owner": who.name, "position": position,
                          "backend": backend}, ensure_ascii=False))
    else:
        print(run_id)
        print(f"run {run_id} queued for {who.name}" + (f", place {position} in the queue" if position else "")
              + f"; trained by {served} — python -m cnncalc runs shows it", file=sys.stderr)
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

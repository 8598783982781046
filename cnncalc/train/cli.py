"""``python -m cnncalc train …`` and ``python -m cnncalc worker …`` (the same engine and store as the app)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

from .config import TrainConfig


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
    t.add_argument("--device", default=d.device, help="auto | cpu | cuda")
    t.add_argument("--limit", type=int, help="examples per split (default: all)")
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
                   help="auto: bf16 autocast on CUDA and on CPUs with bf16 units, else fp32")
    t.add_argument("--workers", type=int, default=d.workers, help="DataLoader workers (lab pipeline)")
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--compile", action="store_true", help="torch.compile the model (GPU, long runs)")
    t.add_argument("--data-dir", help="run store folder (default: $CNNCALC_DATA or ./data)")
    t.add_argument("--json", action="store_true", help="one JSON line per epoch")
    t.set_defaults(run=_train)
    lad = sub.add_parser("ladder", help="run the lab's five steps one after the other and summarise them",
                         description="Each step of the lab's ladder (config.LADDER) as a run in the store, then "
                                     "a table: final and best test top-1, and the test-loss minimum.")
    lad.add_argument("--data", default=d.data)
    lad.add_argument("--device", default=d.device)
    lad.add_argument("--limit", type=int, help="examples per split (default: all)")
    lad.add_argument("--epochs", type=int, help="override every step's epochs (default: the ladder's 30–100)")
    lad.add_argument("--steps", default="1,2,3,4,5", help="which steps, e.g. 1,3")
    lad.add_argument("--data-dir")
    lad.add_argument("--json", action="store_true")
    lad.set_defaults(run=_ladder)
    w = sub.add_parser("worker", help="execute queued runs (started by the app)")
    w.add_argument("--data-dir")
    w.add_argument("--device", default="auto")
    w.add_argument("--idle-exit", type=float, help="exit after this many idle seconds")
    w.set_defaults(run=_worker)


def _root(args):
    from .store import default_root
    return args.data_dir or default_root()


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig of ``train``'s options (every option of the parser is a field of the config)."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in vars(args).items() if k in known})


def _train(args: argparse.Namespace) -> int:
    from .store import RunStore
    from .worker import execute

    try:
        cfg = config_from_args(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    store = RunStore(_root(args))
    from .engine import pick_device
    run_id = store.start_external(cfg, "", "cli", os.getpid(), str(pick_device(cfg.device)))
    run = store.get(run_id)
    printed = 0

    def show():  # print epochs as they land in the store
        nonlocal printed
        for e in store.epochs(run_id)[printed:]:
            e.pop("batch_losses")
            print(json.dumps(e) if args.json else
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
    print(json.dumps({"run": run_id, "status": status, "message": final.message}) if args.json
          else f"run {run_id}: {status} — {final.message}", file=sys.stdout if status == "done" else sys.stderr)
    return 0 if status == "done" else 1


def _worker(args: argparse.Namespace) -> int:
    from .worker import serve
    serve(_root(args), args.device, args.idle_exit)
    return 0


def _ladder(args: argparse.Namespace) -> int:
    from .config import LADDER
    from .engine import pick_device
    from .store import RunStore
    from .worker import execute

    store = RunStore(_root(args))
    wanted = {int(x) for x in args.steps.split(",") if x.strip()}
    rows = []
    for name, changes in LADDER.items():
        if int(name.split()[0]) not in wanted:
            continue
        cfg = TrainConfig(data=args.data, device=args.device, limit=args.limit, **changes)
        if args.epochs:
            cfg = cfg.replace(epochs=args.epochs)
        run_id = store.start_external(cfg, f"ladder {name}", "cli", os.getpid(), str(pick_device(cfg.device)))
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

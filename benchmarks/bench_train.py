"""Seconds per epoch: the fast pipeline vs the lab's DataLoader pipeline, same run, same device; the first epoch
against the later ones; the quick CPU recipe, end to end.

    .venv/bin/python benchmarks/bench_train.py --data ../shared/data/cifar10-jpeg --limit 10000 --device cpu
    python benchmarks/bench_train.py --data DIR --device cuda --epochs 3 --full-run 50   # on a GPU
    .venv/bin/python benchmarks/bench_train.py --data ../shared/data/cifar10-jpeg --first-epoch --limit 5000
    .venv/bin/python benchmarks/bench_train.py --data ../shared/data/cifar10-jpeg --quick bf16 --repeat 3
    python benchmarks/bench_train.py --gpu-suite --data .carry/cifar10-jpeg.npz --device cuda --full-run 50 \
        --out bench.jsonl                                                   # issue #12, one command

Both train the lab net at batch 128, lr 0.1, with random crop + flip and standardization (the lab's step 3),
for ``--epochs`` epochs each; the first epoch is reported apart (warm-up). ``--full-run N`` also times
an N-epoch fast run end to end, data loading included.

``--first-epoch``: each CPU path (fast bf16, fast fp32, the lab's DataLoader) in a fresh process, with and
without the engine's warm-up, prints the seconds of each phase and epoch. ``--quick VARIANT``: the quick recipe
(config.QUICK) in a fresh process per repeat — wall time from the process's start and from the run's (data
loading included), test top-1 on the recipe's test images and on all 10,000; ``--precision``/``--threads``
change how it runs (``--threads 1``: a CPU half as fast), ``--uncached`` decodes the JPEGs instead of reading
the decoded cache.

``--gpu-suite`` (issue #12): in one run, each line a JSON object printed (and appended to ``--out``) as soon as
it is measured — (a) batch 128, 3 epochs each: the graphed fast path (the whole step one CUDA graph,
cnncalc/train/graphed.py), the eager fast path and the lab's DataLoader pipeline; (b) the same with batch norm;
(c) batch 8, 2 epochs, graphed and eager; (d) with ``--full-run N``, an N-epoch graphed run end to end, the data
loaded from the file inside the clock. On a CPU the "graphed" rows train eagerly (their note says so): a
rehearsal of the script, not a measurement. Every line records the CPU pressure (/proc/pressure/cpu, avg10) before and after: a run
whose neighbours were busy shows it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from cnncalc.train import data as datasets  # noqa: E402
from cnncalc.train.config import TrainConfig  # noqa: E402
from cnncalc.train.engine import pick_device, train, use_bf16  # noqa: E402


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    return f"{cpu}, {torch.get_num_threads()} threads"


def time_epochs(cfg: TrainConfig, data) -> dict:
    result = train(cfg, data)
    secs = [r.seconds for r in result.records]
    return {"first": secs[0], "steady": statistics.median(secs[1:]) if len(secs) > 1 else secs[0],
            "test_top1": result.records[-1].test_top1}


def pressure() -> float:
    """CPU pressure, some avg10 (% of the last 10 s that some task waited for a CPU); -1 where unknown."""
    try:
        return float(open("/proc/pressure/cpu").readline().split()[1].split("=")[1])
    except (OSError, IndexError, ValueError):
        return -1.0


FIRST_EPOCH = """
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {root!r})
from cnncalc.train import engine
from cnncalc.train.config import TrainConfig
if not {warm}:
    engine.warm_up = lambda s: 0.0
marks = []
r = engine.train(TrainConfig(**{cfg!r}), on_phase=lambda p: marks.append((p, time.perf_counter() - t0)))
print(json.dumps({{"epochs": [x.seconds for x in r.records], "phases": marks, "top1": r.records[-1].test_top1,
                  "notes": r.notes}}))
"""

QUICK_RUN = """
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {root!r})
import torch
from cnncalc.train import engine
from cnncalc.train.config import quick_config
cfg = quick_config({data!r}, variant={variant!r}).replace(**{changes!r})
t1 = time.perf_counter()
r = engine.train(cfg)
t2 = time.perf_counter()
full = engine.load_data(cfg.replace(limit=1, test_limit=10**9))  # every test image
b = engine.Batches(full.test_x, full.test_y, torch.device("cpu"), r.mean, r.std, cfg.augment, None,
                   torch.Generator(), False)
print(json.dumps({{"run_s": t2 - t1, "run_end": time.time() - (time.perf_counter() - t2),
                  "top1": r.records[-1].test_top1,
                  "top1_all_test": engine.evaluate(r.model, b)[1], "epochs": [x.seconds for x in r.records],
                  "steps_last_epoch": len(r.records[-1].batch_losses), "notes": r.notes}}))
"""


def _child(code: str, env: dict | None = None) -> dict:
    """Run ``code`` in a fresh Python (imports, oneDNN and allocator cold, as a worker's first run) and return
    its JSON line, with the process's own wall time and the CPU pressure around it."""
    before = pressure()
    t0, spawned = time.perf_counter(), time.time()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, **(env or {})}, check=True)
    wall = time.perf_counter() - t0
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if "run_end" in result:  # from the process's start to the run's end: what a CLI user waits
        result["process_to_run_end_s"] = round(result.pop("run_end") - spawned, 2)
    return {**result, "wall_s": round(wall, 2), "pressure": [before, pressure()]}


def first_epoch(args) -> None:
    """First epoch vs later ones, per CPU path, without and with the warm-up (fresh process each)."""
    root = str(Path(__file__).resolve().parent.parent)
    base = dict(data=args.data, limit=args.limit, test_limit=args.test_limit, epochs=args.epochs, batch_size=64,
                lr=0.01, momentum=0.9, standardize="train", device="cpu", workers=args.workers)
    paths = {"fast bf16": dict(precision="bf16"), "fast fp32": dict(precision="fp32"), "lab": dict(pipeline="lab")}
    for name, change in paths.items():
        for warm in (False, True):
            r = _child(FIRST_EPOCH.format(root=root, warm=warm, cfg={**base, **change}))
            marks: dict = {}
            for phase, at in r["phases"]:
                marks.setdefault(phase, at)  # each phase's first start
            first, later = r["epochs"][0], statistics.median(r["epochs"][1:])
            print(json.dumps({"path": name, "warm_up": warm, "first_s": round(first, 2), "later_s": round(later, 2),
                              "ratio": round(first / later, 2),
                              "load_s": round(marks["building the network"] - marks["loading data"], 2),
                              "build_s": round(marks["first epoch: warming up"] - marks["building the network"], 2),
                              "warm_up_s": round(marks["training"] - marks["first epoch: warming up"], 2),
                              "epochs": [round(x, 2) for x in r["epochs"]], "pressure": r["pressure"]}), flush=True)


def quick(args) -> None:
    """The quick recipe ``--repeat`` times, each in a fresh process; best and typical (median) at the end."""
    root = str(Path(__file__).resolve().parent.parent)
    changes = {"precision": args.precision} if args.precision else {}
    env = {"OMP_NUM_THREADS": str(args.threads)} if args.threads else {}
    rows = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as cache:
            run_env = {**env, "CNNCALC_CACHE": cache} if args.uncached else env
            r = _child(QUICK_RUN.format(root=root, data=args.data, variant=args.quick, changes=changes), run_env)
        rows.append(r)
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}), flush=True)
    for key in ("top1", "top1_all_test", "run_s", "process_to_run_end_s"):
        values = [r[key] for r in rows]
        best = max(values) if key.startswith("top1") else min(values)
        print(f"{key}: best {best:.4g}, typical (median) {statistics.median(values):.4g}, all {values}")


def gpu_suite(args) -> None:
    """Issue #12's measurements (a)–(d), in priority order, each line written the moment it exists."""
    device = pick_device(args.device)
    sink = open(args.out, "a") if args.out else None

    def emit(row: dict) -> None:
        line = json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})
        print(line, flush=True)
        if sink:
            sink.write(line + "\n")
            sink.flush()

    t0 = time.perf_counter()
    data = datasets.load(args.data, args.limit)
    emit({"machine": machine(device), "torch": torch.__version__, "device": str(device),
          "train_images": len(data.train_y), "test_images": len(data.test_y),
          "load_s": time.perf_counter() - t0})
    workers = min(8, os.cpu_count() or 2)
    base = TrainConfig(data=args.data, limit=args.limit, epochs=3, batch_size=128, lr=0.01, momentum=0.9,
                       standardize="train", augment="cropflip", device=args.device, workers=workers)
    paths = {"graphed": {}, "eager": {"graph": "off"}, "lab pipeline": {"pipeline": "lab"}}

    def measure(case: str, cfg: TrainConfig, path: str) -> dict:
        t = time.perf_counter()
        result = train(cfg, data)
        secs = [r.seconds for r in result.records]
        row = {"case": case, "path": path, "epochs": len(secs), "s_per_epoch": statistics.median(secs[1:]),
               "first_epoch_s": secs[0], "total_s": time.perf_counter() - t,
               "test_top1": result.records[-1].test_top1, "notes": result.notes}
        emit(row)
        return row

    for case, bn in (("(a) batch 128", False), ("(b) batch 128 + batch norm", True)):
        rows = {name: measure(case, base.replace(batchnorm=bn, **change), name) for name, change in paths.items()}
        emit({"case": case, "lab_over_graphed": rows["lab pipeline"]["s_per_epoch"] / rows["graphed"]["s_per_epoch"],
              "eager_over_graphed": rows["eager"]["s_per_epoch"] / rows["graphed"]["s_per_epoch"]})
    small = base.replace(epochs=2, batch_size=8, lr=0.01)
    rows = {name: measure("(c) batch 8", small.replace(**change), name) for name, change in list(paths.items())[:2]}
    emit({"case": "(c) batch 8", "eager_over_graphed": rows["eager"]["s_per_epoch"] / rows["graphed"]["s_per_epoch"]})
    if args.full_run:
        t = time.perf_counter()
        result = train(base.replace(epochs=args.full_run))  # data=None: loading inside the clock
        emit({"case": f"(d) {args.full_run} epochs end to end", "path": "graphed", "wall_s": time.perf_counter() - t,
              "s_per_epoch": statistics.median(r.seconds for r in result.records),
              "test_top1": result.records[-1].test_top1, "notes": result.notes})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="synthetic")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers of the lab pipeline")
    ap.add_argument("--full-run", type=int, default=0, help="also time an N-epoch fast run, loading included")
    ap.add_argument("--first-epoch", action="store_true", help="first epoch vs later ones, per CPU path")
    ap.add_argument("--test-limit", type=int, default=2000, help="test images of --first-epoch")
    ap.add_argument("--quick", choices=["bf16", "fp32"], help="time the quick recipe's variant end to end")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--precision", choices=["auto", "fp32", "bf16"], help="--quick: run it in this precision")
    ap.add_argument("--threads", type=int, help="--quick: OMP_NUM_THREADS (1: a CPU half as fast)")
    ap.add_argument("--uncached", action="store_true", help="--quick: decode the JPEGs (an empty cache folder)")
    ap.add_argument("--gpu-suite", action="store_true", help="issue #12's measurements (a)-(d), one JSON line each")
    ap.add_argument("--out", help="--gpu-suite: also append each line to this file as it is measured")
    args = ap.parse_args()
    if args.gpu_suite:
        return gpu_suite(args)
    if args.first_epoch:
        return first_epoch(args)
    if args.quick:
        return quick(args)
    device = pick_device(args.device)
    t0 = time.perf_counter()
    data = datasets.load(args.data, args.limit)
    load_s = time.perf_counter() - t0
    base = TrainConfig(data=args.data, limit=args.limit, epochs=args.epochs, batch_size=args.batch_size, lr=0.1,
                       standardize="train", augment="cropflip", device=args.device, workers=args.workers)
    fast = time_epochs(base, data)
    lab = time_epochs(base.replace(pipeline="lab"), data)
    out = {"machine": machine(device), "device": str(device), "torch": torch.__version__,
           "train_images": len(data.train_y), "batch_size": args.batch_size, "load_seconds": round(load_s, 2),
           "fast_bf16": use_bf16(base, device), "fast_s_per_epoch": round(fast["steady"], 3),
           "lab_s_per_epoch": round(lab["steady"], 3), "ratio": round(lab["steady"] / fast["steady"], 2),
           "fast_first_epoch_s": round(fast["first"], 3), "lab_first_epoch_s": round(lab["first"], 3),
           "fast_top1": fast["test_top1"], "lab_top1": lab["test_top1"]}
    if args.full_run:
        t0 = time.perf_counter()
        train(base.replace(epochs=args.full_run))
        out[f"fast_{args.full_run}_epochs_total_s"] = round(time.perf_counter() - t0, 1)
    if device.type == "cuda":
        small = TrainConfig(data=args.data, limit=args.limit, epochs=2, batch_size=8, lr=0.01, device=args.device)
        out["fast_batch8_s_per_epoch"] = round(time_epochs(small, data)["steady"], 3)
    print(json.dumps(out, indent=1))
    print(f"\nfast {out['fast_s_per_epoch']} s/epoch vs lab pipeline {out['lab_s_per_epoch']} s/epoch "
          f"→ {out['ratio']}× on {out['machine']}")


if __name__ == "__main__":
    main()

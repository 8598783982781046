"""Seconds per epoch: the fast pipeline vs the lab's DataLoader pipeline, same run, same device.

    .venv/bin/python benchmarks/bench_train.py --data ../shared/data/cifar10-jpeg --limit 10000 --device cpu
    python benchmarks/bench_train.py --data DIR --device cuda --epochs 3 --full-run 50   # on a GPU

Both train the lab net at batch 128, lr 0.1, with random crop + flip and standardization (the lab's step 3),
for ``--epochs`` epochs each; the first epoch is reported apart (warm-up). ``--full-run N`` also times
an N-epoch fast run end to end, data loading included.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="synthetic")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers of the lab pipeline")
    ap.add_argument("--full-run", type=int, default=0, help="also time an N-epoch fast run, loading included")
    args = ap.parse_args()
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

"""Copy a finished run's checkpoint into cnncalc/assets/ with its provenance (the shipped lab net).

    .venv/bin/python scripts/ship_checkpoint.py RUN_ID --data-dir data --command "python -m cnncalc train …"

The JSON beside the weights says how they were made: the command, the data, the accuracy per the run's
last epoch, the date, the machine — and the network's spec, input shape and normalisation, so loading
needs nothing else.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import platform
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnncalc.pytorch.models import SHIPPED, SHIPPED_META  # noqa: E402
from cnncalc.train.data import class_names  # noqa: E402
from cnncalc.train.store import RunStore  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=int)
    ap.add_argument("--data-dir", default="data")
    ap.add_argument("--command", required=True, help="the exact training command that produced the run")
    ap.add_argument("--data-note", default="", help="what the data was (e.g. the JPEG copy of CIFAR-10)")
    args = ap.parse_args()
    store = RunStore(args.data_dir)
    run = store.get(args.run)
    if run.status != "done":
        sys.exit(f"run {run.id} is {run.status}, not done")
    epochs = store.epochs(run.id)
    last = epochs[-1]
    SHIPPED.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(store.checkpoint_path(run), SHIPPED)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    meta = {
        "spec": run.spec, "input_shape": list(run.input_shape), "mean": run.normalization["mean"],
        "std": run.normalization["std"], "classes": list(class_names(run.config.data)),
        "test_top1": last["test_top1"], "test_top5": last["test_top5"], "test_loss": last["test_loss"],
        "best_test_top1": max(e["test_top1"] for e in epochs), "epochs": len(epochs),
        "train_seconds": round(sum(e["seconds"] for e in epochs), 1),
        "command": args.command, "data": args.data_note or run.config.data, "config": json.loads(run.config.to_json()),
        "date": datetime.datetime.fromtimestamp(run.updated, datetime.timezone.utc).isoformat(timespec="minutes"),
        "machine": f"{cpu}, CPU ({run.device})", "result": run.message,
        "bytes": SHIPPED.stat().st_size, "sha256": hashlib.sha256(SHIPPED.read_bytes()).hexdigest(),
    }
    SHIPPED_META.write_text(json.dumps(meta, indent=1) + "\n")
    print(json.dumps({k: meta[k] for k in ("test_top1", "epochs", "bytes", "date")}))


if __name__ == "__main__":
    main()

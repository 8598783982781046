"""The Training page's worker on a device, end to end, without Streamlit (a GPU machine may have none).

    python benchmarks/worker_check.py --data .carry/cifar10-jpeg.npz --device cuda
    .venv/bin/python benchmarks/worker_check.py --data synthetic --limit 600 --device cpu   # rehearsal

What the page does, through the same core calls: two runs are queued in a fresh run store as two students
(``RunStore.enqueue``, as the page's button), the worker the page would start (``python -m cnncalc worker``) is
started as a process, the first run's epochs are read back from the store while it trains (what the live curves
draw), the second run is cancelled as its owner while it runs, and both end with their checkpoint. Each line
printed is one observation with its time since the start; the last line is a JSON summary, also written to
``--out`` as it grows.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnncalc.train.config import TrainConfig  # noqa: E402  (no torch: the worker process imports it)
from cnncalc.train.store import RunStore  # noqa: E402


def wait_for(what: str, test, timeout: float, poll: float = 0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = test()
        if value:
            return value
        time.sleep(poll)
    raise SystemExit(f"worker check: timed out after {timeout:.0f} s waiting for {what}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="synthetic")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--limit", type=int, help="examples per split (default: all)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=240, help="seconds allowed for each wait")
    ap.add_argument("--out", help="write the summary JSON here as it grows")
    args = ap.parse_args()
    t0 = time.monotonic()
    summary: dict = {"device": args.device, "data": args.data}

    def note(key: str, value) -> None:
        summary[key] = value
        print(f"{time.monotonic() - t0:7.2f} s  {key}: {value}", flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps(summary, indent=1))

    with tempfile.TemporaryDirectory() as root:
        store = RunStore(root)
        cfg = TrainConfig(data=args.data, limit=args.limit, epochs=args.epochs, batch_size=128, lr=0.01,
                          momentum=0.9, standardize="train", augment="cropflip", device=args.device)
        first = store.enqueue(cfg, name="watched run", owner="ada")
        second = store.enqueue(cfg.replace(seed=1, epochs=1000), name="cancelled run", owner="ben")
        note("queued", [first, second])
        log = open(Path(root) / "worker.log", "w")
        worker = subprocess.Popen([sys.executable, "-m", "cnncalc", "worker", "--data-dir", root, "--device",
                                   args.device, "--idle-exit", "5"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            seen: list[int] = []

            def new_epochs():
                epochs = store.epochs(first)
                if len(epochs) > len(seen):
                    for e in epochs[len(seen):]:
                        note(f"run {first} epoch {e['epoch']}", f"test top-1 {e['test_top1']:.3f}, "
                                                               f"{e['seconds']:.2f} s")
                        seen.append(e["epoch"])
                return store.get(first).finished
            wait_for("the watched run to finish", new_epochs, args.timeout * 4)
            run = store.get(first)
            note("watched run", f"{run.status}: {run.message}; checkpoint {'yes' if run.checkpoint else 'no'}")
            wait_for("the second run to start", lambda: len(store.epochs(second)) >= 1, args.timeout)
            asked = time.monotonic()
            store.cancel(second, "ben")
            wait_for("the cancel to land", lambda: store.get(second).finished, args.timeout)
            run = store.get(second)
            note("cancel reached the run in s", round(time.monotonic() - asked, 2))
            note("cancelled run", f"{run.status}: {run.message}; epochs kept {len(store.epochs(second))}; "
                                  f"checkpoint {'yes' if run.checkpoint else 'no'}")
            ok = store.get(first).status == "done" and run.status in ("cancelled", "stopped") and run.checkpoint
            note("ok", bool(ok))
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            log.close()
            print((Path(root) / "worker.log").read_text()[-2000:], file=sys.stderr)
    print(json.dumps(summary))
    if not summary.get("ok"):
        sys.exit(1)


if __name__ == "__main__":
    main()

"""Executes queued runs, one at a time per device, writing everything to the run store as it goes.

``python -m cnncalc worker --data-dir DIR [--device cuda] [--idle-exit 300]``. A lock file per device
makes a second worker for the same device exit at once, so runs on one GPU never overlap.
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from .store import Run, RunStore

HEARTBEAT_SECONDS = 5.0


def summary(epochs: list) -> str:
    if not epochs:
        return "no epoch finished"
    last = epochs[-1]
    best = max(epochs, key=lambda e: e.test_top1)
    low = min(epochs, key=lambda e: e.test_loss)
    return (f"final test top-1 {last.test_top1:.1%} (best {best.test_top1:.1%} at epoch {best.epoch}); "
            f"lowest test loss {low.test_loss:.3f} at epoch {low.epoch}")


def execute(store: RunStore, run: Run, progress_every: int | None = None) -> str:
    """Run one claimed run to its end and record the outcome; returns the final status."""
    from .data import DataUnavailable
    from .engine import Cancelled, Diverged, train

    cfg, records = run.config, []
    stop = threading.Event()

    def heartbeat():
        while not stop.wait(HEARTBEAT_SECONDS):
            store.beat(run.id)

    threading.Thread(target=heartbeat, daemon=True).start()

    def on_epoch(record):
        records.append(record)
        store.add_epoch(run.id, record)
        store.beat(run.id, record.epoch / cfg.epochs)

    def on_start(spec, shape, mean, std):
        store.started(run.id, spec, shape, {"mean": list(mean), "std": list(std)})

    try:
        result = train(cfg, on_epoch=on_epoch, on_start=on_start, progress_every=progress_every,
                       on_progress=lambda e, s, n, loss: store.beat(run.id, ((e - 1) + s / n) / cfg.epochs),
                       should_stop=lambda: store.cancel_requested(run.id))
        store.save_checkpoint(run.id, result.model)
        status, message = "done", summary(records) + ("; " + "; ".join(result.notes) if result.notes else "")
    except Diverged as err:
        status, message = "diverged", str(err)
    except Cancelled as err:
        status, message = "cancelled", f"{err}; " + summary(records)
    except DataUnavailable as err:
        status, message = "failed", str(err)
    except Exception as err:  # recorded for the user, never lost silently
        status, message = "failed", f"{type(err).__name__}: {err}"
    finally:
        stop.set()
    store.finish(run.id, status, message)
    return status


def _device_name(device: str) -> str:
    from .engine import pick_device
    return str(pick_device(device))


def lock_path(root: Path, device: str) -> Path:
    return Path(root) / f"worker-{device.replace(':', '_')}.lock"


def serve(root: str | Path, device: str = "auto", idle_exit: float | None = None, poll: float = 0.5) -> int:
    """Serve the queue until idle for ``idle_exit`` seconds (forever when None). Returns runs executed."""
    store = RunStore(root)
    name = _device_name(device)
    lock = open(lock_path(Path(root), name), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another worker already serves this device
    store.recover()
    done, idle_since = 0, time.time()
    while True:
        run = store.claim(os.getpid(), name)
        if run is not None:
            execute(store, run)
            done, idle_since = done + 1, time.time()
            continue
        if idle_exit is not None and time.time() - idle_since > idle_exit:
            return done
        time.sleep(poll)


def worker_running(root: str | Path, device: str = "auto") -> bool:
    path = lock_path(Path(root), _device_name(device))
    if not path.exists():
        return False
    with open(path) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def ensure_worker(root: str | Path, device: str = "auto", idle_exit: float = 600) -> bool:
    """Start a detached worker for ``device`` unless one is running; True when one was started. Runs left
    'running' by a dead worker are marked interrupted first, so nobody waits on them."""
    if worker_running(root, device):
        return False
    RunStore(root).recover()
    log = open(Path(root) / "worker.log", "a")
    subprocess.Popen([sys.executable, "-m", "cnncalc", "worker", "--data-dir", str(root), "--device", device,
                      "--idle-exit", str(idle_exit)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                     start_new_session=True, cwd=str(Path(__file__).resolve().parents[2]))
    return True

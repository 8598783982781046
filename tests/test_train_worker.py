"""The worker's liveness: a killed or frozen worker's run becomes "interrupted" within seconds at the next heal
(nobody needs to queue anything), a slow start never looks like death, the wall-clock limit stops a run, and
the page learns when queued runs wait with no worker."""
import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from cnncalc.server.identity import TEACHER
from cnncalc.train import data as datasets
from cnncalc.train import worker
from cnncalc.train.config import TrainConfig
from cnncalc.train.store import STALE_SECONDS, RunStore
from cnncalc.train.worker import execute, serve

ROOT = Path(__file__).resolve().parent.parent
QUICK = TrainConfig(data="synthetic", limit=200, epochs=500, batch_size=32, lr=1e-3, optimizer="adam", device="cpu")


def _worker(root) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNNCALC_")} | {"PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "cnncalc", "worker", "--data-dir", str(root), "--device", "cpu"],
                            cwd=ROOT, env=env)


def _wait(what, timeout: float = 120, every: float = 0.2):
    deadline = time.time() + timeout
    while not (value := what()) and time.time() < deadline:
        time.sleep(every)
    return value


def _until_interrupted(store, run_id, timeout: float = 30) -> float:
    """Seconds until a page-like heal() every 0.5 s shows the run interrupted."""
    t0 = time.monotonic()
    while store.get(run_id).status != "interrupted" and time.monotonic() - t0 < timeout:
        store.heal()
        time.sleep(0.5)
    return time.monotonic() - t0


def _integrity(store) -> str:
    with sqlite3.connect(store.path) as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


def test_kill_9_mid_run_is_interrupted_within_seconds_with_its_checkpoint(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.enqueue(QUICK)
    proc = _worker(tmp_path)
    try:  # the first checkpoint comes after CHECKPOINT_SECONDS of training
        assert _wait(lambda: store.get(run_id).resume_epoch >= 1, timeout=180), store.get(run_id)
        assert store.get(run_id).status == "running" and store.heal().worker_alive
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    seconds = _until_interrupted(store, run_id)
    print(f"\nkill -9 → interrupted in {seconds:.1f} s")
    run = store.get(run_id)
    assert run.status == "interrupted" and seconds < STALE_SECONDS + 2
    assert f"its last checkpoint (epoch {run.resume_epoch})" in run.message and "its epochs are kept" in run.message
    assert _integrity(store) == "ok"
    weights = load_file(store.checkpoint_path(run))  # an interrupted run keeps its weights
    assert weights["fc4.weight"].shape == (1000, 1024)
    state = store.load_resume_state(run)  # weights_only=True
    assert state["epoch"] == run.resume_epoch and torch.equal(state["model"]["fc4.weight"], weights["fc4.weight"])
    health = store.heal()
    assert not health.worker_alive and health.queued == 0 and not health.needs_worker


def test_a_frozen_worker_is_declared_dead_and_does_not_overwrite_it_when_it_wakes(tmp_path):
    """SIGSTOP: the process exists but beats no more → interrupted after STALE_SECONDS. Woken by SIGCONT, the
    worker sees that the run is no longer its own, leaves its status alone and serves the queue again."""
    store = RunStore(tmp_path)
    run_id = store.enqueue(QUICK)
    proc = _worker(tmp_path)
    try:
        assert _wait(lambda: store.epochs(run_id))
        proc.send_signal(signal.SIGSTOP)
        seconds = _until_interrupted(store, run_id)
        print(f"\nfrozen worker → interrupted in {seconds:.1f} s")
        assert store.get(run_id).status == "interrupted" and STALE_SECONDS - 1 < seconds < STALE_SECONDS + 3
        proc.send_signal(signal.SIGCONT)
        nxt = store.enqueue(QUICK.replace(epochs=1))
        assert _wait(lambda: store.get(nxt).status == "done", timeout=120), store.get(nxt)
        assert store.get(run_id).status == "interrupted"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert _integrity(store) == "ok"


def test_a_slow_start_never_looks_like_death(tmp_path, monkeypatch):
    """The heartbeat has a thread of its own: 6 s of pure-Python data preparation (holding the GIL between
    switches) while the page heals with a 4-second staleness never interrupts the run."""
    real = datasets.load

    def slow_load(*args, **kwargs):
        end = time.monotonic() + 6
        while time.monotonic() < end:
            sum(range(1000))
        return real(*args, **kwargs)
    monkeypatch.setattr(datasets, "load", slow_load)
    store = RunStore(tmp_path)
    run = store.claim(os.getpid(), "cpu", store.enqueue(QUICK.replace(epochs=1)))
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("status", execute(store, run)))
    thread.start()
    healed = []
    while thread.is_alive():
        healed += store.heal(stale_seconds=4).interrupted
        time.sleep(0.5)
    assert healed == [] and result["status"] == "done"


def test_the_wall_clock_limit_stops_a_run(tmp_path, monkeypatch):
    """run_minutes from classroom.toml in the data folder (the worker reads load_limits(root) for each run)."""
    for name in [k for k in os.environ if k.startswith("CNNCALC_") and k != "CNNCALC_CACHE"]:
        monkeypatch.delenv(name)
    (tmp_path / "classroom.toml").write_text("[limits]\nrun_minutes = 0.05\n")  # 3 s
    store = RunStore(tmp_path)
    run_id = store.enqueue(QUICK)
    t0 = time.monotonic()
    assert serve(tmp_path, "cpu", idle_exit=0) == 1
    seconds = time.monotonic() - t0
    run = store.get(run_id)
    done = len(store.epochs(run_id))
    assert run.status == "stopped" and run.finished and run.resumable, run.message
    assert run.message == (f"time limit of 0.05 min reached after epoch {done}; its epochs and last checkpoint "
                           "are kept")
    assert seconds < 3 + 15, seconds  # data and model setup, then the limit, then at most a few steps
    assert store.resume(run_id, TEACHER).status == "queued"


def test_heal_tells_when_queued_runs_wait_without_a_worker(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    assert not store.heal().needs_worker  # nothing queued
    store.enqueue(QUICK)
    health = store.heal()
    assert health.queued == 1 and not health.worker_alive and health.needs_worker
    started = []
    monkeypatch.setattr(worker, "ensure_worker", lambda root, *a, **k: started.append(root) or True)
    assert worker.heal_queue(tmp_path).needs_worker and started == [tmp_path]
    with open(worker.lock_path(tmp_path, "cpu"), "w") as lock:  # a live worker holds its device's lock
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert store.heal().worker_alive and not worker.heal_queue(tmp_path).needs_worker
        assert worker.worker_running(tmp_path, "cpu")
    assert not store.heal().worker_alive and not worker.worker_running(tmp_path, "cpu")
    assert started == [tmp_path]

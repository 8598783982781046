"""Runs are never lost: the store's states, cancel, divergence, and a worker killed mid-run."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path


from cnncalc.train.config import TrainConfig
from cnncalc.train.engine import EpochRecord
from cnncalc.train.store import RunStore
from cnncalc.train.worker import execute, serve

ROOT = Path(__file__).resolve().parent.parent
QUICK = TrainConfig(data="synthetic", limit=300, epochs=1, batch_size=32, lr=1e-3, optimizer="adam", device="cpu")


def _record(epoch, loss=1.0):
    return EpochRecord(epoch, loss, 0.5, 0.9, loss, 0.5, 0.9, 0.1, 1.0, (loss, loss))


def test_wal_mode_and_round_trip(tmp_path):
    store = RunStore(tmp_path)
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    run_id = store.enqueue(QUICK, owner="a")
    run = store.get(run_id)
    assert run.status == "queued" and run.config == QUICK and "synthetic" in run.name
    store.claim(os.getpid(), "cpu", run_id)
    store.add_epoch(run_id, _record(1, 2.3))
    assert store.epochs(run_id)[0]["test_loss"] == 2.3 and store.epochs(run_id)[0]["batch_losses"] == [2.3, 2.3]


def test_claim_is_fair_between_owners(tmp_path):
    store = RunStore(tmp_path)
    a1, a2, a3 = (store.enqueue(QUICK, owner="alice") for _ in range(3))
    b1 = store.enqueue(QUICK, owner="bob")
    order = []
    while (run := store.claim(1, "cpu")) is not None:
        order.append(run.id)
        store.finish(run.id, "done")
    assert order == [a1, b1, a2, a3]  # bob's first run does not wait behind all of alice's


def test_worker_runs_a_queued_run_and_saves_a_checkpoint(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.enqueue(QUICK)
    assert serve(tmp_path, "cpu", idle_exit=0) == 1
    run = store.get(run_id)
    assert run.status == "done", run.message
    assert "final test top-1" in run.message
    assert run.spec.startswith("conv 32 k=5 p=2") and run.input_shape == (3, 32, 32)
    from safetensors.torch import load_file
    weights = load_file(store.checkpoint_path(run))
    assert weights["fc4.weight"].shape == (1000, 1024)  # fc4 as the lab sheet has it
    assert len(store.epochs(run_id)) == 1


def test_divergence_is_recorded_with_an_explanation(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.enqueue(QUICK.replace(optimizer="sgd", lr=50.0, epochs=3))
    serve(tmp_path, "cpu", idle_exit=0)
    run = store.get(run_id)
    assert run.status == "diverged" and "too high" in run.message


def test_bad_data_source_fails_with_its_message(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.enqueue(QUICK.replace(data=str(tmp_path / "nowhere")))
    serve(tmp_path, "cpu", idle_exit=0)
    run = store.get(run_id)
    assert run.status == "failed" and "unknown data source" in run.message


def test_cancel_a_running_run_keeps_its_epochs(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.enqueue(QUICK.replace(epochs=50))
    run = store.claim(os.getpid(), "cpu", run_id)
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("status", execute(store, run, progress_every=2)))
    thread.start()
    deadline = time.time() + 120
    while not store.epochs(run_id) and time.time() < deadline:
        time.sleep(0.2)
    store.request_cancel(run_id)
    thread.join(120)
    assert result["status"] == "cancelled"
    assert store.get(run_id).status == "cancelled" and len(store.epochs(run_id)) >= 1


def test_cancel_a_queued_run_at_once(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.enqueue(QUICK)
    store.request_cancel(run_id)
    assert store.get(run_id).status == "cancelled"
    assert serve(tmp_path, "cpu", idle_exit=0) == 0


def test_killed_worker_leaves_the_run_interrupted_and_readable(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.enqueue(QUICK.replace(epochs=200, limit=200))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    worker = subprocess.Popen([sys.executable, "-m", "cnncalc", "worker", "--data-dir", str(tmp_path),
                               "--device", "cpu"], cwd=ROOT, env=env)
    try:
        deadline = time.time() + 120
        while len(store.epochs(run_id)) < 1 and time.time() < deadline:
            time.sleep(0.2)
        assert store.get(run_id).status == "running"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    assert store.recover() == [run_id]
    run = store.get(run_id)
    assert run.status == "interrupted" and "its epochs are kept" in run.message
    assert len(store.epochs(run_id)) >= 1
    # the next worker serves the queue again
    nxt = store.enqueue(QUICK)
    serve(tmp_path, "cpu", idle_exit=0)
    assert store.get(nxt).status == "done"


def test_cli_train_json_lines(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-m", "cnncalc", "train", "--data", "synthetic", "--limit", "200",
                          "--epochs", "2", "--optimizer", "adam", "--lr", "0.001", "--device", "cpu", "--json",
                          "--data-dir", str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert [x["epoch"] for x in lines[:2]] == [1, 2]
    assert {"train_loss", "test_top1", "test_top5", "lr", "seconds"} <= set(lines[0])
    assert lines[-1]["status"] == "done"
    assert RunStore(tmp_path).get(lines[-1]["run"]).status == "done"


def test_requeue_puts_back_only_a_run_that_never_reported(tmp_path):
    """store.requeue (the Ray backend, when a run's machine is lost before the run started): a running run with
    no epoch goes back to the queue as if never claimed; one with epochs, or with a cancel asked, does not."""
    from cnncalc.train.engine import EpochRecord
    s = RunStore(tmp_path)
    cfg = TrainConfig(data="synthetic", limit=200, epochs=2, device="cpu")
    fresh, trained, cancelled = (s.enqueue(cfg, owner=o) for o in ("a", "b", "c"))
    for run_id in (fresh, trained, cancelled):
        s.claim(os.getpid(), "ray", run_id=run_id)
    s.add_epoch(trained, EpochRecord(1, 2.3, 0.1, 0.5, 2.3, 0.1, 0.5, 0.1, 1.0))
    s.request_cancel(cancelled)
    assert s.requeue(fresh) and not s.requeue(trained) and not s.requeue(cancelled)
    run = s.get(fresh)
    assert (run.status, run.worker_pid, run.started, run.device) == ("queued", None, None, "")
    assert s.claim(os.getpid(), "cpu").id == fresh  # claimable again, first in line
    assert not s.requeue(fresh + 100)  # no such run: nothing happens

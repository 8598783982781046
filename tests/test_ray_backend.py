"""The Ray backend (cnncalc.train.ray_backend) on a local Ray: the real dispatcher process — ``python -m cnncalc
worker --backend ray`` — serving a run store that the CLI fills with ``submit``, CPU runs on synthetic data.

With ``--cpus-per-run 2`` on this 2-core machine the cluster holds one run at a time, so the order in which runs
start is exactly the claim order and fair share can be read from the store. The fault tests kill the Ray worker
process that trains a run (``ray::RunActor``), as a lost machine would, and check what the store keeps.
"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnncalc.server.limits import queue_backend
from cnncalc.train import worker
from cnncalc.train.store import RunStore

ROOT = Path(__file__).resolve().parent.parent
ray = pytest.importorskip("ray", reason="the Ray backend's tests need Ray: pip install -r requirements-ray.txt")
from cnncalc.train import ray_backend  # noqa: E402  (after the skip: it imports ray)

pytestmark = pytest.mark.slow
SMALL = ("--data", "synthetic", "--limit", "300", "--test-limit", "200", "--epochs", "2", "--batch-size", "64",
         "--device", "cpu")
# about a second per epoch here: long enough to cancel or kill in the middle, short enough to finish after a resume
LONG = ("--data", "synthetic", "--limit", "1000", "--test-limit", "200", "--epochs", "15", "--batch-size", "32",
        "--device", "cpu")


def cli(store: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnncalc", *args, "--data-dir", str(store)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


def submit(store: Path, owner: str, *options: str) -> int:
    out = cli(store, "submit", *options, "--owner", owner, env={"CNNCALC_BACKEND": "ray"})
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip())  # the id alone on stdout


def wait_for(predicate, timeout: float, what: str, step: float = 0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One dispatcher with its local Ray for the whole module (Ray starts in ~4 s; runs then take seconds)."""
    store = tmp_path_factory.mktemp("ray-store")
    log = open(store / "dispatcher.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "cnncalc", "worker", "--backend", "ray", "--device", "cpu",
                             "--cpus-per-run", "2", "--checkpoint-seconds", "0", "--idle-exit", "300",
                             "--data-dir", str(store)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        wait_for(lambda: "serving" in (store / "dispatcher.log").read_text() or proc.poll() is not None, 120,
                 "the Ray worker to start")
        assert proc.poll() is None, (store / "dispatcher.log").read_text()
        yield store, proc
    finally:
        proc.send_signal(signal.SIGTERM)  # the dispatcher shuts its local Ray down
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def finished(store: Path, run_id: int):
    run = RunStore(store).get(run_id)
    return run if run.finished else None


def actor_pids() -> list[int]:
    """The Ray worker processes that hold a run (Ray names their process ``ray::RunActor…``)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(b"ray::RunActor"):
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def test_three_runs_finish_through_ray_in_fair_share_order(served):
    store, _ = served
    ann1 = submit(store, "ann", *SMALL)
    ann2 = submit(store, "ann", *SMALL)
    bob = submit(store, "bob", *SMALL)  # queued last, but bob has no run started: he goes before ann's second
    runs = [wait_for(lambda i=i: finished(store, i), 120, f"run {i} to finish") for i in (ann1, ann2, bob)]
    s = RunStore(store)
    for run in runs:
        assert run.status == "done", run.message
        epochs = s.epochs(run.id)
        assert [e["epoch"] for e in epochs] == [1, 2] and all(0 <= e["test_top1"] <= 1 for e in epochs)
        assert run.device.startswith("ray · ") and run.device.endswith("CPU")
        assert s.checkpoint_path(run).is_file() and run.input_shape == (3, 32, 32)
    order = sorted(runs, key=lambda r: r.started)
    assert [r.id for r in order] == [ann1, bob, ann2]
    assert len(actor_pids()) == 1  # one warm Ray worker process trained the three, one after the other
    listed = {row["run"]: row for row in map(json.loads, cli(store, "runs", "--json").stdout.splitlines())}
    assert {listed[i]["owner"] for i in (ann1, ann2, bob)} == {"ann", "bob"}
    assert all(listed[i]["status"] == "done" and listed[i]["device"].startswith("ray") for i in (ann1, ann2, bob))


def test_a_cancel_reaches_the_remote_run_within_seconds(served):
    store, _ = served
    run_id = submit(store, "cid", *LONG)
    s = RunStore(store)
    wait_for(lambda: len(s.epochs(run_id)) >= 2, 120, "two epochs")
    refused = cli(store, "cancel", str(run_id), "--owner", "eve")
    assert refused.returncode == 2 and "belongs to cid" in refused.stderr
    asked = time.monotonic()
    assert cli(store, "cancel", str(run_id), "--owner", "cid").returncode == 0
    run = wait_for(lambda: finished(store, run_id), 30, "the cancel to arrive")
    took = time.monotonic() - asked
    assert run.status == "cancelled" and "stopped" in run.message, run.message
    assert took < 10, f"the cancel took {took:.1f} s to stop the remote run"
    kept = s.epochs(run_id)
    assert 2 <= len(kept) < 15 and run.resume_epoch == len(kept)  # the checkpoint of the last epoch it finished
    assert s.load_resume_state(run)["epoch"] == run.resume_epoch


def test_killing_the_ray_worker_leaves_the_run_interrupted_and_the_store_intact(served):
    store, _ = served
    run_id = submit(store, "kim", *LONG)
    s = RunStore(store)
    wait_for(lambda: s.get(run_id).resume_epoch >= 2, 120, "a checkpoint of epoch 2")
    (pid,) = wait_for(actor_pids, 10, "the run's Ray worker process")
    before = s.epochs(run_id)
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    run = wait_for(lambda: finished(store, run_id), 30, "the run to be recorded")
    assert time.monotonic() - killed < 10  # the dispatcher notices at its next poll
    assert run.status == "interrupted" and "Ray worker" in run.message and "resume continues" in run.message, \
        run.message
    kept = s.epochs(run_id)
    assert kept[:len(before)] == before and len(kept) >= 2  # nothing recorded before the kill is lost
    with sqlite3.connect(store / "runs.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    state = s.load_resume_state(run)
    assert state["epoch"] == run.resume_epoch >= 2
    # the store is intact: the run resumes through Ray and ends done, its first epochs as they were
    assert cli(store, "resume", str(run_id), "--queue", "--owner", "kim", env={"CNNCALC_BACKEND": "ray"}).returncode == 0
    run = wait_for(lambda: finished(store, run_id), 180, "the resumed run to finish")
    assert run.status == "done", run.message
    after = s.epochs(run_id)
    assert [e["epoch"] for e in after] == list(range(1, 16))
    assert after[:state["epoch"]] == kept[:state["epoch"]]


def test_the_classrooms_time_limit_stops_a_remote_run(served):
    """run_minutes, read from the store's classroom.toml for every run as the embedded worker does: the
    dispatcher's clock stops the remote run, which ends "stopped" with its epochs and checkpoint kept."""
    store, _ = served
    config = store / "classroom.toml"
    config.write_text("[limits]\nrun_minutes = 0.25\n")  # 15 s: some epochs, even with a cold actor (~7 s)
    try:
        run_id = submit(store, "tim", *LONG, "--epochs", "40")  # ~30 s unlimited
        run = wait_for(lambda: finished(store, run_id), 90, "the time limit")
    finally:
        config.unlink()
    assert run.status == "stopped" and "time limit of 0.25 min" in run.message, run.message
    assert 1 <= len(RunStore(store).epochs(run_id)) < 40


def test_the_dispatcher_is_the_queues_worker_and_the_only_one(served, monkeypatch):
    store, proc = served
    assert RunStore(store).heal().worker_alive  # the app sees a worker: it starts none of its own
    info = json.loads((store / "worker-ray.lock").read_text())
    assert info["pid"] == proc.pid and (info["cpus"], info["slots"], info["machines"]) == (2, 1, 1)  # 2 CPUs ÷ 2
    monkeypatch.setenv("CNNCALC_BACKEND", "ray")
    assert worker.ray_cluster(store) == info and worker.queue_slots(store) == 1  # what the page's estimates use
    second = subprocess.run([sys.executable, "-m", "cnncalc", "worker", "--backend", "ray", "--device", "cpu",
                             "--data-dir", str(store)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0 and "another Ray worker already serves" in second.stderr


# --- without a Ray cluster: settings, arithmetic and refusals -------------------------------------------------
@pytest.mark.parametrize("cluster, gpus, cpus, slots", [
    ({"GPU": 8.0, "CPU": 64.0}, 1.0, 1.0, 8),     # 8 GPUs ÷ 1 per run
    ({"GPU": 3.0, "CPU": 16.0}, 0.5, 1.0, 6),     # 3 ÷ 0.5: two runs share each GPU
    ({"GPU": 3.0, "CPU": 16.0}, 2.0, 1.0, 1),     # ⌊3 ÷ 2⌋
    ({"CPU": 16.0}, 1.0, 1.0, 0),                 # no GPU in the cluster: GPU runs wait
    ({"CPU": 2.0}, 0.0, 2.0, 1),                  # CPU runs: 2 CPUs ÷ 2 per run
    ({"CPU": 2.0, "GPU": 1.0}, 0.0, 1.0, 2),      # CPU runs ignore the GPUs
    ({"GPU": 0.9999999999}, 1.0, 1.0, 1),         # Ray's float sums: within 1e-9 counts as whole
])
def test_slots_are_the_cluster_divided_by_what_a_run_asks(cluster, gpus, cpus, slots):
    assert ray_backend.Resources(gpus, cpus).slots(cluster) == slots


@pytest.mark.parametrize("gpus, cpus", [(-1, 1), (1, float("nan")), (0, 0), (65, 1)])
def test_impossible_resources_are_refused(gpus, cpus):
    with pytest.raises(ValueError):
        ray_backend.Resources(gpus, cpus)


def test_device_label_names_the_machine_and_the_gpu():
    assert ray_backend.device_label({"host": "gpu-3", "gpus": ["1"]}) == "ray · gpu-3 · GPU 1"
    assert ray_backend.device_label({"host": "x" * 100, "gpus": []}) == "ray · " + "x" * 40 + " · CPU"


def test_backend_setting_from_the_config_file_and_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("CNNCALC_BACKEND", raising=False)
    monkeypatch.delenv("CNNCALC_CONFIG", raising=False)
    assert queue_backend(tmp_path) == "embedded"
    (tmp_path / "classroom.toml").write_text('[server]\nbackend = "ray"\n')
    assert queue_backend(tmp_path) == "ray"
    monkeypatch.setenv("CNNCALC_BACKEND", "embedded")
    assert queue_backend(tmp_path) == "embedded"
    monkeypatch.setenv("CNNCALC_BACKEND", "slurm")
    with pytest.raises(ValueError, match="choose one of embedded, ray"):
        queue_backend(tmp_path)
    assert worker.serving_backend(tmp_path) == "embedded"  # the app falls back to the default, never stops


def test_with_the_ray_backend_the_app_starts_no_worker(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNCALC_BACKEND", "ray")
    started = []
    monkeypatch.setattr(worker.subprocess, "Popen", lambda *a, **k: started.append(a))
    RunStore(tmp_path).enqueue(worker_config(), owner="ann")
    assert RunStore(tmp_path).heal().needs_worker
    assert worker.heal_queue(tmp_path).needs_worker and not worker.ensure_worker(tmp_path) and started == []


def worker_config():
    from cnncalc.train.config import TrainConfig
    return TrainConfig(data="synthetic", limit=200, epochs=1, device="cpu")


@pytest.mark.parametrize("args, message", [
    (("--device", "cuda:1"), "with --backend ray give auto or cuda"),
    (("--gpus-per-run", "-1"), "give a number from 0 to 64"),
    (("--cpus-per-run", "0", "--device", "cpu"), "must ask for a GPU or a CPU"),
    (("--checkpoint-seconds", "-5"), "give seconds from 0 to 86400"),
])
def test_ray_worker_options_are_checked_before_ray_starts(tmp_path, args, message):
    out = cli(tmp_path, "worker", "--backend", "ray", *args)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_ray_options_without_the_ray_backend_are_refused(tmp_path):
    out = cli(tmp_path, "worker", "--ray-address", "auto", env={"CNNCALC_BACKEND": "embedded"})
    assert out.returncode == 2 and "add --backend ray" in out.stderr


def test_submit_applies_the_classroom_quotas(tmp_path):
    env = {"CNNCALC_BACKEND": "ray", "CNNCALC_QUEUED_RUNS_PER_OWNER": "1"}
    first = cli(tmp_path, "submit", *SMALL, "--owner", "ann", "--json", env=env)
    assert first.returncode == 0, first.stderr
    row = json.loads(first.stdout)
    assert (row["status"], row["owner"], row["position"], row["backend"]) == ("queued", "ann", 1, "ray")
    second = cli(tmp_path, "submit", *SMALL, "--owner", "ann", env=env)
    assert second.returncode == 2 and "queued_runs_per_owner" in second.stderr and "Traceback" not in second.stderr
    assert cli(tmp_path, "submit", *SMALL, "--owner", "bob", env=env).returncode == 0  # another student may
    big = cli(tmp_path, "submit", "--data", "synthetic", "--limit", "900000", "--owner", "cy", env=env)
    assert big.returncode == 2 and "synthetic_examples" in big.stderr
    assert [r.status for r in RunStore(tmp_path).list()] == ["queued", "queued"]


def test_an_unreachable_cluster_is_one_line_and_quick(tmp_path):
    started = time.monotonic()
    out = cli(tmp_path, "worker", "--backend", "ray", "--ray-address", "127.0.0.1:1", "--device", "cpu")
    assert out.returncode == 2 and "nothing answers at 127.0.0.1:1" in out.stderr and "ray start --head" in out.stderr
    assert time.monotonic() - started < 30  # ray.init alone would wait minutes on it


from hypothesis import given, strategies as st  # noqa: E402


@given(total=st.integers(0, 512).map(lambda n: n / 4), per_run=st.sampled_from([0.25, 0.5, 1.0, 2.0, 3.0, 8.0]),
       gpu=st.booleans())
def test_slots_never_promise_more_than_the_cluster_has(total, per_run, gpu):
    """slots × per run ≤ the cluster's total < (slots + 1) × per run: every slot can be placed, and no room for
    one more run is left unused."""
    resources = ray_backend.Resources(per_run if gpu else 0.0, 1.0 if gpu else per_run)
    slots = resources.slots({"GPU" if gpu else "CPU": total})
    assert slots * per_run <= total + 1e-6 and total < (slots + 1) * per_run

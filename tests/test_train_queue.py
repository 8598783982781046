"""The run store as a classroom queue: owners and their rights, quotas checked atomically, rows that cannot be
read, the schema migration, concurrent processes, and the source rules (parameterised SQL, no pickle)."""
import ast
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnncalc.server.identity import TEACHER, Identity
from cnncalc.server.limits import Limits
from cnncalc.train import data as datasets
from cnncalc.train.config import TrainConfig
from cnncalc.train.engine import EpochRecord
from cnncalc.train.store import (SCHEMA_VERSION, QuotaExceeded, RunStore, check_run_size, synthetic_sizes,
                                 training_examples)
from cnncalc.train.worker import serve

ROOT = Path(__file__).resolve().parent.parent
QUICK = TrainConfig(data="synthetic", limit=300, epochs=1, batch_size=32, lr=1e-3, optimizer="adam", device="cpu")
ALICE, BOB = Identity("a1", "Alice"), Identity("b2", "Bob")


def record(epoch, loss=1.0):
    return EpochRecord(epoch, loss, 0.5, 0.9, loss, 0.5, 0.9, 0.1, 1.0, (loss, loss))


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# --- ownership --------------------------------------------------------------------------------
def test_owner_id_and_display_name_are_recorded(tmp_path):
    store = RunStore(tmp_path)
    run = store.get(store.enqueue(QUICK, "mine", ALICE))
    assert (run.owner, run.owner_name, run.name) == ("a1", "Alice", "mine")
    old = store.get(store.enqueue(QUICK, owner="someone"))  # a plain string: an id that is its own name
    assert (old.owner, old.owner_name) == ("someone", "someone")
    ext = store.get(store.start_external(QUICK, "demo", BOB, os.getpid(), "cpu"))
    assert (ext.owner, ext.owner_name, ext.status) == ("b2", "Bob", "running")


def test_only_the_owner_or_the_teacher_may_cancel(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.enqueue(QUICK, owner=ALICE)
    with pytest.raises(PermissionError, match=r"run #\d+ belongs to Alice: only its owner or the teacher may cancel"):
        store.cancel(run_id, BOB)
    assert store.get(run_id).status == "queued"
    assert store.cancel(run_id, ALICE).status == "cancelled"
    other = store.enqueue(QUICK, owner=BOB)
    assert store.cancel(other, TEACHER).status == "cancelled"  # the teacher may cancel any run
    running = store.enqueue(QUICK, owner=ALICE)
    store.claim(os.getpid(), "cpu", running)
    assert store.cancel(running, ALICE).cancel and store.get(running).status == "running"  # at the next check
    ownerless = store.enqueue(QUICK)
    with pytest.raises(PermissionError, match="has no owner"):
        store.cancel(ownerless, ALICE)


def test_cancel_of_a_finished_run_changes_nothing(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.enqueue(QUICK, owner=ALICE)
    store.finish(run_id, "done", "trained")
    assert store.cancel(run_id, ALICE).status == "done"  # a second click is harmless
    with pytest.raises(PermissionError):  # and still checked
        store.cancel(run_id, BOB)


def test_delete_removes_the_run_its_epochs_and_files(tmp_path):
    import torch
    store = RunStore(tmp_path)
    run_id = store.enqueue(QUICK, owner=ALICE)
    keep = store.enqueue(QUICK, owner=ALICE)
    store.claim(os.getpid(), "cpu", run_id)
    store.add_epoch(run_id, record(1))
    store.save_checkpoint(run_id, {"w": torch.ones(2)}, 1, {"epoch": 1, "w": torch.ones(2)})
    assert len(list((tmp_path / "checkpoints").glob(f"run-{run_id}.*"))) == 2
    with pytest.raises(ValueError, match="is running: cancel it first"):
        store.delete(run_id, ALICE)
    store.finish(run_id, "cancelled", "stopped")
    with pytest.raises(PermissionError, match="may delete it"):
        store.delete(run_id, BOB)
    store.delete(run_id, ALICE)
    with pytest.raises(KeyError):
        store.get(run_id)
    assert store.epochs(run_id) == [] and not list((tmp_path / "checkpoints").glob(f"run-{run_id}.*"))
    assert store.get(keep).status == "queued"
    store.delete(keep, TEACHER)  # a queued run may go at once; the teacher may delete any run
    assert store.list() == []


def test_a_running_run_whose_process_died_may_be_deleted(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.enqueue(QUICK, owner=ALICE)
    store.claim(_dead_pid(), "cpu", run_id)
    store.delete(run_id, ALICE)
    assert store.list() == []


def test_resume_rules(tmp_path):
    import torch
    store = RunStore(tmp_path)
    run_id = store.enqueue(QUICK.replace(epochs=4), owner=ALICE)
    store.claim(os.getpid(), "cpu", run_id)
    for e in (1, 2, 3):
        store.add_epoch(run_id, record(e))
    store.save_checkpoint(run_id, {"w": torch.ones(2)}, 2, {"epoch": 2})
    with pytest.raises(ValueError, match="only an interrupted, stopped or cancelled run can be resumed"):
        store.resume(run_id, ALICE)
    store.finish(run_id, "interrupted", "the worker stopped")
    with pytest.raises(PermissionError, match="may resume it"):
        store.resume(run_id, BOB)
    run = store.resume(run_id, ALICE)
    assert run.status == "queued" and run.resume_epoch == 2 and run.progress == 0.5
    assert "continues after epoch 2" in run.message and not run.cancel
    assert [e["epoch"] for e in store.epochs(run_id)] == [1, 2]  # epoch 3 is trained again from the state
    fresh = store.enqueue(QUICK.replace(epochs=4), owner=ALICE)  # no checkpoint: it starts over
    store.claim(os.getpid(), "cpu", fresh)
    store.add_epoch(fresh, record(1))
    store.finish(fresh, "stopped", "time limit")
    again = store.resume(fresh, TEACHER)
    assert again.status == "queued" and again.resume_epoch == 0 and "starts again from epoch 1" in again.message
    assert store.epochs(fresh) == []
    done = store.enqueue(QUICK, owner=ALICE)
    store.finish(done, "done")
    with pytest.raises(ValueError, match="is done"):
        store.resume(done, ALICE)


# --- quotas -----------------------------------------------------------------------------------
def test_queued_runs_per_owner(tmp_path):
    store, limits = RunStore(tmp_path), Limits(queued_runs_per_owner=3)
    ids = [store.enqueue(QUICK, owner=ALICE, limits=limits) for _ in range(3)]
    with pytest.raises(QuotaExceeded) as err:
        store.enqueue(QUICK, owner=ALICE, limits=limits)
    message = str(err.value)
    assert "3 runs of this owner are already queued or running" in message
    assert "queued_runs_per_owner = 3" in message and "CNNCALC_QUEUED_RUNS_PER_OWNER" in message
    assert isinstance(err.value, ValueError) and (err.value.limit, err.value.asked) == ("queued_runs_per_owner", 4)
    store.enqueue(QUICK, owner=BOB, limits=limits)  # another owner has a quota of their own
    store.claim(os.getpid(), "cpu", ids[0])  # running still counts
    with pytest.raises(QuotaExceeded):
        store.enqueue(QUICK, owner=ALICE, limits=limits)
    store.finish(ids[0], "done")
    store.enqueue(QUICK, owner=ALICE, limits=limits)
    for _ in range(5):  # the teacher is exempt from the count (not from the size limits)
        store.enqueue(QUICK, owner=TEACHER, limits=limits)
    store.finish(ids[1], "interrupted")
    store.enqueue(QUICK, owner=ALICE, limits=limits)
    with pytest.raises(QuotaExceeded, match="queued_runs_per_owner"):
        store.resume(ids[1], ALICE, limits)  # a resumed run queues again: it counts
    assert store.resume(ids[1], TEACHER, limits).status == "queued"


def test_epochs_times_examples(tmp_path):
    limits = Limits()
    check_run_size(TrainConfig(epochs=100), limits)  # 100 × 50,000 = 5,000,000: allowed
    with pytest.raises(QuotaExceeded) as err:
        check_run_size(TrainConfig(epochs=101), limits)
    message = str(err.value)
    assert "101 epochs × 50,000 training examples = 5,050,000" in message
    assert "run_epoch_examples = 5,000,000" in message and "CNNCALC_RUN_EPOCH_EXAMPLES" in message
    check_run_size(TrainConfig(epochs=1000, limit=5000), limits)  # the limit is what is trained on
    with pytest.raises(QuotaExceeded, match="run_epoch_examples"):
        check_run_size(TrainConfig(data="mnist", epochs=84), limits)  # 84 × 60,000
    with pytest.raises(QuotaExceeded, match="run_epoch_examples"):  # refused before anything is stored
        RunStore(tmp_path).enqueue(TrainConfig(epochs=500), owner=TEACHER, limits=limits)
    assert RunStore(tmp_path).list() == []


def test_batch_size_1_on_a_million_examples_is_refused():
    big = TrainConfig(data="synthetic", limit=1_000_000, batch_size=1, epochs=10)
    with pytest.raises(QuotaExceeded) as err:
        check_run_size(big, Limits())
    assert err.value.limit == "synthetic_examples" and "1,000,000 + 200,000 = 1,200,000 images" in str(err.value)
    with pytest.raises(QuotaExceeded, match="run_epoch_examples"):  # and by the epochs × examples rule
        check_run_size(big, Limits(synthetic_examples=10**7))
    check_run_size(TrainConfig(data="synthetic", limit=10_000, batch_size=1), Limits())  # 12,000 ≤ 20,000


def test_synthetic_sizes_follow_data_load():
    for limit in (None, 300, 2000):
        data = datasets.load("synthetic", limit)
        assert synthetic_sizes(limit) == (len(data.train_y), len(data.test_y))


def test_image_folders_must_be_listed_and_are_counted_cheaply(tmp_path):
    tree = tmp_path / "tree"
    for split, n in (("train", 30), ("test", 5)):
        for cls in ("a", "b"):
            (tree / split / cls).mkdir(parents=True)
            for i in range(n):
                (tree / split / cls / f"{i}.png").touch()
    (tree / "train" / "a" / "notes.txt").touch()
    cfg = TrainConfig(data=str(tree), epochs=2)
    with pytest.raises(QuotaExceeded, match="not offered on this server.*data_folders"):
        check_run_size(cfg, Limits())
    listed = Limits(data_folders=(str(tree),), run_epoch_examples=120)
    assert training_examples(cfg) == 60 and training_examples(cfg, cap=7) == 7
    assert training_examples(cfg.replace(limit=10)) == 10
    check_run_size(cfg, listed)  # 2 × 60 = 120
    with pytest.raises(QuotaExceeded, match="3 epochs × 41 training examples"):  # counting stops at the bound
        check_run_size(cfg.replace(epochs=3), listed)


CLAIM_OR_ENQUEUE = r"""
import json, os, sys
from cnncalc.server.identity import Identity
from cnncalc.server.limits import Limits
from cnncalc.train.config import TrainConfig
from cnncalc.train.store import QuotaExceeded, RunStore
store, what, n = RunStore(sys.argv[1]), sys.argv[2], int(sys.argv[3])
out = []
if what == "claim":
    while (run := store.claim(os.getpid(), "cpu")) is not None:
        out.append(run.id)
else:
    cfg = TrainConfig(data="synthetic", limit=100, epochs=1)
    limits = Limits(queued_runs_per_owner=3) if what == "quota" else None
    for _ in range(n):
        try:
            out.append(store.enqueue(cfg, owner=Identity("same", "Same"), limits=limits))
        except QuotaExceeded:
            pass
print(json.dumps(out))
"""


def _in_processes(root, what: str, procs: int, n: int = 0) -> list[list[int]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    running = [subprocess.Popen([sys.executable, "-c", CLAIM_OR_ENQUEUE, str(root), what, str(n)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, text=True) for _ in range(procs)]
    outs = [p.communicate(timeout=300)[0] for p in running]
    assert all(p.returncode == 0 for p in running)
    return [json.loads(o) for o in outs]


def test_1000_concurrent_enqueues_are_all_unique(tmp_path):
    RunStore(tmp_path)
    ids = [i for out in _in_processes(tmp_path, "enqueue", 8, 125) for i in out]
    assert len(ids) == 1000 and len(set(ids)) == 1000
    assert len(RunStore(tmp_path).list("queued")) == 1000


def test_the_owner_quota_holds_against_concurrent_requests(tmp_path):
    """One browser fired 30 requests in 3 s: counted and inserted in one transaction, exactly the quota lands."""
    RunStore(tmp_path)
    ids = [i for out in _in_processes(tmp_path, "quota", 8, 4) for i in out]
    assert len(ids) == 3 and len(RunStore(tmp_path).list()) == 3


def test_no_double_claims_among_8_concurrent_claimers(tmp_path):
    store = RunStore(tmp_path)
    queued = {store.enqueue(QUICK, owner=f"o{i % 7}") for i in range(240)}
    outs = _in_processes(tmp_path, "claim", 8)
    claimed = [i for out in outs for i in out]
    assert len(claimed) == len(set(claimed)) and set(claimed) == queued
    assert len(RunStore(tmp_path).list("running")) == 240


# --- rows that cannot be read -----------------------------------------------------------------
def _raw_insert(store, config: str, status: str = "queued", pid=None) -> int:
    with sqlite3.connect(store.path) as db:
        cur = db.execute("INSERT INTO runs (name, owner, created, updated, config, status, worker_pid, heartbeat) "
                         "VALUES (?,?,?,?,?,?,?,?)", ("bad", "x", time.time(), time.time(), config, status, pid,
                                                      time.time() - 60 if pid else None))
        return cur.lastrowid


def test_a_row_that_cannot_be_read_never_crashes_anything(tmp_path):
    store = RunStore(tmp_path)
    lion = _raw_insert(store, json.dumps({**json.loads(QUICK.to_json()), "optimizer": "lion"}))
    garbage = _raw_insert(store, "{not json", "running", _dead_pid())
    listy = _raw_insert(store, "[1, 2]")
    good = store.enqueue(QUICK)
    runs = {r.id: r for r in store.list()}
    assert runs[lion].status == "failed" and "optimizer='lion'" in runs[lion].message
    assert "cannot be read by this version" in runs[lion].message and runs[lion].config_error
    assert runs[garbage].status == "failed" and "JSONDecodeError" in runs[garbage].message
    assert store.get(listy).status == "failed" and not store.get(listy).resumable
    assert {r.id for r in store.list("queued")} == {good}
    assert {lion, garbage, listy} <= {r.id for r in store.list("failed")}
    assert store.recover() == [garbage]  # never raises on a bad row
    assert store.claim(os.getpid(), "cpu", lion) is None  # named: marked failed, nothing returned
    claimed = store.claim(os.getpid(), "cpu")  # the next (fair order: owner x has had two runs already)
    assert claimed.id == good
    assert store.claim(os.getpid(), "cpu") is None  # the bad row is marked failed, and nothing is left
    with sqlite3.connect(store.path) as db:
        stored = dict(db.execute("SELECT id, status FROM runs").fetchall())
    assert stored[lion] == stored[listy] == "failed" and stored[garbage] == "interrupted"


def test_the_worker_serves_the_runs_behind_a_bad_row(tmp_path):
    store = RunStore(tmp_path)
    bad = _raw_insert(store, json.dumps({**json.loads(QUICK.to_json()), "optimizer": "lion"}))
    good = store.enqueue(QUICK)
    assert serve(tmp_path, "cpu", idle_exit=0) == 1
    assert store.get(good).status == "done" and store.get(bad).status == "failed"
    assert serve(tmp_path, "cpu", idle_exit=0) == 0  # the next worker starts without a crash


# --- schema -----------------------------------------------------------------------------------
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL,
    config TEXT NOT NULL,
    spec TEXT,
    input_shape TEXT,
    status TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    device TEXT NOT NULL DEFAULT '',
    worker_pid INTEGER,
    heartbeat REAL,
    cancel INTEGER NOT NULL DEFAULT 0,
    progress REAL NOT NULL DEFAULT 0,
    checkpoint TEXT,
    normalization TEXT
);
CREATE TABLE IF NOT EXISTS epochs (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    epoch INTEGER NOT NULL,
    train_loss REAL, train_top1 REAL, train_top5 REAL,
    test_loss REAL, test_top1 REAL, test_top5 REAL,
    lr REAL, seconds REAL, batch_losses TEXT,
    PRIMARY KEY (run_id, epoch)
);
"""  # the first store's SCHEMA, verbatim (user_version 0)


def test_an_old_store_is_migrated_in_place(tmp_path):
    with sqlite3.connect(tmp_path / "runs.sqlite") as db:
        db.executescript(OLD_SCHEMA)
        db.execute("INSERT INTO runs (name, owner, created, updated, config, status, message, checkpoint) VALUES "
                   "(?,?,?,?,?,?,?,?)",
                   ("old run", "f00d", 1.0, 2.0, QUICK.to_json(), "done", "ok", "run-1.safetensors"))
        db.execute("INSERT INTO epochs (run_id, epoch, test_loss, batch_losses) VALUES (1, 1, 0.5, '[0.5]')")
    store = RunStore(tmp_path)
    assert store.schema_version() == SCHEMA_VERSION == 2  # version 0 → 2 in one step (1 → 2: test_train_sharing)
    run = store.get(1)
    assert (run.name, run.owner, run.owner_name, run.status, run.message) == ("old run", "f00d", "f00d", "done", "ok")
    assert run.resume_epoch == 0 and run.resume_state is None and run.config == QUICK
    assert store.epochs(1)[0]["test_loss"] == 0.5
    new = store.enqueue(QUICK, owner=ALICE)
    assert new == 2 and store.get(new).owner_name == "Alice"
    RunStore(tmp_path)  # opening again changes nothing
    with sqlite3.connect(tmp_path / "runs.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        columns = [r[1] for r in db.execute("PRAGMA table_info(runs)")]
    assert columns[-6:-3] == ["owner_name", "resume_epoch", "resume_state"]
    assert columns[-3:] == ["phase", "experiment", "started"]  # version 2
    assert run.phase == "" and run.started is None and store.identical(QUICK) is None


def test_a_new_store_has_the_current_version(tmp_path):
    assert RunStore(tmp_path).schema_version() == SCHEMA_VERSION


# --- source rules -----------------------------------------------------------------------------
TRAIN = ROOT / "cnncalc" / "train"
# what may be spliced into SQL text: identifiers and placeholders from code, never a value
SQL_PIECES = {"', '.join(cols)", "', ?' * len(cols)", "name", "declaration", "int(SCHEMA_VERSION)", "statement"}


def _sql_is_static(node) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return all(isinstance(v, ast.Constant) or ast.unparse(v.value) in SQL_PIECES for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _sql_is_static(node.left) and _sql_is_static(node.right)
    if isinstance(node, ast.IfExp):
        return _sql_is_static(node.body) and _sql_is_static(node.orelse)
    return isinstance(node, ast.Name) and node.id in SQL_PIECES


def test_sql_is_parameterised_and_nothing_is_unpickled():
    for name in ("store.py", "worker.py", "engine.py"):
        source = (TRAIN / name).read_text()
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = {a.name for a in node.names} | {getattr(node, "module", None) or ""}
                assert not modules & {"pickle", "dill", "marshal", "shelve", "cloudpickle"}, f"{name}:{node.lineno}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("eval", "exec", "compile"), f"{name}:{node.lineno}: {node.func.id}"
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr in ("execute", "executemany", "executescript"):
                assert _sql_is_static(node.args[0]), f"{name}:{node.lineno}: SQL built from a value"
            if node.func.attr == "load" and ast.unparse(node.func.value) == "torch":
                kw = {k.arg: k.value for k in node.keywords}
                assert isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True, \
                    f"{name}:{node.lineno}: torch.load without weights_only=True"

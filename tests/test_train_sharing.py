"""A CPU queue shared by a class (issue #11): a finished run of the same experiment offered instead of a new one,
each queued run's place in the worker's real (fair-share) order with an estimated wait, the phase of a running
run, and stores of schema versions 0 and 1 migrated to the current one."""
import json
import os
import sqlite3
import time

import pytest

from cnncalc.server.identity import Identity
from cnncalc.server.limits import Limits
from cnncalc.train import store as store_module
from cnncalc.train.config import EXECUTION_FIELDS, TrainConfig, experiment_key
from cnncalc.train.engine import PHASES, EpochRecord
from cnncalc.train.store import SCHEMA_VERSION, RunStore, expected_seconds, speed_key
from cnncalc.train.worker import execute

QUICK = TrainConfig(data="synthetic", limit=300, epochs=1, batch_size=32, lr=1e-3, optimizer="adam", device="cpu")
ALICE, BOB, CAROL = Identity("a1", "Alice"), Identity("b2", "Bob"), Identity("c3", "Carol")
DAN = Identity("d4", "Dan")


def record(epoch, seconds=1.0):
    return EpochRecord(epoch, 1.0, 0.5, 0.9, 1.0, 0.5, 0.9, 0.1, seconds, (1.0,))


def _done(store, cfg, owner=ALICE, seconds=None):
    run_id = store.enqueue(cfg, owner=owner)
    store.claim(os.getpid(), "cpu", run_id)
    for e in range(1, cfg.epochs + 1):
        store.add_epoch(run_id, record(e, seconds if seconds is not None else 1.0))
    store.finish(run_id, "done", "ok")
    return run_id


# --- the same experiment --------------------------------------------------------------------------------------
def test_where_it_runs_is_not_the_experiment():
    base = experiment_key(QUICK)
    changes = dict(device="cuda", pipeline="lab", precision="bf16", workers=0, compile=True, graph="off")
    assert set(changes) == set(EXECUTION_FIELDS)
    for field, value in changes.items():
        assert experiment_key(QUICK.replace(**{field: value})) == base, field
    for field, value in dict(seed=1, lr=0.002, epochs=2, limit=301, test_limit=50, max_seconds=60.0,
                             augment="padcrop", data="mnist", batchnorm=True).items():
        assert experiment_key(QUICK.replace(**{field: value})) != base, field
    assert experiment_key(QUICK, "shuffled pixels") != base
    assert experiment_key(QUICK.replace(preset="LAB")) == experiment_key(QUICK)
    assert experiment_key(QUICK.replace(lr=1)) == experiment_key(QUICK.replace(lr=1.0))
    assert experiment_key(QUICK.replace(test_limit=300)) == base  # test_limit None: as many as limit


def test_a_folder_is_one_experiment_however_it_is_spelled(tmp_path, monkeypatch):
    (tmp_path / "cifar").mkdir()
    monkeypatch.chdir(tmp_path)
    assert experiment_key(QUICK.replace(data="cifar")) == experiment_key(QUICK.replace(data=str(tmp_path / "cifar")))


def test_identical_offers_the_latest_done_run_of_the_same_experiment(tmp_path):
    store = RunStore(tmp_path)
    assert store.identical(QUICK) is None
    first = _done(store, QUICK, ALICE)
    second = _done(store, QUICK.replace(device="auto", precision="bf16"), BOB)  # same experiment, elsewhere
    _done(store, QUICK.replace(seed=1), BOB)
    failed = store.enqueue(QUICK, owner=BOB)
    store.finish(failed, "failed", "boom")
    found = store.identical(QUICK.replace(pipeline="lab"))
    assert found is not None and found.id == second and found.owner == "b2"
    store.delete(second, BOB)
    assert store.identical(QUICK).id == first
    assert store.identical(QUICK.replace(epochs=2)) is None


def test_reuse_returns_the_existing_run_and_inserts_nothing(tmp_path):
    store = RunStore(tmp_path)
    limits = Limits(queued_runs_per_owner=1)
    queued = store.enqueue(QUICK, owner=ALICE, limits=limits)
    assert store.identical(QUICK) is None and store.identical(QUICK, active=True).id == queued
    # Bob asks for the same experiment while Alice's run waits: he watches hers (no quota used, no row added)
    assert store.enqueue(QUICK, owner=BOB, limits=limits, reuse=True) == queued
    assert store.enqueue(QUICK, owner=BOB, limits=limits, reuse=True) == queued
    assert len(store.list()) == 1
    store.claim(os.getpid(), "cpu", queued)
    store.finish(queued, "done", "ok")
    assert store.enqueue(QUICK.replace(device="auto"), owner=CAROL, reuse=True) == queued
    new = store.enqueue(QUICK, owner=CAROL)  # without reuse: a new run, as before
    assert new != queued and len(store.list()) == 2


def test_external_runs_are_offered_only_with_their_variant(tmp_path):
    store = RunStore(tmp_path)
    plain = store.start_external(QUICK, "demo", ALICE, os.getpid(), "cpu")  # the data may differ: never offered
    store.finish(plain, "done", "ok")
    assert store.identical(QUICK) is None
    shuffled = store.start_external(QUICK, "demo", ALICE, os.getpid(), "cpu", variant="shuffled pixels, seed 0")
    store.finish(shuffled, "done", "ok")
    assert store.identical(QUICK) is None
    assert store.identical(QUICK, variant="shuffled pixels, seed 0").id == shuffled
    cli = store.start_external(QUICK, "", ALICE, os.getpid(), "cpu", variant="")  # the CLI trains cfg as it is
    store.finish(cli, "done", "ok")
    assert store.identical(QUICK).id == cli


def test_external_runs_obey_the_quota(tmp_path):
    store = RunStore(tmp_path)
    limits = Limits(queued_runs_per_owner=2)
    store.enqueue(QUICK, owner=ALICE, limits=limits)
    store.start_external(QUICK, "demo", ALICE, os.getpid(), "cpu", limits=limits)
    with pytest.raises(store_module.QuotaExceeded, match="queued_runs_per_owner"):
        store.start_external(QUICK, "demo", ALICE, os.getpid(), "cpu", limits=limits)


# --- queue positions and waits ----------------------------------------------------------------------------------
def test_queue_positions_follow_the_real_claim_order_under_fair_share(tmp_path):
    store = RunStore(tmp_path)
    _done(store, QUICK, CAROL)  # Carol has one run started already: she comes after newcomers
    runs = [store.enqueue(QUICK.replace(seed=i), owner=who) for i, who in
            enumerate([ALICE, ALICE, ALICE, CAROL, BOB, CAROL, BOB])]
    places = store.queue_places()
    predicted = sorted(places, key=lambda r: places[r].position)
    assert [places[r].position for r in predicted] == list(range(1, len(runs) + 1))
    for r in runs:
        assert store.queue_position(r) == places[r]
        assert places[r].ahead == tuple(predicted[:places[r].position - 1])
    claimed = []
    while (run := store.claim(1, "cpu")) is not None:
        claimed.append(run.id)
        store.finish(run.id, "done")
    assert claimed == predicted
    assert store.queue_position(runs[0]) is None  # not queued any more


def test_the_wait_adds_the_running_run_and_the_runs_ahead(tmp_path):
    store = RunStore(tmp_path)
    measured = QUICK.replace(epochs=4)
    _done(store, measured, CAROL, seconds=3.0)  # 3 s per epoch of 300 images: 0.01 s per example-epoch
    running = store.enqueue(measured.replace(seed=1), owner=CAROL)
    store.claim(os.getpid(), "cpu", running)
    a = store.enqueue(measured.replace(seed=2), owner=ALICE)
    unknown = store.enqueue(QUICK.replace(batch_size=16, max_seconds=40.0), owner=BOB)
    b = store.enqueue(measured.replace(seed=3), owner=ALICE)
    places = store.queue_places(Limits(run_minutes=10))
    expected = store_module.START_SECONDS + 4 * 3.0
    assert [places[r].position for r in (a, unknown, b)] == [1, 2, 3]
    assert places[a].ahead == (running,)
    assert places[a].wait_seconds == pytest.approx(expected, abs=1.0)  # the running run has barely started
    assert places[a].measured
    assert places[unknown].wait_seconds == pytest.approx(2 * expected, abs=1.0) and places[unknown].measured
    assert places[b].wait_seconds == pytest.approx(2 * expected + 40.0, abs=1.0)  # its budget: an upper bound
    assert not places[b].measured
    with sqlite3.connect(store.path) as db:  # half-way after 10 s: 10 s left at its own pace
        db.execute("UPDATE runs SET progress=0.5, started=? WHERE id=?", (time.time() - 10, running))
    assert store.queue_position(a).wait_seconds == pytest.approx(10.0, abs=1.0)


def test_expected_seconds_rule():
    speeds = {speed_key(QUICK): 0.01}
    assert expected_seconds(QUICK.replace(epochs=3), speeds, 600) == (store_module.START_SECONDS + 9.0, True)
    assert expected_seconds(QUICK.replace(epochs=3), speeds, 600, done_epochs=2)[0] == store_module.START_SECONDS + 3
    assert expected_seconds(QUICK.replace(epochs=1000), speeds, 600) == (600, True)  # run_minutes caps it
    assert expected_seconds(QUICK.replace(seed=4, device="cpu"), speeds, 600)[1]  # the seed is not the speed
    assert expected_seconds(QUICK.replace(batch_size=8), speeds, 600) == (600, False)
    assert expected_seconds(QUICK.replace(batch_size=8, max_seconds=60.0), speeds, 600) == (60.0, False)


def test_external_runs_do_not_hold_the_queue(tmp_path):
    store = RunStore(tmp_path)
    store.start_external(QUICK.replace(epochs=50), "demo", CAROL, os.getpid(), "cpu")
    queued = store.enqueue(QUICK, owner=ALICE)
    assert store.queue_position(queued).ahead == () and store.queue_position(queued).wait_seconds == 0


def test_queue_places_is_cheap(tmp_path):
    store = RunStore(tmp_path)
    for i in range(30):
        _done(store, QUICK.replace(seed=i, epochs=3), Identity(f"s{i}", f"S{i}"))
    for i in range(90):
        store.enqueue(QUICK.replace(seed=100 + i), owner=Identity(f"s{i % 30}", f"S{i % 30}"))
    store.queue_places()
    t0 = time.perf_counter()
    for _ in range(10):
        places = store.queue_places()
    assert len(places) == 90 and (time.perf_counter() - t0) / 10 < 0.1


# --- phases -----------------------------------------------------------------------------------------------------
def test_the_worker_records_the_phases_in_order(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    run_id = store.enqueue(QUICK.replace(epochs=2), owner=ALICE)
    seen = []
    original = store.set_phase

    def spy(rid, phase):
        original(rid, phase)
        seen.append((phase, store.get(rid).phase))
    monkeypatch.setattr(store, "set_phase", spy)
    assert execute(store, store.claim(os.getpid(), "cpu", run_id)) == "done"
    loading, building, warming, training, evaluating = PHASES
    assert [p for p, _ in seen] == [loading, building, warming, training, evaluating, training, evaluating]
    assert all(stored == p for p, stored in seen)  # each one visible in the store as it came
    run = store.get(run_id)
    assert run.status == "done" and run.phase == "" and run.started is not None


# --- migration --------------------------------------------------------------------------------------------------
V1_COLUMNS = ["owner_name TEXT NOT NULL DEFAULT ''", "resume_epoch INTEGER NOT NULL DEFAULT 0", "resume_state TEXT"]


def test_a_version_1_store_is_migrated_in_place(tmp_path):
    from test_train_queue import OLD_SCHEMA
    with sqlite3.connect(tmp_path / "runs.sqlite") as db:
        db.executescript(OLD_SCHEMA)
        for column in V1_COLUMNS:
            db.execute(f"ALTER TABLE runs ADD COLUMN {column}")
        db.execute("INSERT INTO runs (name, owner, owner_name, created, updated, config, status, message) VALUES "
                   "(?,?,?,?,?,?,?,?)", ("v1 run", "a1", "Alice", 1.0, 2.0, QUICK.to_json(), "done", "ok"))
        db.execute("INSERT INTO runs (name, owner, owner_name, created, updated, config, status) VALUES "
                   "(?,?,?,?,?,?,?)", ("ownerless", "", "", 1.0, 2.0, QUICK.to_json(), "queued"))
        db.execute("PRAGMA user_version = 1")
    store = RunStore(tmp_path)
    assert store.schema_version() == SCHEMA_VERSION == 2
    old = store.get(1)
    assert (old.name, old.owner_name, old.status, old.phase, old.started) == ("v1 run", "Alice", "done", "", None)
    assert store.identical(QUICK) is None  # a run from before version 2: its origin is unknown, never offered
    assert store.queue_position(2).position == 1
    with sqlite3.connect(store.path) as db:
        columns = [r[1] for r in db.execute("PRAGMA table_info(runs)")]
        indexes = {r[1] for r in db.execute("PRAGMA index_list(runs)")}
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert columns[-6:] == ["owner_name", "resume_epoch", "resume_state", "phase", "experiment", "started"]
    assert "runs_by_experiment" in indexes
    done = _done(store, QUICK)
    assert store.identical(QUICK).id == done
    RunStore(tmp_path)  # opening again changes nothing
    assert store.schema_version() == 2 and json.loads(store.get(done).config.to_json())["limit"] == 300


@pytest.mark.parametrize("slots, waits", [
    (1, (1, 2, 3)),  # one worker: the running run's 17 s, then each run ahead adds its 17 s
    (2, (0, 1, 1)),  # one slot idle: the first waits for nothing; the next two for the first slot to come free
    (3, (0, 0, 1)),  # two idle slots
])
def test_the_wait_with_several_slots_is_the_first_slot_to_come_free(tmp_path, slots, waits):
    """The Ray backend trains ``slots`` runs at once: each queued run, in claim order, takes the slot that comes
    free first. Every run here is expected to take START_SECONDS + 4 epochs × 3 s = 17 s (``waits`` in units of
    that), and the running one has barely started."""
    store = RunStore(tmp_path)
    measured = QUICK.replace(epochs=4)
    _done(store, measured, CAROL, seconds=3.0)
    running = store.enqueue(measured.replace(seed=1), owner=CAROL)
    store.claim(os.getpid(), "cpu", running)
    queued = [store.enqueue(measured.replace(seed=s), owner=who) for s, who in ((2, ALICE), (3, BOB), (4, DAN))]
    places = store.queue_places(Limits(run_minutes=10), slots=slots)
    unit = store_module.START_SECONDS + 4 * 3.0
    assert [places[r].position for r in queued] == [1, 2, 3]
    assert [places[r].wait_seconds for r in queued] == pytest.approx([w * unit for w in waits], abs=1.0)
    assert all(places[r].measured for r in queued)

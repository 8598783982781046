"""Checkpoints and resume: time-based checkpoints, resume states that load with weights_only=True, and a run
interrupted after epoch 2 of 4 that resumes to the very weights of a run that never stopped."""
import io
import os

import pytest
import torch
from safetensors.torch import load_file

from cnncalc.server.identity import Identity
from cnncalc.train.config import TrainConfig
from cnncalc.train.engine import Cancelled, capture, prepare, train
from cnncalc.train.store import RunStore
from cnncalc.train.worker import execute, serve

ALICE = Identity("a1", "Alice")
# crops and flips (the pipeline's generator), dropout (the global RNG), momentum and a per-epoch schedule
FAST = TrainConfig(data="synthetic", limit=200, epochs=4, batch_size=32, lr=0.02, momentum=0.9, augment="cropflip",
                   dropout=0.5, schedule="exponential", standardize="train", device="cpu")
# the lab's DataLoader pipeline (shuffles seeded per epoch), Adam and a per-step schedule
LAB = TrainConfig(data="synthetic", limit=200, epochs=4, batch_size=32, lr=1e-3, optimizer="adam", pipeline="lab",
                  workers=0, augment="padcrop", schedule="onecycle", device="cpu")


def _roundtrip(state: dict) -> dict:
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.mark.parametrize("cfg", [FAST, LAB], ids=["fast", "lab"])
def test_resume_reaches_the_weights_of_an_uninterrupted_run(cfg):
    """Exact equality on the CPU: the state carries the weights, the optimiser and schedule, the global RNG
    (dropout, the lab pipeline's transforms) and the pipeline's position (the fast pipeline's generator, the
    lab pipeline's per-epoch shuffle seed), so epochs 3 and 4 see the same batches and the same dropout."""
    whole = train(cfg)
    states = {}

    def stop_after(epoch):  # should_stop is asked at every epoch's end (no progress point in between here)
        answers = iter([False] * (epoch - 1) + [True])
        return lambda: next(answers)

    def keep(e, state):
        states[e] = _roundtrip(state)
    with pytest.raises(Cancelled, match="stopped after epoch 2"):
        train(cfg, should_stop=stop_after(2), on_checkpoint=keep, checkpoint_seconds=1e9, progress_every=10**6)
    assert list(states) == [2]  # not time for one yet, but a stop always writes one
    rest = train(cfg, resume=states[2])
    assert [r.epoch for r in rest.records] == [3, 4] and "resumed after epoch 2" in rest.notes
    assert [r.test_loss for r in rest.records] == [r.test_loss for r in whole.records[2:]]
    assert [r.batch_losses for r in rest.records] == [r.batch_losses for r in whole.records[2:]]
    a, b = whole.model.state_dict(), rest.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(Cancelled):  # a resumed run stops and resumes again just as well
        train(cfg, resume=states[2], should_stop=stop_after(1), on_checkpoint=keep, progress_every=10**6)
    rest = train(cfg, resume=states[3])
    a, b = whole.model.state_dict(), rest.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_state_of_other_settings_is_refused():
    state = _roundtrip(capture(prepare(FAST.replace(epochs=1, limit=50)), 1))
    with pytest.raises(ValueError, match="belongs to other settings"):
        train(FAST.replace(epochs=2, limit=50), resume=state)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
def test_every_resume_state_loads_with_weights_only(optimizer):
    for schedule in ("none", "exponential", "step", "cosine", "onecycle"):
        cfg = TrainConfig(data="synthetic", limit=50, epochs=2, optimizer=optimizer, schedule=schedule,
                          momentum=0.9 if optimizer == "sgd" else 0.0, device="cpu")
        s = prepare(cfg)
        state = _roundtrip(capture(s, 1))  # weights_only=True: would raise on any pickled object
        assert state["epoch"] == 1 and state["optimizer"]["param_groups"][0]["lr"] == s.optimizer.param_groups[0]["lr"]


def test_checkpoints_are_time_based():
    cfg = FAST.replace(epochs=3, limit=64, dropout=0.0)
    seen = []
    train(cfg, on_checkpoint=lambda e, s: seen.append(e), checkpoint_seconds=1e9)
    assert seen == [3]  # fast epochs: only the last one
    seen.clear()
    train(cfg, on_checkpoint=lambda e, s: seen.append(e), checkpoint_seconds=0)
    assert seen == [1, 2, 3]


class Killed(BaseException):
    """kill -9 in a test: nothing in the worker catches it, nothing after it runs."""


def test_an_interrupted_run_resumes_and_ends_as_if_never_stopped(tmp_path, monkeypatch):
    """Interrupted right after epoch 2's checkpoint (as by kill -9), healed to "interrupted", resumed by its
    owner: 4 epochs, the first two the originals, and the weights of a run that never stopped."""
    store = RunStore(tmp_path)
    run_id = store.enqueue(FAST, owner=ALICE)
    run = store.claim(os.getpid(), "cpu", run_id)
    save = store.save_checkpoint

    def save_then_die(rid, model, epoch=None, state=None):
        path = save(rid, model, epoch, state)
        if epoch == 2:
            raise Killed
        return path
    monkeypatch.setattr(store, "save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        execute(store, run, checkpoint_seconds=0)
    monkeypatch.undo()
    original = store.epochs(run_id)
    assert [e["epoch"] for e in original] == [1, 2]
    assert store.heal(stale_seconds=0).interrupted == (run_id,)  # its heartbeat stopped with it
    run = store.get(run_id)
    assert run.status == "interrupted" and "after epoch 2" in run.message and "checkpoint (epoch 2)" in run.message
    assert store.resume(run_id, ALICE).status == "queued"
    assert serve(tmp_path, "cpu", idle_exit=0) == 1
    run = store.get(run_id)
    assert run.status == "done", run.message
    assert "resumed after epoch 2" in run.message
    epochs = store.epochs(run_id)
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4] and epochs[:2] == original
    whole = train(FAST)
    assert [e["test_loss"] for e in epochs] == [r.test_loss for r in whole.records]
    weights, expected = load_file(store.checkpoint_path(run)), whole.model.state_dict()
    assert all(torch.equal(weights[k], expected[k].contiguous()) for k in expected)
    assert not list((tmp_path / "checkpoints").glob("*.state.pt*")) and run.resume_state is None  # done: dropped

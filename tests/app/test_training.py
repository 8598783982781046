"""The Training page under AppTest, on a temporary run store; no real worker is ever started."""
import math
import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnncalc.train import worker
from cnncalc.train.config import LADDER, TrainConfig
from cnncalc.train.engine import EpochRecord
from cnncalc.train.store import RunStore
from ui.training_form import form_values

PAGE = str(Path(__file__).resolve().parents[2] / "ui" / "pages" / "training.py")


def _record(epoch, train_loss, train_top1, test_loss, test_top1):
    return EpochRecord(epoch, train_loss, train_top1, min(1.0, train_top1 + 0.4), test_loss, test_top1,
                       min(1.0, test_top1 + 0.4), 0.1, 1.5, (2.31, 2.2, 2.0))


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNCALC_DATA", str(tmp_path / "store"))
    started = []
    monkeypatch.setattr(worker, "ensure_worker", lambda root, *a, **k: started.append(Path(root)) or True)
    s = RunStore(tmp_path / "store")
    s.started_workers = started
    return s


def _open(run=None):
    at = AppTest.from_file(PAGE, default_timeout=30)
    if run is not None:
        at.query_params["run"] = str(run)
    return at.run()


def _finished_run(store) -> int:
    """Hand-made: test loss lowest at epoch 2 (1.80); best test top-1 42.0 % at epoch 3."""
    run_id = store.enqueue(TrainConfig(data="synthetic", limit=300, epochs=3), owner="someone")
    store.claim(os.getpid(), "cpu", run_id=run_id)
    for rec in [_record(1, 2.30, 0.12, 2.25, 0.18), _record(2, 1.60, 0.40, 1.80, 0.35),
                _record(3, 1.10, 0.60, 1.95, 0.42)]:
        store.add_epoch(run_id, rec)
    store.finish(run_id, "done", "final test top-1 42.0% (best 42.0% at epoch 3)")
    return run_id


def test_empty_store_renders(store):
    at = _open()
    assert not at.exception
    assert any("No runs yet" in i.value for i in at.info)


def test_finished_run_status_best_top1_and_chance_text(store):
    run_id = _finished_run(store)
    at = _open(run_id)
    assert not at.exception
    assert any(s.value.startswith("**Done.**") for s in at.success)
    assert next(m.value for m in at.metric if m.label == "best test top-1") == "42.0%"
    text = " ".join(md.value for md in at.markdown)
    assert "ln 10 ≈ 2.303" in text and "guesses uniformly" in text
    assert "lowest at epoch 2 (1.800)" in text and "+18.0 points" in text  # 0.60 − 0.42
    runs = at.dataframe[0].value
    assert runs.loc[runs["#"] == run_id, "status"].item() == "✅ done"
    assert runs.loc[runs["#"] == run_id, "best test top-1"].item() == pytest.approx(42.0)


def test_diverged_run_shows_error(store):
    run_id = store.enqueue(TrainConfig(data="synthetic", lr=10.0, epochs=2))
    store.claim(os.getpid(), "cpu", run_id=run_id)
    store.add_epoch(run_id, _record(1, math.nan, 0.1, math.nan, 0.1))
    message = "the training loss became nan at epoch 1, step 3: the learning rate 10 is too high"
    store.finish(run_id, "diverged", message)
    at = _open(run_id)
    assert not at.exception
    assert any(message in e.value for e in at.error)


def test_ladder_preset_fills_the_form(store):
    at = _open()
    at.button(key="tr_step4").click().run()
    assert at.number_input(key="tr_momentum").value == pytest.approx(0.9)
    assert at.selectbox(key="tr_schedule").value == "exponential"
    assert at.number_input(key="tr_gamma").value == pytest.approx(0.95)
    assert at.selectbox(key="tr_standardize").value == "train"
    assert at.selectbox(key="tr_augment").value == "cropflip"
    at.button(key="tr_lr_0.001").click().run()  # a sweep changes one value only
    assert at.number_input(key="tr_lr").value == pytest.approx(0.001)
    assert at.number_input(key="tr_momentum").value == pytest.approx(0.9)
    at.button(key="tr_step1").click().run()  # a ladder step resets the rest
    assert at.number_input(key="tr_momentum").value == 0.0 and at.selectbox(key="tr_schedule").value == "none"
    assert not at.exception


def test_submit_queues_a_run_and_starts_the_worker(store):
    at = _open()
    at.selectbox(key="tr_source").set_value("synthetic (offline demo)")
    at.number_input(key="tr_limit").set_value(300)
    at.number_input(key="tr_epochs").set_value(2)
    next(b for b in at.button if b.label == "Queue this run").click().run()
    assert not at.exception and not at.error
    (run,) = store.list()
    assert (run.config.data, run.config.limit, run.config.epochs, run.status) == ("synthetic", 300, 2, "queued")
    assert store.started_workers == [store.root]
    assert at.query_params["run"] == str(run.id)
    assert any("queued" in p.proto.text for p in at.get("progress"))


def test_bad_custom_path_is_a_clear_error(store, tmp_path):
    at = _open()
    at.selectbox(key="tr_source").set_value("custom folder (path below)")
    at.text_input(key="tr_path").set_value(str(tmp_path / "nowhere"))
    next(b for b in at.button if b.label == "Queue this run").click().run()
    assert not at.exception
    assert any("must hold `train/<class>/`" in e.value for e in at.error)
    assert store.list() == [] and store.started_workers == []


def test_cancel_a_queued_run(store):
    run_id = store.enqueue(TrainConfig(data="synthetic", limit=300, epochs=1))
    at = _open(run_id)
    assert any("queued" in p.proto.text for p in at.get("progress"))
    at.button(key=f"tr_cancel{run_id}").click().run()
    assert not at.exception
    assert store.get(run_id).status == "cancelled"
    assert any("cancelled before it started" in w.value for w in at.warning)


def test_unknown_run_and_unusable_store_are_explained(store, tmp_path, monkeypatch):
    _finished_run(store)
    at = _open(999)
    assert not at.exception and any("no run 999" in w.value for w in at.warning)
    (tmp_path / "a_file").write_text("not a folder")
    monkeypatch.setenv("CNNCALC_DATA", str(tmp_path / "a_file"))
    at = _open()
    assert not at.exception and any("cannot be opened" in e.value for e in at.error)


def test_q32_form_values_fill_the_training_form():
    v = form_values({**LADDER["5 + dropout 0.5 + batch norm"], "dropout": 0.25})
    assert v["tr_dropout"] == 0.25 and v["tr_batchnorm"] is True and v["tr_epochs"] == 100
    assert v["tr_lr"] == 0.1 and v["tr_augment"] == "cropflip"
    with pytest.raises(ValueError):
        form_values({"dropout": 1.5})

"""The Lab companion page under AppTest, on a temporary run store; nothing is ever trained or queued."""
import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnncalc.train.config import LADDER, TrainConfig
from cnncalc.train.engine import EpochRecord
from cnncalc.train.store import RunStore

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNCALC_DATA", str(tmp_path / "store"))
    return RunStore(tmp_path / "store")


def _open() -> AppTest:
    """Through app.py, so the page links and page switches resolve."""
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    return at.switch_page("ui/pages/companion.py").run()


@pytest.fixture
def router():
    return _open()


def _record(epoch, train_loss, train_top1, test_loss, test_top1):
    return EpochRecord(epoch, train_loss, train_top1, min(1.0, train_top1 + 0.3), test_loss, test_top1,
                       min(1.0, test_top1 + 0.3), 0.1, 1.0, (2.31, 2.2))


def _run(store, cfg, rows, status="done"):
    run_id = store.enqueue(cfg, owner="test")
    store.claim(os.getpid(), "cpu", run_id=run_id)
    for i, row in enumerate(rows, 1):
        store.add_epoch(run_id, _record(i, *row))
    store.finish(run_id, status, "")
    return run_id


def _labels(at):
    return [e.label for e in at.expander]


def _texts(at):
    return [m.value for m in at.markdown] + [m.value for m in at.caption]


def test_empty_store_renders_every_question_with_computed_numbers(store):
    at = _open()
    assert not at.exception
    assert not at.error and not at.warning
    labels = _labels(at)
    assert len(labels) == 34
    assert labels[0].startswith("1. What are the output size") and labels[-1].startswith("34. ")
    assert [h.value for h in at.subheader] == ["Part 1 — the arithmetic of a convolutional network",
                                                "Part 2 — training the lab's network on CIFAR-10",
                                                "Part 3 — improving the results"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["🧮 total parameters"] == "1,191,170"
    assert metrics["🧮 fc4's share"] == "86.05 %"
    assert metrics["🧮 Output x′ × y′ × z′"] == "32×32×32" and metrics["🧮 Weights + biases"] == "2,432"
    assert metrics["🧮 FC-equivalent weights"] == "100,663,296"
    assert metrics["🧮 parameters per training image"] == "23.8"
    assert metrics["🧮 bag-of-words + linear SVM"] == "138,010"
    assert metrics["🧮 lr after 10 epochs"] == "0.05987"
    assert metrics["🧮 extra parameters (lab-bn vs lab28)"] == "320"
    assert metrics["🧮 loss"] == "2.3026"
    assert {"conv1": "5×5", "conv2": "14×14", "pool3": "36×36"}.items() <= metrics.items()
    text = "\n".join(_texts(at))
    assert "72.6 %" in text and "not computed by this app" in text          # reference, with its source
    assert "No baseline CIFAR-10 run in the store yet" in text
    assert any("(64 - 32)/8" in t.value and t.value.strip().endswith("= 5\n$$") for t in at.latex)
    assert any(c.value.startswith("python -m cnncalc train --preset lab") for c in at.code)


def test_filter_narrows_the_list(store):
    at = _open()
    at.text_input(key="lc_filter").set_value("dropout").run()
    assert not at.exception
    assert [label.split(".")[0] for label in _labels(at)] == ["29", "31", "32", "33"]
    assert [h.value for h in at.subheader] == ["Part 3 — improving the results"]
    at.text_input(key="lc_filter").set_value("Receptive FIELD").run()
    assert [label.split(".")[0] for label in _labels(at)] == ["7"]
    at.text_input(key="lc_filter").set_value("nothing matches this").run()
    assert _labels(at) == [] and "No question matches" in at.info[0].value


def test_widgets_recompute_the_answers(store):
    at = _open()
    at.text_input(key="lc_filter").set_value("fully-connected equivalent").run()
    at.number_input(key="lc1_x").set_value(28).run()
    at.number_input(key="lc1_y").set_value(28).run()
    at.number_input(key="lc1_s").set_value(2).run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["🧮 Output x′ × y′ × z′"] == "14×14×32"   # ⌊(28 + 4 − 5)/2⌋ + 1 = 14
    assert metrics["🧮 FC-equivalent weights"] == f"{28 * 28 * 3 * 14 * 14 * 32:,}"
    at.text_input(key="lc_filter").set_value("test (eval) mode").run()
    at.slider(key="lc33_p").set_value(0.75).run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["🧮 scale of the kept values"] == "4" and metrics["🧮 eval mode"] == "identity"


def test_runs_in_the_store_feed_the_answers(store):
    base = [(2.0, 0.3, 1.8, 0.35), (1.4, 0.5, 1.3, 0.55), (0.9, 0.7, 1.5, 0.58)]  # test loss lowest at epoch 2
    best = _run(store, TrainConfig(data="/data/cifar10-jpeg", epochs=3), base)
    for lr in (0.1, 0.001):
        _run(store, TrainConfig(data="synthetic", limit=500, epochs=3, lr=lr), base)
    _run(store, TrainConfig(data="cifar10", **LADDER["6 + batch norm"]), base[:2], "interrupted")
    at = _open()
    assert not at.exception and not at.warning
    q15 = at.expander[14]
    assert {m.label: m.value for m in q15.metric}["📦 run"] == f"#{best}"
    assert {m.label: m.value for m in q15.metric}["📦 best test top-1"] == "58.0 %"
    q16 = at.expander[15]
    assert any("learning rate sweep in the store" in m.value for m in q16.markdown)
    assert sorted(q16.dataframe[0].value["learning rate"]) == [0.001, 0.1]
    q18 = at.expander[17]
    assert any("Overfitting marker" in m.value and "epoch 2" in m.value for m in q18.markdown)
    q34 = at.expander[33]
    assert any("Your CIFAR-10 runs of this step" in m.value for m in q34.markdown)


def test_links_and_fill_the_training_form_without_queueing(store, router):
    at = router
    assert not at.exception
    assert len(at.get("page_link")) >= 34
    assert not any("not in this app's menu" in t for t in _texts(at))
    at.selectbox(key="lc32_p").set_value(0.25).run()
    at.button(key="lc32_fill").click().run()
    assert not at.exception
    assert at.title[0].value == "📈 Training"
    assert at.number_input(key="tr_dropout").value == 0.25
    assert at.number_input(key="tr_epochs").value == LADDER["6 + batch norm"]["epochs"]
    assert at.checkbox(key="tr_batchnorm").value is True
    assert store.list() == []                                              # nothing was queued

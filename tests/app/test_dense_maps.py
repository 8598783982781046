"""The dense-map page under AppTest, with no checkpoint at all: the random-weights lab net, a built-in sample,
PyTorch's real error at fc4, the conversion table, the map's shape formula, hostile uploads, the mosaic."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[2] / "ui" / "pages" / "dense_maps.py")


@pytest.fixture
def page(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNCALC_DATA", str(tmp_path / "store"))  # an empty run store
    monkeypatch.setenv("CNNCALC_CIFAR10_DIR", str(tmp_path / "no-cifar"))  # no local CIFAR-10 copy

    def _open(sample="cat (chelsea)", longest=96, model=None) -> AppTest:
        at = AppTest.from_file(PAGE, default_timeout=90)
        at.session_state["dm_image"] = sample
        at.session_state["dm_longest_32"] = longest
        if model:
            at.session_state["dm_model"] = model
        return at.run()
    return _open


def _text(at) -> str:
    return "\n".join(e.value for kind in ("error", "info", "success", "warning", "markdown", "caption", "latex")
                     for e in getattr(at, kind))


def test_shipped_checkpoint_is_the_default():
    from cnncalc.pytorch.models import SHIPPED
    at = AppTest.from_file(PAGE, default_timeout=90).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="dm_model").value == ("shipped" if SHIPPED.exists() else "random")


def test_random_weights_lab_net_on_a_sample(page):
    at = page("cat (chelsea)", 96, model="random")
    assert not at.exception, at.exception
    assert at.selectbox(key="dm_model").value == "random"
    text = _text(at)
    assert "PyTorch, at `fc4`" in text and "mat1 and mat2 shapes cannot be multiplied" in text
    table = at.dataframe[0].value
    assert list(table["weights after"]) == ["(1000, 64, 4, 4)", "(10, 1000, 1, 1)"]
    assert list(table["weights before"]) == ["(1000, 1024)", "(10, 1000)"]
    assert "max |difference| = " in text
    # chelsea is 451×300: longest side 96 → 96 wide, 64 high → ⌊(64 − 32)/8⌋ + 1 = 5 rows, 9 columns
    latex = [x.value for x in at.latex]
    assert any(r"\left\lfloor (64 - 32)/8\right\rfloor  + 1 = 5" in x for x in latex), latex
    assert any(r"\left\lfloor (96 - 32)/8\right\rfloor  + 1 = 9" in x for x in latex), latex
    assert "The 64×96 image gives a **5×9** map" in text
    assert at.slider(key="dm_i_5").max == 4 and at.slider(key="dm_j_9").max == 8
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Sliding window (45 crops)"].endswith(" ms") and metrics["Dense is faster by"].endswith("×")
    assert not at.error or all("fc4" in e.value for e in at.error)


def test_size_and_cell_chooser_follow(page):
    at = page("coffee", 160)  # 600×400 → 160×107: ⌊(107 − 32)/8⌋ + 1 = 10 rows, ⌊(160 − 32)/8⌋ + 1 = 17
    assert not at.exception, at.exception
    latex = " ".join(x.value for x in at.latex)
    assert "(107 - 32)/8" in latex and "= 10" in latex and "(160 - 32)/8" in latex and "= 17" in latex
    at.slider(key="dm_i_10").set_value(0)
    at.slider(key="dm_j_17").set_value(16)
    at.toggle(key="dm_multi").set_value(True)
    at.run()
    assert not at.exception, at.exception
    text = _text(at)
    assert "Cell (0, 16)" in text and "window rows 0…31, columns 128…159" in text
    # scales 0.75 and 0.5: 120×80 → 7×12 cells, 80×54 → 3×7 cells, each with its formula
    assert "(80 - 32)/8" in text and "(54 - 32)/8" in text


@pytest.mark.parametrize("name, data, problem", [
    ("notes.png", b"this is not an image at all", "not an image"),
    ("empty.png", b"", "empty"),
    ("cut.png", None, "truncated"),
])
def test_hostile_uploads_give_a_clear_error(page, name, data, problem):
    if data is None:  # a real PNG cut in half
        buf = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (80, 80, 3), dtype=np.uint8)).save(buf, "PNG")
        data = buf.getvalue()[: len(buf.getvalue()) // 2]
    at = page()
    at.file_uploader(key="dm_upload").set_value((name, data, "image/png"))
    at.run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error if name in e.value]
    assert errors and problem in errors[0], [e.value for e in at.error]
    assert at.latex  # the page goes on with the sample


def test_upload_of_a_good_image(page):
    buf = io.BytesIO()
    Image.fromarray(np.zeros((100, 200, 4), np.uint8)).save(buf, "PNG")  # RGBA
    at = page(longest=128)
    at.file_uploader(key="dm_upload").set_value(("wide.png", buf.getvalue(), "image/png"))
    at.run()
    assert not at.exception, at.exception
    latex = " ".join(x.value for x in at.latex)
    assert "(64 - 32)/8" in latex and "(128 - 32)/8" in latex  # 200×100 → 128×64


def test_cifar_mosaic_tiles_are_cells(page, tmp_path, monkeypatch):
    from cnncalc.train.data import CIFAR10_CLASSES
    root = tmp_path / "cifar"
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name in CIFAR10_CLASSES:
            (root / split / name).mkdir(parents=True)
            for k in range(3):
                tile = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(tile).save(root / split / name / f"{k}.png")
    monkeypatch.setenv("CNNCALC_CIFAR10_DIR", str(root))
    at = AppTest.from_file(PAGE, default_timeout=90).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="dm_image").value.startswith("CIFAR-10")
    latex = " ".join(x.value for x in at.latex)
    assert "(128 - 32)/8" in latex and "= 13" in latex and "(192 - 32)/8" in latex and "= 21" in latex
    tiles = at.dataframe[1].value
    assert "Each tile is exactly one window" in _text(at)
    assert len(tiles) == 24 and tiles["cell (i, j)"].iloc[1] == "(0, 4)" and tiles["cell (i, j)"].iloc[6] == "(4, 0)"
    assert set(tiles["true class"]) <= set(CIFAR10_CLASSES)

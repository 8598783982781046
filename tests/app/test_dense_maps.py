"""The dense-map page under AppTest, with no checkpoint at all: the random-weights lab net, a built-in sample,
PyTorch's real (expected) refusal at fc4, the conversion table, the map's shape formula, hostile uploads, the mosaic."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from .conftest import plain

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
    # fc4's refusal is the lesson, framed as an expected result (neutral box), not as a crash
    refusal = [i.value for i in at.info if "mat1 and mat2 shapes cannot be multiplied" in i.value]
    assert refusal and refusal[0].startswith("**PyTorch refuses, as expected**, at `fc4`")
    assert "next step converts the fc layers to convolutions" in refusal[0]
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
    assert not at.error                                          # nothing red: the refusal is expected


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
    errors = [plain(e.value) for e in at.error if name in plain(e.value)]
    assert errors and problem in errors[0], [plain(e.value) for e in at.error]
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


# --- the classroom server's limits (issue #10): probes 3 and 4 through the page -----------------------------

def _png_noise(h: int, w: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("h, w", [(1, 100_000), (1, 20_000), (4, 8000)])
def test_probe_3_elongated_uploads_are_cropped_and_said(page, h, w):
    """1×100000 became 32×3,200,000 (a SpecError traceback); 1×20000 took 26 s and 6.4 GB; 4×8000 raised
    'height and width must be > 0'. Now the middle 32:1 is kept, the page says so, the map is 1×125."""
    at = page(model="random")
    t0 = time.perf_counter()
    at.file_uploader(key="dm_upload").set_value(("strip.png", _png_noise(h, w), "image/png")).run()
    assert time.perf_counter() - t0 < 60
    assert not at.exception, at.exception
    info = " ".join(i.value for i in at.info)
    assert f"is {h:,}×{w:,} pixels, more than 32 times wider than high" in info and "middle" in info
    assert "resized to 32×1,024" in info
    assert "The 32×1024 image gives a **1×125** map" in _text(at)
    assert not at.error  # section 1's refusal at fc4 is expected: an info box, not an error


def test_probe_3_peak_memory_of_the_page_stays_bounded(tmp_path):
    """The 1×20,000 upload in a fresh process: peak RSS under 1.5 GB (it was 6.5 GB)."""
    code = textwrap.dedent(f'''
        import io, json, os
        import numpy as np
        from PIL import Image
        from streamlit.testing.v1 import AppTest
        os.environ["CNNCALC_DATA"] = {str(tmp_path)!r}
        buf = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (1, 20_000, 3), dtype=np.uint8)).save(buf, "PNG")
        at = AppTest.from_file({PAGE!r}, default_timeout=120)
        at.session_state["dm_model"] = "random"
        at.run()
        at.file_uploader(key="dm_upload").set_value(("strip.png", buf.getvalue(), "image/png")).run()
        hwm = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM"))
        print(json.dumps({{"exception": [e.message for e in at.exception], "peak": hwm}}))
    ''')
    root = Path(PAGE).parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1",
                              "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert not r["exception"] and r["peak"] < 1.5 * 2**30, r


def test_probe_4_phone_photo_is_downscaled_and_eps_refused(page):
    from tests.test_upload_limits import phone_jpeg
    at = page(model="random", longest=128)
    t0 = time.perf_counter()
    at.file_uploader(key="dm_upload").set_value(("phone.jpg", phone_jpeg(), "image/jpeg")).run()
    assert time.perf_counter() - t0 < 60
    assert not at.exception, at.exception
    info = " ".join(i.value for i in at.info)
    assert "(4,000×6,000 pixels) is resized to 85×128 for the network" in info and "pictures below" in info
    buf = io.BytesIO()
    Image.new("RGB", (20, 12)).save(buf, "EPS")
    at.file_uploader(key="dm_upload").set_value(("figure.eps", buf.getvalue(), "application/postscript")).run()
    assert not at.exception
    errors = [plain(e.value) for e in at.error if "figure.eps" in plain(e.value)]
    assert errors and "PNG, JPEG, GIF, BMP, TIFF, WebP" in errors[0]


def test_dense_pass_over_the_memory_limit_is_refused_not_run(page, monkeypatch, fresh_limits):
    monkeypatch.setenv("CNNCALC_MEMORY_MB", "1")  # less than the lab net's weights
    at = page("rocket", 104, model="random")  # a size no other test uses: nothing cached
    assert not at.exception, at.exception
    warning = " ".join(w.value for w in at.warning)
    assert "Not run" in warning and "memory_mb" in warning and "CNNCALC_MEMORY_MB" in warning

"""Uploads, the synthetic data set and the demos on a shared server (issue #10, probes 4 and 5, core side):
only safe image formats are opened, the size limit is the server's, a phone photo is welcome; the synthetic
set costs its uint8 size; every demo bounds what it computes."""
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

from cnncalc.classroom import demos
from cnncalc.classroom.samples import FORMAT_NAMES, load_upload, open_upload
from cnncalc.train.data import synthetic

ROOT = Path(__file__).resolve().parents[1]


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def phone_jpeg(h: int = 4000, w: int = 6000) -> bytes:
    """A 24-megapixel JPEG with the detail of a photo (smooth, a few MB)."""
    small = np.random.default_rng(0).integers(0, 256, (h // 10, w // 10, 3), dtype=np.uint8)
    return _save(Image.fromarray(small).resize((w, h), Image.Resampling.BILINEAR), "JPEG", quality=85)


# --- probe 4: formats and sizes ---------------------------------------------------------------------

@pytest.mark.parametrize("fmt, kind", [("EPS", "PostScript/EPS"), ("PDF", "PDF"), ("PPM", None), ("TGA", None)])
def test_other_formats_are_refused_naming_the_accepted_ones(fmt, kind):
    data = _save(Image.new("RGB", (16, 12), (10, 200, 30)), fmt)
    with pytest.raises(ValueError, match="not an image in an accepted format") as info:
        load_upload(data)
    assert FORMAT_NAMES in str(info.value) and "PNG, JPEG, GIF, BMP, TIFF, WebP" in str(info.value)
    if kind:
        assert kind in str(info.value)


def test_postscript_never_reaches_pillow_eps_plugin(monkeypatch):
    from PIL import EpsImagePlugin
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", lambda self: pytest.fail("EPS decoder was run"))
    with pytest.raises(ValueError, match="PostScript"):
        load_upload(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "MPO"])
def test_accepted_formats(fmt):
    im = Image.new("RGB", (16, 12), (200, 20, 30))
    extra = {"save_all": True, "append_images": [Image.new("RGB", (16, 12))]} if fmt == "MPO" else {}
    out = load_upload(_save(im, fmt, **extra))
    assert out.shape == (12, 16, 3)


def test_upload_limit_is_the_servers(monkeypatch):
    data = _save(Image.fromarray(np.random.default_rng(0).integers(0, 256, (700, 700, 3), np.uint8)), "PNG")
    assert len(data) > 2**20
    monkeypatch.setenv("CNNCALC_UPLOAD_MB", "1")
    with pytest.raises(ValueError, match="up to 1 MB") as info:
        load_upload(data)
    assert "CNNCALC_UPLOAD_MB" in str(info.value)
    monkeypatch.setenv("CNNCALC_UPLOAD_MB", "5")
    assert load_upload(data).shape == (700, 700, 3)
    assert load_upload(data, max_mb=2).shape == (700, 700, 3)


def test_probe_4_a_24_megapixel_phone_photo_is_welcome():
    data = phone_jpeg()
    assert len(data) < 50 * 2**20
    t0 = time.perf_counter()
    out = load_upload(data)
    assert out.shape == (4000, 6000, 3)
    assert time.perf_counter() - t0 < 15


def test_a_phone_photo_is_decoded_no_larger_than_needed():
    data = phone_jpeg()
    up = open_upload(data, at_least=96)
    assert up.size == (4000, 6000) and up.image.shape == (500, 750, 3)  # 1/8 scale: 1.1 MB, not 72
    assert open_upload(data, at_least=600).image.shape == (1000, 1500, 3)  # both sides stay ≥ 600
    png = _save(Image.new("RGB", (300, 200)), "PNG")
    assert open_upload(png, at_least=16).image.shape == (200, 300, 3)  # other formats: whole
    im = Image.open(io.BytesIO(data))
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise": the photo is 6000 high once turned
    turned = _save(im, "JPEG", exif=exif.tobytes())
    up = open_upload(turned, at_least=96)
    assert up.size == (6000, 4000) and up.image.shape == (750, 500, 3)


# --- probe 5: the synthetic data set and the demos --------------------------------------------------

def _synthetic_in_one_piece(n_train, n_test, size=32, seed=0):
    """The generator as it was before it worked in chunks (float arrays for the whole set: ~65 KB an image)."""
    rng = np.random.default_rng(seed)
    tints = np.array([[1.0, 0.55, 0.3], [0.3, 0.6, 1.0]], np.float32)

    def make(n):
        y = rng.integers(0, 10, n)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        cy, cx = rng.uniform(size / 4, 3 * size / 4, (2, n, 1, 1))
        radius = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        freq = (0.35 + 0.28 * (y % 5))[:, None, None]
        wave = np.sin(freq * radius + rng.uniform(0, 2 * np.pi, (n, 1, 1)))
        tint = tints[y // 5][:, :, None, None]
        img = 0.5 + 0.4 * wave[:, None] * tint + rng.normal(0, 0.1, (n, 3, size, size))
        return (np.clip(img, 0, 1) * 255).astype(np.uint8), y.astype(np.int64)

    return make(n_train) + make(n_test)


@pytest.mark.parametrize("n_train, n_test, size, seed", [(700, 300, 32, 0), (5, 3, 28, 4), (256, 257, 16, 1)])
def test_synthetic_in_chunks_gives_the_same_images(n_train, n_test, size, seed):
    tx, ty, vx, vy = _synthetic_in_one_piece(n_train, n_test, size, seed)
    d = synthetic(n_train, n_test, size, seed)
    for a, b in ((tx, d.train_x), (ty, d.train_y), (vx, d.test_x), (vy, d.test_y)):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def test_synthetic_20000_examples_cost_their_uint8_size():
    code = textwrap.dedent('''
        import json, time
        from cnncalc.train.data import synthetic
        def hwm():
            return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM"))
        before, t0 = hwm(), time.perf_counter()
        d = synthetic(16_000, 4_000)
        print(json.dumps({"used": hwm() - before, "seconds": time.perf_counter() - t0,
                          "data": d.train_x.nbytes + d.test_x.nbytes}))
    ''')
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["data"] == 20_000 * 3 * 32 * 32
    assert r["used"] < r["data"] + 80 * 2**20, r  # built in one piece: 1 GB
    assert r["seconds"] < 60


def test_equivariance_refuses_a_large_image_before_drawing_its_fc_layer():
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="at most 64×64"):
        demos.equivariance(np.zeros((1000, 1000, 3), np.uint8), 1, 1)
    with pytest.raises(ValueError, match="kernel"):
        demos.equivariance(np.zeros((16, 16, 3), np.uint8), 1, 1, kernel=99)
    assert time.perf_counter() - t0 < 2
    assert demos.equivariance(np.zeros((64, 64, 3), np.uint8), 1, 1, gray=False).fc_weights == 3 * 4096 * 4096


def test_pooling_and_shuffled_demos_refuse_oversized_requests():
    with pytest.raises(ValueError, match="pooling demo"):
        demos.pooling_demo(np.zeros((2000, 2000)), 2)
    with pytest.raises(ValueError, match="pooling demo"):
        demos.pooling_demo(np.zeros((64, 64)), 20)
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="shuffled-pixels"):
        demos.shuffled_pixels_runs("synthetic", limit=1_000_000, epochs=2)
    with pytest.raises(ValueError, match="shuffled-pixels"):
        demos.shuffled_pixels_runs("synthetic", limit=500, epochs=1000)
    assert time.perf_counter() - t0 < 2  # refused before any data is made

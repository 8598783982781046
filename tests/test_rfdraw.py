"""Field boxes (hand-worked), the drawings (pixels where the box should be), samples and safe uploads."""
from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnncalc import PRESETS, analyze
from cnncalc.receptive import Field
from cnncalc.draw.colours import BOX_COLOUR, CENTRE_COLOUR, EDGE_COLOUR, GRID_COLOUR, colorize
from cnncalc.draw.field import draw_field, draw_heat, grid_visible, layout, unit_centres
from cnncalc.receptive import field_box
from cnncalc.classroom.samples import MAX_PIXELS, load_sample, load_upload, resize, sample_names

ROOT = Path(__file__).resolve().parents[1]
LAB = analyze(PRESETS["lab"].spec, PRESETS["lab"].input_shape)


# --- field_box: the lab net by hand ------------------------------------------------------------
# conv1 k5 p2: rf 5, jump 1, start 0 + (4/2 − 2)·1 = 0
# pool1 k2:    rf 6, jump 2, start 0.5        conv2: rf 6 + 4·2 = 14, jump 2, start 0.5 + (2 − 2)·2 = 0.5
# pool2:       rf 16, jump 4, start 1.5       conv3: rf 16 + 4·4 = 32, jump 4, start 1.5
# pool3:       rf 36, jump 8, start 3.5

@pytest.mark.parametrize("layer, unit, unclipped, clipped", [
    ("pool3", (0, 0), (-14, -14, 21, 21), (0, 0, 21, 21)),        # 3.5 ± 17.5
    ("pool3", (3, 3), (10, 10, 45, 45), (10, 10, 31, 31)),        # 3.5 + 3·8 = 27.5 ± 17.5
    ("pool3", (1, 2), (-6, 2, 29, 37), (0, 2, 29, 31)),           # rows 11.5 ± 17.5, cols 19.5 ± 17.5
    ("conv1", (5, 5), (3, 3, 7, 7), (3, 3, 7, 7)),                # 5 ± 2
    ("conv1", (0, 31), (-2, 29, 2, 33), (0, 29, 2, 31)),
    ("pool1", (3, 4), (4, 6, 9, 11), (4, 6, 9, 11)),              # 6.5 ± 2.5, 8.5 ± 2.5
    ("conv2", (0, 0), (-6, -6, 7, 7), (0, 0, 7, 7)),              # 0.5 ± 6.5
])
def test_field_box_lab_net_by_hand(layer, unit, unclipped, clipped):
    box = field_box(LAB[layer], *unit, (32, 32))
    assert box.unclipped == unclipped
    assert box.clipped == clipped
    assert box.size == LAB[layer].rf
    r = LAB[layer]  # and it agrees with receptive.Field.interval, the core's own rule
    (t, bt), (l, rt) = (Field(rf, jump, start).interval(u) for rf, jump, start, u in zip(r.rf, r.jump, r.start, unit))
    assert box.unclipped == (t, l, bt, rt)


def test_field_box_accepts_chw_and_n_and_clips_top_left_only_without_size():
    assert field_box(LAB["pool3"], 0, 0, (3, 32, 32)) == field_box(LAB["pool3"], 0, 0, 32)
    assert field_box(LAB["pool3"], 3, 3).clipped == (10, 10, 45, 45)
    assert field_box(LAB["pool3"], 0, 0).clipped == (0, 0, 21, 21)


def test_field_box_non_square_and_asymmetric():
    a = analyze("conv 4 k=3x5 s=1x2 p=1x2; relu; maxpool k=2", (3, 20, 27))
    r = a["pool1"]
    # conv1: H rf 3 j 1 start 0; W rf 5 j 2 start 0. pool: H rf 4 j 2 start 0.5; W rf 7 j 4 start 1
    assert (r.rf, r.jump, r.start) == ((4, 7), (2, 4), (0.5, 1.0))
    assert field_box(r, 2, 3, (20, 27)).unclipped == (3, 10, 6, 16)  # 4.5 ± 1.5, 13 ± 3


def test_field_entirely_in_padding_has_no_clipped_box():
    r = analyze("conv 1 k=1 p=3", (1, 4, 4))["conv1"]
    assert field_box(r, 0, 0, (4, 4)) == ((-3, -3, -3, -3), None)


def test_field_box_rejects_bad_units_and_layers():
    with pytest.raises(ValueError, match="outside pool3's 4×4"):
        field_box(LAB["pool3"], 4, 0, 32)
    with pytest.raises(ValueError, match="not a spatial layer|unavailable"):
        field_box(LAB["fc4"], 0, 0, 32)


def test_unit_centres_are_start_plus_k_jump():
    rows, cols = unit_centres(LAB["pool3"])
    assert list(rows) == list(cols) == [3.5, 11.5, 19.5, 27.5]


# --- drawings ----------------------------------------------------------------------------------

GREY = 100


def _grey(h=32, w=32):
    return np.full((h, w, 3), GREY, np.uint8)


def test_layout_conv1_scale_and_margins():
    lay = layout(LAB["conv1"], (32, 32))
    assert (lay.top, lay.left, lay.bottom, lay.right) == (2, 2, 2, 2)  # unit 0 sees −2…2
    assert lay.scale == 512 // 36 == 14
    assert lay.canvas_size == (504, 504)
    assert lay.box((3, 3, 7, 7)) == (70, 70, 139, 139)  # (3 + 2)·14 … (7 + 1 + 2)·14 − 1


def test_draw_field_box_in_expected_place():
    img = draw_field(_grey(), LAB["conv1"], 5, 5, grid=False)
    a = np.asarray(img)
    assert a.shape == (504, 504, 3)
    x0, y0, x1, y1 = 70, 70, 139, 139
    mid = (y0 + y1) // 2 + 10  # away from the centre marker
    for y, x in ((mid, x0), (mid, x1), (y0, mid), (y1, mid)):  # the four sides, solid yellow
        assert tuple(a[y, x]) == BOX_COLOUR
    assert tuple(a[mid, x0 - 1]) == EDGE_COLOUR  # black edge just outside
    assert tuple(a[y0 + 20, x0 + 20]) == (GREY,) * 3  # inside the field: the image as it is
    dimmed = int(GREY * (1 - 0.45))
    assert tuple(a[y0 + 20, x0 - 30]) == (dimmed,) * 3  # outside the field, inside the image: darkened
    cx, cy = lay_point = layout(LAB["conv1"], (32, 32)).point(5, 5)  # centre (5, 5) → (7.5·14, 7.5·14)
    assert lay_point == (105.0, 105.0)
    assert tuple(a[int(cy), int(cx)]) == CENTRE_COLOUR
    # the canvas margin is padding: grey/hatched, never the image
    assert a[5, 5].tolist() != [GREY] * 3


def test_draw_field_pool3_padding_part_is_dashed_and_tinted():
    lay = layout(LAB["pool3"], (32, 32))
    assert (lay.top, lay.left, lay.bottom, lay.right) == (14, 14, 14, 14)  # unit 0: −14…21; unit 3: 10…45
    a = np.asarray(draw_field(_grey(), LAB["pool3"], 0, 0, grid=False))
    assert a.shape[:2] == lay.canvas_size
    x0, y0, x1, y1 = lay.box((0, 0, 21, 21))  # the clipped box: solid
    assert tuple(a[(y0 + y1) // 2 + 9, x1]) == BOX_COLOUR
    # inside the unclipped box but in the padding: tinted yellow (red and green above blue)
    fx0, fy0, _, _ = lay.box((-14, -14, 21, 21))
    patch = a[fy0 + 20:fy0 + 40, fx0 + 20:fx0 + 40].reshape(-1, 3).astype(int)
    assert (patch[:, 0] > patch[:, 2] + 30).mean() > 0.5
    # padding outside the field stays grey (hatched)
    far = a[-20:, :20].reshape(-1, 3).astype(int)
    assert (abs(far[:, 0] - far[:, 2]) < 10).all()
    # dashed top edge of the unclipped box: both yellow and non-yellow pixels along it
    row = a[fy0 + 1, fx0:lay.box((0, 0, 21, 21))[2]]
    yellow = (row == BOX_COLOUR).all(axis=1)
    assert 0.2 < yellow.mean() < 0.8


def test_draw_field_grid_dots_at_unit_centres():
    lay = layout(LAB["pool3"], (32, 32))
    a = np.asarray(draw_field(_grey(), LAB["pool3"], 0, 0, grid=True))
    assert grid_visible(LAB["pool3"], lay) and not grid_visible(LAB["conv1"], layout(LAB["conv1"], 32))
    for row in (3.5, 11.5, 19.5, 27.5):
        for col in (3.5, 27.5):
            x, y = lay.point(row, col)
            if (row, col) != (3.5, 3.5):  # that one is the selected unit: red marker
                assert tuple(a[int(y), int(x)]) == GRID_COLOUR


def test_draw_field_projector_size_and_larger_image():
    assert draw_field(_grey(), LAB["conv1"], 0, 0).size[0] >= 500
    big = analyze(PRESETS["lab"].spec, (3, 64, 48))  # the conv part applied fully-convolutionally
    img = draw_field(_grey(64, 48), big["pool3"], 7, 5)
    lay = layout(big["pool3"], (64, 48))
    assert img.size == lay.canvas_size[::-1]


def test_draw_heat_brightest_where_the_map_peaks():
    values = np.zeros((32, 32))
    values[10, 20] = 1.0
    lay = layout(LAB["conv1"], (32, 32))
    a = np.asarray(draw_heat(values, LAB["conv1"], 10, 20, lay=lay))
    y0, x0 = lay.pixel_span(10, 20)
    assert tuple(a[y0 + 1, x0 + 1]) == tuple(colorize(np.array(1.0), 0, 1))  # away from the marker at the centre
    y, x = lay.pixel_span(25, 5)
    assert tuple(a[y + 3, x + 3]) == tuple(colorize(np.array(0.0), 0, 1))


def test_colormap_is_monotone_in_brightness():
    rgb = colorize(np.linspace(0, 1, 50), 0, 1).astype(float)
    lum = rgb @ [0.299, 0.587, 0.114]
    assert (np.diff(lum) > 0).all()


# --- samples -----------------------------------------------------------------------------------

def test_samples_load_offline_with_the_right_shape():
    names = sample_names()
    assert {"cat (chelsea)", "coffee", "rocket", "astronaut"} <= set(names)
    for name in names:
        a = load_sample(name, 32)
        assert a.shape == (32, 32, 3) and a.dtype == np.uint8
        assert a.std() > 5  # a picture, not a blank
    assert load_sample("coffee", (28, 40)).shape == (28, 40, 3)
    assert load_sample("astronaut").shape == (512, 512, 3)
    with pytest.raises(ValueError, match="unknown sample"):
        load_sample("nope")


def test_resize_crops_instead_of_stretching():
    a = np.zeros((10, 30, 3), np.uint8)
    a[:, 10:20] = 255  # a white square in the middle of a wide image
    out = resize(a, 10)
    assert out.shape == (10, 10, 3) and out.min() > 200


def test_light_imports():
    code = ("import sys, cnncalc, cnncalc.classroom.samples, cnncalc.draw.field, cnncalc.pytorch.erf; "
            "bad = [m for m in ('torch', 'streamlit', 'skimage') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# --- uploads -----------------------------------------------------------------------------------

def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _png_header(w: int, h: int) -> bytes:
    """A PNG that declares w×h pixels and holds almost nothing: the shape of a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_upload_rgba_over_white():
    a = np.zeros((4, 5, 4), np.uint8)
    a[..., 0] = 255
    a[0, 0, 3] = 0      # transparent → white
    a[1:, :, 3] = 255   # opaque red
    out = load_upload(_save(Image.fromarray(a, "RGBA"), "PNG"))
    assert out.shape == (4, 5, 3) and out.dtype == np.uint8
    assert out[0, 0].tolist() == [255, 255, 255]
    assert out[2, 2].tolist() == [255, 0, 0]


def test_upload_grayscale():
    g = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    out = load_upload(_save(Image.fromarray(g, "L"), "PNG"))
    assert out.shape == (3, 4, 3)
    assert (out[..., 0] == g).all() and (out[..., 1] == g).all() and (out[..., 2] == g).all()


def test_upload_16_bit_is_scaled_not_clipped():
    g = np.array([[0, 257 * 100], [65535, 257 * 3]], dtype=np.uint16)
    data = _save(Image.fromarray(g), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    out = load_upload(data)
    assert out[..., 0].tolist() == [[0, 100], [255, 3]]


def test_upload_palette_and_cmyk():
    p = Image.new("P", (3, 2))
    p.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    p.putpixel((1, 1), 1)
    out = load_upload(_save(p, "PNG"))
    assert out[1, 1].tolist() == [10, 200, 30] and out[0, 0].tolist() == [0, 0, 0]
    cmyk = load_upload(_save(Image.new("CMYK", (6, 4), (0, 255, 255, 0)), "JPEG"))
    assert cmyk.shape == (4, 6, 3) and cmyk[0, 0, 0] > 200 and cmyk[0, 0, 1] < 60


def test_upload_animated_gif_gives_first_frame():
    frames = [Image.new("RGB", (8, 6), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    data = _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3
    out = load_upload(data)
    assert out.shape == (6, 8, 3)
    assert out[3, 4, 0] > 200 and out[3, 4, 2] < 50


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_upload_truncated(fmt):
    rng = np.random.default_rng(0)
    data = _save(Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)), fmt)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_upload(data[:len(data) // 2])


def test_upload_empty_and_not_an_image():
    with pytest.raises(ValueError, match="empty"):
        load_upload(b"")
    with pytest.raises(ValueError, match="not an image"):
        load_upload(b"conv 32 k=5 p=2; relu; maxpool k=2\n" * 10)
    with pytest.raises(ValueError, match="not an image"):
        load_upload(b"%PDF-1.4 not really")


@pytest.mark.parametrize("w, h", [(100_000, 100_000), (7_000, 7_000)])
def test_upload_decompression_bomb(w, h):
    assert w * h > MAX_PIXELS
    with pytest.raises(ValueError, match="pixels"):
        load_upload(_png_header(w, h))


def test_upload_ordinary_jpeg_round_trip():
    a = load_sample("rocket", 40)
    out = load_upload(_save(Image.fromarray(a), "JPEG", quality=95))
    assert out.shape == a.shape
    assert np.abs(out.astype(int) - a).mean() < 8

"""How the receptive-field page draws a huge or elongated input (ui.receptive_view.Picture): at most 2048
pixels long and 16 times longer than high, the layer's numbers carried into picture pixels so the boxes
land where they belong (issue #10, probe 2)."""
from __future__ import annotations

import numpy as np
import pytest

from cnncalc import analyze
from cnncalc.classroom.samples import resize
from cnncalc.draw.field import draw_field, draw_heat
from cnncalc.receptive import field_box
from ui import receptive_view as view


def test_ordinary_inputs_are_drawn_as_they_are():
    report = analyze("conv 8 k=3 p=1; maxpool k=2", (3, 32, 32))["pool1"]
    pic = view.picture(report, 32, 32)
    assert not pic.resampled and pic.size == (32, 32) and pic.report is report and pic.note(32, 32) == ""
    values = np.random.default_rng(0).random((32, 32))
    assert pic.values(values) is values and pic.box((1, 2, 3, 4)) == (1, 2, 3, 4)


@pytest.mark.parametrize("spec, shape, size", [
    ("gap", (3, 1, 300_000), (128, 2048)),
    ("conv 8 k=9 s=4 p=4; relu; conv 8 k=5 s=4 p=2", (3, 40, 5000), (128, 2048)),
    ("conv 8 k=3 s=2", (1, 10_000, 10_000), (2048, 2048)),
    ("conv 8 k=3 s=2", (1, 6000, 3000), (2048, 1024)),
])
def test_large_inputs_are_resampled_and_the_field_follows(spec, shape, size):
    a = analyze(spec, shape)
    report = a.layers[-1]
    h, w = shape[1:]
    pic = view.picture(report, h, w)
    assert pic.resampled and pic.size == size and "is drawn at" in pic.note(h, w)
    _, oh, ow = report.out_shape
    for i, j in {(0, 0), ((oh - 1) // 2, (ow - 1) // 2), (oh - 1, ow - 1)}:
        real, drawn = field_box(report, i, j, (h, w)), field_box(pic.report, i, j, pic.size)
        for k, f in enumerate(pic.factor * 2):  # top, left, bottom, right: within a drawn pixel or two
            assert abs((drawn.unclipped[k] + 0.5) * f - 0.5 - real.unclipped[k]) <= 2 * max(f, 1) + 1e-9
        box = pic.box(real.clipped)
        assert box is not None and all(0 <= v < s for v, s in zip(box, pic.size * 2))


def test_resampled_pictures_stay_small_and_encodable():
    report = analyze("gap", (3, 1, 300_000)).layers[-1]
    pic = view.picture(report, 1, 300_000)
    source = np.random.default_rng(0).integers(0, 256, (300, 451, 3), dtype=np.uint8)
    image = pic.image(source, 1, 300_000)
    assert image.shape == (128, 2048, 3)
    lay = view.picture_layout(pic)
    canvas = draw_field(image, pic.report, 0, 0, lay=lay)
    heat = draw_heat(pic.values(np.ones((1, 300_000))), pic.report, 0, 0, lay=lay)
    for im in (canvas, heat):
        assert max(im.size) <= 2 * view.MAX_SIDE and im.size[0] * im.size[1] <= 4_000_000


def test_resize_to_another_aspect():
    source = np.zeros((300, 400, 3), np.uint8)
    source[:, 150:250] = 255  # a white band in the middle third
    out = resize(source, (64, 128), aspect=(1, 4))  # crop to 1:4 (100×400), then squeeze to 64×128
    assert out.shape == (64, 128, 3) and out[:, 64].min() > 200 and out[:, 5].max() < 50
    assert resize(source, (30, 40)).shape == (30, 40, 3)

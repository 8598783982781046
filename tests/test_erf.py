"""The gradient-measured field against the theoretical box (oracle: PyTorch's own gradients)."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnncalc import PRESETS, SpecError, analyze, build_model
from cnncalc.pytorch.erf import gradient_field, interpretation, spatial_layers
from cnncalc.receptive import field_box
from cnncalc.classroom.samples import load_sample

LAB = PRESETS["lab"]
LAB_AVG = LAB.spec.replace("maxpool", "avgpool")


def _all_units(spec, shape, layer):
    _, oh, ow = analyze(spec, shape)[layer].out_shape
    return [(i, j) for i in range(oh) for j in range(ow)]


@pytest.mark.parametrize("spec, shape, layer, units", [
    (LAB_AVG, (3, 32, 32), "pool3", "all"),
    (LAB_AVG, (3, 32, 32), "conv3", [(0, 0), (3, 4), (7, 7), (0, 7)]),
    (LAB_AVG, (3, 32, 32), "conv1", [(0, 0), (5, 5), (31, 12)]),
    # stride 2, dilation 2 (dense: taps 2 apart over a field of 3), average pool, stride-2 conv; non-square
    ("conv 4 k=3 p=1; relu; conv 4 k=3 d=2 p=2; relu; avgpool k=2; conv 4 k=3 s=2 p=1; relu", (3, 32, 24),
     "relu3", "all"),
    ("conv 4 k=5 s=2 p=2; tanh; conv 4 k=3 s=2 p=1; avgpool k=3 s=1 p=1", (3, 33, 29), "pool2", "all"),
    # asymmetric padding, non-square kernels and strides, batch norm, padded average pool
    ("conv 4 k=3x5 s=1x2 p=1:0x2:2; bn; relu; avgpool k=3 s=2 p=1", (2, 20, 27), "pool1", "all"),
])
def test_support_equals_theoretical_box_with_positive_weights(spec, shape, layer, units):
    for unit in (_all_units(spec, shape, layer) if units == "all" else units):
        r = gradient_field(spec, shape, layer, unit, weights="positive", samples=1)
        assert r.extent == r.box.clipped, (layer, unit)
        assert r.matches_theory
        inside = np.zeros(shape[1:], bool)
        t, l, b, rr = r.box.clipped
        inside[t:b + 1, l:rr + 1] = True
        assert (r.values[inside] > 0).all(), "every pixel of a dense field gets gradient"
        assert (r.values[~inside] == 0).all()


def test_lab_pool3_unit_0_box_is_the_hand_worked_one():
    r = gradient_field(LAB_AVG, (3, 32, 32), "pool3", (0, 0), weights="positive", samples=1)
    assert r.box.unclipped == (-14, -14, 21, 21) and r.extent == (0, 0, 21, 21)


def test_dilated_first_layer_has_holes_but_the_same_span():
    spec = "conv 2 k=3 d=2; relu; conv 2 k=3 d=2"  # taps 2 apart on single pixels: a chequered field
    r = gradient_field(spec, (1, 16, 16), "conv2", (4, 5), weights="positive", samples=1)
    # conv1: rf 5, start 2; conv2: rf 5 + 2·2·1 = 9, start 2 + 2 = 4 → unit (4, 5): centre (8, 9) ± 4
    assert r.extent == r.box.clipped == (4, 5, 12, 13)
    t, l, b, rr = r.extent
    window = r.values[t:b + 1, l:rr + 1]
    assert (window[::2, ::2] > 0).all() and (window[1::2, :] == 0).all() and (window[:, 1::2] == 0).all()


def test_max_pool_support_is_sparser_than_the_box():
    r = gradient_field(LAB.spec, LAB.input_shape, "pool1", (5, 6), channel=0, weights="positive", samples=1)
    assert r.box.size == (6, 6)
    nonzero = int((r.values > 0).sum())
    assert nonzero == 25  # one conv1 unit wins the 2×2 window: its 5×5 field, not the pool's 6×6
    # summed over the 32 channels, each channel's winner differs: the union fills the box again
    assert gradient_field(LAB.spec, LAB.input_shape, "pool1", (5, 6), weights="positive", samples=1).matches_theory
    t, l, b, rr = r.extent
    bt, bl, bb, br = r.box.clipped
    assert bt <= t <= b <= bb and bl <= l <= rr <= br
    assert any("max pooling" in n for n in r.notes)


def test_random_weights_never_reach_outside_the_box():
    for layer, unit in (("conv2", (3, 12)), ("pool2", (0, 7)), ("pool3", (2, 1))):
        r = gradient_field(LAB.spec, LAB.input_shape, layer, unit, samples=2, seed=3)
        t, l, b, rr = r.box.clipped
        outside = np.ones((32, 32), bool)
        outside[t:b + 1, l:rr + 1] = False
        assert (r.values[outside] == 0).all()
        assert r.extent is not None


def test_lab_net_random_init_is_centre_weighted():
    for layer, unit in (("pool3", (1, 1)), ("pool3", (2, 2)), ("conv3", (3, 4)), ("pool2", (3, 3))):
        r = gradient_field(LAB.spec, LAB.input_shape, layer, unit, samples=4, seed=0)
        assert r.central_mass > r.central_area + 0.1, (layer, r.central_mass, r.central_area)
        assert r.effective[0] < r.box.size[0] and r.effective[1] < r.box.size[1]


def test_central_box_numbers_for_lab_pool3():
    r = gradient_field(LAB.spec, LAB.input_shape, "pool3", (1, 1), samples=1)
    # centre 11.5, field 36: central box 11.5 ± 9 → 3…20 (18 pixels); the clipped field 0…29 has 30
    assert r.central == (3, 3, 20, 20)
    assert r.central_area == pytest.approx(18 * 18 / (30 * 30))


def test_positive_weights_flat_layer_has_no_centre_bias_on_one_conv():
    r = gradient_field("conv 8 k=5 p=2", (3, 16, 16), "conv1", (8, 8), samples=8)
    assert abs(r.central_mass - r.central_area) < 0.15  # one layer: |w| is flat in expectation


def test_map_shape_is_the_input_size():
    for shape in ((3, 32, 32), (3, 28, 36), (1, 40, 20)):
        r = gradient_field(LAB.spec, shape, "conv2", samples=1)
        assert r.values.shape == shape[1:] and r.values.dtype == np.float64
    r = gradient_field(PRESETS["lenet5"].spec, PRESETS["lenet5"].input_shape, "pool2", samples=1)
    assert r.values.shape == (32, 32)


def test_default_unit_is_the_centre_one():
    r = gradient_field(LAB.spec, LAB.input_shape, "conv1", samples=1)
    assert r.unit == (15, 15)
    assert gradient_field(LAB.spec, LAB.input_shape, "pool3", samples=1).unit == (1, 1)


def test_matches_torch_on_the_full_model_with_a_state_dict_and_an_image():
    """Oracle: hook pool3 in the whole lab model built by build_model, backprop by hand."""
    torch.manual_seed(123)
    full = build_model(LAB.spec, LAB.input_shape).double().eval()
    image = load_sample("cat (chelsea)", 32)
    x = image.astype(np.float64).transpose(2, 0, 1) / 255.0
    x = (x - x.mean(axis=(1, 2), keepdims=True)) / x.std(axis=(1, 2), keepdims=True)
    xt = torch.from_numpy(x[None]).requires_grad_(True)
    seen = {}
    full.pool3.register_forward_hook(lambda m, a, out: seen.update(y=out))
    full(xt)
    seen["y"][0, 5, 2, 1].backward()
    expected = xt.grad[0].abs().sum(0).numpy()

    r = gradient_field(LAB.spec, LAB.input_shape, "pool3", (2, 1), channel=5, image=image,
                       state_dict=full.state_dict())
    assert r.weights == "trained" and r.samples == 1 and r.input_kind == "image"
    np.testing.assert_allclose(r.values, expected, rtol=1e-12, atol=1e-15)


def test_channel_and_unit_sum():
    a = gradient_field(LAB.spec, LAB.input_shape, "conv1", (9, 9), channel=3, samples=1, weights="positive")
    b = gradient_field(LAB.spec, LAB.input_shape, "conv1", (9, 9), samples=1, weights="positive")
    assert a.extent == b.extent == (7, 7, 11, 11)
    assert b.values.sum() > a.values.sum()


def test_errors_are_explained():
    with pytest.raises(ValueError, match="no receptive field"):
        gradient_field(LAB.spec, LAB.input_shape, "fc4")
    with pytest.raises(ValueError, match="outside pool3"):
        gradient_field(LAB.spec, LAB.input_shape, "pool3", (4, 0))
    with pytest.raises(ValueError, match="channel 64"):
        gradient_field(LAB.spec, LAB.input_shape, "pool3", channel=64)
    with pytest.raises(ValueError, match="no layer 'pool9'"):
        gradient_field(LAB.spec, LAB.input_shape, "pool9")
    with pytest.raises(SpecError):
        gradient_field("conv 8 k=9", (3, 4, 4), "conv1")
    partial = {k: v for k, v in build_model(LAB.spec, LAB.input_shape).state_dict().items() if k != "conv3.weight"}
    with pytest.raises(ValueError, match="state_dict lacks conv3.weight"):
        gradient_field(LAB.spec, LAB.input_shape, "pool3", state_dict=partial)
    with pytest.raises(ValueError, match="resize"):
        gradient_field(LAB.spec, LAB.input_shape, "pool3", image=np.zeros((20, 20, 3), np.uint8))


def test_spatial_layers_stop_before_flatten():
    assert spatial_layers(LAB.spec, LAB.input_shape) == ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2",
                                                         "conv3", "relu3", "pool3"]


def test_interpretation_sentence_says_only_what_was_measured():
    r = gradient_field(LAB.spec, LAB.input_shape, "pool3", samples=4)
    text = interpretation(r)
    assert "smaller" in text and "centre-weighted." in text and f"{r.central_mass:.0%}" in text
    flat = gradient_field("conv 8 k=3 s=2; relu; conv 8 k=3 d=2", (1, 16, 16), "conv2", samples=4)
    assert flat.central_mass < flat.central_area  # holes from the dilation at the centre
    assert "not centre-weighted" in interpretation(flat)


def test_lab_net_is_fast_on_cpu():
    gradient_field(LAB.spec, LAB.input_shape, "pool3", samples=1)  # warm-up (first torch call)
    start = time.perf_counter()
    gradient_field(LAB.spec, LAB.input_shape, "pool3")
    assert time.perf_counter() - start < 3.0  # about 0.1 s here; generous for a busy CI machine


# --- any conv/avg-pool stack: the support never leaves the box, and fills it where it can --------

@st.composite
def stacks(draw):
    layers, text = [], []
    for _ in range(draw(st.integers(1, 4))):
        k = draw(st.integers(1, 4))
        s = draw(st.integers(1, 3))
        if draw(st.booleans()):
            d = draw(st.integers(1, 2))
            p = draw(st.integers(0, d * (k - 1) // 2))
            text.append(f"conv 2 k={k} s={s} p={p} d={d}; relu")
            layers.append(("conv", k, s, d))
        else:
            k = max(k, 2)
            p = draw(st.integers(0, k // 2))
            text.append(f"avgpool k={k} s={s} p={p}")
            layers.append(("pool", k, s, 1))
    h, w = draw(st.integers(12, 30)), draw(st.integers(12, 30))
    return "; ".join(text), (1, h, w)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks(), st.data())
def test_support_property(case, data):
    spec, shape = case
    a = analyze(spec, shape)
    if not a.ok:
        return
    report = a.layers[-1]
    _, oh, ow = report.out_shape
    unit = (data.draw(st.integers(0, oh - 1)), data.draw(st.integers(0, ow - 1)))
    r = gradient_field(spec, shape, report.name, unit, weights="positive", samples=1)
    box = field_box(report, *unit, shape)
    if r.extent is None:
        # every tap of this unit falls in padding or a dilation hole (e.g. d=2 taps at −1 and +1 around a
        # 1×1 map): no gradient reaches the image, and analyze reports that layer's unread input
        assert any(x.status == "warning" and "never read" in x.message for x in a.layers), spec
        return
    assert box.clipped is not None
    t, l, b, rr = r.extent
    ct, cl, cb, cr = box.clipped
    assert ct <= t <= b <= cb and cl <= l <= rr <= cr  # never outside the box
    ut, ul, ub, ur = box.unclipped
    h, w = shape[1:]
    # an end of the field inside the image is always reached: the path through every layer's extreme tap
    # stays on real units (a padding unit's own field would reach past the image)
    assert t == ut if ut >= 0 else t >= 0
    assert l == ul if ul >= 0 else l >= 0
    assert b == ub if ub <= h - 1 else b <= h - 1
    assert rr == ur if ur <= w - 1 else rr <= w - 1

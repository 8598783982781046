"""Receptive field, jump and start measured by gradient, as the oracle for cnncalc's formulas.

Measurement: the model from ``build_model`` is copied to float64 with every conv/linear weight a positive
constant and every bias 0; max pools become sum/average pools with the same windows (a max pool sends
gradient to one input only). On an input of ones every activation is positive, so every input pixel that
a unit's windows touch gets a non-zero gradient. Backpropagating from unit (i, j) of one channel of a
layer, the rows (columns) with non-zero gradient span exactly the unit's receptive field:

* ``rf``    = last − first + 1 (dilation leaves holes inside; the span still counts them),
* centre    = (first + last) / 2 = ``start + i·jump``,
* ``jump``  = centre of unit i+1 − centre of unit i.

The input is made large enough that the measured field touches neither border (it is then not clipped).
Convention: input pixel centres at 0, 1, 2, …; rf_out = rf_in + d(k−1)·jump_in; jump_out = jump_in·s;
start_out = start_in + (d(k−1)/2 − p_before)·jump_in.
"""
from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import HealthCheck, assume, event, given, note, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

import cnncalc
from cnncalc import Activation, BatchNorm, Conv, Pool, analyze, build_model
from cnncalc.receptive import field_box
from cnncalc.tables import row



class SumPool(nn.Module):
    """The windows of a (dilated) max pool with all-ones weights; the real pool sets the output size."""

    def __init__(self, pool: nn.MaxPool2d):
        super().__init__()
        pair = nn.modules.utils._pair
        self.pool, self.k, self.s = pool, pair(pool.kernel_size), pair(pool.stride)
        self.p, self.d = pair(pool.padding), pair(pool.dilation)

    def forward(self, x):
        with torch.no_grad():
            oh, ow = self.pool(x).shape[-2:]
        extra = [d * (k - 1) + s for k, s, d in zip(self.k, self.s, self.d)]
        xp = F.pad(x, (self.p[1], self.p[1] + extra[1], self.p[0], self.p[0] + extra[0]))
        w = torch.ones(x.shape[1], 1, *self.k, dtype=x.dtype)
        return F.conv2d(xp, w, stride=self.s, dilation=self.d, groups=x.shape[1])[..., :oh, :ow]


def positive_twin(model: nn.Sequential) -> nn.Sequential:
    twin = copy.deepcopy(model).double().eval()
    for name, m in list(twin.named_children()):
        if isinstance(m, nn.MaxPool2d):
            if m.dilation in (1, (1, 1)):   # an average pool of the same geometry
                setattr(twin, name, nn.AvgPool2d(m.kernel_size, m.stride, m.padding, ceil_mode=m.ceil_mode))
            else:                           # nn.AvgPool2d has no dilation: an all-ones depthwise window
                setattr(twin, name, SumPool(m))
        elif isinstance(m, (nn.Conv2d, nn.Linear)):
            with torch.no_grad():
                m.weight.fill_(1.0 / m.weight[0].numel())   # positive, activations stay near 1
                if m.bias is not None:
                    m.bias.zero_()
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight), nn.init.zeros_(m.bias), m.reset_running_stats()
    return twin


def measure(twin: nn.Sequential, shape, layer: str, unit: tuple[int, int]):
    """((first row, last row), (first col, last col), output H×W) of ``unit`` of ``layer``, channel 0."""
    x = torch.ones(1, *shape, dtype=torch.float64, requires_grad=True)
    h = x
    for name, m in twin.named_children():
        h = m(h)
        if name == layer:
            break
    out_hw = tuple(h.shape[-2:])
    if not (unit[0] < out_hw[0] and unit[1] < out_hw[1]):
        return None, None, out_hw
    h[0, 0, unit[0], unit[1]].backward()
    g = x.grad[0].abs().sum(0)
    rows = torch.nonzero(g.sum(1)).flatten().tolist()
    cols = torch.nonzero(g.sum(0)).flatten().tolist()
    return (rows[0], rows[-1]), (cols[0], cols[-1]), out_hw


def check_field(spec, shape, layer: str, unit=None, inside=True):
    """Measure ``layer``'s unit (default: the middle one) and its neighbour; compare with analyze.
    ``inside``: require the field to stay off the borders (so it is surely not clipped); pass False for a
    unit whose field is known by arithmetic to start exactly at pixel 0."""
    a = analyze(spec, shape)
    r = a[layer]
    assert a.ok, a.first_error.message
    twin = positive_twin(build_model(spec, shape))
    oh, ow = r.out_shape[1:]
    i, j = unit or (oh // 2 - 1, ow // 2 - 1)
    i, j = max(i, 0), max(j, 0)
    rows, cols, _ = measure(twin, shape, layer, (i, j))
    for axis, (first, last), n in ((0, rows, shape[1]), (1, cols, shape[2])):
        if inside:
            assert 0 < first and last < n - 1, f"field {first}..{last} touches the border of {n}: make the input larger"
        assert 0 <= first and last <= n - 1
        assert last - first + 1 == r.rf[axis], f"axis {axis}: measured rf {last - first + 1}, cnncalc {r.rf[axis]}"
        centre = (first + last) / 2
        assert centre == r.start[axis] + (i, j)[axis] * r.jump[axis], \
            f"axis {axis}: measured centre {centre}, cnncalc start {r.start[axis]} + {(i, j)[axis]}·{r.jump[axis]}"
    # jump: the next unit along both axes
    rows2, cols2, _ = measure(twin, shape, layer, (i + 1, j + 1))
    assert rows2 is not None
    if inside:
        assert 0 < rows2[0] and 0 < cols2[0] and rows2[1] < shape[1] - 1 and cols2[1] < shape[2] - 1, \
            "the neighbour's field touches the border: make the input larger"
    for axis, a1, a2 in ((0, rows, rows2), (1, cols, cols2)):
        assert (sum(a2) - sum(a1)) / 2 == r.jump[axis], f"axis {axis}: measured jump {(sum(a2) - sum(a1)) / 2}"
    return r


# --- hand-worked cases ---------------------------------------------------------------------------

def test_lab_net_conv2_and_pool3_by_gradient():
    """The lab net (conv 5×5 p=2 + relu + maxpool 2 three times), on 3×96×96 so the fields are not clipped.

    conv1: rf 1 + (5−1)·1 = 5,   jump 1,   start 0 + (2 − 2)·1 = 0
    pool1: rf 5 + (2−1)·1 = 6,   jump 1·2 = 2, start 0 + (0.5 − 0)·1 = 0.5
    conv2: rf 6 + (5−1)·2 = 14,  jump 2,   start 0.5 + (2 − 2)·2 = 0.5
    pool2: rf 14 + (2−1)·2 = 16, jump 4,   start 0.5 + 0.5·2 = 1.5
    conv3: rf 16 + (5−1)·4 = 32, jump 4,   start 1.5
    pool3: rf 32 + (2−1)·4 = 36, jump 8,   start 1.5 + 0.5·4 = 3.5
    """
    spec = cnncalc.preset("lab").spec.split("; flatten")[0]
    conv2 = check_field(spec, (3, 96, 96), "conv2")
    assert (conv2.rf, conv2.jump, conv2.start) == ((14, 14), (2, 2), (0.5, 0.5))
    pool3 = check_field(spec, (3, 96, 96), "pool3")
    assert (pool3.rf, pool3.jump, pool3.start) == ((36, 36), (8, 8), (3.5, 3.5))
    # the preset itself, on its 32×32 input, reports the same numbers
    lab = analyze(cnncalc.preset("lab").spec, (3, 32, 32))
    assert (lab["pool3"].rf, lab["pool3"].jump, lab["conv2"].rf) == ((36, 36), (8, 8), (14, 14))


def test_vgg16_pool5_arithmetic():
    """VGG16 (3×3 p=1 convs, 2×2 pools), analyze only — no gradient through VGG16.

    block1: rf 1 → 3 → 5 (jump 1);           pool1: 5 + 1·1 = 6,     jump 2, start 0 + 0.5·1 = 0.5
    block2: 6 + 2·2 = 10 → 14;               pool2: 14 + 1·2 = 16,   jump 4, start 0.5 + 0.5·2 = 1.5
    block3: 16 + 2·4 = 24 → 32 → 40;         pool3: 40 + 1·4 = 44,   jump 8, start 1.5 + 0.5·4 = 3.5
    block4: 44 + 2·8 = 60 → 76 → 92;         pool4: 92 + 1·8 = 100,  jump 16, start 3.5 + 0.5·8 = 7.5
    block5: 100 + 2·16 = 132 → 164 → 196;    pool5: 196 + 1·16 = 212, jump 32, start 7.5 + 0.5·16 = 15.5
    (a 3×3 p=1 conv moves start by (1 − 1)·jump = 0)
    """
    a = analyze(cnncalc.preset("vgg16").spec, (3, 224, 224))
    pools = [r for r in a.layers if isinstance(r.layer, Pool)]
    assert [p.rf[0] for p in pools] == [6, 16, 44, 100, 212]
    assert [p.jump[0] for p in pools] == [2, 4, 8, 16, 32]
    assert [p.start[0] for p in pools] == [0.5, 1.5, 3.5, 7.5, 15.5]
    convs = [r.rf[0] for r in a.layers if isinstance(r.layer, Conv)]
    assert convs == [3, 5, 10, 14, 24, 32, 40, 60, 76, 92, 132, 164, 196]
    assert pools[-1].formula("rf_H") == "196 + (2 − 1)·16 = 212"


@pytest.mark.parametrize("spec, shape, layer, rf, jump, start", [
    # one dilated 3×3: taps at −2, 0, +2 → rf 1 + 2·(3−1)·1 = 5, start 0 + (2·2/2 − 0) = 2
    ("conv 1 k=3 d=2", (1, 24, 24), "conv1", (5, 5), (1, 1), (2, 2)),
    # d = 1, 2, 4 stacked (3×3): rf 1 + 2·1 + 2·2 + 2·4 = 15, start 1 + 2 + 4 = 7
    ("conv 1 k=3; conv 1 k=3 d=2; conv 1 k=3 d=4", (1, 40, 40), "conv3", (15, 15), (1, 1), (7, 7)),
    # stride 2 then dilation 2: rf 3 + 2·(3−1)·2 = 11, jump 2, start 1 + (2 − 0)·2 = 5
    ("conv 1 k=3 s=2; conv 1 k=3 d=2", (1, 40, 40), "conv2", (11, 11), (2, 2), (5, 5)),
    # same padding with dilation 3 keeps start at 0: rf 1 + 3·(3−1) = 7, start 0 + (3 − 3) = 0
    ("conv 1 k=3 d=3 p=same", (1, 24, 24), "conv1", (7, 7), (1, 1), (0, 0)),
    # dilated max pool k=2 d=3 s=2: rf 1 + 3·1 = 4, jump 2, start 0 + 3/2 = 1.5
    ("maxpool k=2 s=2 d=3", (1, 24, 24), "pool", (4, 4), (2, 2), (1.5, 1.5)),
    # per axis: d=2 along H only: rf_H 1 + 2·2 = 5, rf_W 3
    ("conv 1 k=3 d=2x1 p=0", (1, 24, 24), "conv1", (5, 3), (1, 1), (2, 1)),
])
def test_dilation_cases(spec, shape, layer, rf, jump, start):
    r = check_field(spec, shape, layer)
    assert (r.rf, r.jump, r.start) == (rf, jump, start)


@pytest.mark.parametrize("spec, rf, jump, start", [
    # p=0:1, k=3: start 0 + (1 − 0)·1 = 1 (unit 0 is centred on pixel 1, its field 0…2 fully inside)
    ("conv 1 k=3 p=0:1", (3, 3), (1, 1), (1, 1)),
    # p=1:0, k=2: start 0 + (0.5 − 1)·1 = −0.5 (unit 0 centred between the top padding row and pixel 0)
    ("conv 1 k=2 p=1:0", (2, 2), (1, 1), (-0.5, -0.5)),
    # k=4 s=2 p=2:1: start 0 + (1.5 − 2) = −0.5, jump 2, rf 4
    ("conv 1 k=4 s=2 p=2:1", (4, 4), (2, 2), (-0.5, -0.5)),
    # per axis: H p=1:0 k=3 → start 0; W p=0:2 k=5 → start 2
    ("conv 1 k=3x5 p=1:0x0:2", (3, 5), (1, 1), (0, 2)),
    # p=same with an even kernel: total 3, PyTorch pads 1 before, 2 after → start 0 + (1.5 − 1) = 0.5
    ("conv 1 k=4 p=same", (4, 4), (1, 1), (0.5, 0.5)),
    # after a pool: maxpool 2 (start 0.5, jump 2), then k=3 p=2:0 → start 0.5 + (1 − 2)·2 = −1.5, rf 2 + 2·2 = 6
    ("maxpool k=2; conv 1 k=3 p=2:0", (6, 6), (2, 2), (-1.5, -1.5)),
])
def test_asymmetric_padding_start(spec, rf, jump, start):
    layer = cnncalc.layer_names(cnncalc.parse_spec(spec))[-1]
    r = check_field(spec, (1, 28, 28), layer)
    assert (r.rf, r.jump, r.start) == (rf, jump, start)
    if start[0] - (rf[0] - 1) / 2 >= 0:      # unit 0's field lies inside the image: measure it too
        check_field(spec, (1, 28, 28), layer, unit=(0, 0), inside=False)


def test_ceil_mode_and_avg_pool_padding():
    """ceil_mode changes the output count, not the field; avg-pool padding moves start back.
    conv k3: rf 3, start 1; avgpool k=3 s=2 p=1: rf 3 + 2·1 = 5, jump 2, start 1 + (1 − 1)·1 = 1;
    maxpool k=2 ceil: rf 5 + 1·2 = 7, jump 4, start 1 + 0.5·2 = 2."""
    spec = "conv 2 k=3; avgpool k=3 s=2 p=1; maxpool k=2 ceil=1"
    r = check_field(spec, (2, 45, 45), "pool1_2")
    assert (r.rf, r.jump, r.start) == ((7, 7), (4, 4), (2, 2))


def test_unequal_adaptive_windows_make_rf_unavailable():
    """AdaptiveAvgPool2d(5) on 7 rows averages rows ⌊i·7/5⌋ … ⌈(i+1)·7/5⌉ − 1: 0–1, 1–2, 2–4, 4–5, 5–6, windows
    of 2, 2, 3, 2, 2 rows (measured below by gradient) — no single rf, so cnncalc says "unavailable"."""
    pool = nn.AdaptiveAvgPool2d(5).double()
    sizes = []
    for i in range(5):
        x = torch.ones(1, 1, 7, 7, dtype=torch.float64, requires_grad=True)
        pool(x)[0, 0, i, 0].backward()
        sizes.append(int((x.grad[0, 0, :, 0] != 0).sum()))
    assert sizes == [2, 2, 3, 2, 2]
    a = analyze("conv 4 k=3 p=1; adaptiveavgpool 5; conv 4 k=1", (3, 7, 7))
    assert a.layers[1].rf is None and "rf" in a.layers[1].unavailable
    assert a.layers[2].rf is None and "rf" in a.layers[2].unavailable
    # divisible, 8 → 2: a 4×4 stride-4 window. conv k3 p1: rf 3, start 0; then rf 3 + (4 − 1)·1 = 6,
    # jump 1·4 = 4, start 0 + (4 − 1)/2 = 1.5
    b = analyze("conv 4 k=3 p=1; adaptiveavgpool 2", (3, 8, 8))
    assert (b.layers[1].rf, b.layers[1].jump, b.layers[1].start) == ((6, 6), (4, 4), (1.5, 1.5))


# --- random chains ---------------------------------------------------------------------------------

def small_pairs(lo, hi):
    return st.one_of(st.integers(lo, hi).map(lambda v: (v, v)), st.tuples(st.integers(lo, hi), st.integers(lo, hi)))


@st.composite
def window_layers(draw):
    if draw(st.integers(0, 2)):
        pad = draw(st.one_of(
            small_pairs(0, 2).map(lambda p: ((p[0], p[0]), (p[1], p[1]))),
            st.tuples(st.tuples(st.integers(0, 2), st.integers(0, 2)), st.tuples(st.integers(0, 2), st.integers(0, 2))),
            st.just("same")))
        stride = (1, 1) if pad == "same" else draw(st.one_of(st.just((1, 1)), small_pairs(1, 2)))
        return Conv(draw(st.integers(1, 2)), draw(small_pairs(1, 4)), stride, pad,
                    draw(st.one_of(st.just((1, 1)), small_pairs(1, 2))), 1, draw(st.booleans()))
    mode = draw(st.sampled_from(["max", "avg"]))
    k = draw(small_pairs(1, 3))
    pad = draw(st.tuples(st.integers(0, k[0] // 2), st.integers(0, k[1] // 2)))
    d = draw(st.one_of(st.just((1, 1)), small_pairs(1, 2))) if mode == "max" else (1, 1)
    return Pool(mode, k, draw(st.one_of(st.none(), small_pairs(1, 2))), pad, d, draw(st.booleans()))


chains = st.lists(st.one_of(window_layers(), window_layers(), window_layers(),
                            st.sampled_from([Activation("relu"), Activation("tanh"), BatchNorm()])),
                  min_size=1, max_size=6)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(chains, st.data())
def test_random_chain_fields_by_gradient(layers, data):
    layers = tuple(layers)
    names = cnncalc.layer_names(layers)
    windows = [n for n, l in zip(names, layers) if isinstance(l, (Conv, Pool))]
    assume(windows)
    target = data.draw(st.sampled_from(windows), label="layer")
    note(f"spec: {cnncalc.format_spec(layers)}  target: {target}")
    for n in (48, 96, 192):
        a = analyze(layers, (1, n, n))
        if not a.ok or min(a[target].out_shape[1:]) < 4:
            continue
        unit = (a[target].out_shape[1] // 2 - 1, a[target].out_shape[2] // 2 - 1)
        # both units' claimed intervals inside the image: a field whose end lies in the padding can be measured
        # shorter than its interval (a stride that skips the pixels between the padding and the rest)
        boxes = [field_box(a[target], *u, (n, n)).unclipped for u in (unit, (unit[0] + 1, unit[1] + 1))]
        if all(t > 0 and l > 0 and b < n - 1 and r < n - 1 for t, l, b, r in boxes):
            break
    else:
        assume(False)
    event(f"input {n}")
    check_field(layers, (1, n, n), target, unit=unit)


def test_large_starts_keep_every_digit():
    """start = 0 + (d·(k − 1)/2 − 0)·1 = 999,999/2 = 499,999.5 (``:g`` would print 500000); three k=3 convs
    with stride 1000: start 1, then 1 + 1·1000 = 1,001, then 1,001 + 1·1,000,000 = 1,001,001 (not 1.001e+06)."""
    r = analyze("conv 1 k=2 d=999999", (1, 1_000_000, 1_000_000)).layers[0]
    assert r.start == (499_999.5, 499_999.5) and r.formula("start_H").endswith("= 499999.5")
    assert row(r)["start"] == "499999.5"
    deep = analyze("conv 1 k=3 p=0:2 s=1000; conv 1 k=3 p=0:2 s=1000; conv 1 k=3 p=0:2", (1, 1_000_000, 1_000_000))
    assert deep.layers[2].start == (1_001_001, 1_001_001) and row(deep.layers[2])["start"] == "1001001"

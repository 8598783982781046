"""Hand-worked numbers, written out as arithmetic: the lab net, AlexNet, VGG, LeNet-5, the lab question,
formulas with values substituted, warnings and errors with their fixes, and the solvers (checked against
real nn.Conv2d / nn.MaxPool2d)."""
from __future__ import annotations

import random
import signal
import time

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import cnncalc
from cnncalc import Pool, analyze, divide_settings, input_sizes_for_output, same_padding
from cnncalc.shapes import LISTED, conv_axis, reads_every_row
from cnncalc.tables import numeric_rows, totals_row



# --- the lab net -----------------------------------------------------------------------------------

LAB = cnncalc.preset("lab").spec


def test_lab_net_per_layer():
    a = analyze(LAB, (3, 32, 32))
    expected = {
        #  name:  (out shape,      weights,          biases, params)
        "conv1": ((32, 32, 32), 32 * 3 * 5 * 5, 32, 2_432),          # 2,400 + 32
        "pool1": ((32, 16, 16), 0, 0, 0),                          # ⌊(32 − 2)/2⌋ + 1 = 16
        "conv2": ((64, 16, 16), 64 * 32 * 5 * 5, 64, 51_264),        # 51,200 + 64
        "pool2": ((64, 8, 8), 0, 0, 0),
        "conv3": ((64, 8, 8), 64 * 64 * 5 * 5, 64, 102_464),         # 102,400 + 64
        "pool3": ((64, 4, 4), 0, 0, 0),
        "flatten3": ((1024,), 0, 0, 0),                            # 64·4·4 = 1,024
        "fc4": ((1000,), 1024 * 1000, 1000, 1_025_000),
        "fc5": ((10,), 1000 * 10, 10, 10_010),
    }
    for name, (shape, w, b, p) in expected.items():
        r = a[name]
        assert (r.out_shape, r.weights, r.biases, r.params) == (shape, w, b, p), name
        assert w + b == p
    assert a.params == 2_432 + 51_264 + 102_464 + 1_025_000 + 10_010 == 1_191_170
    assert a.output_shape == (10,)
    assert all(r.status == "ok" for r in a.layers)


def test_lab_net_macs():
    # conv: out_H·out_W·out_C·in_C·k·k; fc: in·out
    a = analyze(LAB, (3, 32, 32))
    assert a["conv1"].macs == 32 * 32 * 32 * 3 * 5 * 5 == 2_457_600
    assert a["conv2"].macs == 16 * 16 * 64 * 32 * 5 * 5 == 13_107_200
    assert a["conv3"].macs == 8 * 8 * 64 * 64 * 5 * 5 == 6_553_600
    assert a["fc4"].macs == 1024 * 1000
    assert a.macs == 2_457_600 + 13_107_200 + 6_553_600 + 1_024_000 + 10_000


def test_lab28_ceil_mode_keeps_fc4_at_1024_inputs():
    """28 → conv 28 → pool 14 → conv 14 → pool 7 → conv 7 → pool3 (ceil) ⌈(7 − 2)/2⌉ + 1 = 4; the last
    window starts at 6 < 7 + 0 (inside the input), so it is kept. fc4 sees 64·4·4 = 1,024 features."""
    a = analyze(cnncalc.preset("lab28").spec, (3, 28, 28))
    assert [a[n].out_shape for n in ("conv1", "pool1", "conv2", "pool2", "conv3", "pool3")] == [
        (32, 28, 28), (32, 14, 14), (64, 14, 14), (64, 7, 7), (64, 7, 7), (64, 4, 4)]
    assert a["pool3"].formula("out_H") == "⌈(7 − 2)/2⌉ + 1 = 4"
    assert a["fc4"].weights == 1024 * 1000
    assert a.params == 1_191_170
    assert nn.MaxPool2d(2, ceil_mode=True)(torch.zeros(1, 64, 7, 7)).shape[-2:] == (4, 4)   # PyTorch agrees
    assert nn.MaxPool2d(2)(torch.zeros(1, 64, 7, 7)).shape[-2:] == (3, 3)                   # floor would give 3


def test_lab_bn_adds_gamma_and_beta():
    # three BatchNorm2d: 2·32 + 2·64 + 2·64 = 320 learnable (running mean/var are buffers)
    a = analyze(cnncalc.preset("lab-bn").spec, (3, 28, 28))
    assert a.params == 1_191_170 + 2 * 32 + 2 * 64 + 2 * 64 == 1_191_490


def test_lab_question():
    """32×32×3 input, k=5, p=2, s=1, N=32 filters: ⌊(32 + 2·2 − 5)/1⌋ + 1 = 32 → 32×32×32;
    weights 32·3·5·5 = 2,400 + 32 biases; FC-equivalent (3·32·32)·(32·32·32) = 3,072·32,768 = 100,663,296."""
    r = analyze("conv 32 k=5 s=1 p=2", (3, 32, 32)).layers[0]
    assert r.out_shape == (32, 32, 32)
    assert (r.weights, r.biases) == (2_400, 32)
    assert r.fc_equivalent == 3_072 * 32_768 == 100_663_296
    assert "⌊(32 + 2·2 − 5)/1⌋ + 1 = 32" in r.formula("out_H")
    assert r.formula("weights") == "32·3·5·5 = 2,400"
    assert "100,663,296" in r.formula("fc_equivalent")
    # locally connected (no sharing): 32·32 positions × 2,400 weights + one bias per output unit
    assert r.locally_connected == 32 * 32 * 2_400 + 32 * 32 * 32 == 2_490_368


# --- famous networks -------------------------------------------------------------------------------

def test_alexnet():
    a = analyze(cnncalc.preset("alexnet").spec, (3, 227, 227))
    c1 = a["conv1"]
    assert c1.out_shape == (96, 55, 55)                       # ⌊(227 − 11)/4⌋ + 1 = 55
    assert c1.formula("out_H") == "⌊(227 − 11)/4⌋ + 1 = 55"
    assert c1.params == 96 * 3 * 11 * 11 + 96 == 34_944
    assert c1.locally_connected == 55 * 55 * 96 * 363 + 55 * 55 * 96 == 105_705_600   # 363 = 3·11·11
    assert [a[n].out_shape[1] for n in ("pool1", "conv2", "pool2", "conv5", "pool5")] == [27, 27, 13, 13, 6]
    assert a["conv2"].params == 256 * (96 // 2) * 5 * 5 + 256            # groups=2
    assert a.params == (34_944 + 256 * 48 * 25 + 256 + 384 * 256 * 9 + 384 + 384 * 192 * 9 + 384
                        + 256 * 192 * 9 + 256 + 256 * 6 * 6 * 4096 + 4096 + 4096 * 4096 + 4096
                        + 4096 * 1000 + 1000) == 60_965_224


def _vgg_conv(cin, cout):
    return cin * 3 * 3 * cout + cout


VGG_FC = (512 * 7 * 7 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)


def test_vgg16():
    convs = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
             (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
    a = analyze(cnncalc.preset("vgg16").spec, (3, 224, 224))
    assert a.params == sum(_vgg_conv(*c) for c in convs) + VGG_FC == 138_357_544
    last_pool = [r for r in a.layers if isinstance(r.layer, Pool)][-1]
    assert last_pool.name == "pool13" and last_pool.out_shape == (512, 7, 7)   # 224 / 2⁵ = 7


def test_vgg11():
    convs = [(3, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512), (512, 512), (512, 512)]
    a = analyze(cnncalc.preset("vgg11").spec, (3, 224, 224))
    assert a.params == sum(_vgg_conv(*c) for c in convs) + VGG_FC == 132_863_336


def test_lenet5():
    # 1×32×32 → conv 6 k5 (28) → pool (14) → conv 16 k5 (10) → pool (5) → 400 → 120 → 84 → 10
    a = analyze(cnncalc.preset("lenet5").spec, (1, 32, 32))
    assert a.params == (6 * 25 + 6) + (16 * 6 * 25 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10) \
        == 61_706
    assert a["pool2"].out_shape == (16, 5, 5)


# --- formulas with values substituted --------------------------------------------------------------

@pytest.mark.parametrize("spec, shape, name, key, text", [
    (LAB, (3, 32, 32), "conv1", "out_H", "⌊(32 + 2·2 − 5)/1⌋ + 1 = 32"),
    (LAB, (3, 32, 32), "pool1", "out_H", "⌊(32 − 2)/2⌋ + 1 = 16"),
    (LAB, (3, 32, 32), "conv2", "rf_H", "6 + (5 − 1)·2 = 14"),
    (LAB, (3, 32, 32), "pool1", "start_H", "0 + ((2 − 1)/2 − 0)·1 = 0.5"),
    (LAB, (3, 32, 32), "fc4", "weights", "1024·1000 = 1,024,000"),
    (LAB, (3, 32, 32), "conv2", "macs", "16·16·64·32·5·5 = 13,107,200"),
    # dilation: ⌊(32 − 2·(3 − 1) − 1)/1⌋ + 1 = 28; rf 1 + 2·(3 − 1)·1 = 5
    ("conv 4 k=3 d=2", (3, 32, 32), "conv1", "out_H", "⌊(32 − 2·(3 − 1) − 1)/1⌋ + 1 = 28"),
    ("conv 4 k=3 d=2", (3, 32, 32), "conv1", "rf_H", "1 + 2·(3 − 1)·1 = 5"),
    # asymmetric padding: ⌊(8 + 0 + 1 − 2)/1⌋ + 1 = 8
    ("conv 4 k=2 p=0:1", (3, 8, 8), "conv1", "out_H", "⌊(8 + 0 + 1 − 2)/1⌋ + 1 = 8"),
    # groups: 8·(4/2)·3·3 = 144
    ("conv 8 k=3 g=2", (4, 8, 8), "conv1", "weights", "8·(4/2)·3·3 = 144"),
])
def test_formula_text(spec, shape, name, key, text):
    assert text in analyze(spec, shape)[name].formula(key)


# --- warnings and errors, each with a fix -----------------------------------------------------------

def _torch_runs(spec, shape):
    """Build and run the layer with hand-written nn modules (single-layer specs used below)."""
    layer = cnncalc.parse_spec(spec)[0]
    x = torch.zeros(1, *shape)
    if isinstance(layer, cnncalc.Conv):
        pad = "same" if layer.padding == "same" else (layer.padding[0][0], layer.padding[1][0])
        m = nn.Conv2d(shape[0], layer.out_channels, layer.kernel, layer.stride, pad, layer.dilation, layer.groups)
    else:
        m = nn.MaxPool2d(layer.kernel, layer.stride, layer.padding, layer.dilation, ceil_mode=layer.ceil_mode)
    return tuple(m(x).shape[1:])


def _rows_read(n, k, s, p):
    """Input rows 0…n−1 touched by a k/s/p window along one axis, with PyTorch's output count."""
    out = nn.Conv2d(1, 1, (k, 1), (s, 1), (p, 0))(torch.zeros(1, 1, n, 1)).shape[2]
    return sorted({i * s + j - p for i in range(out) for j in range(k)} & set(range(n)))


def test_warning_last_row_unread_and_its_fix():
    """32 rows, k=3 s=2 p=0: ⌊(32 − 3)/2⌋ + 1 = 15 windows starting at 0, 2, …, 28; the last reads 28–30,
    row 31 is never read. Fix p=1: ⌊(32 + 2 − 3)/2⌋ + 1 = 16 windows from −1, the last reads 29–31."""
    r = analyze("conv 8 k=3 s=2", (3, 32, 32)).layers[0]
    assert r.status == "warning"
    assert "31" in r.message and "never read" in r.message
    assert _rows_read(32, 3, 2, 0) == list(range(31))          # PyTorch's windows miss row 31
    assert r.fix == "conv 8 k=3 s=2 p=1"
    fixed = analyze(r.fix, (3, 32, 32)).layers[0]
    assert fixed.status == "ok" and fixed.out_shape == (8, 16, 16)
    assert _rows_read(32, 3, 2, 1) == list(range(32))          # …and the fix reads every row
    assert _torch_runs(r.fix, (3, 32, 32)) == (8, 16, 16)


def _unread_by_enumeration(n, out, k, s, before, d):
    """The oracle: every tap of every window, one by one."""
    read = {i * s + j * d - before for i in range(out) for j in range(k)}
    return [r for r in range(n) if r not in read]


def test_unread_rows_equal_enumerating_every_tap():
    """20,000 seeded axes (n ≤ 60, k ≤ 12, s ≤ 15, d ≤ 9, padding ≤ 20): count and listed rows as enumerated."""
    rng = random.Random(7)
    checked = 0
    while checked < 20_000:
        n, k, s, d = rng.randint(1, 60), rng.randint(1, 12), rng.randint(1, 15), rng.randint(1, 9)
        before, after = rng.randint(0, 20), rng.randint(0, 20)
        ax = conv_axis(n, k, s, before, after, d)
        if ax.size < 1:
            continue
        want = _unread_by_enumeration(n, ax.size, k, s, before, d)
        assert (ax.unread_count, list(ax.unread)) == (len(want), want[:LISTED]), (n, k, s, before, after, d)
        assert reads_every_row(n, ax.size, k, s, before, d) == (not want)   # what the fix search asks
        checked += 1


def test_unread_rows_of_a_huge_dilated_kernel():
    """1,000,000 rows, k = 70,000, d = 2, s = 2: every tap i·2 + j·2 is even, so the 500,000 odd rows are
    never read — and stride 1 (the fix) reaches them: i·1 + j·2 covers every row up to the last window."""
    r = analyze("conv 1 k=70000x1 d=2x1 s=2x1", (1, 1_000_000, 1)).layers[0]
    assert r.status == "warning" and "500,000 input rows (1, 3, 5" in r.message
    assert "both multiples of 2" in r.message
    fixed = analyze(r.fix, (1, 1_000_000, 1)).layers[0]
    assert fixed.status == "ok", (r.fix, fixed.message)


@pytest.mark.parametrize("spec, shape, why", [
    ("conv 8 k=3 s=2", (1, 32, 32), "PyTorch floors the division"),             # row 31 after windows 0…28
    ("avgpool k=3 s=16 p=1 ceil=1", (1, 4, 4), "ceil_mode's extra window would start past the input"),
    ("conv 8 k=1 s=2", (1, 32, 32), "the stride 2 is larger than the 1-pixel window"),  # odd rows skipped
    ("conv 1 k=2 d=5", (1, 7, 7), "gaps between the kernel's taps that 2 windows do not fill"),  # taps 0,5 / 1,6
    ("conv 1 k=2 d=8 p=4", (1, 4, 4), "every window's taps fall in the padding"),   # taps −4…−1 and 4…7
])
def test_unread_rows_say_why(spec, shape, why):
    r = analyze(spec, shape).layers[0]
    assert r.status == "warning" and why in r.message, r.message


def test_fix_the_grammar_cannot_write_is_no_fix():
    """p=same with d = 1,000,000 and k = 5 would need p = 2,000,000, past the grammar's 1,000,000: the error
    stands without a suggestion, and analyze does not raise."""
    r = analyze("conv 1 k=5 d=1000000 s=2 p=same", (1, 8, 8)).layers[0]
    assert r.status == "error" and r.fix is None


@pytest.mark.parametrize("spec, shape, says, fix", [
    # output ≤ 0: ⌊(4 − 7)/1⌋ + 1 = −2; nearest: p=2 → ⌊(4 + 4 − 7)/1⌋ + 1 = 2 (p=1 still gives 0)
    ("conv 8 k=7", (3, 4, 4), "≤ 0", "conv 8 k=7 p=2"),
    # pool padding 2 > 2/2: PyTorch allows at most 1
    ("maxpool k=2 p=2", (3, 8, 8), "more than half the kernel", "maxpool k=2 p=1"),
    # 3 input channels, 4 groups: the largest g ≤ 4 dividing both 3 and 6 is 3
    ("conv 6 k=3 g=4", (3, 8, 8), "not divisible by groups", "conv 6 k=3 g=3"),
    # padding='same' needs stride 1: explicit p = (3 − 1)/2 = 1 → ⌊(8 + 2 − 3)/2⌋ + 1 = 4, reads all 8 rows
    ("conv 8 k=3 s=2 p=same", (3, 8, 8), "stride 1", "conv 8 k=3 s=2 p=1"),
    # maxpool k=5 (s=5) on 3×3: ⌊(3 − 5)/5⌋ + 1 = 0; nearest: p=1 → ⌊(3 + 2 − 5)/5⌋ + 1 = 1, window −1…3
    ("maxpool k=5", (3, 3, 3), "≤ 0", "maxpool k=5 p=1"),
])
def test_error_and_its_fix(spec, shape, says, fix):
    r = analyze(spec, shape).layers[0]
    assert r.status == "error" and r.out_shape is None
    assert says in r.message
    with pytest.raises((RuntimeError, ValueError)):             # PyTorch refuses it too
        _torch_runs(spec, shape)
    assert r.fix == fix
    fixed = analyze(r.fix, shape).layers[0]
    assert fixed.status != "error", fixed.message
    assert _torch_runs(r.fix, shape) == fixed.out_shape         # …and PyTorch runs the fix with that shape


def test_avg_pool_dilation_is_an_error():
    layer = Pool("avg", (2, 2), dilation=(2, 2))
    r = analyze((layer,), (3, 8, 8)).layers[0]
    assert r.status == "error" and r.fix == "avgpool k=2"
    with pytest.raises(TypeError):
        nn.AvgPool2d(2, dilation=2)                             # no such argument in PyTorch


def test_avg_pool_dilation_fix_is_parseable():
    layer = Pool("avg", (2, 2), padding=(2, 2), dilation=(2, 2))
    r = analyze((layer,), (1, 8, 8)).layers[0]
    assert r.status == "error" and r.fix is not None
    fixed = cnncalc.parse_spec(r.fix)          # raises SpecError: avgpool has no setting 'd'
    assert analyze(fixed, (1, 8, 8)).ok


def test_window_after_flatten_is_an_error_and_later_layers_are_not_computed():
    a = analyze("flatten; conv 8 k=3; fc 10", (3, 8, 8))
    assert a.layers[1].status == "error" and "C×H×W" in a.layers[1].message
    assert a.layers[2].status == "error" and a.layers[2].out_shape is None
    assert not a.ok and a.first_error.index == 1


def test_totals_after_an_error_are_lower_bounds_never_silent():
    """conv1 on 3×7×7 (k=3): 8·3·3·3 = 216 weights + 8 biases = 224 params, 5·5·8·27 = 5,400 MACs, memory
    2 × 8·5·5·4 B = 1,600 (conv1 and relu1); conv2 (13 > 5) is in error and fc3 is not computed."""
    a = analyze("conv 8 k=3; relu; conv 8 k=13; fc 10", (3, 7, 7))
    assert a.missing("params") == a.missing("macs") == ("conv2", "fc3")
    t = totals_row(a)
    assert (t["weights"], t["biases"], t["params"], t["macs"], t["memory"]) == (
        "≥ 216", "≥ 8", "≥ 224", "≥ 5,400", "≥ 1,600")
    assert "conv2, fc3" in t["message"]
    assert a.to_dict()["totals_missing"]["params"] == ["conv2", "fc3"]
    assert numeric_rows(a)[-1]["params"] is None                # the typed table shows "—", its notes say why
    nothing = totals_row(analyze("conv 8 k=13", (3, 7, 7)))     # nothing computed: unknown, not 0
    assert nothing["params"] == nothing["macs"] == "—"
    exact = analyze("conv 8 k=3; relu", (3, 7, 7))
    assert exact.missing("params") == () and totals_row(exact)["params"] == 224


def test_groups_fix_keeps_other_errors():
    # 3 channels, g=4 and a 7×7 kernel on 4×4: the fix must also pad (p=2, see test_error_and_its_fix)
    r = analyze("conv 6 k=7 g=4", (3, 4, 4)).layers[0]
    assert r.status == "error" and r.fix is not None
    fixed = analyze(r.fix, (3, 4, 4)).layers[0]
    assert fixed.status != "error", f"suggested fix {r.fix!r} is itself invalid: {fixed.message}"


@pytest.mark.parametrize("spec, shape", [
    ("maxpool k=4000", (1, 8, 8)), ("conv 1 k=3 s=1000000", (1, 8, 8)), ("conv 1 k=1000 d=1000", (1, 8, 8)),
    # a million rows with a dilated kernel: the unread rows and every fix candidate cost O(n), not O(n·k)
    ("conv 1 k=5000x1 d=2 s=2", (1, 1_000_000, 1)), ("conv 1 k=70000x1 d=2x1 s=2x1", (1, 1_000_000, 1)),
    ("conv 1 k=1000x1 s=997x1 d=1009x1", (1, 1_000_000, 1)),
])
def test_fix_search_is_fast_for_large_settings(spec, shape):
    def stop(*_):
        raise TimeoutError
    old_handler = signal.signal(signal.SIGALRM, stop)
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, 1.5)
    t0 = time.monotonic()
    try:
        r = analyze(spec, shape).layers[0]
    except TimeoutError:
        pytest.fail(f"analyze({spec!r}, {shape}) did not finish in 1.5 s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_delay:   # give pytest-timeout's alarm back
            signal.setitimer(signal.ITIMER_REAL, max(old_delay - (time.monotonic() - t0), 1e-3), old_interval)
    assert r.status in ("warning", "error")


# --- solvers ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("k", range(1, 8))
@pytest.mark.parametrize("d", [1, 2, 3])
def test_same_padding_matches_pytorch(k, d):
    """before + after = d·(k − 1); PyTorch's padding='same' puts the odd pixel after. Same weights, so the
    outputs are equal value for value, and the size 11 is kept."""
    sp = same_padding(k, d)
    assert sp.before + sp.after == d * (k - 1)
    torch.manual_seed(0)
    same = nn.Conv2d(1, 1, k, padding="same", dilation=d, bias=False)
    plain = nn.Conv2d(1, 1, k, padding=0, dilation=d, bias=False)
    plain.weight.data.copy_(same.weight.data)
    x = torch.randn(1, 1, 11, 11)
    y = plain(F.pad(x, (sp.before, sp.after, sp.before, sp.after)))
    assert y.shape[-2:] == (11, 11)
    torch.testing.assert_close(y, same(x))
    assert sp.symmetric == (d * (k - 1) % 2 == 0)


@pytest.mark.parametrize("n", [7, 8, 15, 32, 33])
@pytest.mark.parametrize("factor", [2, 3])
@pytest.mark.parametrize("pool", [False, True])
def test_divide_settings_against_pytorch(n, factor, pool):
    found = divide_settings(n, factor, max_kernel=5, pool=pool)
    target = -(-n // factor)                                   # ⌈n/factor⌉
    expected = set()
    for k in range(1, 6):
        for p in range(0, (k // 2 if pool else k - 1) + 1):
            m = nn.MaxPool2d((k, 1), (factor, 1), (p, 0)) if pool else nn.Conv2d(1, 1, (k, 1), (factor, 1), (p, 0))
            try:
                out = m(torch.zeros(1, 1, n, 1)).shape[2]
            except RuntimeError:
                continue
            if out == target:
                expected.add((k, p, n - len(_rows_read(n, k, factor, p))))
    assert {(s.kernel, s.padding, s.unread) for s in found} == expected
    assert all(s.stride == factor and s.out == target for s in found)
    unread = [s.unread > 0 for s in found]
    assert unread == sorted(unread), "settings that read every row come first"


def _spatial_out(modules, n, axis, other=64):
    shape = (1, 1, n, other) if axis == 0 else (1, 1, other, n)
    try:
        return nn.Sequential(*modules)(torch.zeros(shape)).shape[2 + axis]
    except RuntimeError:
        return None


def _as_ranges(values):
    ranges = []
    for v in values:
        if ranges and ranges[-1][1] == v - 1:
            ranges[-1] = (ranges[-1][0], v)
        else:
            ranges.append((v, v))
    return ranges


@pytest.mark.parametrize("spec, modules, target, axis", [
    ("conv 1 k=5 p=2; maxpool k=2; conv 1 k=3 s=2; maxpool k=3 s=2 ceil=1",
     [nn.Conv2d(1, 1, 5, padding=2), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3, 2), nn.MaxPool2d(3, 2, ceil_mode=True)], 3, 0),
    ("conv 1 k=3x7 s=1x3; maxpool k=2 p=1", [nn.Conv2d(1, 1, (3, 7), (1, 3)), nn.MaxPool2d(2, padding=1)], 5, 1),
    ("conv 1 k=3 p=same; avgpool k=3 s=2 ceil=1; flatten; fc 10",
     [nn.Conv2d(1, 1, 3, padding="same"), nn.AvgPool2d(3, 2, ceil_mode=True)], 4, 0),
])
def test_input_sizes_for_output_by_forward(spec, modules, target, axis):
    got = input_sizes_for_output(spec, target, axis=axis, limit=60)
    expected = _as_ranges([n for n in range(1, 61) if _spatial_out(modules, n, axis) == target])
    assert got == expected and got


def test_input_sizes_for_invalid_layers_or_targets_are_none():
    """padding='same' with stride 2 is refused by PyTorch at every size; no valid network outputs size 0."""
    with pytest.raises(ValueError, match="not supported for strided"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    assert input_sizes_for_output("conv 8 k=3 s=2 p=same", 5, limit=20) == []
    assert input_sizes_for_output("conv 8 k=3", 0, limit=10) == []
    assert input_sizes_for_output("conv 8 k=3 s=2", 5, limit=20) == [(11, 12)]   # ⌊(n − 3)/2⌋ + 1 = 5


def test_input_sizes_for_lab_nets():
    # lab (floor): ⌊⌊⌊n/2⌋/2⌋/2⌋ = 4 ⇔ n ∈ 32…39
    assert input_sizes_for_output(LAB, 4, limit=100) == [(32, 39)]
    # lab28: pool3 in ceil mode: ⌈⌊n/4⌋/2⌉ = 4 ⇔ ⌊n/4⌋ ∈ {7, 8} ⇔ n ∈ 28…35
    assert input_sizes_for_output(cnncalc.preset("lab28").spec, 4, limit=100) == [(28, 35)]


def test_unread_rows_with_huge_padding():
    # n = 1,000,000, k=3 s=4 p=1,000,000: ⌊(3,000,000 − 3)/4⌋ + 1 = 750,000 windows, out·k = 2,250,000;
    # taps 4i + j − 1,000,000 (j = 0, 1, 2) never hit rows ≡ 3 (mod 4): 250,000 rows unread
    conv = nn.Conv2d(1, 1, (3, 1), (4, 1), (1_000_000, 0), bias=False)
    nn.init.ones_(conv.weight)
    x = torch.ones(1, 1, 1_000_000, 1, requires_grad=True)
    conv(x).sum().backward()
    assert int((x.grad == 0).sum()) == 250_000                 # PyTorch: every 4th row gets no gradient
    r = analyze("conv 1 k=3x1 s=4x1 p=1000000x0", (1, 1_000_000, 1)).layers[0]
    assert r.out_shape == (1, 750_000, 1)
    assert r.status == "warning", f"status {r.status!r}: 250,000 unread rows not reported"

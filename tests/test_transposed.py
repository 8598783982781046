"""Transposed convolution and upsampling (issue #14, item 5): grammar, shapes, params, MACs and the
receptive field, each against hand-worked arithmetic and PyTorch (``nn.ConvTranspose2d``, ``nn.Upsample``:
shapes, ``numel()``, and the rows a unit's gradient reaches)."""
from __future__ import annotations

import math
import runpy
from fractions import Fraction

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from cnncalc import SpecError, analyze, build_model, format_spec, parse_spec, to_pytorch_code
from cnncalc.layers import ConvTranspose, Upsample
from cnncalc.parse import MAX_TOKEN, parse_layer
from cnncalc.pytorch.bridge import layer_of

SETTINGS = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


# --- shapes, params, MACs: hand-worked, then PyTorch ------------------------------------------------------

@pytest.mark.parametrize("spec, shape, out, params, macs", [
    # H_out = (H − 1)·s − 2p + d·(k − 1) + op + 1; params N·(C/g)·k·k + N; MACs C·H·W·(N/g)·k·k
    ("convT 16 k=4 s=2 p=1", (3, 7, 7), (16, 14, 14), 16 * 3 * 16 + 16, 3 * 49 * 16 * 16),   # 6·2 − 2 + 3 + 1 = 14
    ("convT 8 k=3 s=2 p=1 op=1", (4, 5, 5), (8, 10, 10), 8 * 4 * 9 + 8, 4 * 25 * 8 * 9),       # 8 − 2 + 2 + 1 + 1
    ("convT 8 k=3", (2, 5, 6), (8, 7, 8), 8 * 2 * 9 + 8, 2 * 30 * 8 * 9),                      # stride 1: n + k − 1
    ("convT 6 k=3 s=2 d=2 g=2 bias=0", (4, 4, 4), (6, 11, 11), 6 * 2 * 9, 4 * 16 * 3 * 9),    # 6 + 4 + 1
    ("convT 5 k=2x3 s=3x1 p=0x1", (1, 4, 4), (5, 11, 4), 5 * 6 + 5, 16 * 5 * 6),              # 9 + 1 + 1; 3 − 2 + 2 + 1
    ("convT 1 k=1 s=1000", (1, 2, 2), (1, 1001, 1001), 2, 4),
])
def test_convT_arithmetic(spec, shape, out, params, macs):
    r = analyze(spec, shape).layers[0]
    assert r.status == "ok", r.message
    assert (r.out_shape, r.params, r.macs) == (out, params, macs)
    assert r.flops == 2 * macs + (math.prod(out) if r.biases else 0)
    model = build_model(spec, shape)
    assert isinstance(model[0], nn.ConvTranspose2d)
    assert tuple(model(torch.zeros(1, *shape)).shape[1:]) == out
    assert sum(p.numel() for p in model.parameters()) == params
    assert r.formula("out_H").endswith(f"= {out[1]}")


@pytest.mark.parametrize("spec, shape, out, flops", [
    ("upsample 2", (3, 5, 7), (3, 10, 14), 0),
    ("upsample 3 mode=bilinear", (2, 4, 4), (2, 12, 12), 2 * 144 * 7),
    ("upsample 1.5", (1, 7, 5), (1, 10, 7), 0),                      # ⌊7·1.5⌋ = 10, ⌊5·1.5⌋ = 7
    ("upsample 0.5", (1, 7, 5), (1, 3, 2), 0),
    ("upsample 1.15", (1, 100, 10), (1, 114, 11), 0),                 # PyTorch's double: 100·1.15 = 114.999…
    ("upsample size=9x4", (1, 3, 2), (1, 9, 4), 0),
    ("upsample size=5 mode=bilinear", (1, 3, 3), (1, 5, 5), 25 * 7),
])
def test_upsample_arithmetic(spec, shape, out, flops):
    r = analyze(spec, shape).layers[0]
    assert (r.status, r.out_shape, r.params, r.macs, r.flops) == ("ok", out, 0, 0, flops)
    model = build_model(spec, shape)
    assert tuple(model(torch.zeros(1, *shape)).shape[1:]) == out


@pytest.mark.parametrize("spec, shape, words", [
    ("convT 4 k=3 s=2 op=2", (1, 5, 5), "output padding 2 along H must be smaller than the stride 2"),
    ("convT 4 k=1 p=3", (1, 2, 2), "output size"),
    ("convT 4 g=3", (4, 5, 5), "not divisible by groups 3"),
    ("fc 4; convT 2", (1, 4, 4), "needs a C×H×W input"),
    ("upsample 0.1", (1, 4, 4), "output size 0×0"),
])
def test_invalid_settings_are_layer_errors_with_a_valid_fix(spec, shape, words):
    r = analyze(spec, shape).first_error
    assert r is not None and words in r.message, r.message
    if r.fix:
        assert analyze(r.fix, shape).ok


# --- the receptive field: exact fractions, checked by gradient -------------------------------------------

def _rows_reached(model: nn.Module, shape, unit: int) -> list[int]:
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.ones_(m.weight)
    x = torch.zeros(1, *shape, dtype=torch.float64, requires_grad=True)
    model.double()(x)[0, 0, unit, 0].backward()
    return torch.nonzero(x.grad[0].abs().sum((0, 2))).flatten().tolist()


def _rows_in_field(r, unit: int, n: int) -> list[int]:
    centre = r.start[0] + unit * r.jump[0]
    half = Fraction(r.rf[0] - 1) / 2
    return [i for i in range(math.ceil(centre - half), math.floor(centre + half) + 1) if 0 <= i < n]


@pytest.mark.parametrize("spec, rf, jump, start", [
    # jump = 1/s; rf = 1 + d·(k − 1)/s; start = (p − d·(k − 1)/2)/s
    ("convT 1 k=4 s=2 p=1", Fraction(5, 2), Fraction(1, 2), Fraction(-1, 4)),
    ("convT 1 k=3 s=2", 2, Fraction(1, 2), Fraction(-1, 2)),
    ("convT 1 k=3 s=3 p=1", Fraction(5, 3), Fraction(1, 3), 0),
    ("convT 1 k=3 d=2 p=1", 5, 1, -1),
    ("upsample 2", Fraction(3, 2), Fraction(1, 2), Fraction(-1, 4)),             # = convT k=2 s=2 p=0
    ("upsample 3", Fraction(5, 3), Fraction(1, 3), Fraction(-1, 3)),
    ("upsample 2 mode=bilinear", Fraction(5, 2), Fraction(1, 2), Fraction(-1, 4)),  # = convT k=4 s=2 p=1
    ("upsample 3 mode=bilinear", Fraction(7, 3), Fraction(1, 3), Fraction(-1, 3)),  # = convT k=5 s=3 p=1
])
def test_field_formulas(spec, rf, jump, start):
    r = analyze(spec, (1, 6, 6)).layers[0]
    assert (r.rf[0], r.jump[0], r.start[0]) == (rf, jump, start)
    assert r.formula("jump_H").endswith(f"= {r.formula('jump_H').split('= ')[-1]}") and "/" in r.formula("jump_H")


@pytest.mark.parametrize("spec", ["convT 1 k=4 s=2 p=1", "convT 1 k=3 s=2", "convT 1 k=3 s=3 p=1", "convT 1 k=5 s=2 p=2 op=1",
                                  "convT 1 k=2 s=3", "upsample 2", "upsample 3",
                                  "upsample 2 mode=bilinear", "upsample 3 mode=bilinear", "upsample 4 mode=bilinear",
                                  "upsample size=12x6"])
def test_each_output_unit_reads_exactly_its_field(spec):
    """One layer: the input rows with a non-zero gradient are exactly the whole rows inside start + o·jump ±
    (rf − 1)/2, clipped to the image — for every output unit o (weights set to 1: no cancellation)."""
    n = 6
    r = analyze(spec, (1, n, n)).layers[0]
    model = build_model(spec, (1, n, n))
    for unit in range(r.out_shape[1]):
        assert _rows_reached(model, (1, n, n), unit) == _rows_in_field(r, unit, n), (spec, unit)


@pytest.mark.parametrize("spec, tight", [
    ("conv 1 k=3 p=1; convT 1 k=4 s=2 p=1; conv 1 k=3 p=1", True), ("convT 1 k=3 s=2; convT 1 k=3 s=2", True),
    ("convT 1 k=3 d=2 p=1", False),                          # dilation: holes inside the field, as for a conv
    # after nearest upsampling a window's ends may fall between two copies of one pixel: a bound, not the ends
    ("conv 1 k=3 s=2; upsample 2; conv 1 k=3", False)])
def test_stacked_fields_bound_the_gradient(spec, tight):
    """Through several layers the gradient stays inside the field; where ``tight`` it starts and ends at its
    first and last row."""
    n = 8
    a = analyze(spec, (1, n, n))
    r = a.layers[-1]
    model = build_model(spec, (1, n, n))
    for unit in range(r.out_shape[1]):
        rows, field = _rows_reached(model, (1, n, n), unit), _rows_in_field(r, unit, n)
        assert set(rows) <= set(field), (unit, rows, field)
        if tight:
            assert (rows[0], rows[-1]) == (field[0], field[-1]), (unit, rows, field)


def test_non_integer_upsampling_has_no_field_and_says_why():
    r = analyze("upsample 1.5", (1, 4, 4)).layers[0]
    assert r.rf is None and "not an integer scale factor" in r.message
    assert analyze("upsample 1.5; conv 2", (1, 4, 4)).layers[1].rf is None


# --- grammar: round trip, tokens, no traceback ------------------------------------------------------------

pos = st.integers(1, 9)
nonneg = st.integers(0, 9)
pair = st.one_of(pos.map(lambda v: (v, v)), st.tuples(pos, pos))
zpair = st.one_of(nonneg.map(lambda v: (v, v)), st.tuples(nonneg, nonneg))
new_layers = st.one_of(
    st.builds(ConvTranspose, pos, pair, pair, zpair, zpair, pair, pos, st.booleans()),
    st.builds(Upsample, st.floats(0.0001, 1000, allow_nan=False), st.none(), st.sampled_from(["nearest", "bilinear"])),
    st.builds(Upsample, st.none(), pair, st.sampled_from(["nearest", "bilinear"])))


@settings(max_examples=300, **SETTINGS)
@given(st.lists(new_layers, min_size=1, max_size=5))
def test_round_trip(spec):
    text = format_spec(spec)
    assert parse_spec(text) == tuple(spec), text


@pytest.mark.parametrize("text, layer", [
    ("convT 16 k=4 s=2 p=1 op=1 d=1", ConvTranspose(16, 4, 2, 1, 1)),
    ("ConvTranspose2d 8 kernel_size=3 stride=2 padding=1 output_padding=1 groups=2 bias=0",
     ConvTranspose(8, 3, 2, 1, 1, 1, 2, False)),
    ("upsample 2.0 mode=bilinear", Upsample(2.0, None, "bilinear")),
    ("Upsample 2 mode=nearest", Upsample(2.0)),
    ("upsample size=64x48", Upsample(None, (64, 48))),
    ("conv 8 pm=circular p=1", parse_layer("conv 8 p=1 padding_mode=circular")),
])
def test_spellings(text, layer):
    """The spellings cnncalc/torchtext.py writes for nn.ConvTranspose2d and nn.Upsample."""
    assert parse_layer(text) == layer


@pytest.mark.parametrize("text, words", [
    ("convT k=3", "needs its number of filters"), ("convT 8 p=1:2", "must be a whole number"),
    ("convT 8 pm=circular", "has no setting 'pm'"), ("convT 8 op=-1", "op '-1'"),
    ("upsample 0", "from 0.0001 to 1000"), ("upsample 2 size=4x4", "not both"),
    ("upsample mode=bicubic", "must be one of nearest, bilinear"), ("upsample 1e3", "unexpected '1e3'"),
    ("conv 8 pm=mirror", "must be one of zeros"), ("upsample size=0", "size '0'"),
    ("upsample " + "9" * (MAX_TOKEN + 1), "too long"),
])
def test_grammar_errors(text, words):
    with pytest.raises(SpecError) as err:
        parse_layer(text)
    assert words in str(err.value)


@settings(max_examples=400, **SETTINGS)
@given(st.lists(st.sampled_from(["convT", "upsample", " ", "8", "0", "2", ".", "5", "x", ":", "k=", "s=", "p=", "op=",
                                 "d=", "g=", "size=", "mode=", "bilinear", "nearest", "pm=", "circular", "=", ";", "-"]),
                max_size=30).map("".join))
def test_no_traceback_for_any_text(text):
    try:
        layers = parse_spec(text)
    except SpecError:
        return
    a = analyze(layers, (2, 6, 6))
    a.to_dict()


# --- PyTorch both ways ------------------------------------------------------------------------------------

def test_layer_of_maps_modules_back():
    assert layer_of(nn.ConvTranspose2d(3, 8, 4, 2, 1, output_padding=1, groups=1, bias=False), (3, 5, 5)) == \
        ConvTranspose(8, 4, 2, 1, 1, bias=False)
    assert layer_of(nn.Upsample(scale_factor=2, mode="bilinear"), (3, 5, 5)) == Upsample(2.0, None, "bilinear")
    assert layer_of(nn.Upsample(size=(7, 9)), (3, 5, 5)) == Upsample(None, (7, 9))
    assert layer_of(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True), (3, 5, 5)) is None
    assert layer_of(nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), (3, 5, 5)).padding_mode == "reflect"


def test_pytorch_code_runs(tmp_path):
    spec = "conv 4 k=3 p=0:1 pm=replicate; convT 6 k=4 s=2 p=1 g=2; upsample 2 mode=bilinear; upsample size=30x20"
    path = tmp_path / "model.py"
    path.write_text(to_pytorch_code(spec, (2, 6, 6)))
    model = runpy.run_path(str(path))["model"]
    assert tuple(model(torch.zeros(1, 2, 6, 6)).shape[1:]) == analyze(spec, (2, 6, 6)).output_shape == (6, 30, 20)
    assert "nn.ReplicationPad2d((0, 1, 0, 1))" in path.read_text()


def test_after_wider_fields_a_transposed_field_is_a_cover_and_says_so():
    """conv k3 s2 then convT k2 s2: outputs 2u and 2u + 1 both read conv unit u, i.e. input pixels 2u … 2u + 2
    (3 pixels); one (rf, jump, start) cannot say that two neighbours share a field, so the reported interval
    (rf 3 + (2 − 1)·1 = 4, jump 2/2 = 1, start 1 + (0 − ½)·1 = ½) covers the pixels read — checked by gradient
    for every output unit — and the row says it is a cover. On single pixels it stays exact and says nothing."""
    import torch
    from torch import nn
    import cnncalc
    a = cnncalc.analyze("conv 1 k=3 s=2 bias=0; convT 1 k=2 s=2 bias=0", "1x15x15")
    t = a.layers[1]
    assert (t.rf[0], t.jump[0], float(t.start[0])) == (4, 1, 0.5) and "a cover, not exact" in t.message
    assert "a cover" not in cnncalc.analyze("convT 1 k=2 s=2", "1x15x15").layers[0].message
    net = nn.Sequential(nn.Conv2d(1, 1, 3, stride=2, bias=False), nn.ConvTranspose2d(1, 1, 2, stride=2, bias=False))
    for m in net:
        nn.init.constant_(m.weight, 1.0)
    x = torch.ones(1, 1, 15, 15, requires_grad=True)
    y = net(x)
    for o in range(y.shape[-1]):
        x.grad = None
        y[0, 0, 7, o].backward(retain_graph=True)
        cols = torch.nonzero(x.grad[0, 0].sum(0)).flatten().tolist()
        lo = float(t.start[1]) + o * float(t.jump[1]) - (float(t.rf[1]) - 1) / 2
        hi = float(t.start[1]) + o * float(t.jump[1]) + (float(t.rf[1]) - 1) / 2
        assert cols == list(range(2 * (o // 2), 2 * (o // 2) + 3))      # the 3 pixels of conv unit o // 2
        assert lo <= cols[0] and cols[-1] <= hi                           # inside the cover

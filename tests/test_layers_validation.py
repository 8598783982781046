"""Layer objects validate themselves (issue #14, item 4): the grammar's rules and messages for objects, exact
``start``, ``padding_mode`` (shape kept, field notes, PyTorch's limits) and adaptive pooling's field when its
windows are equal and evenly spaced. PyTorch is the oracle for shapes and for which input rows a unit reads."""
from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

from cnncalc import (Activation, AdaptiveAvgPool, Conv, Dropout, Linear, Pool, SpecError, analyze, format_spec,
                     parse_spec)
from cnncalc.layers import ConvTranspose, Upsample
from cnncalc.receptive import Field, json_number, number_text
from cnncalc.tables import to_text


# --- item 4a: objects are checked like text ----------------------------------------------------------------

@pytest.mark.parametrize("make, words", [
    (lambda: Conv(-4), ["Conv", "out_channels=-4", "1 to 1,000,000"]),
    (lambda: Conv(8, stride=(0, 1)), ["stride=(0, 1)", "1 to 1,000,000"]),
    (lambda: Conv(8, groups=0), ["groups=0", "1 to 1,000,000"]),
    (lambda: Conv(8, kernel=0), ["kernel=0", "1 to"]),
    (lambda: Conv(8, kernel=(3, 0)), ["kernel=(3, 0)"]),
    (lambda: Conv(8, dilation=(1, 2_000_000)), ["dilation", "1,000,000"]),
    (lambda: Conv(8, padding=-1), ["padding=-1", "0 to 1,000,000"]),
    (lambda: Conv(8, padding=((0, -1), (0, 0))), ["padding", "0 to"]),
    (lambda: Conv(8, padding="valid"), ["padding='valid'", "'same'"]),
    (lambda: Conv(8, bias=1), ["bias=1", "True or False"]),
    (lambda: Conv(True), ["out_channels=True"]),
    (lambda: Conv(8.0), ["out_channels=8.0"]),
    (lambda: Conv(8, padding_mode="mirror"), ["padding_mode='mirror'", "zeros, reflect, replicate, circular"]),
    (lambda: AdaptiveAvgPool((0, 3)), ["AdaptiveAvgPool", "output=(0, 3)"]),
    (lambda: Pool("min"), ["Pool", "mode='min'", "max, avg"]),
    (lambda: Pool("max", 2, stride=0), ["stride=0"]),
    (lambda: Pool("max", 2, padding=(-1, 0)), ["padding=(-1, 0)"]),
    (lambda: Linear(0), ["out_features=0"]),
    (lambda: Dropout(1.5), ["p=1.5", "0 to 1"]),
    (lambda: Dropout(float("nan")), ["p=nan"]),
    (lambda: Activation("swishy"), ["name='swishy'"]),
    (lambda: ConvTranspose(8, stride=0), ["ConvTranspose", "stride=0"]),
    (lambda: ConvTranspose(8, output_padding=-1), ["output_padding=-1"]),
    (lambda: Upsample(0), ["scale=0", "0.0001 to 1000"]),
    (lambda: Upsample(float("inf")), ["scale=inf"]),
    (lambda: Upsample(None), ["exactly one of scale and size"]),
    (lambda: Upsample(2, (4, 4)), ["exactly one"]),
    (lambda: Upsample(2, mode="bicubic"), ["mode='bicubic'", "nearest, bilinear"]),
])
def test_bad_objects_are_refused_with_field_value_and_range(make, words):
    with pytest.raises(SpecError) as err:
        make()
    for word in words:
        assert word in str(err.value)


def test_no_negative_params_or_zero_division_reaches_analyze():
    """Before: Conv(-4) gave −112 params with status ok; stride 0, groups 0, a zero kernel and a 0 output
    raised ZeroDivisionError inside analyze. Now none of them can be built."""
    for make in (lambda: [Conv(-4)], lambda: [Conv(8, stride=(0, 1))], lambda: [Conv(8, groups=0)],
                 lambda: [Conv(8, kernel=(0, 3))], lambda: [AdaptiveAvgPool((0, 3))], lambda: [Pool("min")]):
        with pytest.raises(SpecError):
            analyze(make(), (3, 8, 8))


@pytest.mark.parametrize("obj, text", [
    (Conv(8, kernel=5, stride=2, padding=2, dilation=1), "conv 8 k=5 p=2 s=2"),
    (Conv(8, padding=(1, 2)), "conv 8 p=1x2"),
    (Pool("max", 3, 2, 1), "maxpool k=3 s=2 p=1"),
    (AdaptiveAvgPool(7), "adaptiveavgpool 7"),
    (ConvTranspose(4, 4, 2, 1, 1), "convT 4 k=4 s=2 p=1 op=1"),
    (Upsample(2), "upsample 2"),
    (Dropout(1), "dropout p=1"),
])
def test_int_settings_mean_both_axes_and_equal_the_parser(obj, text):
    assert parse_spec(text) == (obj,)
    assert parse_spec(format_spec([obj])) == (obj,)


# --- item 4b: exact start --------------------------------------------------------------------------------

HUGE = "conv 1 k=2 p=0:1; conv 1 k=1 s=1000000; conv 1 k=1 s=1000000; conv 1 k=2 d=1000000 p=1000000:0"


def test_start_is_exact_past_2_to_the_53():
    """start = 0.5 (k=2 p=0:1) → jump 10⁶ → 10¹² → + (10⁶/2 − 10⁶)·10¹² = 0.5 − 5·10¹⁷, every digit kept
    (a float would print -5e+17: 0.5 is lost past 2⁵³ ≈ 9·10¹⁵)."""
    a = analyze(HUGE, (1, 1_000_000, 1_000_000))
    last = a.layers[-1]
    assert last.status == "ok", last.message
    assert last.start[0] == Fraction(1, 2) - 5 * 10**17
    assert number_text(last.start[0]) == "-499999999999999999.5"
    assert "-499999999999999999.5" in to_text(a)
    assert last.formula("start_H").endswith("= -499999999999999999.5")
    dumped = json.loads(json.dumps(a.to_dict()))
    assert dumped["layers"][-1]["start"] == ["-499999999999999999.5"] * 2    # not a float: exact text
    assert dumped["layers"][0]["start"] == [0.5, 0.5]                       # exact as a float: a number


@pytest.mark.parametrize("value, text", [
    (Fraction(-1, 2), "-0.5"), (Fraction(5, 2), "2.5"), (Fraction(0), "0"), (Fraction(7), "7"),
    (Fraction(-3, 8), "-0.375"), (Fraction(1, 3), "1/3"), (Fraction(-7, 6), "-7/6"),
    (Fraction(2**60) + Fraction(1, 2), "1152921504606846976.5"), (0.5, "0.5"), (3.0, "3"), (499999.5, "499999.5"),
])
def test_number_text_is_exact(value, text):
    assert number_text(value) == text


@pytest.mark.parametrize("value, out", [(Fraction(3), 3), (Fraction(-1, 2), -0.5), (Fraction(1, 3), "1/3"),
                                        (Fraction(2**60) + Fraction(1, 2), "1152921504606846976.5")])
def test_json_numbers_are_numbers_or_exact_text(value, out):
    assert json_number(value) == out


def test_start_works_with_numpy_as_floats():
    """draw/field.py computes start + jump·np.arange(n): an Exact start gives a float array, not objects."""
    r = analyze("conv 1 k=2", (1, 4, 4)).layers[0]
    centres = r.start[0] + r.jump[0] * np.arange(3)
    assert centres.dtype == np.float64 and list(centres) == [0.5, 1.5, 2.5]
    assert Field(start=0.5).start == Fraction(1, 2)


# --- item 4c: padding_mode -------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("p", ["1", "2", "0:1", "same"])
def test_padding_mode_keeps_the_shape_and_matches_pytorch(mode, p):
    spec = f"conv 4 k=3 p={p} pm={mode}"
    layer = parse_spec(spec)[0]
    assert layer.padding_mode == mode and format_spec([layer]) == spec.replace(" pm=zeros", "")
    r = analyze(spec, (2, 6, 7)).layers[0]
    zeros = analyze(f"conv 4 k=3 p={p}", (2, 6, 7)).layers[0]
    assert (r.out_shape, r.params, r.macs, r.rf, r.jump, r.start) == (
        zeros.out_shape, zeros.params, zeros.macs, zeros.rf, zeros.jump, zeros.start)
    from cnncalc import build_model
    model = build_model(spec, (2, 6, 7))
    assert tuple(model(torch.zeros(1, 2, 6, 7)).shape[1:]) == r.out_shape
    assert sum(t.numel() for t in model.parameters()) == r.params
    if mode != "zeros":
        assert f"padding_mode={mode}" in r.message and "padded tensor" in r.message
        assert r.status == "ok" and "padded tensor" in r.formula("rf_note")


def test_circular_field_wraps_to_the_far_side():
    """Unit 0 of a 3×3 p=1 circular conv: cnncalc's field is rows −1…1; row −1 of the padded tensor is row n − 1,
    and PyTorch's gradient says so."""
    n = 6
    r = analyze("conv 1 k=3 p=1 pm=circular", (1, n, n)).layers[0]
    lo = r.start[0] - Fraction(r.rf[0] - 1, 2)
    assert lo == -1 and "wraps to the far side" in r.message
    conv = nn.Conv2d(1, 1, 3, padding=1, padding_mode="circular", bias=False)
    nn.init.ones_(conv.weight)
    x = torch.zeros(1, 1, n, n, requires_grad=True)
    conv(x)[0, 0, 0, 0].backward()
    rows = set(torch.nonzero(x.grad[0, 0].sum(1)).flatten().tolist())
    assert rows == {int(lo) % n, 0, 1} == {n - 1, 0, 1}


@pytest.mark.parametrize("mode, p, n, ok", [("reflect", 5, 5, False), ("reflect", 4, 5, True),
                                            ("circular", 5, 5, True), ("circular", 6, 5, False),
                                            ("replicate", 9, 5, True)])
def test_padding_mode_limits_match_pytorch(mode, p, n, ok):
    r = analyze(f"conv 1 k=3 p={p} pm={mode}", (1, n, n)).layers[0]
    conv = nn.Conv2d(1, 1, 3, padding=p, padding_mode=mode)
    try:
        conv(torch.zeros(1, 1, n, n))
        torch_ok = True
    except (RuntimeError, ValueError, NotImplementedError):
        torch_ok = False
    assert torch_ok == ok and (r.status != "error") == ok, r.message
    if not ok:
        assert mode in r.message and r.fix is not None


# --- item 4d: adaptive pooling -------------------------------------------------------------------------

@pytest.mark.parametrize("n, o, k, s", [
    # windows ⌊i·n/o⌋ … ⌈(i+1)·n/o⌉ − 1
    (7, 3, 3, 2),    # 0–2, 2–4, 4–6: equal (3) and evenly spaced (2) although 7 is not a multiple of 3
    (8, 4, 2, 2),    # 0–1, 2–3, 4–5, 6–7
    (5, 4, 2, 1),    # 0–1, 1–2, 2–3, 3–4
    (9, 1, 9, 9),    # global
])
def test_adaptive_pool_field_when_windows_are_regular(n, o, k, s):
    r = analyze(f"adaptiveavgpool {o}", (1, n, n)).layers[0]
    assert r.status == "ok" and "unavailable" not in r.message
    assert (r.rf[0], r.jump[0], r.start[0]) == (k, s, Fraction(k - 1, 2))
    pool = nn.AdaptiveAvgPool2d(o)
    for i in range(o):   # the gradient's rows are the field's rows
        x = torch.zeros(1, 1, n, n, requires_grad=True)
        pool(x)[0, 0, i, 0].backward()
        rows = torch.nonzero(x.grad[0, 0].sum(1)).flatten().tolist()
        assert (rows[0], rows[-1]) == (i * s, i * s + k - 1)


@pytest.mark.parametrize("n, o, words", [(5, 3, "unequal size (2, 3 rows)"),
                                         (10, 4, "windows of 3 rows whose starts are 2 or 3 apart")])
def test_adaptive_pool_says_why_the_field_is_unavailable(n, o, words):
    r = analyze(f"adaptiveavgpool {o}", (1, n, n)).layers[0]
    assert r.rf is None and "rf" in r.unavailable and words in r.message, r.message

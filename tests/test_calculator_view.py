"""The calculator's view-model (cnncalc.classroom.calculator) and its sliding-window figure (cnncalc.draw.sliding)
against PyTorch: which padded-input cells each output reads (F.unfold on an image of cell
indices, one-hot convolutions, avg_pool2d counts for ceil_mode), and the form ↔ layer glue of the calculator."""
import re
from decimal import Decimal
from fractions import Fraction

import altair as alt
import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cnncalc import Conv, Pool, analyze
from cnncalc.classroom import calculator as calc
from cnncalc.draw import sliding

# (n_h, n_w, k, s, pad ((top, bottom), (left, right)), d)
CASES = [
    (5, 5, (3, 3), (1, 1), ((0, 0), (0, 0)), (1, 1)),      # Dumoulin & Visin fig. 2.1
    (5, 5, (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1)),      # fig. 2.7: 3×3 output
    (5, 5, (4, 4), (1, 1), ((2, 2), (2, 2)), (1, 1)),      # fig. 2.2: 6×6 output
    (7, 7, (3, 3), (1, 1), ((0, 0), (0, 0)), (2, 2)),      # fig. 5.1: dilation 2
    (9, 9, (3, 3), (3, 3), ((0, 0), (0, 0)), (2, 2)),      # dilation and stride: unread rows inside
    (8, 8, (2, 2), (3, 3), ((0, 0), (0, 0)), (1, 1)),      # stride > kernel: gaps between windows
    (7, 6, (3, 2), (2, 1), ((1, 2), (0, 1)), (1, 1)),      # per axis and asymmetric padding
    (10, 7, (1, 3), (4, 2), ((0, 0), (1, 1)), (1, 2)),     # 1×3 kernel, W dilated
    (6, 6, (4, 4), (1, 1), ((1, 2), (1, 2)), (1, 1)),      # even kernel, 'same' padding: PyTorch pads after
]


def _unfold_taps(n_h, n_w, k, s, pad, d):
    """PyTorch's answer: unfold an image whose pixels hold their own padded index."""
    (t, b), (l, r) = pad
    ph, pw = n_h + t + b, n_w + l + r
    ids = torch.arange(ph * pw, dtype=torch.float64).reshape(1, 1, ph, pw)
    cols = F.unfold(ids, kernel_size=k, dilation=d, stride=s)[0].long()  # (k_h·k_w, L)
    return [[(int(v) // pw, int(v) % pw) for v in cols[:, j]] for j in range(cols.shape[1])]


@pytest.mark.parametrize("case", CASES)
def test_window_positions_match_unfold(case):
    n_h, n_w, k, s, pad, d = case
    wins = sliding.window_positions(n_h, n_w, k, s, pad, d)
    assert [list(w.taps) for w in wins] == _unfold_taps(*case)
    # output grid shape = PyTorch's conv on the explicitly padded input
    x = F.pad(torch.zeros(1, 1, n_h, n_w), (pad[1][0], pad[1][1], pad[0][0], pad[0][1]))
    oh, ow = F.conv2d(x, torch.zeros(1, 1, *k), stride=s, dilation=d).shape[-2:]
    assert [w.out for w in wins] == [(i, j) for i in range(oh) for j in range(ow)]


@pytest.mark.parametrize("case", [CASES[1], CASES[4], CASES[6], CASES[7]])
def test_padding_offset_with_one_hot_inputs(case):
    """Output (i, j) reads input pixel (y, x) ⇔ a conv of the one-hot image at (y, x) is non-zero at (i, j)."""
    n_h, n_w, k, s, pad, d = case
    (t, b), (l, r) = pad
    wins = sliding.window_positions(n_h, n_w, k, s, pad, d)
    for y in range(n_h):
        for x in range(n_w):
            img = torch.zeros(1, 1, n_h, n_w)
            img[0, 0, y, x] = 1
            out = F.conv2d(F.pad(img, (l, r, t, b)), torch.ones(1, 1, *k), stride=s, dilation=d)[0, 0]
            expected = {(int(i), int(j)) for i, j in (out > 0).nonzero()}
            assert {w.out for w in wins if (y + t, x + l) in w.taps} == expected


def test_symmetric_pad_forms_agree_with_torch_padding_argument():
    wins = sliding.window_positions(6, 6, 3, 2, 1)
    assert wins == sliding.window_positions(6, 6, (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1))
    out = F.conv2d(torch.zeros(1, 1, 6, 6), torch.zeros(1, 1, 3, 3), stride=2, padding=1)
    assert len(wins) == out.shape[-1] * out.shape[-2]


@pytest.mark.parametrize("n, k, s, p", [(32, 3, 2, 0), (6, 2, 3, 0), (7, 3, 2, 1), (5, 2, 2, 1), (10, 3, 4, 1)])
def test_ceil_mode_windows_match_avg_pool(n, k, s, p):
    """ceil_mode: the window count, the real pixels each reads (one-hot sums) and its size clipped to the padded
    input (PyTorch's avg-pool divisor with count_include_pad) all agree with PyTorch."""
    wins = sliding.window_positions(n, n, k, s, p, 1, ceil_mode=True)
    ones = torch.ones(1, 1, n, n, dtype=torch.float64)
    mean = F.avg_pool2d(ones, k, s, p, ceil_mode=True, count_include_pad=True)[0, 0]
    real = F.avg_pool2d(ones, k, s, p, ceil_mode=True, divisor_override=1)[0, 0]
    oh, ow = mean.shape
    assert len(wins) == oh * ow
    assert (oh, ow) == tuple(F.max_pool2d(ones, k, s, p, ceil_mode=True).shape[-2:])
    for w in wins:
        i, j = w.out
        inside = [(y, x) for y, x in w.taps if p <= y < p + n and p <= x < p + n]
        assert len(inside) == round(real[i, j].item())
        assert len(w.taps) == round(real[i, j].item() / mean[i, j].item())


def test_chart_has_one_rect_per_cell_and_shows_the_current_window():
    chart = sliding.sliding_window_chart(5, 5, 3, 2, 1, step=4)
    assert isinstance(chart, alt.Chart)
    data = chart.data
    assert len(data) == 7 * 7 + 3 * 3  # padded input 7×7 + output 3×3 (fig. 2.7)
    assert (data.grid == "padded input").sum() == 49 and (data.grid == "output").sum() == 9
    now = data[data.kind.str.startswith("read now")]
    assert sorted(zip(now.row, now.col)) == [(y, x) for y in (2, 3, 4) for x in (2, 3, 4)]  # output (1, 1)
    out = data[data.grid == "output"]
    assert list(out[out.kind == "output, now"][["row", "col"]].iloc[0]) == [1, 1]
    assert (out.kind == "output, done").sum() == 4
    assert (data.kind == "padding").sum() + (data.kind == "read now: padding").sum() == 49 - 25
    chart.to_dict()  # a valid Vega-Lite spec


def test_chart_dilation_gaps_and_unread_cells():
    data = sliding.sliding_window_chart(9, 9, 3, 3, 0, d=2, step=0).data
    now = data[data.kind == "read now: input"]
    assert sorted(zip(now.row, now.col)) == [(y, x) for y in (0, 2, 4) for x in (0, 2, 4)]
    unread = data[data.kind == "input, never read"]
    rows_unread = {r for r in range(9) if all((r, c) in set(zip(unread.row, unread.col)) for c in range(9))}
    assert rows_unread == {1, 6, 8}  # rows 0,2,4 and 3,5,7 are read (by hand)
    assert len(data) == 81 + 4


def test_figure_size_limits_and_small_size():
    # 32 + 2·4 = 40 cells: drawn; 32 + 2·5 = 42: not; 40×5 is cropped to its top-left 32 rows: drawn
    assert sliding.figure_fits(32, 32, 4) and not sliding.figure_fits(32, 32, 5) and sliding.figure_fits(40, 5, 0)
    m = sliding.small_size(64, 3, 2, 0, 0)
    assert m is not None and sliding.figure_fits(m, m, 0) and (64 - m) % 2 == 0
    assert sliding.small_size(64, 42, 1, 0, 0) is None  # a 42-pixel window never fits 40 cells


# ---- form ↔ layer ------------------------------------------------------------------------------------------

def fields(**kw):
    f = dict(calc.DEFAULTS, **kw)
    f.update(calc.normalize(f))
    return f


def test_default_fields_are_the_lab_conv():
    assert calc.layer_from_fields(fields()) == Conv(32, (5, 5), (1, 1), ((2, 2), (2, 2)), (1, 1))


@pytest.mark.parametrize("layer", [
    Conv(16, (3, 5), (2, 1), ((1, 2), (0, 3)), (1, 2), bias=False),
    Conv(8, (4, 4), (1, 1), ((1, 2), (1, 2))),
    Pool("max", (3, 3), (2, 2), (1, 1), (1, 1), ceil_mode=False),
    Pool("avg", (2, 3), None, (1, 0)),
])
def test_fields_round_trip(layer):
    mode = {"max": "Max pooling", "avg": "Average pooling"}.get(getattr(layer, "mode", None), "Convolution")
    f = fields(mode=mode)
    f.update(calc.fields_from_layer(layer))
    got = calc.layer_from_fields(f)
    if isinstance(layer, Pool):
        assert (got.kernel, got.strides, got.padding, got.dilation) == (
            layer.kernel, layer.strides, layer.padding, layer.dilation)
    else:
        assert got == layer


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("k, d", [(5, 1), (4, 1), (3, 2), (2, 3)])
def test_keep_size_matches_torch_same(k, d):
    f = fields(k_h=k, d_h=d, s_h=3)
    upd, notes = calc.keep_size(f)
    f.update(upd)
    layer = calc.layer_from_fields(f)
    (t, b), (l, r) = layer.padding
    torch.manual_seed(0)
    x, w = torch.randn(1, 3, 32, 32, dtype=torch.float64), torch.randn(1, 3, k, k, dtype=torch.float64)
    out = F.conv2d(F.pad(x, (l, r, t, b)), w, dilation=d)
    same = F.conv2d(x, w, padding="same", dilation=d)  # PyTorch's own rule: the extra pixel goes after
    assert out.shape[-2:] == (32, 32) and torch.allclose(out, same)
    assert analyze([layer], (3, 32, 32)).layers[0].out_shape == (32, 32, 32)
    assert ("extra pixel after" in notes[0]) == (d * (k - 1) % 2 == 1)


def test_keep_size_pooling_needs_an_odd_kernel():
    assert calc.keep_size(fields(mode="Max pooling", k_h=2))[0] is None
    upd, _ = calc.keep_size(fields(mode="Max pooling", k_h=3))
    assert upd["p_h"] == 1 and upd["s_h"] == 1


@pytest.mark.parametrize("mode, n_h, n_w", [("Convolution", 32, 32), ("Max pooling", 33, 20),
                                            ("Convolution", 7, 10)])
def test_halve_options_halve_in_torch(mode, n_h, n_w):
    options = calc.halve_options(fields(mode=mode, in_h=n_h, in_w=n_w))
    assert options
    for label, upd in options:
        f = fields(mode=mode, in_h=n_h, in_w=n_w)
        f.update(upd)
        layer = calc.layer_from_fields(f)
        x = torch.zeros(1, 1, n_h, n_w)
        if isinstance(layer, Pool):
            y = F.max_pool2d(x, layer.kernel, layer.strides, layer.padding)
        else:
            (t, b), (l, r) = layer.padding
            y = F.conv2d(F.pad(x, (l, r, t, b)), torch.zeros(1, 1, *layer.kernel), stride=layer.stride)
        assert tuple(y.shape[-2:]) == (-(-n_h // 2), -(-n_w // 2)), label
        assert analyze([layer], (1, n_h, n_w)).layers[0].status == "ok"  # every row read


def test_result_groups_hand_worked_lab_numbers():
    r = analyze([calc.layer_from_fields(fields())], (3, 32, 32)).layers[0]
    values = {row.label: row.value for g in calc.result_groups(r) for row in g.rows}
    assert values["Output size C×H×W"] == "32×32×32"
    assert values["Weights (no biases)"] == "2,400"          # 32·3·5·5
    assert values["Biases"] == "32"
    assert values["Weights + biases"] == "2,432"
    assert values["FC-equivalent weights"] == "100,663,296"  # (3·32·32)·(32·32·32)
    assert values["FC / shared"] == "41,943×"                 # 100,663,296 / 2,400 = 41,943.04
    assert values["Locally connected"] == "2,490,368"        # 32·32·2,432
    assert values["Locally conn. / shared"] == "1,024×"       # 32·32·2,400 / 2,400 = 32·32
    assert values["MACs"] == "2,457,600"                     # 32·32·2,400


def test_error_text_spells_out_the_padded_size():
    r = analyze([Conv(8, (40, 40), padding=((2, 2), (2, 2)))], (3, 32, 32)).layers[0]
    assert r.status == "error"
    assert "32 + 2 + 2 = 36" in calc.error_text(r)


def test_figure_misfit_names_what_is_too_big():
    """1×1 with p=20: 1 + 2·20 = 41 > 40 padded cells — the padding; a larger input is cropped, not refused."""
    assert sliding.figure_misfit(32, 32, 4) == ""                                   # 32 + 8 = 40: fits
    assert sliding.figure_misfit(1, 1, 20).endswith("this 1×1 input is 41×41 once padded. Try less padding.")
    assert sliding.figure_misfit(100, 5, 0) == ""                                   # cropped to 32×5


# ---- ratio cards: true value, stated denominator, never 0 for a non-zero ratio ------------------------------

def cards(r):
    return {row.label: row for g in calc.result_groups(r) for row in g.rows}


def test_output_size_is_c_h_w_as_pytorch():
    """16 filters, k=3, s=2, p=1 on a 3×20×28 input: PyTorch's out shape (16, 10, 14) is the card, in that order."""
    r = analyze([calc.layer_from_fields(fields(in_h=20, in_w=28, n=16, k_h=3, s_h=2, p_h=1))], (3, 20, 28)).layers[0]
    out = torch.nn.Conv2d(3, 16, 3, 2, 1)(torch.zeros(1, 3, 20, 28)).shape[1:]
    assert cards(r)["Output size C×H×W"].value == "×".join(map(str, out)) == "16×10×14"
    pool = analyze([Pool("max", (2, 2))], (5, 20, 28)).layers[0]
    assert cards(pool)["Output size C×H×W"].value == "5×10×14"    # pooling keeps C = 5, halves 20 and 28


def test_ratio_of_a_kernel_larger_than_the_input_from_the_issue():
    """3×5×5 input, k=9, p=2, N=32: o = ⌊(5 + 4 − 9)/1⌋ + 1 = 1; FC-equivalent (3·5·5)·(32·1·1) = 2,400;
    weights 32·3·9·9 = 7,776; 2,400 / 7,776 = 0.3086… → 0.309× (3 significant digits), never 0×."""
    conv = torch.nn.Conv2d(3, 32, 9, padding=2)
    out = conv(torch.zeros(1, 3, 5, 5))
    assert conv.weight.numel() == 7_776 and out[0].numel() == 32
    r = analyze([calc.layer_from_fields(fields(in_h=5, in_w=5, k_h=9, p_h=2))], (3, 5, 5)).layers[0]
    c = cards(r)
    assert c["FC-equivalent weights"].value == f"{3 * 5 * 5 * out[0].numel():,}" == "2,400"
    assert c["FC / shared"].value == "0.309×"
    assert c["FC / shared"].lines[0][1].endswith("2,400 / 7,776 \\approx 0.309")
    assert c["Locally conn. / shared"].value == "1×"        # o_H·o_W = 1·1
    caption = next(g.caption for g in calc.result_groups(r) if g.title == "What weight sharing saves")
    assert "only 0.309× as many" in caption and "k_H·k_W = 81" in caption and "H·W = 25" in caption


def test_both_ratios_state_one_denominator():
    r = analyze([calc.layer_from_fields(fields())], (3, 32, 32)).layers[0]
    c = cards(r)
    for label in ("FC / shared", "Locally conn. / shared"):
        assert "÷ this layer's weights (N·C·k_H·k_W; biases counted in neither)" in c[label].note


def test_no_output_gives_n_a_with_the_reason():
    """k=40 on 32 + 2 + 2 = 36 padded pixels: no output, so no ratio."""
    r = analyze([Conv(8, (40, 40), padding=((2, 2), (2, 2)))], (3, 32, 32)).layers[0]
    c = cards(r)
    for label in ("Output size C×H×W", "FC / shared", "Locally conn. / shared"):
        assert c[label].value == "n/a" and "no output" in c[label].note and "32 + 2 + 2 = 36" in c[label].note


def test_zero_denominator_is_n_a():
    assert calc.ratio_text(5, 0) == ("n/a", False) and calc.ratio_text(None, 3) == ("n/a", False)


def shown_value(text: str) -> Decimal:
    assert text.endswith("×"), text
    return Decimal(text[:-1].replace(",", ""))


def assert_true_ratio(text: str, num: int, den: int):
    """The card's text against num/den computed here: correctly rounded at its last digit, ≥ 3 significant digits
    (or exact), never 0 for a non-zero ratio, no scientific notation."""
    true = Fraction(num, den)
    assert re.fullmatch(r"\d{1,3}(,\d{3})*(\.\d+)?×", text), text
    shown = shown_value(text)
    decimals = -shown.as_tuple().exponent
    assert abs(Fraction(shown) - true) <= Fraction(1, 2 * 10 ** decimals), (text, float(true))
    assert shown > 0
    significant = len(str(shown).replace(".", "").lstrip("0"))
    assert Fraction(shown) == true or significant >= 3, (text, float(true))


@settings(max_examples=400, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 8), st.integers(1, 11), st.integers(0, 5),
       st.integers(1, 4), st.integers(1, 64))
@example(5, 5, 3, 9, 2, 1, 32)      # the issue's 0×
@example(32, 32, 3, 5, 2, 1, 32)    # the lab's conv1: 41,943×
@example(1, 1, 8, 11, 5, 4, 64)
def test_ratio_cards_sweep_against_the_formula(h, w, c, k, p, s, n):
    r = analyze([calc.layer_from_fields(fields(in_h=h, in_w=w, in_c=c, k_h=k, p_h=p, s_h=s, n=n))], (c, h, w)).layers[0]
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1      # H' = ⌊(H + 2p − k)/s⌋ + 1
    got = cards(r)
    if oh < 1 or ow < 1:
        assert got["FC / shared"].value == got["Locally conn. / shared"].value == "n/a"
        assert "no output" in got["FC / shared"].note
        return
    weights = n * c * k * k                                          # conv weights N·C·k·k
    fc = (c * h * w) * (n * oh * ow)                                 # (C·H·W)·(N·H'·W')
    assert got["Output size C×H×W"].value == f"{n}×{oh}×{ow}"
    assert got["Weights (no biases)"].value == f"{weights:,}" and got["FC-equivalent weights"].value == f"{fc:,}"
    assert_true_ratio(got["FC / shared"].value, fc, weights)
    assert got["Locally conn. / shared"].value == f"{oh * ow:,}×"   # o_H·o_W·weights / weights
    exact = Fraction(fc, weights) == Fraction(shown_value(got["FC / shared"].value))
    assert ("\\approx" not in got["FC / shared"].lines[0][1]) == exact


@pytest.mark.parametrize("num, den, text", [(1, 32, "0.0313"), (2_400, 7_776, "0.309"), (1, 2, "0.5"),
                                            (9_996, 1_000, "10.0"), (99_999, 1_000, "100"), (1_234, 1, "1,234"),
                                            (100_663_296, 2_400, "41,943"), (1, 1_024, "0.000977"), (0, 5, "0")])
def test_ratio_text_by_hand(num, den, text):
    """1/32 = 0.03125 → 0.0313; 9.996 → 10.0 (3 significant digits); 99.999 → 100; 1/1,024 = 0.0009765… ."""
    assert calc.ratio_text(num, den)[0] == text


def test_figure_subtitle_names_the_volumes_c_h_w():
    """Fig. 2.7 on a 3-channel input with 32 filters: one channel of 3×5×5 padded to 7×7, one of 32×3×3 drawn."""
    title = sliding.sliding_window_chart(5, 5, 3, 2, 1, step=0, channels=(3, 32)).to_dict()["title"]
    assert title["subtitle"] == ["left: one channel of the 3×5×5 (C×H×W) input, padded to 7×7",
                                 "right: one channel of the 32×3×3 output"]

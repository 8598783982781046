"""The calculator's view-model (cnncalc.classroom.calculator) and its sliding-window figure (cnncalc.draw.sliding)
against PyTorch: which padded-input cells each output reads (F.unfold on an image of cell
indices, one-hot convolutions, avg_pool2d counts for ceil_mode), and the form ↔ layer glue of the calculator."""
import altair as alt
import pytest
import torch
import torch.nn.functional as F

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
    assert sliding.figure_fits(16, 16, 4) and not sliding.figure_fits(17, 5, 0) and not sliding.figure_fits(16, 16, 5)
    m = sliding.small_size(32, 3, 2, 0, 0)
    assert m is not None and sliding.figure_fits(m, m, 0) and (32 - m) % 2 == 0
    assert sliding.small_size(32, 20, 1, 0, 0) is None  # a 20-pixel window never fits 16 + 0 rows


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
    assert values["Output size H×W×N"] == "32×32×32"
    assert values["Weights (no biases)"] == "2,400"          # 32·3·5·5
    assert values["Biases"] == "32"
    assert values["Weights + biases"] == "2,432"
    assert values["FC-equivalent weights"] == "100,663,296"  # (3·32·32)·(32·32·32)
    assert values["FC / shared"] == "41,943×"                 # 100,663,296 / 2,400 = 41,943.04
    assert values["Locally connected"] == "2,490,368"        # 32·32·2,432
    assert values["Locally conn. / shared"] == "1,024×"       # 32·32
    assert values["MACs"] == "2,457,600"                     # 32·32·2,400


def test_error_text_spells_out_the_padded_size():
    r = analyze([Conv(8, (40, 40), padding=((2, 2), (2, 2)))], (3, 32, 32)).layers[0]
    assert r.status == "error"
    assert "32 + 2 + 2 = 36" in calc.error_text(r)


def test_figure_misfit_names_what_is_too_big():
    """1×1 with p=20: 1 + 2·20 = 41 > 24 padded cells — the padding; 17×5: 17 > 16 — the input."""
    assert sliding.figure_misfit(16, 16, 4) == ""                                   # 16 + 8 = 24: fits
    assert sliding.figure_misfit(1, 1, 20).endswith("this 1×1 input is 41×41 once padded. Try less padding.")
    assert "this one is 17×5. Try a smaller input" in sliding.figure_misfit(17, 5, 0)

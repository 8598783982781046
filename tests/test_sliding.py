"""The kernel-sliding figure up to 32×32 (cnncalc.draw.sliding) against PyTorch: for convolution and pooling the
input positions each output reads (F.unfold on an image of cell indices), for the transposed mode
(Dumoulin & Visin's dilated, padded view) nn.ConvTranspose2d with one-hot inputs and one-hot kernels; the crop of
a larger input, its note, frame counts and the self-contained autoplay HTML."""
import json
import re

import pytest
import torch
import torch.nn.functional as F

from cnncalc.draw import sliding

# (n_h, n_w, k, s, pad ((top, bottom), (left, right)), d, ceil_mode)
CONV_32 = [
    (32, 32, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), False),   # 'same' 3×3: 1,024 steps
    (32, 32, (5, 5), (2, 2), ((2, 2), (2, 2)), (1, 1), False),
    (32, 32, (3, 3), (1, 1), ((0, 0), (0, 0)), (2, 2), False),   # dilated
    (32, 32, (2, 2), (2, 2), ((0, 0), (0, 0)), (1, 1), False),   # 2×2 pooling
    (31, 32, (3, 2), (2, 3), ((1, 1), (0, 0)), (1, 1), True),    # pooling, ceil_mode: a last partial window
    (32, 30, (4, 4), (1, 1), ((1, 2), (1, 2)), (1, 1), False),   # even kernel, 'same': PyTorch pads after
]


def _unfold_sets(n_h, n_w, k, s, pad, d, ceil_mode):
    """PyTorch's answer: for each output, the set of (padded) input positions it reads. ceil_mode's extra
    padding at the end is given to unfold, and its taps beyond the padded input dropped (as max_pool2d does)."""
    (t, b), (l, r) = pad
    ph, pw = n_h + t + b, n_w + l + r
    extra = [0, 0]
    if ceil_mode:  # the output size of max_pool2d decides how many windows there are
        oh, ow = F.max_pool2d(torch.zeros(1, 1, n_h, n_w), k, s, (t, l), d, ceil_mode=True).shape[-2:]
        extra = [max(0, (o - 1) * st + dd * (kk - 1) + 1 - p_) for o, st, dd, kk, p_ in
                 zip((oh, ow), s, d, k, (ph, pw))]
    ids = torch.full((1, 1, ph + extra[0], pw + extra[1]), -1.0, dtype=torch.float64)
    ids[0, 0, :ph, :pw] = torch.arange(ph * pw, dtype=torch.float64).reshape(ph, pw)
    cols = F.unfold(ids, kernel_size=k, dilation=d, stride=s)[0].long()
    return [{(int(v) // pw, int(v) % pw) for v in cols[:, j] if v >= 0} for j in range(cols.shape[1])]


def _figure_sets(fig):
    return [fig.window(step)[2] for step in range(fig.frames)]


@pytest.mark.parametrize("case", CONV_32)
def test_conv_and_pool_windows_at_32_match_unfold(case):
    n_h, n_w, k, s, pad, d, ceil_mode = case
    fig = sliding.conv_figure(n_h, n_w, k, s, pad, d, ceil_mode)
    assert not fig.misfit and not sliding.crop_note(fig)            # 32×32 (and its padding) drawn whole
    assert _figure_sets(fig) == _unfold_sets(*case)
    assert fig.frames == fig.h.out * fig.w.out == len(sliding.window_positions(n_h, n_w, k, s, pad, d, ceil_mode))


def test_40_by_40_is_cropped_to_its_top_left_32_by_32_with_a_note():
    k, s, pad, d = (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)
    fig = sliding.conv_figure(40, 40, k, s, pad, d)
    assert (len(fig.h.cells), len(fig.w.cells)) == (33, 33)          # 1 padding row + input rows 0–31
    assert fig.h.inputs_shown == fig.w.inputs_shown == 32 and fig.h.cropped
    full = _unfold_sets(40, 40, k, s, pad, d, False)                  # 40×40 outputs, row-major
    shown = [full[i * 40 + j] for i in range(31) for j in range(31)]  # windows ending by padded row 32
    assert _figure_sets(fig) == shown and fig.frames == 31 * 31
    assert all(max(y for y, _ in w) < 33 and max(x for _, x in w) < 33 for w in shown)
    note = sliding.crop_note(fig)
    assert "The input is 40×40" in note and "top-left 32×32 region" in note
    assert "input rows 0–31, cols 0–31" in note and "31×31 of the 40×40 output cells" in note


@pytest.mark.parametrize("n, k, s, p, frames", [(32, 3, 1, 1, 32 * 32), (32, 2, 2, 0, 16 * 16),
                                                (40, 3, 1, 0, 30 * 30), (40, 2, 2, 0, 16 * 16),
                                                (2048, 3, 2, 1, 16 * 16), (5, 3, 2, 1, 9)])
def test_frame_counts(n, k, s, p, frames):
    assert sliding.conv_figure(n, n, k, s, p).frames == frames


def test_padding_too_wide_or_window_too_big_is_not_drawn():
    assert "41×41 once padded. Try less padding" in sliding.conv_figure(1, 1, 3, 1, 20).misfit
    assert "No window fits" in sliding.conv_figure(2048, 2048, 32, 1, 0, 8).misfit


# ---- transposed: Dumoulin & Visin's view against nn.ConvTranspose2d -----------------------------------------

# (n_h, n_w, k, s, p, op, d)
TRANSPOSED = [(5, 5, (3, 3), (2, 2), (1, 1), (1, 1), (1, 1)),   # fig. 4.5-like: 10×10
              (4, 4, (3, 3), (1, 1), (0, 0), (0, 0), (1, 1)),   # fig. 4.1: full padding 2
              (7, 6, (4, 3), (2, 3), (1, 0), (0, 2), (1, 1)),   # per axis, output padding
              (5, 5, (3, 3), (1, 1), (3, 3), (0, 0), (1, 1)),   # p > k − 1: the dilated input is cropped
              (6, 6, (3, 3), (2, 2), (0, 0), (1, 1), (2, 2)),   # dilated kernel
              (32, 32, (3, 3), (1, 1), (1, 1), (0, 0), (1, 1))]  # 32×32, drawn whole


def _convT(case, weight):
    n_h, n_w, k, s, p, op, d = case
    conv = torch.nn.ConvTranspose2d(1, 1, k, s, p, op, bias=False, dilation=d).double()
    with torch.no_grad():
        conv.weight.copy_(weight.reshape(1, 1, *k))
    return conv


def _reads(fig, step):
    """The input cells (by their input index) and the kernel taps (a, b) of ``step``'s window."""
    i, j, _ = fig.window(step)
    return {(fig.h.index[y], fig.w.index[x]): (a, b) for a, y in enumerate(fig.h.taps[i])
            for b, x in enumerate(fig.w.taps[j]) if fig.h.index[y] is not None and fig.w.index[x] is not None}


@pytest.mark.parametrize("case", TRANSPOSED)
def test_transposed_view_matches_conv_transpose(case):
    """Output (i, j) reads input (y, x) ⇔ the gradient of output (i, j) w.r.t. the input is non-zero at (y, x)
    (all-ones kernel); its tap (a, b) ⇔ with a one-hot kernel at (k_h − 1 − a, k_w − 1 − b) (the flip)."""
    n_h, n_w, k, s, p, op, d = case
    fig = sliding.transposed_figure(n_h, n_w, k, s, p, op, d)
    out = _convT(case, torch.ones(k, dtype=torch.float64))(torch.zeros(1, 1, n_h, n_w, dtype=torch.float64)).shape[-2:]
    assert not fig.misfit and (fig.h.out, fig.w.out) == tuple(out) and fig.frames == out[0] * out[1]
    one_hot = {}
    for a in range(k[0]):
        for b in range(k[1]):
            w = torch.zeros(k, dtype=torch.float64)
            w[k[0] - 1 - a, k[1] - 1 - b] = 1
            one_hot[a, b] = _convT(case, w)
    ones = _convT(case, torch.ones(k, dtype=torch.float64))
    steps = range(fig.frames) if fig.frames <= 100 else range(0, fig.frames, 37)
    for step in steps:
        i, j, _ = fig.window(step)
        inp = torch.zeros(1, 1, n_h, n_w, dtype=torch.float64, requires_grad=True)
        ones(inp)[0, 0, i, j].backward()
        grad = {(int(y), int(x_)) for y, x_ in (inp.grad[0, 0] != 0).nonzero()}
        reads = _reads(fig, step)
        assert set(reads) == grad
        for (y, x_), tap in reads.items():
            e = torch.zeros(1, 1, n_h, n_w, dtype=torch.float64)
            e[0, 0, y, x_] = 1
            assert one_hot[tap](e)[0, 0, i, j] == 1


def test_transposed_grid_is_the_dilated_padded_input():
    """n = 5, s = 2, k = 3, p = 1, op = 1: 5 inputs with 1 zero between → 9, padded by 3 − 1 − 1 = 1 before and
    1 + 1 after → 12 cells, the 10 outputs each read 3 consecutive cells (stride 1)."""
    fig = sliding.transposed_figure(5, 5, 3, 2, 1, 1)
    assert fig.h.cells == ("padding",) + ("input", "zero") * 4 + ("input", "padding", "padding")
    assert fig.h.taps == tuple((i, i + 1, i + 2) for i in range(10))
    assert fig.base_kind(2, 1) == "inserted zero" and fig.base_kind(0, 1) == "padding"
    assert fig.base_kind(1, 3) == "input" and not sliding.crop_note(fig)


def test_transposed_32_stride_2_is_cropped_with_a_note():
    fig = sliding.transposed_figure(32, 32, 4, 2, 1)                  # 63 + 2·2 = 67 cells a side
    assert len(fig.h.cells) == sliding.FIGURE_MAX_PADDED and fig.h.grid == 67 and fig.h.out == 64
    note = sliding.crop_note(fig)
    assert "67×67 cells" in note and "top-left 40×40" in note and "of the 64×64 output cells" in note


# ---- the pictures --------------------------------------------------------------------------------------------

def test_chart_at_32_by_32_and_the_autoplay_html():
    fig = sliding.conv_figure(32, 32, 3, 1, 1)
    chart = sliding.figure_chart(fig, 500, channels=(3, 32))
    data = chart.data
    assert len(data) == 34 * 34 + 32 * 32 and (data.kind == "output, now").sum() == 1
    assert chart.to_dict()["title"]["text"] == "Step 501 of 1024: computing output row 15, col 20"
    html, height = sliding.figure_html(fig, 10, fps=4, playing=True)
    assert "<script>" in html and "http" not in html.replace("http://www.w3.org/2000/svg", "")  # no network
    data = json.loads(re.search(r"const D = (\{.*?\}), NS", html).group(1))
    assert data["frames"] == 1024 and data["step"] == 10 and data["fps"] == 4 and data["playing"]
    assert len(data["base"]) == 34 * 34 and len(data["rows"]) == len(data["cols"]) == 32 and height > 34 * 8
    crop = sliding.figure_chart(sliding.conv_figure(40, 40, 3, 1, 0), 0).to_dict()["title"]["text"]
    assert crop == "Step 1 of 900 shown: computing output row 0, col 0"

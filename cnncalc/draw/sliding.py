"""The sliding-window figure, as in Dumoulin & Visin's conv_arithmetic animations ("A guide to convolution
arithmetic for deep learning", 2016): :func:`window_positions` lists, for every output cell, the cells of the
*padded* input that the kernel's taps read; :func:`sliding_window_chart` draws one step of it (Altair)."""
from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import pandas as pd

from ..layers import Pad, Pair, pair
from ..shapes import pool_axis

Cell = tuple[int, int]

FIGURE_MAX_INPUT = 16
"""The figure is drawn when the input is at most this many rows and columns …"""
FIGURE_MAX_PADDED = 24
"""… and at most this many once padded (beyond, the cells get too small to read on a projector)."""


@dataclass(frozen=True)
class Window:
    """One output cell and the padded-input cells its kernel taps read (row 0 = the first padding row)."""

    out: Cell
    taps: tuple[Cell, ...]


def as_pad(pad: int | Pair | Pad) -> Pad:
    """``2`` → ((2, 2), (2, 2)); ``(1, 2)`` → ((1, 1), (2, 2)); ((top, bottom), (left, right)) unchanged."""
    if isinstance(pad, int):
        return ((pad, pad), (pad, pad))
    h, w = pad
    return tuple((v, v) if isinstance(v, int) else (int(v[0]), int(v[1])) for v in (h, w))  # type: ignore


def _axis_starts(n: int, k: int, s: int, before: int, after: int, d: int, ceil_mode: bool) -> list[list[int]]:
    """Per output index along one axis, the padded positions its taps read (taps past the padded input,
    which only ceil_mode's last window can have, read nothing and are left out, as in PyTorch)."""
    padded = n + before + after
    if ceil_mode:
        out = pool_axis(n, k, s, before, d, True).size
    else:
        out = (padded - d * (k - 1) - 1) // s + 1
    return [[i * s + j * d for j in range(k) if i * s + j * d < padded] for i in range(max(out, 0))]


def window_positions(n_h: int, n_w: int, k: int | Pair, s: int | Pair, pad: int | Pair | Pad,
                     d: int | Pair = 1, ceil_mode: bool = False) -> list[Window]:
    """Every output cell (row-major) with the padded-input cells its taps read, row-major over the kernel.

    ``pad`` is symmetric (``p`` or ``(p_H, p_W)``) or ((top, bottom), (left, right)); ``ceil_mode`` is
    pooling's (symmetric padding only). A dilated kernel's taps are ``d`` cells apart, so they leave gaps.
    """
    (kh, kw), (sh, sw), (dh, dw), ((t, b), (l, r)) = pair(k), pair(s), pair(d), as_pad(pad)
    rows = _axis_starts(n_h, kh, sh, t, b, dh, ceil_mode)
    cols = _axis_starts(n_w, kw, sw, l, r, dw, ceil_mode)
    return [Window((i, j), tuple((y, x) for y in ys for x in xs))
            for i, ys in enumerate(rows) for j, xs in enumerate(cols)]


def figure_misfit(n_h: int, n_w: int, pad: int | Pair | Pad) -> str:
    """Why the figure is not drawn, naming what is too big — the input or its padding ('' when it fits)."""
    ((t, b), (l, r)) = as_pad(pad)
    ph, pw = n_h + t + b, n_w + l + r
    limits = (f"The figure is drawn for inputs up to {FIGURE_MAX_INPUT}×{FIGURE_MAX_INPUT} "
              f"({FIGURE_MAX_PADDED}×{FIGURE_MAX_PADDED} once padded); ")
    if max(n_h, n_w) > FIGURE_MAX_INPUT:
        return limits + f"this one is {n_h}×{n_w}. Try a smaller input: the window moves the same way."
    if max(ph, pw) > FIGURE_MAX_PADDED:
        return limits + f"this {n_h}×{n_w} input is {ph}×{pw} once padded. Try less padding."
    return ""


def figure_fits(n_h: int, n_w: int, pad: int | Pair | Pad) -> bool:
    return not figure_misfit(n_h, n_w, pad)


def small_size(n: int, k: int, s: int, before: int, after: int, d: int = 1) -> int | None:
    """An input size that fits the figure, close to 7, with the same remainder modulo the stride as ``n``
    (so the same number of last rows goes unread), and a window that fits; None if there is none."""
    ok = [m for m in range(1, FIGURE_MAX_INPUT + 1) if m + before + after <= FIGURE_MAX_PADDED
          and m + before + after >= d * (k - 1) + 1 and (n - m) % s == 0]
    return min(ok, key=lambda m: (abs(m - 7), m)) if ok else None


KINDS = {  # cell kind → colour; dark = read by the current window, as in the conv_arithmetic figures
    "padding": "#dedede", "input": "#9ecae1", "input, never read": "#fdae6b",
    "read now: padding": "#525252", "read now: input": "#08519c",
    "output, done": "#a1d99b", "output, now": "#006d2c", "output, to come": "#e5f5e0"}
GAP = 2  # empty columns between the two grids


def sliding_window_frame(n_h: int, n_w: int, k: int | Pair, s: int | Pair, pad: int | Pair | Pad,
                         d: int | Pair = 1, step: int = 0, ceil_mode: bool = False) -> pd.DataFrame:
    """One row per cell: the padded input (left) then the output (right), at ``step`` (0-based)."""
    ((t, b), (l, r)) = as_pad(pad)
    wins = window_positions(n_h, n_w, k, s, pad, d, ceil_mode)
    ph, pw = n_h + t + b, n_w + l + r
    oh = 1 + max((w.out[0] for w in wins), default=-1)
    ow = 1 + max((w.out[1] for w in wins), default=-1)
    step = min(max(step, 0), len(wins) - 1) if wins else 0
    now = set(wins[step].taps) if wins else set()
    read = {cell for w in wins for cell in w.taps}
    top = (ph - oh) / 2  # the output grid is centred vertically beside the input
    cells = []
    for y in range(ph):
        for x in range(pw):
            inside = t <= y < t + n_h and l <= x < l + n_w
            kind = ("read now: " if (y, x) in now else "") + ("input" if inside else "padding")
            if inside and kind == "input" and (y, x) not in read:
                kind = "input, never read"
            cells.append(dict(grid="padded input", row=y, col=x, x=x, y=y, kind=kind,
                              cell=f"input row {y - t}, col {x - l}" if inside else "padding (zero)"))
    for i in range(oh):
        for j in range(ow):
            index = i * ow + j
            kind = "output, now" if index == step else "output, done" if index < step else "output, to come"
            cells.append(dict(grid="output", row=i, col=j, x=pw + GAP + j, y=top + i, kind=kind,
                              cell=f"output row {i}, col {j}"))
    frame = pd.DataFrame(cells)
    frame["x2"], frame["y2"] = frame["x"] + 1, frame["y"] + 1
    return frame


def _subtitle(n_h: int, n_w: int, ph: int, pw: int, oh: int, ow: int,
              channels: tuple[int, int] | None) -> str | list[str]:
    if channels is None:
        return f"left: the {n_h}×{n_w} (H×W) input padded to {ph}×{pw} · right: the {oh}×{ow} output"
    c, n = channels  # shapes in C×H×W, PyTorch's order; one channel of each volume is drawn
    return [f"left: one channel of the {c}×{n_h}×{n_w} (C×H×W) input, padded to {ph}×{pw}",
            f"right: one channel of the {n}×{oh}×{ow} output"]


def sliding_window_chart(n_h: int, n_w: int, k: int | Pair, s: int | Pair, pad: int | Pair | Pad,
                         d: int | Pair = 1, step: int = 0, ceil_mode: bool = False, cell_px: int | None = None,
                         channels: tuple[int, int] | None = None) -> alt.Chart:
    """The padded input beside the output, the current window's taps and output cell dark (one rect each).
    ``channels`` = (input C, output channels) names the volumes C×H×W in the subtitle (one channel is drawn)."""
    frame = sliding_window_frame(n_h, n_w, k, s, pad, d, step, ceil_mode)
    ((t, b), (l, r)) = as_pad(pad)
    ph, pw = n_h + t + b, n_w + l + r
    out = frame[frame.grid == "output"]
    oh, ow = (out.row.max() + 1, out.col.max() + 1) if len(out) else (0, 0)
    width, height = pw + GAP + ow, max(ph, oh)
    cell_px = cell_px or max(14, min(36, 900 // max(width, 1)))
    present = [kind for kind in KINDS if kind in set(frame.kind)]
    total = oh * ow
    now = "" if not total else f"computing output row {min(step, total - 1) // ow}, col {min(step, total - 1) % ow}"
    return alt.Chart(frame).mark_rect(stroke="white", strokeWidth=2).encode(
        x=alt.X("x:Q", axis=None, scale=alt.Scale(domain=[0, width], nice=False)), x2="x2:Q",
        y=alt.Y("y:Q", axis=None, scale=alt.Scale(domain=[0, height], reverse=True, nice=False)), y2="y2:Q",
        color=alt.Color("kind:N", scale=alt.Scale(domain=present, range=[KINDS[kd] for kd in present]),
                        legend=alt.Legend(title=None, orient="right", labelFontSize=15, symbolSize=300,
                                          labelLimit=0, rowPadding=6)),
        tooltip=["cell:N", "kind:N"],
    ).properties(
        width=cell_px * width, height=cell_px * height, autosize=alt.AutoSizeParams(type="pad"),  # square cells
        title=alt.TitleParams(
            f"Step {min(step, max(total - 1, 0)) + 1} of {total}: {now}", fontSize=18, anchor="start",
            subtitle=_subtitle(n_h, n_w, ph, pw, oh, ow, channels),
            subtitleFontSize=14))


__all__ = ["Window", "window_positions", "sliding_window_frame", "sliding_window_chart", "figure_fits",
           "figure_misfit", "small_size", "as_pad"]

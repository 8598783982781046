"""The sliding-window figure, as in Dumoulin & Visin's conv_arithmetic animations ("A guide to convolution
arithmetic for deep learning", 2016): :func:`window_positions` lists, for every output cell, the cells of the
*padded* input that the kernel's taps read; :func:`conv_figure` / :func:`transposed_figure` describe the figure
(cropped to the top-left of a large input), :func:`figure_chart` draws one step of it (Altair) and
:func:`figure_html` all of its steps as a self-contained SVG animation (inline JavaScript, no network), so that
autoplay costs the server nothing per frame."""
from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import takewhile

import altair as alt
import pandas as pd

from ..layers import Pad, Pair, pair
from ..shapes import pool_axis

Cell = tuple[int, int]

FIGURE_MAX_INPUT = 32
"""The figure draws inputs of up to this many rows and columns whole; a larger input is cropped to its top-left
FIGURE_MAX_INPUT × FIGURE_MAX_INPUT region (the outputs whose windows lie inside it are shown) …"""
FIGURE_MAX_PADDED = 40
"""… and at most this many cells per axis once padded (or dilated and padded, for a transposed convolution;
beyond, the cells get too small to read on a projector)."""


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


def _padded_view(n_h: int, n_w: int, pad: int | Pair | Pad) -> tuple[int, int]:
    """Rows and columns of the padded input the figure shows: all of them, or the top/left padding and the first
    FIGURE_MAX_INPUT input cells along an axis longer than that (the crop)."""
    ((t, b), (l, r)) = as_pad(pad)
    return tuple(before + (n if n <= FIGURE_MAX_INPUT else FIGURE_MAX_INPUT) + (after if n <= FIGURE_MAX_INPUT else 0)
                 for n, before, after in ((n_h, t, b), (n_w, l, r)))  # type: ignore


def figure_misfit(n_h: int, n_w: int, pad: int | Pair | Pad) -> str:
    """Why the figure is not drawn — its padding is too big ('' when it is drawn, maybe cropped)."""
    ((t, b), (l, r)) = as_pad(pad)
    vh, vw = _padded_view(n_h, n_w, pad)
    if max(vh, vw) <= FIGURE_MAX_PADDED:
        return ""
    return (f"The figure is drawn for inputs up to {FIGURE_MAX_INPUT}×{FIGURE_MAX_INPUT} "
            f"({FIGURE_MAX_PADDED}×{FIGURE_MAX_PADDED} once padded; a larger input is cropped to its top-left "
            f"{FIGURE_MAX_INPUT}×{FIGURE_MAX_INPUT}); this {n_h}×{n_w} input is {n_h + t + b}×{n_w + l + r} "
            "once padded. Try less padding.")


def figure_fits(n_h: int, n_w: int, pad: int | Pair | Pad) -> bool:
    return not figure_misfit(n_h, n_w, pad)


def small_size(n: int, k: int, s: int, before: int, after: int, d: int = 1) -> int | None:
    """An input size that fits the figure, close to 7, with the same remainder modulo the stride as ``n``
    (so the same number of last rows goes unread), and a window that fits; None if there is none."""
    ok = [m for m in range(1, FIGURE_MAX_INPUT + 1) if m + before + after <= FIGURE_MAX_PADDED
          and m + before + after >= d * (k - 1) + 1 and (n - m) % s == 0]
    return min(ok, key=lambda m: (abs(m - 7), m)) if ok else None


# ---- the figure: one axis at a time (a window is the product of its row taps and its column taps) -----------

@dataclass(frozen=True)
class AxisView:
    """One axis of the figure. ``cells``: per grid position shown, "padding", "zero" (inserted by a transposed
    convolution's stride), "input" or "unread" (input no window reads); ``index``: its input index or None;
    ``taps``: per output index shown, the grid positions its kernel taps read."""

    cells: tuple[str, ...]
    index: tuple[int | None, ...]
    taps: tuple[tuple[int, ...], ...]
    n: int          # input size
    out: int        # output size (all of it)
    grid: int       # grid size (all of it): padded, or dilated and padded

    @property
    def cropped(self) -> bool:
        return len(self.cells) < self.grid

    @property
    def inputs_shown(self) -> int:
        return sum(i is not None for i in self.index)


def _axis(cells: list[str], index: list, full: list[list[int]], end: int, n: int) -> AxisView:
    read = {g for w in full for g in w}
    cells = [("unread" if c == "input" and g not in read else c) for g, c in enumerate(cells)]
    taps = tuple(tuple(w) for w in takewhile(lambda w: w and max(w) < end, full))
    return AxisView(tuple(cells[:end]), tuple(index[:end]), taps, n, len(full), len(cells))


def conv_axis(n: int, k: int, s: int, before: int, after: int, d: int = 1, ceil_mode: bool = False) -> AxisView:
    """A convolution's or pooling's axis: the padded input, cropped to ``before`` + FIGURE_MAX_INPUT cells."""
    padded = n + before + after
    cells = ["input" if before <= g < before + n else "padding" for g in range(padded)]
    index = [g - before if c == "input" else None for g, c in enumerate(cells)]
    end = padded if n <= FIGURE_MAX_INPUT else before + FIGURE_MAX_INPUT
    return _axis(cells, index, _axis_starts(n, k, s, before, after, d, ceil_mode), end, n)


def transposed_axis(n: int, k: int, s: int, p: int, op: int = 0, d: int = 1) -> AxisView:
    """A transposed convolution's axis as Dumoulin & Visin draw it: the input dilated by s − 1 zeros, padded by
    q = d·(k − 1) − p before and q + op after, a stride-1 kernel over it (q < 0 crops the dilated input)."""
    dil, q = (n - 1) * s + 1, d * (k - 1) - p
    lead, off = max(q, 0), max(-q, 0)
    grid = lead + dil + max(q + op, 0)
    cells = ["padding" if not 0 <= g - lead < dil else "input" if (g - lead) % s == 0 else "zero" for g in range(grid)]
    index = [(g - lead) // s if c == "input" else None for g, c in enumerate(cells)]
    out = dil + 2 * q + op - d * (k - 1)  # = (n − 1)·s − 2p + d·(k − 1) + op + 1
    full = [[i + j * d + off for j in range(k)] for i in range(max(out, 0))]
    whole = n <= FIGURE_MAX_INPUT and grid <= FIGURE_MAX_PADDED
    end = grid if whole else min(lead + (min(n, FIGURE_MAX_INPUT) - 1) * s + 1, FIGURE_MAX_PADDED)
    return _axis(cells, index, full, end, n)


@dataclass(frozen=True)
class Figure:
    """The figure's two axes; ``misfit`` says why nothing is drawn ('' when it is)."""

    h: AxisView
    w: AxisView
    transposed: bool = False
    misfit: str = ""

    @property
    def frames(self) -> int:  # one per output cell shown
        return len(self.h.taps) * len(self.w.taps)

    @property
    def shown_out(self) -> tuple[int, int]:
        return len(self.h.taps), len(self.w.taps)

    def base_kind(self, y: int, x: int) -> str:
        a, b = self.h.cells[y], self.w.cells[x]
        if "padding" in (a, b):
            return "padding"
        if "zero" in (a, b):
            return "inserted zero"
        return "input, never read" if "unread" in (a, b) else "input"

    def window(self, step: int) -> tuple[int, int, set[Cell]]:
        """The output cell (row, col) of ``step`` (clamped) and the grid cells its taps read."""
        step = min(max(step, 0), self.frames - 1)
        i, j = divmod(step, len(self.w.taps))
        return i, j, {(y, x) for y in self.h.taps[i] for x in self.w.taps[j]}


def _misfit_window(fig: Figure) -> Figure:
    if fig.misfit or fig.frames:
        return fig
    span = "×".join(str(len(a.cells)) for a in (fig.h, fig.w))
    return Figure(fig.h, fig.w, fig.transposed, f"No window fits in the {span} cells the figure shows (the "
                  "kernel spans more than them): try a smaller kernel or dilation to see it slide.")


def conv_figure(n_h: int, n_w: int, k: int | Pair, s: int | Pair, pad: int | Pair | Pad, d: int | Pair = 1,
                ceil_mode: bool = False) -> Figure:
    """Convolution or pooling: the padded input, cropped to its top-left 32×32 input cells when larger."""
    (kh, kw), (sh, sw), (dh, dw), ((t, b), (l, r)) = pair(k), pair(s), pair(d), as_pad(pad)
    fig = Figure(conv_axis(n_h, kh, sh, t, b, dh, ceil_mode), conv_axis(n_w, kw, sw, l, r, dw, ceil_mode),
                 misfit=figure_misfit(n_h, n_w, pad))
    return _misfit_window(fig)


def transposed_figure(n_h: int, n_w: int, k: int | Pair, s: int | Pair, p: int | Pair, op: int | Pair = 0,
                      d: int | Pair = 1) -> Figure:
    """Transposed convolution, Dumoulin & Visin's view (dilated and padded input, stride-1 kernel)."""
    axes = [transposed_axis(*args) for args in zip((n_h, n_w), pair(k), pair(s), pair(p), pair(op), pair(d))]
    return _misfit_window(Figure(axes[0], axes[1], True))


def crop_note(fig: Figure) -> str:
    """What a cropped figure shows ('' when it shows everything)."""
    h, w = fig.h, fig.w
    if fig.misfit or not (h.cropped or w.cropped):
        return ""
    (oh, ow), total = fig.shown_out, f"{h.out}×{w.out}"
    if fig.transposed:
        what = (f"The input dilated and padded is {h.grid}×{w.grid} cells: the figure shows its top-left "
                f"{len(h.cells)}×{len(w.cells)} (input rows 0–{h.inputs_shown - 1}, cols 0–{w.inputs_shown - 1}"
                + (", with the zeros between them)" if "zero" in h.cells + w.cells else ")"))
    else:
        what = (f"The input is {h.n}×{w.n}: the figure shows its top-left {h.inputs_shown}×{w.inputs_shown} region "
                f"(input rows 0–{h.inputs_shown - 1}, cols 0–{w.inputs_shown - 1}"
                + (", with the padding before them)" if "padding" in (h.cells[0], w.cells[0]) else ")"))
    return f"{what} and the {oh}×{ow} of the {total} output cells whose windows lie inside it."


KINDS = {  # cell kind → colour; dark = read by the current window, as in the conv_arithmetic figures
    "padding": "#dedede", "inserted zero": "#f2f2f2", "input": "#9ecae1", "input, never read": "#fdae6b",
    "read now: padding": "#525252", "read now: inserted zero": "#969696", "read now: input": "#08519c",
    "output, done": "#a1d99b", "output, now": "#006d2c", "output, to come": "#e5f5e0"}
DARK = {"padding": "read now: padding", "inserted zero": "read now: inserted zero", "input": "read now: input",
        "input, never read": "read now: input"}
GAP = 2  # empty columns between the two grids


def _cell_label(fig: Figure, y: int, x: int, kind: str) -> str:
    if kind.startswith("input"):
        return f"input row {fig.h.index[y]}, col {fig.w.index[x]}"
    return "inserted zero (stride)" if kind == "inserted zero" else "padding (zero)"


def figure_frame(fig: Figure, step: int = 0) -> pd.DataFrame:
    """One row per cell: the (padded, cropped) input grid (left) then the output cells shown (right)."""
    gh, gw = len(fig.h.cells), len(fig.w.cells)
    (oh, ow) = fig.shown_out
    i_now, j_now, now = fig.window(step) if fig.frames else (0, 0, set())
    step = i_now * ow + j_now
    top = (gh - oh) / 2  # the output grid is centred vertically beside the input
    cells = []
    for y in range(gh):
        for x in range(gw):
            base = fig.base_kind(y, x)
            cells.append(dict(grid="padded input", row=y, col=x, x=x, y=y, kind=DARK[base] if (y, x) in now else base,
                              cell=_cell_label(fig, y, x, base)))
    for i in range(oh):
        for j in range(ow):
            index = i * ow + j
            kind = "output, now" if index == step else "output, done" if index < step else "output, to come"
            cells.append(dict(grid="output", row=i, col=j, x=gw + GAP + j, y=top + i, kind=kind,
                              cell=f"output row {i}, col {j}"))
    frame = pd.DataFrame(cells)
    frame["x2"], frame["y2"] = frame["x"] + 1, frame["y"] + 1
    return frame


def sliding_window_frame(n_h: int, n_w: int, k: int | Pair, s: int | Pair, pad: int | Pair | Pad,
                         d: int | Pair = 1, step: int = 0, ceil_mode: bool = False) -> pd.DataFrame:
    """One row per cell: the padded input (left) then the output (right), at ``step`` (0-based)."""
    return figure_frame(conv_figure(n_h, n_w, k, s, pad, d, ceil_mode), step)


def _subtitle(fig: Figure, channels: tuple[int, int] | None) -> list[str]:
    h, w = fig.h, fig.w
    grid, out = f"{h.grid}×{w.grid}", f"{h.out}×{w.out}"
    if channels is None:
        size, outs = f"the {h.n}×{w.n} (H×W) input", f"the {out} output"
    else:  # shapes in C×H×W, PyTorch's order; one channel of each volume is drawn
        size, outs = f"one channel of the {channels[0]}×{h.n}×{w.n} (C×H×W) input", \
            f"one channel of the {channels[1]}×{out} output"
    if fig.transposed:
        return [f"left: {size}, dilated by s − 1 zeros and padded by d·(k − 1) − p to {grid}; a stride-1 kernel",
                f"right: {outs}"]
    return [f"left: {size}, padded to {grid}", f"right: {outs}"]


def step_title(fig: Figure, step: int) -> str:
    i, j, _ = fig.window(step)
    shown = "" if fig.frames == fig.h.out * fig.w.out else " shown"
    return f"Step {i * fig.shown_out[1] + j + 1} of {fig.frames}{shown}: computing output row {i}, col {j}"


def cell_size(fig: Figure, max_px: int = 900) -> int:
    width = len(fig.w.cells) + GAP + fig.shown_out[1]
    return max(8, min(36, max_px // max(width, 1)))


def figure_chart(fig: Figure, step: int = 0, cell_px: int | None = None,
                 channels: tuple[int, int] | None = None) -> alt.Chart:
    """The grid beside the output, the current window's taps and output cell dark (one rect each)."""
    frame = figure_frame(fig, step)
    width, height = len(fig.w.cells) + GAP + fig.shown_out[1], max(len(fig.h.cells), fig.shown_out[0])
    cell_px = cell_px or cell_size(fig)
    present = [kind for kind in KINDS if kind in set(frame.kind)]
    return alt.Chart(frame).mark_rect(stroke="white", strokeWidth=1 if cell_px < 16 else 2).encode(
        x=alt.X("x:Q", axis=None, scale=alt.Scale(domain=[0, width], nice=False)), x2="x2:Q",
        y=alt.Y("y:Q", axis=None, scale=alt.Scale(domain=[0, height], reverse=True, nice=False)), y2="y2:Q",
        color=alt.Color("kind:N", scale=alt.Scale(domain=present, range=[KINDS[kd] for kd in present]),
                        legend=alt.Legend(title=None, orient="right", labelFontSize=15, symbolSize=300,
                                          labelLimit=0, rowPadding=6)),
        tooltip=["cell:N", "kind:N"],
    ).properties(
        width=cell_px * width, height=cell_px * height, autosize=alt.AutoSizeParams(type="pad"),  # square cells
        title=alt.TitleParams(step_title(fig, step) if fig.frames else "No output", fontSize=18, anchor="start",
                              subtitle=_subtitle(fig, channels), subtitleFontSize=14))


def sliding_window_chart(n_h: int, n_w: int, k: int | Pair, s: int | Pair, pad: int | Pair | Pad,
                         d: int | Pair = 1, step: int = 0, ceil_mode: bool = False, cell_px: int | None = None,
                         channels: tuple[int, int] | None = None) -> alt.Chart:
    """The padded input beside the output, the current window's taps and output cell dark (one rect each).
    ``channels`` = (input C, output channels) names the volumes C×H×W in the subtitle (one channel is drawn)."""
    return figure_chart(conv_figure(n_h, n_w, k, s, pad, d, ceil_mode), step, cell_px, channels)


_HTML = """<style>body{margin:0}</style><div style="font-family:'Source Sans Pro',sans-serif;color:#262730">
<div id="t" style="font-size:18px;font-weight:600"></div><div style="font-size:14px;color:#555">%(sub)s</div>
<div style="font-size:14px;margin:4px 0 6px 0">%(legend)s</div>
<svg id="g" width="%(w)d" height="%(h)d" role="img" aria-label="kernel sliding animation"></svg></div>
<script>
const D = %(data)s, NS = "http://www.w3.org/2000/svg", svg = document.getElementById("g");
const title = document.getElementById("t"), c = D.cell, ins = [], outs = [];
function rect(x, y, kind) {
  const r = document.createElementNS(NS, "rect");
  r.setAttribute("x", x * c); r.setAttribute("y", y * c); r.setAttribute("width", c - D.stroke);
  r.setAttribute("height", c - D.stroke); r.setAttribute("fill", D.colours[kind]); r.dataset.k = kind;
  svg.appendChild(r); return r;
}
for (let y = 0; y < D.gh; y++) for (let x = 0; x < D.gw; x++) ins.push(rect(x, y, D.kinds[D.base[y * D.gw + x]]));
for (let i = 0; i < D.oh; i++) for (let j = 0; j < D.ow; j++) outs.push(rect(D.gw + D.gap + j, D.top + i, "output, to come"));
let lit = [], step = D.step, hold = 0;
function show(s) {
  for (const r of lit) r.setAttribute("fill", D.colours[r.dataset.k]);
  const i = Math.floor(s / D.ow), j = s %% D.ow;
  lit = [];
  for (const y of D.rows[i]) for (const x of D.cols[j]) {
    const r = ins[y * D.gw + x]; r.setAttribute("fill", D.colours[D.dark[r.dataset.k]]); lit.push(r);
  }
  outs.forEach((r, n) => r.setAttribute("fill", D.colours[n < s ? "output, done" : n === s ? "output, now" : "output, to come"]));
  title.textContent = "Step " + (s + 1) + " of " + D.frames + D.shown + ": computing output row " + i + ", col " + j
    + (D.playing ? "  ▶ playing" : "");
}
show(step);
if (D.playing && D.frames > 1) setInterval(() => {
  if (step === D.frames - 1 && hold++ < D.hold) return;  // a short pause on the finished output, then again
  hold = 0; step = (step + 1) %% D.frames; show(step);
}, 1000 / D.fps);
</script>"""


def figure_html(fig: Figure, step: int = 0, fps: float = 2.0, playing: bool = True, cell_px: int | None = None,
                channels: tuple[int, int] | None = None, max_px: int = 900) -> tuple[str, int]:
    """Every step of the figure as one self-contained HTML page (inline SVG and JavaScript, no network): the
    browser advances the window ``fps`` times a second from ``step``, looping — no server work per frame.
    Returns (html, height in pixels)."""
    (oh, ow), gh, gw = fig.shown_out, len(fig.h.cells), len(fig.w.cells)
    cell = cell_px or cell_size(fig, max_px)
    kinds = list(KINDS)
    data = dict(gh=gh, gw=gw, oh=oh, ow=ow, gap=GAP, top=(gh - oh) / 2, cell=cell, stroke=1 if cell < 16 else 2,
                base=[kinds.index(fig.base_kind(y, x)) for y in range(gh) for x in range(gw)], kinds=kinds,
                rows=fig.h.taps, cols=fig.w.taps, colours=KINDS, dark=DARK, frames=fig.frames,
                step=min(max(step, 0), max(fig.frames - 1, 0)), fps=max(0.25, min(float(fps), 30.0)),
                playing=bool(playing), hold=int(max(1, fps)),
                shown="" if fig.frames == fig.h.out * fig.w.out else " shown")
    present = {fig.base_kind(y, x) for y in range(gh) for x in range(gw)}
    present = [k for k in KINDS if k in present or k in {DARK[b] for b in present} or k.startswith("output")]
    legend = " ".join(f'<span style="white-space:nowrap;margin-right:14px"><span style="display:inline-block;'
                      f'width:13px;height:13px;background:{KINDS[k]};vertical-align:middle;margin-right:5px"></span>'
                      f'{k}</span>' for k in present)
    sub = "<br>".join(_subtitle(fig, channels))
    width, height = cell * (gw + GAP + ow), cell * max(gh, oh)
    html = _HTML % dict(sub=sub, w=width, h=height, legend=legend, data=json.dumps(data, separators=(",", ":")))
    return html, height + 110  # title, subtitle, legend (it may wrap once)


__all__ = ["Window", "window_positions", "sliding_window_frame", "sliding_window_chart", "figure_fits",
           "figure_misfit", "small_size", "as_pad", "AxisView", "Figure", "conv_axis", "transposed_axis",
           "conv_figure", "transposed_figure", "crop_note", "figure_frame", "figure_chart", "figure_html",
           "step_title", "cell_size", "FIGURE_MAX_INPUT", "FIGURE_MAX_PADDED"]

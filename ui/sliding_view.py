"""The calculator's "Kernel sliding over the input" tab: the step slider (the manual control), play/pause and the
speed of the autoplay, the figure and its notes.

Autoplay runs in the browser: while playing, the page sends one self-contained SVG + JavaScript animation
(:func:`cnncalc.draw.sliding.figure_html`, a few kB, every step in it) and the browser advances the window, so
the server does no work per frame — a class of 30 pressing play costs 30 reruns, not 30 × fps reruns a second.
Paused, the Altair figure shows the slider's step (one rerun per move, as before)."""
from __future__ import annotations

import streamlit as st

from cnncalc.classroom import calculator as calc
from cnncalc.draw import sliding
from ui.calculator_form import K, apply

ss = st.session_state
SPEEDS = (0.5, 1, 2, 4, 8, 16)  # steps per second


def figure_of(f: dict, layer, pool: bool, transposed: bool) -> sliding.Figure:
    if transposed:
        return sliding.transposed_figure(f["in_h"], f["in_w"], layer.kernel, layer.stride, layer.padding,
                                         layer.output_padding, layer.dilation)
    stride = layer.strides if pool else layer.stride
    return sliding.conv_figure(f["in_h"], f["in_w"], layer.kernel, stride, calc.padding_of(layer), layer.dilation,
                               pool and layer.ceil_mode)


def _small_button(f: dict, layer, pool: bool, label: str) -> None:
    """A smaller input with the same kernel, stride and padding (so the same rows go unread)."""
    pad, stride = calc.padding_of(layer), (layer.strides if pool else layer.stride)
    small = [sliding.small_size(n, k, s, b_, a_, d) for n, k, s, (b_, a_), d in
             zip((f["in_h"], f["in_w"]), layer.kernel, stride, pad, layer.dilation)]
    if None not in small:
        st.button(label.format(f"{small[0]}×{small[1]}"), key=K + "small", on_click=apply,
                  args=({"in_h": small[0], "in_w": small[1]},))


def _controls(total: int) -> None:
    """Back / the step slider / Next, then play/pause and the speed (all in session state, keys calc_…)."""
    ss.calc_step = min(ss.get(K + "step", 1), total)
    ss.setdefault(K + "play", False)
    ss.setdefault(K + "speed", 2)
    c_prev, c_slider, c_next = st.columns([1, 8, 1], vertical_alignment="bottom")
    c_prev.button("◀ Back", key=K + "prev", on_click=apply, args=({"step": max(ss.calc_step - 1, 1)},))
    c_next.button("Next ▶", key=K + "next", on_click=apply, args=({"step": min(ss.calc_step + 1, total)},))
    c_slider.slider("Step: the output cell being computed (row by row)", 1, total, key=K + "step",
                    help="Slide the window; the dark cells are what the kernel reads for that output cell.")
    row = st.container(horizontal=True, vertical_alignment="center", gap="large")
    row.toggle("▶ Play (autoplay, looping)", key=K + "play", help="The window slides by itself, from the step on "
               "the slider; it runs in your browser. Pause to go back to the slider's step.")
    row.select_slider("Speed (steps per second)", SPEEDS, key=K + "speed", width=320)


def _caption(f: dict, transposed: bool) -> str:
    if transposed:
        return ("Dark blue: the input pixel the kernel reads now; grey: the zeros inserted between the inputs (the "
                "stride) and the padding — read as zeros; orange: input no window reads (p > d·(k − 1) crops it). "
                "Each output cell is this stride-1 convolution (with ConvTranspose2d's kernel flipped).")
    return ("Dark blue: input pixels the window reads now; dark grey: padding it reads ("
            + ("−∞ for max pooling, never the maximum" if f["mode"] == "Max pooling" else "zeros")
            + "); orange: input no window ever reads. With dilation the taps have gaps between them.")


def render(f: dict, layer, r, pool: bool, transposed: bool) -> None:
    """The tab's content for the layer ``layer`` and its analysis ``r``."""
    if r.status == "error":
        st.info("Apply a valid setting above to see the figure.")
        return
    fig = figure_of(f, layer, pool, transposed)
    if fig.misfit:
        st.info(fig.misfit)
        if not transposed:
            _small_button(f, layer, pool, "Use a {} input (same kernel, stride, padding)")
        return
    note = sliding.crop_note(fig)
    if note:
        st.info(note)
        if not transposed:
            _small_button(f, layer, pool, "See it whole: use a {} input (same kernel, stride, padding)")
    if fig.frames > 1:
        _controls(fig.frames)
    step, channels = ss.get(K + "step", 1) - 1, (f["in_c"], r.out_shape[0])
    if fig.frames > 1 and ss.calc_play:
        html, height = sliding.figure_html(fig, step, ss.calc_speed, True, channels=channels)
        st.iframe(html, height=height)
    else:
        st.altair_chart(sliding.figure_chart(fig, step, channels=channels), width="content")
    st.caption(_caption(f, transposed))

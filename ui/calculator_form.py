"""The Layer calculator's inputs: one session key per form field (``calc_<field>``, the fields of
:data:`cnncalc.classroom.calculator.DEFAULTS`), kept across pages, and the boxes and toggles that edit them."""
from __future__ import annotations

import streamlit as st

from cnncalc import SpecError, parse_layer
from cnncalc.classroom import calculator as calc
from ui.widgets import escape

K = "calc_"
ss = st.session_state


def fields() -> dict:
    return {key: ss[K + key] for key in calc.DEFAULTS}


def apply(updates: dict) -> None:
    """Form values from a button (a fix, a solver): applied in its callback, before the widgets are drawn."""
    ss.update({K + key: value for key, value in updates.items()})


def apply_spec(spec: str) -> None:
    try:
        apply(calc.fields_from_layer(parse_layer(spec)))
    except SpecError as err:  # never a traceback: say why and leave the inputs as they are
        st.toast(f"Could not apply '{escape(spec)}': {escape(err)}")


def init() -> dict:
    """The form's values, restored after a visit to another page, hidden fields kept in step."""
    saved = ss.setdefault(K + "saved", dict(calc.DEFAULTS))  # not a widget key: survives other pages
    for key in calc.DEFAULTS:
        if K + key not in ss:  # Streamlit drops a widget's value when a run does not draw it
            ss[K + key] = saved[key]
    apply(calc.normalize(fields()))
    return fields()


def layer_inputs(f: dict, pool: bool, per_axis: bool, keep: dict | None) -> None:
    """Number boxes for the input and the layer (per axis, before/after padding when asked) and the toggles; in
    transposed mode padding is symmetric (it crops the output) and an output-padding box is added."""
    transposed = calc.is_transposed(f)
    INPUTS = [("in_h", "Height H", "Rows of the input image or feature map (the lab's y in x × y × z)."),
              ("in_w", "Width W", "Columns of the input (the lab's x in x × y × z)."),
              ("in_c", "Channels C", ("Depth: 3 for an RGB image, else the previous layer's filters (the lab's z). "
                                      "Shapes here are written C×H×W, channels first, as in PyTorch."))]
    AXES = [("k", "Kernel k", "Size of the window (filter) that slides over the input."),
            ("s", "Stride s", "How many pixels the window moves between two outputs."),
            ("p", "Padding p", "Zeros around the input: before = top/left, after = bottom/right (the same unless "
                               "asymmetric)." + (" Pooling allows at most k/2." if pool else "")),
            ("d", "Dilation d", "Spacing between the kernel's taps: d = 1 is a plain kernel, d = 2 skips every "
                                "other pixel (the window spans d·(k − 1) + 1).")]
    if transposed:
        AXES[1:3] = [("s", "Stride s", "Output pixels between the copies of two neighbouring inputs (the input is "
                                       "dilated by s − 1 zeros)."),
                     ("p", "Padding p", "Removed from both sides of the output: o = (n − 1)·s − 2p + d·(k − 1) + op + 1.")]
        AXES.append(("op", "Output pad op", "Extra rows/columns after (bottom/right); below the stride or dilation."))
    row = st.container(horizontal=True)  # fixed-width boxes that wrap onto a second row on a narrow screen
    cols = [row.container(width=100) for _ in range(7 if pool else 9 if transposed else 8)]
    for col, (key, label, tip) in zip(cols, INPUTS):
        col.number_input(label, *calc.LIMITS[key], key=K + key, help=tip)
    for col, (key, label, tip) in zip(cols[3:], AXES):
        word = label.split()[0]
        boxes = [(f"{key}_h", f"{word} H"), (f"{key}_w", f"{word} W")] if per_axis else [(f"{key}_h", label)]
        if key == "p" and f["asym"] and not pool and not transposed:  # before/after: top/bottom, left/right
            boxes = ([("p_h", "Pad top"), ("pa_h", "Pad bottom"), ("p_w", "Pad left"), ("pa_w", "Pad right")]
                      if per_axis else [("p_h", "Pad before"), ("pa_h", "Pad after")])
        for field, text in boxes:
            col.number_input(text, *calc.LIMITS[field.split("_")[0]], key=K + field, help=tip)
        if key == "p" and not pool and not transposed:
            col.button("same", key=K + "same", on_click=apply, args=(keep,), help="Padding that keeps the size at stride "
                       "1: d·(k − 1) in all, split evenly; for an even total PyTorch puts the extra pixel after.")
    if not pool:
        cols[-1].number_input("Filters N", *calc.LIMITS["n"], key=K + "n", help="Number of filters = output channels.")
    toggles = st.container(horizontal=True, gap="medium")
    toggles.toggle("Different values for height and width", key=K + "per_axis",
                   help="Give kernel, stride, padding and dilation separately for H and W (e.g. a 1×7 kernel).")
    if pool:
        toggles.toggle("ceil_mode (round the output size up)", key=K + "ceil", help="PyTorch's ceil_mode=True: a last, "
                       "partial window is kept, unless it would start in the right padding.")
    else:
        toggles.toggle("Transposed convolution", key=K + "transposed", help="Convolution / transposed convolution "
                       "(nn.ConvTranspose2d): upsamples, o = (n − 1)·s − 2p + d·(k − 1) + op + 1.")
        if not transposed:
            toggles.toggle("Asymmetric padding (more after than before)", key=K + "asym",
                           help="Different padding at the bottom/right, as padding='same' needs for an even kernel.")
        toggles.toggle("Bias", key=K + "bias", help="One learnable bias per filter (nn.Conv2d's default).")

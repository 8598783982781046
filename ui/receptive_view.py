"""The Receptive fields page's pieces: the gradient measurement (cached), the per-axis metrics, the worked
steps, and the two pictures side by side. Numbers from cnncalc (receptive, pytorch.erf), pictures from
cnncalc.draw.field."""
from __future__ import annotations

import streamlit as st

from cnncalc import format_shape
from cnncalc.draw.field import draw_field, draw_heat, grid_visible, layout
from cnncalc.pytorch.erf import gradient_field, interpretation
from cnncalc.receptive import number_text
from ui.trained import classifier
from ui.widgets import to_latex


@st.cache_data(show_spinner="Backpropagating from the unit to the input…", max_entries=64)
def measured(spec, shape, layer, unit, image, samples, channel, trained=None):
    state = classifier(trained).model.state_dict() if trained else None
    return gradient_field(spec, shape, layer, unit, image=image, samples=samples, channel=channel, state_dict=state)


def unit_slider(col, label, n, key):
    if n == 1:
        col.markdown(f"**{label}:** 0 (the only one)")
        return 0
    return col.slider(f"{label} (0…{n - 1})", 0, n - 1, (n - 1) // 2, key=key)


def per_axis(col, what, values, sep, help):
    a, c = (number_text(v).replace("-", "−") for v in values)
    col.metric(f"{what} (H = W)" if a == c else f"{what} (H{sep}W)", a if a == c else f"{a}{sep}{c}", help=help)


def metrics(report, box, shape) -> None:
    """RF size, jump, start per axis, the rows and columns seen, and the part in the padding."""
    cols = st.columns(5)
    per_axis(cols[0], "RF size", report.rf, " × ", "input pixels one unit sees, per axis")
    per_axis(cols[1], "Jump", report.jump, " × ", "input pixels between neighbouring units, per axis")
    per_axis(cols[2], "Start", report.start, ", ", "centre of unit (0, 0)'s field, in input coordinates")
    t, l, b, r = box.unclipped
    cols[3].metric("Rows seen", f"{t} … {b}".replace("-", "−"), help="start_H + i·jump_H ± (rf_H − 1)/2")
    cols[4].metric("Columns seen", f"{l} … {r}".replace("-", "−"), help="start_W + j·jump_W ± (rf_W − 1)/2")
    h, w = shape[1:]
    if box.clipped is None:
        st.warning("This unit's whole field lies in the padding: it sees no pixel of the image.")
    elif box.clipped != box.unclipped:
        ct, cl, cb, cr = box.clipped
        st.info(f"Inside the {h}×{w} image: rows {ct} … {cb}, columns {cl} … {cr}; the rest of the field is "
                "zero padding (hatched).")


def worked_steps(report, box, usable, name, i, j) -> None:
    """How the numbers are computed: one step per layer and axis, the rows seen, the table up to this layer."""
    for axis, unit in (("H", i), ("W", j)):
        same = all(report.formula(f"{k}_H") == report.formula(f"{k}_W") for k in ("rf", "jump", "start"))
        if axis == "W" and same and (i, report.rf[0]) == (j, report.rf[1]):
            st.markdown("Same numbers along W.")
            break
        st.markdown(f"**Along {axis}** (from the layer before {name}):" if report.formula(f"rf_{axis}") else
                    f"**Along {axis}**: {name} keeps the field of the layer before it.")
        for key in ("rf", "jump", "start"):
            if report.formula(f"{key}_{axis}"):
                st.latex(rf"\text{{{key}}}_{axis} = " + to_latex(report.formula(f"{key}_{axis}")))
        k = "HW".index(axis)
        lo, hi = box.unclipped[k], box.unclipped[k + 2]
        seen = to_latex(f"{number_text(report.start[k])} + {unit}·{report.jump[k]} ± ({report.rf[k]} − 1)/2 = "
                        f"{lo} … {hi}")
        st.latex(rf"\text{{{'rows' if axis == 'H' else 'columns'} seen}} = " + seen)
    names = [x.name for x in usable]
    st.dataframe([{"layer": x.name, "rf": f"{x.rf[0]}×{x.rf[1]}", "jump": f"{x.jump[0]}×{x.jump[1]}",
                   "start": ", ".join(number_text(s) for s in x.start)} for x in usable[:names.index(name) + 1]],
                 hide_index=True)


def theoretical(image, report, i, j, lay, name) -> None:
    st.markdown("### Theoretical field")
    st.image(draw_field(image, report, i, j, lay=lay), width="stretch")
    _, oh, ow = report.out_shape
    apart = f"{report.jump[0]}×{report.jump[1]} pixels apart (the jump)"
    grid = (f"**cyan dots:** centres of all {oh}×{ow} units of {name}, {apart}" if grid_visible(report, lay) else
            f"{name} has one unit per input pixel (jump 1)" if max(report.jump) == 1 else
            f"the {oh}×{ow} units of {name} are {apart}, too dense to draw as dots")
    st.markdown(f"**Yellow box:** pixels the unit sees · **hatched/dashed:** padding · **red dot:** its centre · "
                f"{grid}.")


def measured_panel(result, report, i, j, lay, label, trained) -> None:
    st.markdown("### Measured by gradients")
    if result is None:
        return
    st.image(draw_heat(result.values, report, i, j, central=result.central, lay=lay), width="stretch")
    on = "random noise" if result.input_kind == "noise" else f"the {label} image"
    inits = ("the trained weights" + (f", {result.samples} noise draws" if result.samples > 1 else "")
             if trained else "1 random initialisation" if result.samples == 1 else
             f"{result.samples} random initialisations")
    st.markdown(f"Brightness ∝ √|∂y/∂x|: y = the unit ({report.out_shape[0]} channels summed), x = each "
                f"input pixel (colours summed); mean of {inits} on {on}. **White:** theoretical field · "
                "**magenta dashed:** central box (half the field per axis).")


def verdict(result, trained, any_trained: bool) -> None:
    (st.success if result.extent is not None else st.info)(interpretation(result) + (
        " Weights: trained — switch to random to see the field before training (Luo et al. 2016 saw the "
        "effective field grow during training)." if trained else
        " Weights: random (PyTorch's default init)" + ("; pick a trained network above to compare with training."
                                                       if any_trained else "; no trained checkpoint here yet.")))
    for note in result.notes:
        st.caption(f"Note: {note}.")


def layer_label(analysis, n: str) -> str:
    return f"{n} — {analysis[n].spec} → {format_shape(analysis[n].out_shape)}"


__all__ = ["measured", "unit_slider", "metrics", "worked_steps", "theoretical", "measured_panel", "verdict",
           "layout", "layer_label"]

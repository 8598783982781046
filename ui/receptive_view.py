"""The Receptive fields page's pieces: the image, the gradient measurement (cached, refused above the
server's memory limit), the per-axis metrics, the worked steps, and the two pictures side by side. Numbers
from cnncalc (receptive, pytorch.erf), pictures from cnncalc.draw.field.

Any input the analyzer accepts reaches this page (``?input=3x1x300000``), so the pictures are drawn at most
:data:`MAX_SIDE` pixels per side and :data:`MAX_RATIO` times longer than high: a larger or more elongated
input is drawn resampled (:class:`Picture`), and the page says so."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import streamlit as st
from PIL import Image

from cnncalc import PRESETS, SpecError, analyze, format_shape, parse_shape
from cnncalc.classroom.samples import load_sample, open_upload, resize
from cnncalc.draw.field import draw_field, draw_heat, grid_visible, layout
from cnncalc.draw.heatmaps import cap_pixels
from cnncalc.pytorch.erf import gradient_field, interpretation
from cnncalc.receptive import number_text
from ui import budget
from ui import model_picker as picker
from ui.trained import classifier
from ui.widgets import escape, to_latex

MAX_SIDE = 2048   # input pixels a picture shows along its longest side
MAX_RATIO = 16    # longest : shortest side of a picture; a more elongated input is stretched across


def limit() -> int:
    """The memory one PyTorch pass may use (the server's ``memory_mb``)."""
    return budget.limits().memory_bytes


@st.cache_data(show_spinner="Backpropagating from the unit to the input…", max_entries=64)
def measured(spec, shape, layer, unit, image, samples, channel, trained=None):
    """The page's one heavy call: the gradient field (TooLarge before any tensor, above the limit)."""
    state = classifier(trained).model.state_dict() if trained else None
    with budget.held():
        return gradient_field(spec, shape, layer, unit, image=image, samples=samples, channel=channel,
                              state_dict=state, max_bytes=limit())


def source_image(sample: str, upload, h: int, w: int) -> tuple[np.ndarray, str]:
    """(the image, its label): the upload when it can be read (else an error, and the sample), or the
    sample. A JPEG is decoded no larger than an H×W input needs; the page says what the upload was and
    what was done with it."""
    if upload is not None:
        try:
            up = open_upload(upload.getvalue(), at_least=max(h, w))
            st.caption(f"‘{escape(upload.name)}’ ({up.size[0]:,}×{up.size[1]:,} pixels) is centre-cropped to the input's "
                       f"aspect ratio and resized to {h:,}×{w:,}.")
            return up.image, "uploaded"
        except ValueError as err:
            st.error(f"Cannot use '{escape(upload.name)}': {escape(err)}. Showing the sample '{sample}' instead.")
    return load_sample(sample), sample


@dataclasses.dataclass(frozen=True)
class Picture:
    """How an H×W input is drawn: as it is, or resampled to ``size`` with ``factor`` input pixels per picture
    pixel along each axis (each its own: a 1×300,000 strip becomes 128×2048). ``report`` is the layer's
    report in picture pixels — rf and jump divided by the factor, start moved with the pixel centres — so
    :mod:`cnncalc.draw.field` puts the boxes where they belong; the page's numbers stay the real ones."""

    size: tuple[int, int]
    factor: tuple[float, float]
    report: object

    @property
    def resampled(self) -> bool:
        return self.factor != (1.0, 1.0)

    def note(self, h: int, w: int) -> str:
        if not self.resampled:
            return ""
        fh, fw = self.factor
        per = [f"{f:.3g} input {axis} per drawn pixel" if f >= 1 else f"each input {axis[:-1]} drawn {1 / f:.3g} "
               f"pixels {'high' if axis == 'rows' else 'wide'}" for f, axis in ((fh, "rows"), (fw, "columns"))]
        return (f"The {h:,}×{w:,} input is drawn at {self.size[0]:,}×{self.size[1]:,} ({'; '.join(per)}): a "
                f"picture is at most {MAX_SIDE} pixels long and {MAX_RATIO} times longer than high.")

    def image(self, source: np.ndarray, h: int, w: int) -> np.ndarray:
        """``source`` centre-cropped to the input's aspect ratio and resized to the picture's size."""
        return resize(source, self.size, aspect=(h, w))

    def values(self, values: np.ndarray) -> np.ndarray:
        """A (H, W) map averaged over (or spread across) the picture's pixels."""
        if not self.resampled:
            return values
        im = Image.fromarray(np.asarray(values, dtype=np.float32), mode="F")
        return np.asarray(im.resize(self.size[::-1], Image.Resampling.BOX), dtype=np.float64)

    def box(self, b):
        """An input box (top, left, bottom, right) → the picture pixels it covers."""
        if b is None or not self.resampled:
            return b
        (fh, fw), (ph, pw) = self.factor, self.size
        t, l, bt, r = b
        return (min(int(t / fh), ph - 1), min(int(l / fw), pw - 1),
                min(max(math.ceil((bt + 1) / fh) - 1, int(t / fh)), ph - 1),
                min(max(math.ceil((r + 1) / fw) - 1, int(l / fw)), pw - 1))


def picture(report, h: int, w: int) -> Picture:
    """The :class:`Picture` for ``report``'s layer on an H×W input."""
    long, short = max(h, w), min(h, w)
    if long <= MAX_SIDE and long <= MAX_RATIO * short:
        return Picture((h, w), (1.0, 1.0), report)
    side = min(long, MAX_SIDE)
    across = min(side, max(round(short * side / long), math.ceil(side / MAX_RATIO)))
    size = (side, across) if h >= w else (across, side)
    factor = (h / size[0], w / size[1])
    scaled = dataclasses.replace(
        report, rf=tuple(r / f for r, f in zip(report.rf, factor)),
        jump=tuple(j / f for j, f in zip(report.jump, factor)),
        start=tuple((s + 0.5) / f - 0.5 for s, f in zip(report.start, factor)))
    return Picture(size, factor, scaled)


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


def picture_layout(pic: Picture):
    """The canvas both pictures share: a whole scale to about 640 screen pixels, at most 2048."""
    ph, pw = pic.size
    return layout(pic.report, pic.size, target=min(MAX_SIDE, max(640, 2 * max(ph, pw))),
                  max_margin=max(16, max(ph, pw) // 4))


def theoretical(image, report, i, j, lay, name, pic: Picture) -> None:
    st.markdown("### Theoretical field")
    st.image(cap_pixels(draw_field(image, pic.report, i, j, lay=lay)), width="stretch")
    _, oh, ow = report.out_shape
    apart = f"{report.jump[0]}×{report.jump[1]} pixels apart (the jump)"
    grid = (f"**cyan dots:** centres of all {oh}×{ow} units of {name}, {apart}" if grid_visible(pic.report, lay) else
            f"{name} has one unit per input pixel (jump 1)" if max(report.jump) == 1 else
            f"the {oh}×{ow} units of {name} are {apart}, too dense to draw as dots")
    st.markdown(f"**Yellow box:** pixels the unit sees · **hatched/dashed:** padding · **red dot:** its centre · "
                f"{grid}.")


def measured_panel(result, report, i, j, lay, label, trained, pic: Picture) -> None:
    st.markdown("### Measured by gradients")
    if result is None:
        return
    st.image(cap_pixels(draw_heat(pic.values(result.values), pic.report, i, j, central=pic.box(result.central),
                                  lay=lay)), width="stretch")
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
           "layout", "layer_label", "limit", "source_image", "Picture", "picture", "picture_layout", "MAX_SIDE",
           "MAX_RATIO", "network", "usable_layers", "weights_panel", "CUSTOM"]


CUSTOM = "custom spec…"


def network(choice, linked: str | None):
    """The network the page explains: (spec text or None for a torchvision model, input shape, analysis,
    trained key or None, a key for the layer and unit widgets); None after an error shown on the page."""
    net_col, spec_col = st.columns([1, 2])
    try:
        if choice.source == picker.TORCHVISION:
            with net_col:
                analysis = picker.analysis_of("rf", choice)
            spec_col.caption(f"torchvision's {choice.key}, traced on PyTorch's meta device (no weights): the "
                             "analytic fields need no values.")
            return None, analysis.input_shape, analysis, None, f"tv:{choice.key}:{analysis.input_shape}"
        trained = None
        if choice.source == picker.TRAINED:
            clf = classifier(choice.key)
            spec_text, shape_text = clf.spec, format_shape(clf.input_shape, "x")
            spec_col.caption(f"{escape(spec_text)}  \n{escape(clf.name)}")
            if spec_col.radio("Weights", ["trained", "random (before training)"], key="rf_weights", horizontal=True,
                              help="The same network with PyTorch's default random init, to see what training "
                                   "changed.") == "trained":
                trained = choice.key
        else:
            keys = list(PRESETS) + [CUSTOM]
            pick = net_col.selectbox("Network", keys, index=len(keys) - 1 if linked else 0, key="rf_net",
                                     format_func=lambda k: PRESETS[k].title if k in PRESETS else k)
            if pick == CUSTOM:
                spec_text = spec_col.text_area("Spec (one layer per ';', or PyTorch code)", linked or
                                               PRESETS["lab"].spec, key="rf_spec")
                shape_text = net_col.text_input("Input C×H×W", st.query_params.get("input", "3x32x32"),
                                                key="rf_input")
            else:
                spec_text, shape_text = PRESETS[pick].spec, format_shape(PRESETS[pick].input_shape, "x")
                spec_col.caption(f"`{spec_text}`  \n{PRESETS[pick].source}")
        shape = parse_shape(shape_text)
        return spec_text, shape, analyze(spec_text, shape), trained, spec_text
    except SpecError as err:
        st.error(f"Cannot read this network: {escape(err)}")
    except TimeoutError as err:
        st.warning(f"The server is too busy to trace this model now ({err}): try again in a minute.")
    except Exception as err:  # a corrupt checkpoint, a model PyTorch cannot trace here
        st.error(f"Cannot use {escape(choice.label)}: {type(err).__name__}: {escape(err)}")
    return None


def usable_layers(analysis) -> list:
    """The layers with a receptive field on a C×H×W map (the first of names a traced model repeats)."""
    return [r for r in analysis.layers if r.status != "error" and r.rf is not None and r.out_shape
            and len(r.out_shape) == 3 and analysis[r.name] is r]


def weights_panel(choice) -> None:
    """Right of the theoretical field, for a torchvision model: why the gradient-measured field is not shown."""
    st.markdown("### Measured by gradients")
    st.info(f"The gradient-measured (effective) field needs weights: it is measured here for the shipped lab "
            f"net and for stored runs (source *Trained checkpoint*). {picker.weights_note(choice.key)} The analytic "
            "field on the left needs none.")

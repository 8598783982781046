"""The "What each layer sees" page's pieces: the models on offer, the activation pass (cached per model and
image, refused above the server's memory limit, one heavy slot), one grid picture per layer, the enlarged map
with its cell, the cell's receptive field on the input, and the class scores. Numbers from
cnncalc.pytorch.activations and cnncalc.receptive; colours from cnncalc.draw.colours."""
from __future__ import annotations

import io

import numpy as np
import streamlit as st
from PIL import Image, ImageDraw

from cnncalc import analyze, format_shape
from cnncalc.draw.colours import BOX_COLOUR, LUT, colorize
from cnncalc.draw.field import draw_field
from cnncalc.draw.primitives import enlarge, outline
from cnncalc.pytorch import activations as act
from cnncalc.receptive import field_box
from ui import budget, model_picker
from ui.trained import classifier
from ui.widgets import escape

KEEP = 64      # channels kept per layer (strongest first): what the grids and the enlarge select can show
TILE = 64      # screen pixels of one small map in a grid (a whole upscale factor, never smaller than the map)
GAP = 2


def models() -> tuple[dict[str, str], list[str]]:
    """({key: label} of the models on offer, notes on those that are not): the same list as every page that
    needs weights (ui/model_picker.trained_models: the shipped lab net, the finished runs, the lab net with random
    weights, the torchvision models whose ImageNet weights are cached here)."""
    labels, store_note = model_picker.trained_models(need_weights=True)
    notes = [store_note] if store_note else []
    if not any(k == "vgg16" or k.startswith(model_picker.TV_PREFIX) for k in labels):
        notes.append("A torchvision model (e.g. VGG16, ImageNet) is offered once its weights are cached here: "
                     f"`{model_picker.download_hint('vgg16')}`.")
    return labels, notes


def limit() -> int:
    return budget.limits().memory_bytes


@st.cache_data(show_spinner="Running the network and collecting every layer's maps…", max_entries=32)
def computed(key: str, image: np.ndarray, max_bytes: int) -> act.Activations:
    """The page's one heavy call, per (model, image, memory limit): every layer's maps (TooLarge before the
    pass above ``max_bytes``, the server's ``memory_mb``: :func:`limit`)."""
    clf = classifier(key)
    with budget.held():
        return act.activations(clf.model, clf.normalize(np.array(image)), keep=KEEP, max_bytes=max_bytes)


@st.cache_resource(max_entries=16)
def analysis_of(key: str):
    """The model's analysis (receptive fields per layer), from its spec, or traced from the module."""
    clf = classifier(key)
    if clf.spec:
        return analyze(clf.spec, clf.input_shape)
    from cnncalc.pytorch.bridge import from_module
    return from_module(clf.model, clf.input_shape)


def grid_image(layer: act.LayerMaps, n: int, tile: int = TILE) -> np.ndarray:
    """The strongest ``n`` maps of ``layer`` as one RGB picture, in rows of ⌈√n⌉, strongest first, all on the
    layer's one colour scale, each labelled with its channel number."""
    n = min(n, len(layer.order))
    _, h, w = layer.shape
    k = max(1, tile // max(h, w))
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    lo, hi = float(layer.maps[:n].min()), float(layer.maps[:n].max())
    th, tw = h * k, w * k
    out = np.full((rows * (th + GAP) - GAP, cols * (tw + GAP) - GAP, 3), 255, dtype=np.uint8)
    for idx in range(n):
        r, c = divmod(idx, cols)
        tile_rgb = colorize(layer.maps[idx], lo, hi).repeat(k, axis=0).repeat(k, axis=1)
        out[r * (th + GAP):r * (th + GAP) + th, c * (tw + GAP):c * (tw + GAP) + tw] = tile_rgb
    im = Image.fromarray(out)
    draw = ImageDraw.Draw(im)
    if th >= 24:
        for idx in range(n):
            r, c = divmod(idx, cols)
            x, y = c * (tw + GAP), r * (th + GAP)
            text = str(layer.order[idx])
            draw.rectangle((x, y, x + 6 * len(text) + 3, y + 11), fill=(0, 0, 0))
            draw.text((x + 2, y), text, fill=(255, 255, 255))
    return np.asarray(im)


def png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", optimize=False, compress_level=1)
    return buf.getvalue()


@st.cache_data(show_spinner=False, max_entries=32)
def grids(key: str, image: np.ndarray, n: int, max_bytes: int) -> list[bytes]:
    """One PNG per layer (cheaper to send than one picture per map), per (model, image, maps per layer)."""
    return [png(grid_image(layer, n)) for layer in computed(key, image, max_bytes).layers]


def layer_grids(result: act.Activations, pictures: list[bytes], n: int, per_row: int = 3) -> None:
    """The grids, ``per_row`` layers side by side (conv → relu → pool of one block on one row)."""
    for start in range(0, len(pictures), per_row):
        cols = st.columns(per_row)
        for col, layer, picture in zip(cols, result.layers[start:], pictures[start:start + per_row]):
            c, h, w = layer.shape
            col.markdown(f"**{escape(layer.name)}** · {layer.kind} → {c}×{h}×{w}")
            col.image(picture, width="stretch")
            col.caption(f"{min(n, c)} of {c} channels, strongest first (by mean activation)")


def map_image(values: np.ndarray, lo: float, hi: float, cell: tuple[int, int], target: int = 320) -> Image.Image:
    """One map enlarged (nearest: cells stay square), the chosen cell outlined in the field's yellow."""
    h, w = values.shape
    k = max(1, target // max(h, w))
    im = Image.fromarray(colorize(values, lo, hi).repeat(k, axis=0).repeat(k, axis=1))
    i, j = cell
    outline(ImageDraw.Draw(im), (j * k, i * k, (j + 1) * k - 1, (i + 1) * k - 1), BOX_COLOUR, max(1, k // 8))
    return im


def field_caption(report, i: int, j: int, hw: tuple[int, int]) -> str:
    box = field_box(report, i, j, hw)
    t, l, b, r = box.unclipped
    text = (f"**{escape(report.name)}**, cell ({i}, {j}) sees input rows {t} … {b}, columns {l} … {r}: a "
            f"{report.rf[0]}×{report.rf[1]} field, cells {report.jump[0]}×{report.jump[1]} pixels apart.")
    if box.clipped is None:
        return text + " All of it is padding."
    if box.clipped != box.unclipped:
        ct, cl, cb, cr = box.clipped
        text += f" Inside the {hw[0]}×{hw[1]} image: rows {ct} … {cb}, columns {cl} … {cr}; the rest is padding."
    return text.replace("-", "−")


def closer(result: act.Activations, analysis, image: np.ndarray, key: str) -> None:
    """Pick a layer, a channel and a cell: the enlarged map beside the cell's receptive field on the input."""
    reports = {r.name: r for r in analysis.layers}
    names = [x.name for x in result.layers if x.name in reports and reports[x.name].rf
             and reports[x.name].out_shape == x.shape]
    if not names:
        st.info("No layer of this model has a receptive field the analyzer can compute.")
        return
    c1, c2, c3, c4 = st.columns([3, 3, 2, 2])
    name = c1.selectbox("Layer", names, index=len(names) - 1, key=f"act_layer:{key}",
                        format_func=lambda n: f"{n} — {reports[n].spec} → {format_shape(reports[n].out_shape)}")
    layer = next(x for x in result.layers if x.name == name)
    rank = c2.selectbox("Channel", range(len(layer.order)), key=f"act_channel:{key}:{name}",
                        format_func=lambda k: f"channel {layer.order[k]} — #{k + 1} "
                                              f"(mean {layer.means[layer.order[k]]:.3g})")
    _, h, w = layer.shape
    i = c3.number_input(f"Cell row (0…{h - 1})", 0, h - 1, (h - 1) // 2, key=f"act_i:{key}:{name}")
    j = c4.number_input(f"Cell column (0…{w - 1})", 0, w - 1, (w - 1) // 2, key=f"act_j:{key}:{name}")
    report = reports[name]
    left, right = st.columns(2)
    lo, hi = float(layer.maps.min()), float(layer.maps.max())
    value = float(layer.maps[rank][i, j])
    left.image(map_image(layer.maps[rank], lo, hi, (i, j)), width="stretch")
    left.caption(f"{escape(name)}, channel {layer.order[rank]} ({h}×{w}), on the layer's colour scale "
                 f"{lo:.3g} … {hi:.3g}. Cell ({i}, {j}) = {value:.3g} (yellow box).")
    right.image(draw_field(image, report, i, j, target=320), width="stretch")
    right.markdown(field_caption(report, i, j, image.shape[:2]))


def scores(result: act.Activations, classes) -> None:
    top = result.top(classes, 5)
    st.dataframe([{"class": name, "probability": p} for name, p in top], hide_index=True,
                 column_config={"probability": st.column_config.ProgressColumn(
                     "probability", format="percent", min_value=0.0, max_value=1.0)})


def enlarged(image: np.ndarray) -> np.ndarray:
    """The network's input as it sees it, upscaled for the screen (nearest: its pixels stay visible)."""
    return enlarge(image, 224)


def colour_scale() -> np.ndarray:
    return np.repeat(LUT[None], 10, axis=0)


__all__ = [
    "KEEP",
    "analysis_of",
    "closer",
    "colour_scale",
    "computed",
    "enlarged",
    "field_caption",
    "grid_image",
    "grids",
    "layer_grids",
    "limit",
    "map_image",
    "models",
    "scores",
]

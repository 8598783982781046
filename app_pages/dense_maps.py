"""Dense score maps: every fc layer replaced by its equivalent convolution, so a network built for 32×32 scores
every window of a larger image in one pass — a grid of class scores instead of a sliding window."""
import dataclasses
import datetime
import os
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
import torch

from cnncalc import PRESETS, build_model
from cnncalc import heatmaps as hm
from cnncalc.crosscheck import larger_input
from cnncalc.fcn import convolutionalize, geometry, max_difference, score_maps, sliding_window
from cnncalc.models import SHIPPED, Classifier, WeightsUnavailable, from_run, shipped, vgg16_imagenet
from cnncalc.samples import load_sample, load_upload, sample_names
from cnncalc.torch_bridge import from_module
from cnncalc.train import data as datasets
from cnncalc.train.config import LAB_MEAN, LAB_STD, TrainConfig
from cnncalc.train.store import RunStore, default_root
from ui import to_latex

CIFAR = Path(os.environ.get("CNNCALC_CIFAR10_DIR") or Path(__file__).resolve().parents[2] / "shared/data/cifar10-jpeg")
ROWS, COLS, SCALES, ss = 4, 6, (1.0, 0.75, 0.5), st.session_state
VGG = {"weights": "torchvision VGG16_Weights.IMAGENET1K_V1", "data": "ImageNet-1k (1000 classes, 224×224)",
       "test_top1": 0.71592, "source": "https://download.pytorch.org/models/vgg16-397923af.pth"}
st.title("🗺️ Dense score maps")
st.markdown("Can a network built for 32×32 run on a larger image? Its convolutions and pools can; its first "
            "fully-connected layer cannot. But **an fc layer is a particular convolution**: replace each by its "
            "equivalent convolution and, on a larger image, the network outputs a **grid of class scores** — every "
            "window scored in one pass instead of a sliding window.")


@st.cache_resource(show_spinner="Loading the model and converting its fc layers…", max_entries=4)
def load(key: str):
    """(classifier, converted net, conversion steps, max |difference|, geometry, MACs of one window)."""
    if key in ("shipped", "vgg16"):
        clf = shipped() if key == "shipped" else dataclasses.replace(vgg16_imagenet(), provenance=VGG)
    elif key == "random":
        torch.manual_seed(0)
        clf = Classifier("lab net, random weights", build_model(PRESETS["lab"].spec, (3, 32, 32)).eval(), (3, 32, 32),
                         LAB_MEAN, LAB_STD, datasets.CIFAR10_CLASSES, PRESETS["lab"].spec,
                         {"weights": "random: PyTorch's default initialisation after torch.manual_seed(0)",
                          "data": "none: untrained, about 10 % accuracy (chance)", "spec": PRESETS["lab"].spec})
    else:
        store = RunStore(default_root())
        run, default = store.get(int(key.removeprefix("run:"))), TrainConfig()
        epochs = store.epochs(run.id)
        flags = [f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in
                 dataclasses.asdict(run.config).items() if v not in (getattr(default, k), False) and k != "device"]
        clf = dataclasses.replace(from_run(store, run), provenance={
            "command": "python -m cnncalc train " + " ".join(flags), "data": run.config.data, "epochs": len(epochs),
            "test_top1": epochs[-1]["test_top1"] if epochs else None, "result": run.message,
            "date": datetime.datetime.fromtimestamp(run.updated).isoformat(timespec="minutes")})
    fcn, steps = convolutionalize(clf.model, clf.input_shape)
    macs = from_module(fcn, clf.input_shape).macs
    diff = max_difference(clf.model, fcn, clf.input_shape, samples=1 if macs > 1e9 else 4)
    return clf, fcn, steps, diff, geometry(fcn, clf.input_shape), macs


@st.cache_data(show_spinner="Reading test images…")
def mosaic_images(source: str, folder: str):
    data = datasets.synthetic(1, ROWS * COLS, seed=1) if source == "synthetic" else \
        datasets.load(folder, limit=ROWS * COLS)
    return data.test_x[:ROWS * COLS].transpose(0, 2, 3, 1), data.test_y[:ROWS * COLS], data.classes


@st.cache_data(max_entries=8, show_spinner="Scoring every window in one pass…")
def dense(key: str, image: np.ndarray, scales: tuple):
    clf, fcn = load(key)[:2]
    return score_maps(fcn, clf.normalize(image), clf.input_shape, scales)


@st.cache_data(max_entries=8, show_spinner="Timing the dense pass and the sliding window…")
def compare(key: str, image: np.ndarray, nonce: int):
    clf, fcn, _, _, geo, macs = load(key)
    x, reps = clf.normalize(image), 3 if macs < 1e9 else 1  # best of 3 when cheap: the CPU may be shared
    maps = [score_maps(fcn, x, clf.input_shape)[0] for _ in range(reps)]
    slides = [sliding_window(clf.model, x, clf.input_shape[1:], geo.stride) for _ in range(reps)]
    return (maps[0].scores.numpy(), slides[0][0].numpy(), min(m.seconds for m in maps), min(s[1] for s in slides),
            from_module(fcn, (x.shape[0], *image.shape[:2])).macs)


try:
    runs = {f"run:{r.id}": r for r in RunStore(default_root()).list(status="done") if r.checkpoint}
except Exception as err:  # an unreadable store: the other models still work
    runs = {}
    st.warning(f"The run store at `{default_root()}` cannot be read ({err}): finished runs are not offered.")
labels = {"shipped": "lab net, CIFAR-10 (shipped)", **{k: f"run {r.id}: {r.name}" for k, r in runs.items()},
          "random": "lab net with random weights", "vgg16": "VGG16, ImageNet (torchvision weights)"}
c_model, c_image, c_upload, c_size = st.columns([3, 3, 3, 2])
key = c_model.selectbox("Model", (["shipped"] if SHIPPED.exists() else []) + list(runs) + ["random", "vgg16"],
                        format_func=labels.get, key="dm_model")
if not SHIPPED.exists():
    c_model.caption(f"The shipped lab net is missing ({SHIPPED.name} is not in cnncalc/assets/ yet): pick a "
                    "finished run, or the random-weights lab net to see the mechanics.")
try:
    clf, fcn, steps, diff, geo, macs = load(key)
except WeightsUnavailable as err:
    st.warning(f"**{labels[key]} is not available here:** {err}")
    st.stop()
except Exception as err:  # a corrupt checkpoint, a layer with no convolutional equivalent…
    st.error(f"**Cannot use {labels[key]}:** {type(err).__name__}: {err}")
    st.stop()
win, (c, th, tw) = geo.window[0], clf.input_shape
with st.expander(f"Where this model comes from — {clf.name}"):
    st.json(clf.provenance or {"note": "no provenance recorded"})

mosaics = {name: src for name, src, ok in [
    ("synthetic rings: 24 test images", "synthetic", key in runs and runs[key].config.data == "synthetic"),
    ("CIFAR-10: 24 test images (local copy)", "cifar", (CIFAR / "test").is_dir())] if ok and (th, tw) == (32, 32)}
choice = c_image.selectbox("Image", list(mosaics) + sample_names(), key="dm_image")
upload = c_upload.file_uploader("…or upload your own", key="dm_upload")
if choice in mosaics and upload is None:
    c_size.markdown(f"**Size:** {ROWS * th}×{COLS * tw} pixels, the tiles' native size")
else:
    longest = c_size.slider("Longest side (pixels)", win, max(512, 4 * win), min(3 * win, 448), step=geo.stride,
                            key=f"dm_longest_{win}", help="The image is resized: its longest side gets this size")
image, tiles = None, None
if upload is not None:
    try:
        image = hm.fit_longest(load_upload(upload.getvalue()), longest, win)
    except ValueError as err:
        st.error(f"**Cannot use '{upload.name}':** {err}. Showing '{choice}' instead.")
if image is None and choice in mosaics:
    tile_images, truth, truth_names = mosaic_images(mosaics[choice], str(CIFAR))
    image, tiles = hm.mosaic(tile_images, ROWS, COLS, geo.stride, (th, tw))
elif image is None:
    image = hm.fit_longest(load_sample(choice), longest, win)
H, W = image.shape[:2]
st.caption(f"The network was trained on {th}×{tw} images: it recognises an object that is **about {win} pixels** "
           f"in the resized {H}×{W} image, not one that fills a large photo. " +
           ("Each tile of the mosaic is one test image at its native size: exactly one window." if tiles else
            "Make the longest side smaller to make the objects smaller."))

st.subheader(f"1 · The original network on a {H}×{W} image")
if clf.spec:
    outcome = st.cache_data(larger_input, show_spinner=False)(clf.spec, clf.input_shape, (c, H, W))
    if outcome.failed_at:
        st.error(f"PyTorch, at `{outcome.failed_at}`: `{outcome.error}`")
    st.info(outcome.explanation)
else:
    st.info(f"torchvision's VGG16 does not fail: its `AdaptiveAvgPool2d((7, 7))` pools any feature map down to "
            f"7×7 before the first fc (at {H}×{W}: 512×{H // 32}×{W // 32} → 512×7×7), so a larger image still "
            "gives one score vector — the positions are averaged away. The conversion drops that pool (the "
            "identity at 224×224) to keep them.")

st.subheader("2 · Each fully-connected layer becomes a convolution")
st.dataframe(pd.DataFrame([{"layer": s.name, "before": s.before, "after": s.after, "weights before":
                            str(s.weight_before or "—"), "weights after": str(s.weight_after or "—")}
                           for s in steps]), hide_index=True, width="stretch")
first = next(s for s in steps if s.weight_after)
o, ci, kh, kw = first.weight_after
st.markdown(f"**{first.name}** reads a {ci}×{kh}×{kw} map flattened to {ci * kh * kw:,} numbers: its "
            f"{first.weight_before} matrix is {o:,} filters of {ci}×{kh}×{kw} — a {kh}×{kw} convolution without "
            "padding, which fits exactly once on the training size. The fc layers after it read a 1×1 map: 1×1 "
            "convolutions. Same weights, reshaped, not retrained.")
st.success(f"Same outputs at the training size {c}×{th}×{tw}: **max |difference| = {diff:.1e}** on random inputs "
           "(float32 rounding: the same sums in another order).")

st.subheader("3 · A grid of class scores, in one pass")
scales = tuple(s for s in SCALES if min(H, W) * s >= win)
multi = st.toggle(f"Also at scales {', '.join(map(str, scales[1:])) or '< 1 (none: the image is window-sized)'}: "
                  f"a smaller copy lets the {win}-pixel window take in larger objects", key="dm_multi",
                  disabled=len(scales) == 1)
maps = dense(key, image, scales if multi else (1.0,))
probs = hm.softmax(maps[0].scores.numpy())
(K, h, w), argmax = probs.shape, probs.argmax(0)
st.markdown(f"The {H}×{W} image gives a **{h}×{w}** map: one cell per {th}×{tw} window, **{geo.stride} pixels "
            f"apart** (the jump of the layer before the first fc = the product of the strides).")
col_r, col_c = st.columns(2)
col_r.latex(r"\text{rows} = " + to_latex(geo.formula(H, 0)))
col_c.latex(r"\text{columns} = " + to_latex(geo.formula(W, 1)))
colours = hm.palette(range(K) if K <= 10 else pd.Series(argmax.ravel()).value_counts().index[:9])
left, right = st.columns(2)
left.markdown("**Winning class of each cell** — its colour sits at the centre of the cell's window")
left.image(hm.enlarge(hm.cell_overlay(image, hm.class_map(argmax, colours), maps[0].geometry), 600))
counts = {x: int((argmax == x.class_id).sum()) for x in hm.legend(clf.classes, colours)}
left.html(" ".join(f"<span style='display:inline-block;margin-right:1.2em'><span style='background:{x.hex};padding:0 "
                   f".7em'></span> {x.name} ({n})</span>" for x, n in sorted(counts.items(), key=lambda e: -e[1]) if n)
          + (" <span style='background:#2d2d2d;padding:0 .7em'></span> other" if K > 10 else ""))
si, sj = right.columns(2)
i = si.slider("Cell row i", 0, h - 1, h // 2, key=f"dm_i_{h}") if h > 1 else 0
j = sj.slider("Cell column j", 0, w - 1, w // 2, key=f"dm_j_{w}") if w > 1 else 0
right.image(hm.draw_cell(image, maps[0].geometry, i, j, 600))
t, l, b, r = (round(v) for v in maps[0].geometry.window_box(i, j))
right.markdown(f"**Cell ({i}, {j})**: window rows {t}…{b}, columns {l}…{r} (solid yellow); receptive field "
               f"{geo.rf}×{geo.rf} (dashed cyan, cut at the image edge: beyond it is zero padding). Top 3: "
               + ", ".join(f"**{name}** {p:.0%}" for name, p in hm.top_k(probs[:, i, j], clf.classes)))
st.markdown("**Probability of each class in each cell** (softmax over the classes; the same colours 0 → 1 "
            "for all: an untrained net is about 0.1 everywhere)")
for n, k in enumerate(range(K) if K <= 10 else np.argsort(-probs.max((1, 2)))[:10]):
    row = st.columns(5) if n % 5 == 0 else row
    row[n % 5].image(hm.enlarge(hm.cell_overlay(image, probs[k], maps[0].geometry, 0, 1, alpha=0.7), 300),
                     caption=f"{clf.classes[k]} · max {probs[k].max():.2f}", width="stretch")
st.image(hm.colorbar(300, 12), caption="probability 0 (dark blue) → 1 (yellow)")
if multi:
    st.markdown("**The same image at several scales** — shrinking the image makes its objects fit the window")
for col, m in zip(st.columns(len(maps)) if multi else [], maps):
    s, (hs, ws) = m.geometry.scale, (max(round(d * m.geometry.scale), win) for d in (H, W))
    col.image(hm.enlarge(hm.cell_overlay(image, hm.class_map(m.scores.argmax(0).numpy(), colours), m.geometry), 400),
              caption=f"scale {s}: {hs}×{ws} pixels → {m.scores.shape[1]}×{m.scores.shape[2]} cells, each window "
                      f"covering {win / s:.0f} original pixels")
    col.latex(r"\text{rows} = " + to_latex(m.geometry.formula(hs, 0)))
    col.latex(r"\text{columns} = " + to_latex(m.geometry.formula(ws, 1)))

st.subheader("4 · One dense pass vs a sliding window")
n = h * w
if n * macs > 3e10 and not st.button(f"Time the sliding window ({n} crops, about {n * macs / 1e9:,.0f} GMACs)"):
    st.stop()
scores, crops, t_dense, t_slide, dense_macs = compare(key, image, ss.get("dm_nonce", 0))
delta, agree = hm.agreement(scores, crops)
for col, (label, value, why) in zip(st.columns(5), [
        ("Dense pass (1 forward)", f"{t_dense * 1e3:,.1f} ms", f"{dense_macs / 1e6:,.0f} M MACs"),
        (f"Sliding window ({n} crops)", f"{t_slide * 1e3:,.1f} ms", f"{n * macs / 1e6:,.0f} M MACs"),
        ("Dense is faster by", f"{t_slide / t_dense:,.1f}×", f"work ratio {n * macs / dense_macs:,.1f}×"),
        ("max |Δ score|", f"{delta:.2g}", "largest difference of a raw class score (logit)"),
        ("Same winning class", f"{agree:.0%}", "cells whose winning class is the isolated crop's")]):
    col.metric(label, value, help=why)
st.button("Measure again", on_click=lambda: ss.update(dm_nonce=ss.get("dm_nonce", 0) + 1))
st.markdown(f"Both measured here, on this image. Neighbouring windows overlap by {win - geo.stride} of {win} pixels "
            f"per axis: the sliding window recomputes the shared convolutions for every crop ({n * macs / 1e6:,.0f} M "
            f"MACs), the dense pass computes each once ({dense_macs / 1e6:,.0f} M MACs).  \n**Why the scores "
            "differ:** every padded layer pads an isolated crop with zeros, where the dense pass reads the real "
            "neighbouring pixels (and features). A network without padding gives exactly the crops' scores.")
if tiles and all(tile.cell for tile in tiles):
    table = pd.DataFrame(hm.tile_table(tiles, probs, hm.softmax(crops), clf.classes, truth, truth_names))
    st.markdown(f"**Each tile is exactly one window** (tile (r, c) = cell ({32 // geo.stride}r, {32 // geo.stride}c)): "
                f"right {table['dense right'].sum()}/{len(table)} in the dense map, {table['crop right'].sum()}/"
                f"{len(table)} as isolated crops.")
    st.dataframe(table, hide_index=True, width="stretch")

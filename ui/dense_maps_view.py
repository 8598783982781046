"""The Dense score maps page's sections: the conversion table, the maps and their geometry, the timing against
a sliding window. The numbers come from cnncalc.pytorch.fcn; the pictures from cnncalc.draw.heatmaps."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from cnncalc.draw import colours as cmap
from cnncalc.draw import heatmaps as hm
from cnncalc.draw.primitives import enlarge
from cnncalc.pytorch import fcn
from cnncalc.pytorch.bridge import from_module
from cnncalc.pytorch.larger import larger_input
from cnncalc.train import data as datasets
from ui import budget
from ui.analyzer_sections import refusal_box
from ui.trained import classifier
from ui.widgets import to_latex

ROWS, COLS = 4, 6  # the mosaic of test images: 24 tiles
ss = st.session_state


@st.cache_resource(show_spinner="Converting the fc layers to convolutions…", max_entries=4)
def converted(key: str):
    """(converted net, conversion steps, max |difference| at the training size, geometry, MACs of one window)."""
    clf = classifier(key)
    with budget.held():
        return _converted(clf)


def _converted(clf):
    net, steps = fcn.convolutionalize(clf.model, clf.input_shape)
    macs = from_module(net, clf.input_shape).macs
    geo = fcn.geometry(net, clf.input_shape)
    check = fcn.cam_mean_difference if geo.cam else fcn.max_difference  # a CAM: the map's mean is the logits
    diff = check(clf.model, net, clf.input_shape, samples=1 if macs > 1e9 else 4)
    return net, steps, diff, geo, macs


@st.cache_data(show_spinner="Reading test images…")
def mosaic_images(source: str):
    """24 test images of the synthetic set or of the local CIFAR-10 copy, as (H, W, 3) arrays."""
    data = datasets.synthetic(1, ROWS * COLS, seed=1) if source == "synthetic" else \
        datasets.load(str(datasets.local_cifar10()), limit=ROWS * COLS)
    return data.test_x[:ROWS * COLS].transpose(0, 2, 3, 1), data.test_y[:ROWS * COLS], data.classes


def limit() -> int:
    """The memory one PyTorch pass may use on this server (``memory_mb``)."""
    return budget.limits().memory_bytes


@st.cache_data(max_entries=8, show_spinner="Scoring every window in one pass…")
def dense(key: str, image: np.ndarray, scales: tuple):
    """The heavy call of section 3 (one PyTorch pass per scale); fcn.TooLarge before it when it would not fit."""
    clf, net = classifier(key), converted(key)[0]
    with budget.held():
        return fcn.score_maps(net, clf.normalize(image), clf.input_shape, scales, max_bytes=limit())


@st.cache_data(max_entries=8, show_spinner="Timing the dense pass and the sliding window…")
def compare(key: str, image: np.ndarray, nonce: int):
    """The heavy call of section 4: the dense pass and the sliding window, best of 3 when cheap."""
    clf, (net, _, _, geo, macs) = classifier(key), converted(key)
    x, reps = clf.normalize(image), 3 if macs < 1e9 else 1  # best of 3 when cheap: the CPU may be shared
    with budget.held():  # one slot for the whole comparison: the two timings then see the same machine
        maps = [fcn.score_maps(net, x, clf.input_shape, max_bytes=limit())[0] for _ in range(reps)]
        slides = [fcn.sliding_window(clf.model, x, clf.input_shape[1:], geo.stride, max_bytes=limit())
                  for _ in range(reps)]
    return (maps[0].scores.numpy(), slides[0][0].numpy(), min(m.seconds for m in maps), min(s[1] for s in slides),
            from_module(net, (x.shape[0], *image.shape[:2])).macs)


def original_on_larger(clf, shape: tuple[int, int, int]) -> None:
    """Section 1: what the unconverted network does with the larger image."""
    if clf.spec:
        outcome = st.cache_data(larger_input, show_spinner=False)(clf.spec, clf.input_shape, shape)
        refusal_box(outcome, clf.spec, "this is why the next step converts the fc layers to convolutions")
        st.info(outcome.explanation)
        return
    _, H, W = shape
    if "VGG16" not in clf.name:
        st.info(f"torchvision's {clf.name} does not fail: an adaptive pooling before its classifier pools any "
                f"feature map to a fixed size, so a {H}×{W} image still gives one score vector.")
        return
    st.info(f"torchvision's VGG16 does not fail: its `AdaptiveAvgPool2d((7, 7))` pools any feature map down to "
            f"7×7 before the first fc (at {H}×{W}: 512×{H // 32}×{W // 32} → 512×7×7), so a larger image still "
            "gives one score vector — the positions are averaged away. The conversion drops that pool (the "
            "identity at 224×224) to keep them.")


def conversion(steps, diff: float, input_shape) -> None:
    """Section 2: each fc layer and the convolution that replaces it."""
    st.dataframe(pd.DataFrame([{"layer": s.name, "before": s.before, "after": s.after, "weights before":
                                str(s.weight_before or "—"), "weights after": str(s.weight_after or "—")}
                               for s in steps]), hide_index=True, width="stretch")
    first = next(s for s in steps if s.weight_after)
    o, ci, kh, kw = first.weight_after
    c, th, tw = input_shape
    st.markdown(f"**{first.name}** reads a {ci}×{kh}×{kw} map flattened to {ci * kh * kw:,} numbers: its "
                f"{first.weight_before} matrix is {o:,} filters of {ci}×{kh}×{kw} — a {kh}×{kw} convolution without "
                "padding, which fits exactly once on the training size. The fc layers after it read a 1×1 map: 1×1 "
                "convolutions. Same weights, reshaped, not retrained.")
    st.success(f"Same outputs at the training size {c}×{th}×{tw}: **max |difference| = {diff:.1e}** on random "
               "inputs (float32 rounding: the same sums in another order).")


def winners(image, probs, geometry, classes) -> dict:
    """The winning class of each cell as a picture with its legend; returns the colours used, by class."""
    K, argmax = probs.shape[0], probs.argmax(0)
    colours = hm.palette(range(K) if K <= 10 else pd.Series(argmax.ravel()).value_counts().index[:9])
    st.markdown("**Winning class of each cell** — its colour sits at the centre of the cell's window")
    st.image(hm.cap_pixels(enlarge(hm.cell_overlay(image, hm.class_map(argmax, colours), geometry), 600)))
    counts = {x: int((argmax == x.class_id).sum()) for x in hm.legend(classes, colours)}
    st.html(" ".join(f"<span style='display:inline-block;margin-right:1.2em'><span style='background:{x.hex};"
                     f"padding:0 .7em'></span> {x.name} ({n})</span>"
                     for x, n in sorted(counts.items(), key=lambda e: -e[1]) if n)
            + (" <span style='background:#2d2d2d;padding:0 .7em'></span> other" if K > 10 else ""))
    return colours


def one_cell(image, probs, geometry, rf: int, classes) -> None:
    """A cell picked by two sliders: its window, its receptive field, its top 3 classes."""
    _, h, w = probs.shape
    si, sj = st.columns(2)
    i = si.slider("Cell row i", 0, h - 1, h // 2, key=f"dm_i_{h}") if h > 1 else 0
    j = sj.slider("Cell column j", 0, w - 1, w // 2, key=f"dm_j_{w}") if w > 1 else 0
    st.image(hm.cap_pixels(hm.draw_cell(image, geometry, i, j, 600)))
    t, l, b, r = (round(v) for v in geometry.window_box(i, j))
    st.markdown(f"**Cell ({i}, {j})**: window rows {t}…{b}, columns {l}…{r} (solid yellow); receptive field "
                f"{rf}×{rf} (dashed cyan, cut at the image edge: beyond it is zero padding). Top 3: "
                + ", ".join(f"**{name}** {p:.0%}" for name, p in fcn.top_k(probs[:, i, j], classes)))


def class_probabilities(image, probs, geometry, classes) -> None:
    st.markdown("**Probability of each class in each cell** (softmax over the classes; the same colours 0 → 1 "
                "for all: an untrained net is about 0.1 everywhere)")
    K = probs.shape[0]
    shown = list(range(K) if K <= 10 else np.argsort(-probs.max((1, 2)))[:10])
    for start in range(0, len(shown), 5):
        for col, k in zip(st.columns(5), shown[start:start + 5]):
            col.image(hm.cap_pixels(enlarge(hm.cell_overlay(image, probs[k], geometry, 0, 1, alpha=0.7), 300)),
                      caption=f"{classes[k]} · max {probs[k].max():.2f}", width="stretch")
    st.image(cmap.colorbar(300, 12), caption="probability 0 (dark blue) → 1 (yellow)")


def scales(image, maps, colours, win: int) -> None:
    st.markdown("**The same image at several scales** — shrinking the image makes its objects fit the window")
    H, W = image.shape[:2]
    for col, m in zip(st.columns(len(maps)), maps):
        s, (hs, ws) = m.geometry.scale, (max(round(d * m.geometry.scale), win) for d in (H, W))
        col.image(hm.cap_pixels(enlarge(hm.cell_overlay(image, hm.class_map(m.scores.argmax(0).numpy(), colours),
                                                       m.geometry), 400)),
                  caption=f"scale {s}: {hs}×{ws} pixels → {m.scores.shape[1]}×{m.scores.shape[2]} cells, each window "
                          f"covering {win / s:.0f} original pixels")
        col.latex(r"\text{rows} = " + to_latex(m.geometry.formula(hs, 0)))
        col.latex(r"\text{columns} = " + to_latex(m.geometry.formula(ws, 1)))


def timing(key: str, image, probs, geo, macs: int, tiles, truth) -> None:
    """Section 4: the dense pass against a sliding window over every crop, on this image."""
    clf, (_, h, w), win = classifier(key), probs.shape, geo.window[0]
    n = h * w
    if n * macs > 3e10 and not st.button(f"Time the sliding window ({n} crops, about {n * macs / 1e9:,.0f} GMACs)"):
        return
    try:
        with budget.waiting_note("Timing the dense pass and the sliding window"):
            scores, crops, t_dense, t_slide, dense_macs = compare(key, image, ss.get("dm_nonce", 0))
    except (fcn.TooLarge, TimeoutError) as err:  # estimated before either pass: nothing was allocated
        st.warning(f"**Not timed:** {err}")
        return
    delta, agree = fcn.agreement(scores, crops)
    for col, (label, value, why) in zip(st.columns(5), [
            ("Dense pass (1 forward)", f"{t_dense * 1e3:,.1f} ms", f"{dense_macs / 1e6:,.0f} M MACs"),
            (f"Sliding window ({n} crops)", f"{t_slide * 1e3:,.1f} ms", f"{n * macs / 1e6:,.0f} M MACs"),
            ("Dense is faster by", f"{t_slide / t_dense:,.1f}×", f"work ratio {n * macs / dense_macs:,.1f}×"),
            ("max |Δ score|", f"{delta:.2g}", "largest difference of a raw class score (logit)"),
            ("Same winning class", f"{agree:.0%}", "cells whose winning class is the isolated crop's")]):
        col.metric(label, value, help=why)
    st.button("Measure again", on_click=lambda: ss.update(dm_nonce=ss.get("dm_nonce", 0) + 1))
    st.markdown(f"Both measured here, on this image. Neighbouring windows overlap by {win - geo.stride} of {win} "
                f"pixels per axis: the sliding window recomputes the shared convolutions for every crop "
                f"({n * macs / 1e6:,.0f} M MACs), the dense pass computes each once ({dense_macs / 1e6:,.0f} M "
                "MACs).  \n**Why the scores differ:** every padded layer pads an isolated crop with zeros, where the "
                "dense pass reads the real neighbouring pixels (and features). A network without padding gives "
                "exactly the crops' scores.")
    if tiles and all(tile.cell for tile in tiles):
        labels, names = truth
        table = pd.DataFrame(fcn.tile_table(tiles, probs, fcn.softmax(crops), clf.classes, labels, names))
        st.markdown(f"**Each tile is exactly one window** (tile (r, c) = cell ({32 // geo.stride}r, "
                    f"{32 // geo.stride}c)): right {table['dense right'].sum()}/{len(table)} in the dense map, "
                    f"{table['crop right'].sum()}/{len(table)} as isolated crops.")
        st.dataframe(table, hide_index=True, width="stretch")

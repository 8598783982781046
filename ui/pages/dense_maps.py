"""Dense score maps: every fc layer replaced by its equivalent convolution, so a network built for 32×32 scores
every window of a larger image in one pass — a grid of class scores instead of a sliding window."""
import streamlit as st

from cnncalc.classroom.samples import load_sample, open_upload, sample_names
from cnncalc.draw import heatmaps as hm
from cnncalc.pytorch import fcn
from cnncalc.pytorch.models import WeightsUnavailable
from cnncalc.train.data import local_cifar10
from ui import budget
from ui import dense_maps_view as view
from ui import model_picker as picker
from ui.trained import classifier
from ui.widgets import escape, to_latex

SCALES = (1.0, 0.75, 0.5)
st.title("🗺️ Dense score maps")
st.markdown("Can a network built for 32×32 run on a larger image? Its convolutions and pools can; its first "
            "fully-connected layer cannot. But **an fc layer is a particular convolution**: replace each by its "
            "equivalent convolution and, on a larger image, the network outputs a **grid of class scores** — every "
            "window scored in one pass instead of a sliding window.")

c_model, c_image, c_upload, c_size = st.columns([3, 3, 3, 2])
choice = picker.pick("dm", need_weights=True, where=c_model)  # only models with weights: this page runs them
key = choice.key
try:
    clf = classifier(key)
    with budget.waiting_note("Converting the fc layers"):
        net, steps, diff, geo, macs = view.converted(key)
except WeightsUnavailable as err:
    st.warning(f"**{escape(choice.label)} is not available here:** {escape(err)}")
    st.stop()
except Exception as err:  # a corrupt checkpoint, a layer with no convolutional equivalent…
    st.error(f"**Cannot use {escape(choice.label)}:** {type(err).__name__}: {escape(err)}")
    st.stop()
if geo.cam:  # a global-average-pooling head: no window to slide, a class activation map instead
    st.dataframe([{"layer": s.name, "before": s.before, "after": s.after} for s in steps], hide_index=True)
    st.info(f"**Class activation map** (Zhou et al. 2016): {escape(clf.name)} ends in global average pooling, so "
            "the pooling is dropped and its fc layers become 1×1 convolutions. The map has one cell per position "
            f"of the last convolution, each seeing its {geo.rf}-pixel field, {geo.stride} pixels apart; **the mean "
            f"of the map equals the original logits** (max |difference| {diff:.1e} at the training size) — a cell "
            "is not one window's scores. This page draws window grids; pick a model with a flatten + fc head.")
    st.stop()
win, (c, th, tw) = geo.window[0], clf.input_shape
with st.expander(f"Where this model comes from — {escape(clf.name)}"):
    st.json(clf.provenance or {"note": "no provenance recorded"})

mosaics = {name: src for name, src, ok in [
    ("synthetic rings: 24 test images", "synthetic", clf.provenance.get("data") == "synthetic"),
    ("CIFAR-10: 24 test images (local copy)", "cifar", local_cifar10() is not None)] if ok and (th, tw) == (32, 32)}
choice = c_image.selectbox("Image", list(mosaics) + sample_names(), key="dm_image")
upload = c_upload.file_uploader("…or upload your own", key="dm_upload")
if choice in mosaics and upload is None:
    c_size.markdown(f"**Size:** {view.ROWS * th}×{view.COLS * tw} pixels, the tiles' native size")
else:
    longest = c_size.slider("Longest side (pixels)", win, max(512, 4 * win), min(3 * win, 448), step=geo.stride,
                            key=f"dm_longest_{win}", help="The image is resized: its longest side gets this size")
image, tiles, truth = None, None, None
if upload is not None:
    try:
        up = open_upload(upload.getvalue(), at_least=longest)  # a phone photo is decoded at 1/8 scale
        fitted = hm.fit(up.image, longest, win, original=up.size)
        image, note = fitted.image, fitted.note(f"Your upload ‘{escape(upload.name)}’")
        if note:  # cropped or resized: say so (a 24-megapixel photo is scored as a small copy)
            st.info(f"{note} The pictures below show this copy.")
    except ValueError as err:
        st.error(f"**Cannot use '{escape(upload.name)}':** {escape(err)}. Showing '{choice}' instead.")
if image is None and choice in mosaics:
    tile_images, *truth = view.mosaic_images(mosaics[choice])
    image, tiles = hm.mosaic(tile_images, view.ROWS, view.COLS, geo.stride, (th, tw))
elif image is None:
    image = hm.fit_longest(load_sample(choice), longest, win)
H, W = image.shape[:2]
st.caption(f"The network was trained on {th}×{tw} images: it recognises an object that is **about {win} pixels** "
           f"in the resized {H}×{W} image, not one that fills a large photo. " +
           ("Each tile of the mosaic is one test image at its native size: exactly one window." if tiles else
            "Make the longest side smaller to make the objects smaller."))

st.subheader(f"1 · The original network on a {H}×{W} image")
view.original_on_larger(clf, (c, H, W))
st.subheader("2 · Each fully-connected layer becomes a convolution")
view.conversion(steps, diff, clf.input_shape)

st.subheader("3 · A grid of class scores, in one pass")
scales = tuple(s for s in SCALES if min(H, W) * s >= win)
multi = st.toggle(f"Also at scales {', '.join(map(str, scales[1:])) or '< 1 (none: the image is window-sized)'}: "
                  f"a smaller copy lets the {win}-pixel window take in larger objects", key="dm_multi",
                  disabled=len(scales) == 1)
try:
    with budget.waiting_note("Scoring every window"):
        maps = view.dense(key, image, scales if multi else (1.0,))
except (fcn.TooLarge, TimeoutError) as err:  # estimated before the pass: nothing was allocated
    st.warning(f"**Not run:** {err}")
    st.stop()
probs = fcn.softmax(maps[0].scores.numpy())
_, h, w = probs.shape
st.markdown(f"The {H}×{W} image gives a **{h}×{w}** map: one cell per {th}×{tw} window, **{geo.stride} pixels "
            f"apart** (the jump of the layer before the first fc = the product of the strides).")
col_r, col_c = st.columns(2)
col_r.latex(r"\text{rows} = " + to_latex(geo.formula(H, 0)))
col_c.latex(r"\text{columns} = " + to_latex(geo.formula(W, 1)))
left, right = st.columns(2)
with left:
    colours = view.winners(image, probs, maps[0].geometry, clf.classes)
with right:
    view.one_cell(image, probs, maps[0].geometry, geo.rf, clf.classes)
view.class_probabilities(image, probs, maps[0].geometry, clf.classes)
if multi:
    view.scales(image, maps, colours, win)

st.subheader("4 · One dense pass vs a sliding window")
view.timing(key, image, probs, geo, macs, tiles, truth)

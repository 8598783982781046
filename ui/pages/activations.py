"""What each layer sees: a trained network's activation maps on one image, layer by layer, the strongest
channels first; one map enlarged with a cell's receptive field on the input; the class scores at the end."""
import streamlit as st

from cnncalc.classroom.samples import resize, sample_names
from cnncalc.pytorch.models import WeightsUnavailable
from cnncalc.server.limits import TooLarge
from ui import activations_view as view
from ui import budget
from ui.receptive_view import source_image
from ui.trained import classifier
from ui.widgets import escape

st.title("🔬 What each layer sees")
st.markdown("Run a trained network on one image and look at **every layer's output**: each channel is a map of "
            "where its pattern was found. Early layers answer to edges and colours at each pixel; deeper layers "
            "see larger fields and answer to parts of objects.")

labels, notes = view.models()
c_model, c_image, c_upload = st.columns([3, 2, 3])
key = c_model.selectbox("Model", list(labels), format_func=labels.get, key="act_model",
                        help="The same trained networks the receptive-field page offers.")
for note in notes:  # VGG16 without cached weights: where to put them
    c_model.caption(note)
try:
    clf = classifier(key)
except WeightsUnavailable as err:
    st.warning(f"**{escape(labels[key])} is not available here:** {escape(err)}")
    st.stop()
except Exception as err:  # a corrupt checkpoint
    st.error(f"**Cannot load {escape(labels[key])}:** {type(err).__name__}: {escape(err)}")
    st.stop()
_, h, w = clf.input_shape
sample = c_image.selectbox("Image", sample_names(), key="act_sample")
upload = c_upload.file_uploader("…or upload your own", type=None, key="act_upload")
with c_upload:
    source, label = source_image(sample, upload, h, w)
image = resize(source, (h, w))  # centre-cropped to the input's aspect ratio, then resized: never stretched

try:
    with budget.waiting_note("Collecting every layer's maps"):
        result = view.computed(key, image, view.limit())
except (TooLarge, TimeoutError) as err:  # estimated before the pass: nothing was allocated
    st.warning(f"**Not run:** {err}")
    st.stop()
except Exception as err:  # a network PyTorch refuses on this input
    st.error(f"Could not run {escape(labels[key])}: {type(err).__name__}: {escape(err)}")
    st.stop()
if not result.layers:
    st.info("This model has no layer with a C×H×W output to show.")
    st.stop()

top_name, top_p = result.top(clf.classes, 1)[0]
pic_col, text_col = st.columns([1, 4])
pic_col.image(view.enlarged(image), caption=f"The input: {label}, {h}×{w} pixels", width="stretch")
text_col.markdown(f"**{escape(clf.name)}** sees **{escape(top_name)}** ({top_p:.0%}). Below: the outputs of its "
                  f"{len(result.layers)} convolution, activation and pooling layers, in the order they run.")
text_col.caption("Each small map is one channel; colours run from dark blue (the layer's lowest value) to "
                 "yellow (its highest), one scale per layer so the maps of a layer compare. A convolution's "
                 "output can be negative; the ReLU after it sets those to 0; a pool keeps the strongest of "
                 "each 2×2 block. The small number on a map is its channel.")
text_col.image(view.colour_scale(), caption="low → high", width=256)

st.subheader("1 · Every layer's maps")
per_layer = st.columns([1, 2])[0].select_slider("Maps per layer", (4, 9, 16, 36, 64), 16, key="act_per_layer",
                             help="The strongest channels of each layer, by mean activation over the map.")
view.layer_grids(result, view.grids(key, image, per_layer, view.limit()), per_layer)

st.subheader("2 · One map up close, and what one of its cells sees")
st.markdown("Pick a layer, a channel and a cell: the cell's value depends only on the input pixels in its "
            "**receptive field** (yellow box on the right; dimmed pixels cannot change it).")
view.closer(result, view.analysis_of(key), image, key)

st.subheader("3 · The class scores at the end")
st.caption(f"Softmax of the last layer's {len(result.scores)} scores; the top 5 of {len(clf.classes)} classes.")
view.scores(result, clf.classes)

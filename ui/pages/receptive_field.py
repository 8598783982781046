"""Receptive-field explorer: the input pixels one unit sees, beside the field measured by gradients."""
import streamlit as st

from cnncalc.classroom.samples import resize, sample_names
from cnncalc.pytorch.erf import gradient_plan
from cnncalc.receptive import field_box
from cnncalc.server.limits import TooLarge
from ui import budget
from ui import model_picker as picker
from ui import receptive_view as view
from ui.widgets import escape

st.title("🎯 Receptive fields")
st.markdown("#### Which input pixels can one unit see — and which does it really use?  \n"
            "Positions are **in input pixels, pixel centres at 0, 1, 2, …**; unit (i, j) = row i, column j.")

linked = st.query_params.get("spec")  # links from the analyzer page open the same net
choice = picker.pick("rf")
picked = view.network(choice, linked)
if picked is None:
    st.stop()
spec_text, shape, analysis, trained, ident = picked
usable = view.usable_layers(analysis)
if not analysis.ok:
    bad = analysis.first_error
    st.warning(f"{bad.name} ('{bad.spec}'): {bad.message}" + (f" — try `{bad.fix}`" if bad.fix else ""))
if len(shape) != 3 or not usable:
    bad = analysis.first_error
    st.error(f"No layer here has a receptive field: {bad.name} is in error (see above); apply its fix first."
             if bad is not None and len(shape) == 3 else
             "No layer here has a receptive field: the input must be C×H×W and the net must start with "
             "conv/pool layers.")
    st.stop()

names = [r.name for r in usable]
layer_col, i_col, j_col = st.columns([4, 3, 3])  # wide enough for "pool3 — maxpool k=2 → 64×4×4"
name = layer_col.selectbox("Layer", names, index=len(names) - 1, key=f"rf_layer:{ident}",
                           format_func=lambda n: view.layer_label(analysis, n))
report = analysis[name]
_, oh, ow = report.out_shape
i = view.unit_slider(i_col, "Unit row i", oh, f"rf_i:{ident}:{name}")
j = view.unit_slider(j_col, "Unit column j", ow, f"rf_j:{ident}:{name}")
h, w = shape[1:]
box = field_box(report, i, j, (h, w))

img_col, up_col, how_col = st.columns([2, 3, 2])
sample = img_col.selectbox("Image", sample_names(), key="rf_sample")
upload = up_col.file_uploader("…or upload your own", type=None, key="rf_upload")
with up_col:
    source, label = view.source_image(sample, upload, h, w)
pic = view.picture(report, h, w)  # a huge or elongated input is drawn resampled: never built full-size here
image = pic.image(source, h, w)
use = how_col.radio("Measure the gradient on", ["this image", "random noise"], key="rf_measure_on",
                    help="Random noise, averaged over several draws, is Luo et al.'s setting.",
                    disabled=spec_text is None)

st.subheader(f"{name}, unit ({i}, {j})")
view.metrics(report, box, shape)
with st.expander("How these numbers are computed (one step per layer, per axis)"):
    view.worked_steps(report, box, usable, name, i, j)

result = None
samples = 1 if analysis.macs > 2e9 else 4
try:
    if spec_text is not None:  # a torchvision model has no weights here: its analytic field only
        gradient_plan(spec_text, shape, name, max_bytes=view.limit())  # arithmetic: refuses before any tensor
        full = None if use != "this image" else image if not pic.resampled else resize(source, (h, w))
        with budget.waiting_note("Measuring the gradient field"):
            result = view.measured(spec_text, shape, name, (i, j), full, samples, None, trained)
except TooLarge as err:
    st.warning(f"**The gradient is not measured:** {err} The theoretical field below needs no PyTorch.")
except Exception as err:  # a net PyTorch refuses: say so, keep the theoretical side
    st.error(f"Could not measure the gradient: {escape(err)}")
lay = view.picture_layout(pic)
if pic.resampled:
    st.caption(pic.note(h, w))
left, right = st.columns(2)
with left:
    view.theoretical(image, report, i, j, lay, name, pic)
with right:
    if spec_text is None:
        view.weights_panel(choice)
    else:
        view.measured_panel(result, report, i, j, lay, label, trained, pic)
if result is not None:
    view.verdict(result, trained, bool(picker.trained_models()[0]))

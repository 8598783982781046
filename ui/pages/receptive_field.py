"""Receptive-field explorer: the input pixels one unit sees, beside the field measured by gradients."""
import streamlit as st

from cnncalc import PRESETS, SpecError, analyze, format_shape, parse_shape
from cnncalc.classroom.samples import resize, sample_names
from cnncalc.pytorch.erf import gradient_plan
from cnncalc.server.limits import TooLarge
from cnncalc.pytorch.models import SHIPPED
from cnncalc.receptive import field_box
from ui import budget
from ui import receptive_view as view
from ui.trained import classifier, stored_runs
from ui.widgets import escape

CUSTOM = "custom spec…"
st.title("🎯 Receptive fields")
st.markdown("#### Which input pixels can one unit see — and which does it really use?  \n"
            "Positions are **in input pixels, pixel centres at 0, 1, 2, …**; unit (i, j) = row i, column j.")

linked = st.query_params.get("spec")  # links from the analyzer page open the same net
runs, _ = stored_runs()  # an unreadable store only hides the runs
TRAINED = {**({"trained: lab net shipped with cnncalc (CIFAR-10)": "shipped"} if SHIPPED.exists() else {}),
           **{f"trained: {label}": key for key, label in runs.items()}}
keys = list(PRESETS) + list(TRAINED) + [CUSTOM]
net_col, spec_col = st.columns([1, 2])
choice = net_col.selectbox("Network", keys, index=len(keys) - 1 if linked else 0, key="rf_net",
                           format_func=lambda k: PRESETS[k].title if k in PRESETS else k,
                           help="A trained checkpoint lets you compare the effective field before (random "
                                "weights) and after training, on the same network.")
trained = None
if choice in TRAINED:
    clf = classifier(TRAINED[choice])
    spec_text, shape_text = clf.spec, format_shape(clf.input_shape, "x")
    spec_col.caption(f"`{spec_text}`  \n{escape(clf.name)}")
    if spec_col.radio("Weights", ["trained", "random (before training)"], key="rf_weights", horizontal=True,
                      help="The same network with PyTorch's default random init, to see what training "
                           "changed.") == "trained":
        trained = TRAINED[choice]
elif choice == CUSTOM:
    spec_text = spec_col.text_area("Spec (one layer per ';')", linked or PRESETS["lab"].spec, key="rf_spec")
    shape_text = net_col.text_input("Input C×H×W", st.query_params.get("input", "3x32x32"), key="rf_input")
else:
    spec_text, shape_text = PRESETS[choice].spec, format_shape(PRESETS[choice].input_shape, "x")
    spec_col.caption(f"`{spec_text}`  \n{PRESETS[choice].source}")
try:
    shape = parse_shape(shape_text)
    analysis = analyze(spec_text, shape)
except SpecError as err:
    st.error(f"Cannot read this network: {escape(err)}")
    st.stop()
usable = [r for r in analysis.layers if r.status != "error" and r.rf is not None and r.out_shape
          and len(r.out_shape) == 3]
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
name = layer_col.selectbox("Layer", names, index=len(names) - 1, key=f"rf_layer:{spec_text}",
                           format_func=lambda n: view.layer_label(analysis, n))
report = analysis[name]
_, oh, ow = report.out_shape
i = view.unit_slider(i_col, "Unit row i", oh, f"rf_i:{spec_text}:{name}")
j = view.unit_slider(j_col, "Unit column j", ow, f"rf_j:{spec_text}:{name}")
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
                    help="Random noise, averaged over several draws, is Luo et al.'s setting.")

st.subheader(f"{name}, unit ({i}, {j})")
view.metrics(report, box, shape)
with st.expander("How these numbers are computed (one step per layer, per axis)"):
    view.worked_steps(report, box, usable, name, i, j)

samples = 1 if analysis.macs > 2e9 else 4
try:
    gradient_plan(spec_text, shape, name, max_bytes=view.limit())  # arithmetic: refuses before any image or tensor
    full = None if use != "this image" else image if not pic.resampled else resize(source, (h, w))
    with budget.waiting_note("Measuring the gradient field"):
        result = view.measured(spec_text, shape, name, (i, j), full, samples, None, trained)
except TooLarge as err:
    result = None
    st.warning(f"**The gradient is not measured:** {err} The theoretical field below needs no PyTorch.")
except Exception as err:  # a net PyTorch refuses: say so, keep the theoretical side
    result = None
    st.error(f"Could not measure the gradient: {escape(err)}")
lay = view.picture_layout(pic)
if pic.resampled:
    st.caption(pic.note(h, w))
left, right = st.columns(2)
with left:
    view.theoretical(image, report, i, j, lay, name, pic)
with right:
    view.measured_panel(result, report, i, j, lay, label, trained, pic)
if result is not None:
    view.verdict(result, trained, bool(TRAINED))

"""Receptive-field explorer: the input pixels one unit sees, beside the field measured by gradients."""
import streamlit as st

from cnncalc import PRESETS, SpecError, analyze, parse_shape
from cnncalc.erf import gradient_field, interpretation
from cnncalc.receptive import number_text
from cnncalc.rfdraw import draw_field, draw_heat, field_box, grid_visible, layout
from cnncalc.samples import load_sample, load_upload, resize, sample_names
from ui import to_latex

CUSTOM = "custom spec…"
st.title("🎯 Receptive fields")
st.markdown("#### Which input pixels can one unit see — and which does it really use?  \n"
            "Positions are **in input pixels, pixel centres at 0, 1, 2, …**; unit (i, j) = row i, column j.")


@st.cache_data(show_spinner="Backpropagating from the unit to the input…", max_entries=64)
def measured(spec, shape, layer, unit, image, samples, channel, trained=None):
    state = checkpoint(trained).model.state_dict() if trained else None
    return gradient_field(spec, shape, layer, unit, image=image, samples=samples, channel=channel, state_dict=state)


def trained_nets() -> dict[str, str]:
    """Trained checkpoints to compare with random weights: {label: key} (the shipped one, finished runs)."""
    from cnncalc.models import SHIPPED
    from cnncalc.train.store import RunStore, default_root
    nets = {"trained: lab net shipped with cnncalc (CIFAR-10)": "shipped"} if SHIPPED.exists() else {}
    try:
        for run in RunStore(default_root()).list(status="done"):
            if run.checkpoint and run.input_shape and len(run.input_shape) == 3:
                nets[f"trained: run #{run.id} — {run.name}"] = f"run:{run.id}"
    except Exception:  # an unreadable store only hides the runs
        pass
    return nets


@st.cache_resource(max_entries=8)
def checkpoint(key: str):
    from cnncalc import models
    if key == "shipped":
        return models.shipped()
    from cnncalc.train.store import RunStore, default_root
    store = RunStore(default_root())
    return models.from_run(store, store.get(int(key.split(":")[1])))


def unit_slider(col, label, n, key):
    if n == 1:
        col.markdown(f"**{label}:** 0 (the only one)")
        return 0
    return col.slider(f"{label} (0…{n - 1})", 0, n - 1, (n - 1) // 2, key=key)


def per_axis(col, what, values, sep, help):
    a, c = (number_text(v).replace("-", "−") for v in values)
    col.metric(f"{what} (H = W)" if a == c else f"{what} (H{sep}W)", a if a == c else f"{a}{sep}{c}", help=help)


linked = st.query_params.get("spec")  # links from the analyzer page open the same net
TRAINED = trained_nets()
keys = list(PRESETS) + list(TRAINED) + [CUSTOM]
net_col, spec_col = st.columns([1, 2])
choice = net_col.selectbox("Network", keys, index=len(keys) - 1 if linked else 0, key="net",
                           format_func=lambda k: PRESETS[k].title if k in PRESETS else k,
                           help="A trained checkpoint lets you compare the effective field before (random "
                                "weights) and after training, on the same network.")
trained = None
if choice in TRAINED:
    clf = checkpoint(TRAINED[choice])
    spec_text, shape_text = clf.spec, "x".join(map(str, clf.input_shape))
    spec_col.caption(f"`{spec_text}`  \n{clf.name}")
    if spec_col.radio("Weights", ["trained", "random (before training)"], key="weights", horizontal=True,
                      help="The same network with PyTorch's default random init, to see what training "
                           "changed.") == "trained":
        trained = TRAINED[choice]
elif choice == CUSTOM:
    spec_text = spec_col.text_area("Spec (one layer per ';')", linked or PRESETS["lab"].spec, key="spec")
    shape_text = net_col.text_input("Input C×H×W", st.query_params.get("input", "3x32x32"), key="input")
else:
    spec_text, shape_text = PRESETS[choice].spec, "x".join(map(str, PRESETS[choice].input_shape))
    spec_col.caption(f"`{spec_text}`  \n{PRESETS[choice].source}")
try:
    shape = parse_shape(shape_text)
    analysis = analyze(spec_text, shape)
except SpecError as err:
    st.error(f"Cannot read this network: {err}")
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
name = layer_col.selectbox("Layer", names, index=len(names) - 1, key=f"layer:{spec_text}", format_func=lambda n:
                           f"{n} — {analysis[n].spec} → {'×'.join(map(str, analysis[n].out_shape))}")
report = analysis[name]
_, oh, ow = report.out_shape

i = unit_slider(i_col, "Unit row i", oh, f"i:{spec_text}:{name}")
j = unit_slider(j_col, "Unit column j", ow, f"j:{spec_text}:{name}")
h, w = shape[1:]
box = field_box(report, i, j, (h, w))

img_col, up_col, how_col = st.columns([2, 3, 2])
sample = img_col.selectbox("Image", sample_names(), key="sample")
upload = up_col.file_uploader("…or upload your own", type=None, key="upload")
image, label = load_sample(sample, (h, w)), sample
if upload is not None:
    try:
        image, label = resize(load_upload(upload.getvalue()), (h, w)), "uploaded"
    except ValueError as err:
        st.error(f"Cannot use '{upload.name}': {err}. Showing the sample '{sample}' instead.")
use = how_col.radio("Measure the gradient on", ["this image", "random noise"], key="measure_on",
                    help="Random noise, averaged over several draws, is Luo et al.'s setting.")

st.subheader(f"{name}, unit ({i}, {j})")
cols = st.columns(5)
per_axis(cols[0], "RF size", report.rf, " × ", "input pixels one unit sees, per axis")
per_axis(cols[1], "Jump", report.jump, " × ", "input pixels between neighbouring units, per axis")
per_axis(cols[2], "Start", report.start, ", ", "centre of unit (0, 0)'s field, in input coordinates")
t, l, b, r = box.unclipped
cols[3].metric("Rows seen", f"{t} … {b}".replace("-", "−"), help="start_H + i·jump_H ± (rf_H − 1)/2")
cols[4].metric("Columns seen", f"{l} … {r}".replace("-", "−"), help="start_W + j·jump_W ± (rf_W − 1)/2")
if box.clipped is None:
    st.warning("This unit's whole field lies in the padding: it sees no pixel of the image.")
elif box.clipped != box.unclipped:
    ct, cl, cb, cr = box.clipped
    st.info(f"Inside the {h}×{w} image: rows {ct} … {cb}, columns {cl} … {cr}; the rest of the field is "
            "zero padding (hatched).")

with st.expander("How these numbers are computed (one step per layer, per axis)"):
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
        seen = to_latex(f"{number_text(report.start[k])} + {unit}·{report.jump[k]} ± ({report.rf[k]} − 1)/2 = {lo} … {hi}")
        st.latex(rf"\text{{{'rows' if axis == 'H' else 'columns'} seen}} = " + seen)
    st.dataframe([{"layer": x.name, "rf": f"{x.rf[0]}×{x.rf[1]}", "jump": f"{x.jump[0]}×{x.jump[1]}",
                   "start": ", ".join(number_text(s) for s in x.start)} for x in usable[:names.index(name) + 1]],
                 hide_index=True)

samples = 1 if analysis.macs > 2e9 else 4
try:
    result = measured(spec_text, shape, name, (i, j), image if use == "this image" else None, samples, None,
                      trained)
except Exception as err:  # a net PyTorch refuses: say so, keep the theoretical side
    result = None
    st.error(f"Could not measure the gradient: {err}")
lay = layout(report, (h, w), target=max(640, 2 * max(h, w)), max_margin=max(16, max(h, w) // 4))
left, right = st.columns(2)
with left:
    st.markdown("### Theoretical field")
    st.image(draw_field(image, report, i, j, lay=lay), width="stretch")
    apart = f"{report.jump[0]}×{report.jump[1]} pixels apart (the jump)"
    grid = (f"**cyan dots:** centres of all {oh}×{ow} units of {name}, {apart}" if grid_visible(report, lay) else
            f"{name} has one unit per input pixel (jump 1)" if max(report.jump) == 1 else
            f"the {oh}×{ow} units of {name} are {apart}, too dense to draw as dots")
    st.markdown(f"**Yellow box:** pixels the unit sees · **hatched/dashed:** padding · **red dot:** its centre · "
                f"{grid}.")
with right:
    st.markdown("### Measured by gradients")
    if result is not None:
        st.image(draw_heat(result.values, report, i, j, central=result.central, lay=lay), width="stretch")
        on = "random noise" if result.input_kind == "noise" else f"the {label} image"
        inits = ("the trained weights" + (f", {result.samples} noise draws" if result.samples > 1 else "")
                 if trained else "1 random initialisation" if result.samples == 1 else
                 f"{result.samples} random initialisations")
        st.markdown(f"Brightness ∝ √|∂y/∂x|: y = the unit ({report.out_shape[0]} channels summed), x = each "
                    f"input pixel (colours summed); mean of {inits} on {on}. **White:** theoretical field · "
                    "**cyan dashed:** central box (half the field per axis).")
if result is not None:
    (st.success if result.extent is not None else st.info)(interpretation(result) + (
        " Weights: trained — switch to random to see the field before training (Luo et al. 2016 saw the "
        "effective field grow during training)." if trained else
        " Weights: random (PyTorch's default init)" + ("; pick a trained network above to compare with training."
                                                       if TRAINED else "; no trained checkpoint here yet.")))
    for note in result.notes:
        st.caption(f"Note: {note}.")

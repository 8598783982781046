"""Layer calculator: one conv or pooling layer → output size, weights, FC-equivalent, MACs with their formulas;
warnings and one-click fixes; keep/halve-the-size solvers; the kernel sliding over the padded input."""
import streamlit as st

from cnncalc import analyze
from cnncalc.classroom import calculator as calc
from cnncalc.classroom import quiz
from ui import calculator_form as form
from ui import sliding_view
from ui import widgets

ss = st.session_state
K, apply, apply_spec = form.K, form.apply, form.apply_spec
f = form.init()

st.title("🧮 Layer calculator")
st.caption("One convolution, transposed convolution or pooling layer: its output size, weights and cost, each number with its formula "
           "and your values substituted — and the kernel sliding over the padded input.")
st.radio("Layer type", list(calc.MODES), key=K + "mode", horizontal=True,
         help="Convolution (nn.Conv2d) learns N filters; max/average pooling (nn.MaxPool2d / nn.AvgPool2d) "
              "has no weights and keeps the channels.")
pool, per_axis, transposed = calc.is_pool(f), f["per_axis"], calc.is_transposed(f)
keep, keep_notes = calc.keep_size(f)

form.layer_inputs(f, pool, per_axis, keep)
f = form.fields()
transposed = calc.is_transposed(f)
layer = calc.layer_from_fields(f)
r = analyze([layer], (f["in_c"], f["in_h"], f["in_w"])).layers[0]  # the one core call
ss["calc_saved"] = f

if r.status == "warning":
    st.warning(f"**Valid, but some input is never read:** {calc.never_read(r)}.")
elif r.status == "error":
    st.error(f"**These settings give no valid output:** {calc.error_text(r)}.")
if r.fix:
    st.button(f"Apply suggested: {r.fix}", key=K + "fix", type="primary", on_click=apply_spec, args=(r.fix,),
              help="Changes padding first, then stride, then kernel, the least needed to read every input row.")

tab_numbers, tab_slide, tab_solve = st.tabs(["📊 Numbers and formulas", "🎞️ Kernel sliding over the input",
                                             "🛠️ Solvers: keep or halve the size"])
with tab_numbers:
    st.toggle("Quiz: predict, then reveal", key=K + "quiz", disabled=transposed, help="Hide the numbers: type "
              "your prediction for each, then reveal the answer with its formula (convolution and pooling).")
    if r.status == "error":
        st.info("No numbers for these settings: apply the suggested fix above.")
    elif ss.calc_quiz and not transposed:  # a new quiz (blank guesses) whenever the layer or the input changes
        widgets.quiz_block(quiz.layer_questions(r), f"calc_q_{abs(hash((r.spec, r.in_shape)))}")
    for group in calc.result_groups(r) if r.status != "error" and not (ss.calc_quiz and not transposed) else []:
        st.markdown(f"##### {group.title}")
        with st.container(horizontal=True):  # cards wrap onto more rows on a narrow screen
            for item in group.rows:
                st.metric(item.label, item.value, help=item.note or None, border=True, width=215)
        lines = [f"{lhs} &= {widgets.to_latex(rhs)}" for lhs, rhs in calc.sheet_lines(group)]
        st.latex(r"\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}")
        if group.caption:
            st.caption(group.caption)

with tab_slide:  # the step slider, play/pause and speed, the figure (autoplay runs in the browser)
    sliding_view.render(f, layer, r, pool, transposed)

with tab_solve:
    a, b = st.columns(2)
    with a.container(border=True):
        st.markdown("**Keep the size** — stride 1 and padding d·(k − 1) in all")
        for note in keep_notes:
            st.markdown(f"- {note}")
        if keep:
            st.button("Apply: stride 1, padding as above", key=K + "keep", on_click=apply, args=(keep,))
    with b.container(border=True):
        st.markdown(f"**Double the size** — stride 2, {f['in_h']}×{f['in_w']} → {2 * f['in_h']}×{2 * f['in_w']}"
                    if transposed else f"**Halve the size** — stride 2, {f['in_h']}×{f['in_w']} → "
                    f"{-(-f['in_h'] // 2)}×{-(-f['in_w'] // 2)}, every input row read")
        for i, (label, updates) in enumerate(calc.double_options(f) if transposed else calc.halve_options(f)):
            st.button(label, key=f"{K}halve_{i}", on_click=apply, args=(updates,))

widgets.conventions_expander(("params", "fc_equivalent", "locally_connected", "macs", "flops"))

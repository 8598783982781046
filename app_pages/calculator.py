"""Layer calculator: one conv or pooling layer → output size, weights, FC-equivalent, MACs with their formulas;
warnings and one-click fixes; keep/halve-the-size solvers; the kernel sliding over the padded input."""
import streamlit as st

import ui
from cnncalc import SpecError, analyze, parse_layer, quiz, slide

ss = st.session_state
saved = ss.setdefault("calculator_saved", dict(slide.DEFAULTS))  # not a widget key: survives other pages
for key in slide.DEFAULTS:
    if key not in ss:  # Streamlit drops a widget's value when a run does not draw it
        ss[key] = saved[key]
ss.update(slide.normalize(ss))


def apply(updates: dict) -> None:  # buttons change inputs through callbacks, before the widgets are drawn
    ss.update(updates)


def apply_spec(spec: str) -> None:
    try:
        ss.update(slide.fields_from_layer(parse_layer(spec)))
    except SpecError as err:  # never a traceback: say why and leave the inputs as they are
        st.toast(f"Could not apply '{spec}': {err}")


st.title("🧮 Layer calculator")
st.caption("One convolution or pooling layer: its output size, weights and cost, each number with its formula "
           "and your values substituted — and the kernel sliding over the padded input.")
st.radio("Layer type", list(slide.MODES), key="mode", horizontal=True,
         help="Convolution (nn.Conv2d) learns N filters; max/average pooling (nn.MaxPool2d / nn.AvgPool2d) "
              "has no weights and keeps the channels.")
pool, per_axis = slide.is_pool(ss), ss.per_axis
keep, keep_notes = slide.keep_size(ss)

INPUTS = [("in_h", "Height H", "Rows of the input image or feature map (the lab's x in x×y×z)."),
          ("in_w", "Width W", "Columns of the input (the lab's y in x×y×z)."),
          ("in_c", "Channels C", "Depth: 3 for an RGB image, else the previous layer's filters (the lab's z).")]
AXES = [("k", "Kernel k", "Size of the window (filter) that slides over the input."),
        ("s", "Stride s", "How many pixels the window moves between two outputs."),
        ("p", "Padding p", "Zeros around the input: before = top/left, after = bottom/right (the same unless "
                           "asymmetric)." + (" Pooling allows at most k/2." if pool else "")),
        ("d", "Dilation d", "Spacing between the kernel's taps: d = 1 is a plain kernel, d = 2 skips every "
                            "other pixel (the window spans d·(k − 1) + 1).")]
row = st.container(horizontal=True)  # fixed-width boxes that wrap onto a second row on a narrow screen
cols = [row.container(width=100) for _ in range(7 if pool else 8)]
for col, (key, label, tip) in zip(cols, INPUTS):
    col.number_input(label, *slide.LIMITS[key], key=key, help=tip)
for col, (key, label, tip) in zip(cols[3:], AXES):
    word = label.split()[0]
    fields = [(f"{key}_h", f"{word} H"), (f"{key}_w", f"{word} W")] if per_axis else [(f"{key}_h", label)]
    if key == "p" and ss.asym and not pool:  # before/after: top/bottom, left/right
        fields = ([("p_h", "Pad top"), ("pa_h", "Pad bottom"), ("p_w", "Pad left"), ("pa_w", "Pad right")]
                  if per_axis else [("p_h", "Pad before"), ("pa_h", "Pad after")])
    for field, text in fields:
        col.number_input(text, *slide.LIMITS[field.split("_")[0]], key=field, help=tip)
    if key == "p" and not pool:
        col.button("same", key="same", on_click=apply, args=(keep,), help="Padding that keeps the size at stride "
                   "1: d·(k − 1) in all, split evenly; for an even total PyTorch puts the extra pixel after.")
if not pool:
    cols[7].number_input("Filters N", *slide.LIMITS["n"], key="n", help="Number of filters = output channels.")
toggles = st.container(horizontal=True, gap="medium")
toggles.toggle("Different values for height and width", key="per_axis",
               help="Give kernel, stride, padding and dilation separately for H and W (e.g. a 1×7 kernel).")
if pool:
    toggles.toggle("ceil_mode (round the output size up)", key="ceil", help="PyTorch's ceil_mode=True: a last, "
                   "partial window is kept, unless it would start in the right padding.")
else:
    toggles.toggle("Asymmetric padding (more after than before)", key="asym",
                   help="Different padding at the bottom/right, as padding='same' needs for an even kernel.")
    toggles.toggle("Bias", key="bias", help="One learnable bias per filter (nn.Conv2d's default).")

layer = slide.layer_from_fields(ss)
r = analyze([layer], (ss.in_c, ss.in_h, ss.in_w)).layers[0]  # the one core call
ss["calculator_saved"] = {key: ss[key] for key in slide.DEFAULTS}

if r.status == "warning":
    st.warning(f"**Valid, but some input is never read:** {slide.never_read(r)}.")
elif r.status == "error":
    st.error(f"**These settings give no valid output:** {slide.error_text(r)}.")
if r.fix:
    st.button(f"Apply suggested: {r.fix}", key="fix", type="primary", on_click=apply_spec, args=(r.fix,),
              help="Changes padding first, then stride, then kernel, the least needed to read every input row.")

tab_numbers, tab_slide, tab_solve = st.tabs(["📊 Numbers and formulas", "🎞️ Kernel sliding over the input",
                                             "🛠️ Solvers: keep or halve the size"])
with tab_numbers:
    st.toggle("Quiz: predict, then reveal", key="quiz", help="Hide the numbers: type your prediction for "
              "each, then reveal the answer with its formula.")
    if r.status == "error":
        st.info("No numbers for these settings: apply the suggested fix above.")
    elif ss.quiz:  # a new quiz (blank guesses) whenever the layer or the input changes
        ui.quiz_block(quiz.layer_questions(r), f"calcquiz_{abs(hash((r.spec, r.in_shape)))}")
    for group in slide.result_groups(r) if r.status != "error" and not ss.quiz else []:
        st.markdown(f"##### {group.title}")
        with st.container(horizontal=True):  # cards wrap onto more rows on a narrow screen
            for item in group.rows:
                st.metric(item.label, item.value, help=item.note or None, border=True, width=215)
        lines = [f"{lhs} &= {ui.to_latex(rhs)}" for lhs, rhs in slide.sheet_lines(group)]
        st.latex(r"\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}")
        if group.caption:
            st.caption(group.caption)

with tab_slide:
    pad, stride = slide.padding_of(layer), (r.layer.strides if pool else layer.stride)
    if r.status == "error":
        st.info("Apply a valid setting above to see the figure.")
    elif slide.figure_fits(ss.in_h, ss.in_w, pad):
        total = r.out_shape[1] * r.out_shape[2]
        ss["step"] = min(ss.get("step", 1), total)
        if total > 1:
            c_prev, c_slider, c_next = st.columns([1, 8, 1], vertical_alignment="bottom")
            c_prev.button("◀ Back", key="prev", on_click=apply, args=({"step": max(ss.step - 1, 1)},))
            c_next.button("Next ▶", key="next", on_click=apply, args=({"step": min(ss.step + 1, total)},))
            c_slider.slider("Step: the output cell being computed (row by row)", 1, total, key="step",
                            help="Slide the window; the dark cells are what the kernel reads for that output cell.")
        chart = slide.sliding_window_chart(ss.in_h, ss.in_w, layer.kernel, stride, pad, layer.dilation,
                                           ss.step - 1, pool and layer.ceil_mode)
        st.altair_chart(chart, width="content")
        st.caption("Dark blue: input pixels the window reads now; dark grey: padding it reads ("
                   + ("−∞ for max pooling, never the maximum" if ss.mode == "Max pooling" else "zeros")
                   + "); orange: input no window ever reads. With dilation the taps have gaps between them.")
    else:
        st.info(slide.figure_misfit(ss.in_h, ss.in_w, pad))
        small = [slide.small_size(n, k, s, b_, a_, d) for n, k, s, (b_, a_), d in
                 zip((ss.in_h, ss.in_w), layer.kernel, stride, pad, layer.dilation)]
        if None not in small:
            st.button(f"Use a {small[0]}×{small[1]} input (same kernel, stride, padding)", key="small",
                      on_click=apply, args=({"in_h": small[0], "in_w": small[1]},))

with tab_solve:
    a, b = st.columns(2)
    with a.container(border=True):
        st.markdown("**Keep the size** — stride 1 and padding d·(k − 1) in all")
        for note in keep_notes:
            st.markdown(f"- {note}")
        if keep:
            st.button("Apply: stride 1, padding as above", key="keep", on_click=apply, args=(keep,))
    with b.container(border=True):
        st.markdown(f"**Halve the size** — stride 2, {ss.in_h}×{ss.in_w} → {-(-ss.in_h // 2)}×"
                    f"{-(-ss.in_w // 2)}, every input row read")
        for i, (label, updates) in enumerate(slide.halve_options(ss)):
            st.button(label, key=f"halve_{i}", on_click=apply, args=(updates,))

ui.conventions_expander(("params", "fc_equivalent", "locally_connected", "macs", "flops"))

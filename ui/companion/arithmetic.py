"""Part 1 of the Lab companion: the arithmetic of a convolutional network, one renderer per question (q1–q12)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from cnncalc import comparisons, format_shape, solve
from cnncalc.classroom.calculator import ratio_text
from cnncalc.classroom.companion import arithmetic as ca
from cnncalc.comparisons import CIFAR10_TRAIN_IMAGES as IMAGES
from ui.widgets import fmt

from .common import COMPUTED, Context, conversion, larger, latex, pct, slip


def q1(ctx: Context) -> None:
    st.markdown("An input of **x × y × z** values (width × height × channels), **N** filters of size "
                "k × k × z, padding p, stride s:")
    c = st.columns(7)
    x = c[0].number_input("x (width)", 1, 4096, 32, key="lc1_x")
    y = c[1].number_input("y (height)", 1, 4096, 32, key="lc1_y")
    z = c[2].number_input("z (channels)", 1, 4096, 3, key="lc1_z")
    k = c[3].number_input("k (kernel)", 1, 64, 5, key="lc1_k")
    p = c[4].number_input("p (padding)", 0, 64, 2, key="lc1_p")
    s = c[5].number_input("s (stride)", 1, 64, 1, key="lc1_s")
    n = c[6].number_input("N (filters)", 1, 4096, 32, key="lc1_n")
    r = ca.one_conv(x, y, z, k, p, s, n)
    if r.status == "error":
        st.warning(f"**No valid output:** {r.message}." + (f" Nearest valid layer: `{r.fix}`." if r.fix else ""))
        return
    if r.status == "warning":
        st.caption(f"Note: {r.message}.")
    oc, oh, ow = r.out_shape
    m = st.columns(2) + st.columns(2)
    m[0].metric(f"{COMPUTED} Output C×H×W", f"{oc}×{oh}×{ow}",
                help="Channels × height × width, PyTorch's order, as everywhere in this app. In the lab sheet's "
                     f"letters: z′ = N = {oc} channels, y′ = {oh} rows, x′ = {ow} columns (x′ × y′ × z′ = "
                     f"{ow}×{oh}×{oc}).")
    m[1].metric(f"{COMPUTED} Weights + biases", fmt(r.params))
    m[2].metric(f"{COMPUTED} FC-equivalent weights", fmt(r.fc_equivalent),
                help="One fully-connected layer from the whole input volume to the whole output volume")
    m[3].metric(f"{COMPUTED} FC-equivalent / conv weights", ratio_text(r.fc_equivalent, r.weights)[0] + "×",
                help="The FC-equivalent's weights divided by the convolution's weights (biases left out of both)")
    latex(r.formula("out_W"), r"x' = \left\lfloor\frac{x + 2p - k}{s}\right\rfloor + 1")
    latex(r.formula("out_H"), r"y' = \left\lfloor\frac{y + 2p - k}{s}\right\rfloor + 1")
    latex(r.formula("weights"), r"N \cdot z \cdot k \cdot k")
    latex(r.formula("params"), r"\text{weights} + N \text{ biases}")
    latex(r.formula("fc_equivalent"), r"(x\,y\,z)\cdot(x'\,y'\,N)")
    q1_slip(r, k, z)


def q1_slip(r, k: int, z: int) -> None:
    pn = ca.per_neuron(r)
    slip(f"mixing up *per output value* and *total*. {COMPUTED} One output value of the convolution reads one "
         f"filter, z×k×k = {z}×{k}×{k} = {pn.conv_per_output:,} weights; one output value of the "
         f"fully-connected equivalent reads the whole input, x·y·z = {pn.fc_per_output:,} weights. The "
         f"FC-equivalent **total** multiplies that by the {pn.outputs:,} output values: {pn.fc_per_output:,} × "
         f"{pn.outputs:,} = {ca.magnitude(pn.fc_total)} — while the convolution's total stays N·z·k·k = "
         f"{pn.conv_total:,}, whatever the image size (its filters are shared).")


def q2(ctx: Context) -> None:
    sh = ca.sharing(ctx.lab)
    st.markdown("- **Weight sharing**: the same small filter is applied at every position, so the number of "
                "weights does not depend on the image size.\n- **Locality**: each output looks at a small "
                "neighbourhood, where the correlated pixels are.\n- **Equivariance to translation**: shifting the "
                "input shifts the output the same way (an object is detected wherever it is).")
    st.markdown(f"{COMPUTED} The lab's conv1 ({sh.conv.spec} on 3×32×32 → {format_shape(sh.conv.out_shape)}):")
    m = st.columns(3)
    m[0].metric("shared weights (conv)", fmt(sh.shared))
    m[1].metric("locally connected (no sharing)", fmt(sh.locally_connected), f"×{sh.lc_ratio:,.0f}",
                delta_color="off", delta_arrow="off")
    m[2].metric("fully connected", fmt(sh.fully_connected), f"×{sh.fc_ratio:,.0f} the conv's weights",
                delta_color="off", delta_arrow="off")
    e = ca.equivariance_1d()
    st.markdown(f"{COMPUTED} Equivariance on a 1-D signal, kernel {list(e.kernel)}, shift {e.shift}:")
    st.dataframe(pd.DataFrame({"signal": e.signal, "conv(signal)": e.out,
                               f"conv(shift {e.shift}(signal))": e.out_of_shifted,
                               f"shift {e.shift}(conv(signal))": e.shifted_out}).T, hide_index=False)
    st.markdown(f"conv(shift(signal)) {'=' if e.equivariant else '≠'} shift(conv(signal)).")
    q2_limits(ctx)


def q2_limits(ctx: Context) -> None:
    g = ca.field_growth(ctx.lab)
    rf = dict(g.fields)
    st.markdown(f"**Limits.** *Locality*: a unit sees only its receptive field, fixed by the architecture "
                f"({COMPUTED} {rf['conv1']}×{rf['conv1']} pixels for conv1), so two distant parts of an object "
                "are related only layers later, once the field has grown over both. The limit is this fixed "
                "field **relative to the object**, not a particular number: in the lab net pool3's field "
                f"({rf['pool3']}×{rf['pool3']} pixels) already covers the whole {g.image}×{g.image} image, so on "
                "CIFAR-10 it is not what limits the net — an object larger than the field would be (the same "
                "net on a larger photo, question 6). The *effective* field, the pixels that really weigh, is "
                "smaller than the theoretical one and concentrated at its centre (Luo et al. 2016). And a "
                "convolution is equivariant to translations only — **not invariant to rotations or changes of "
                "scale**: a rotated or twice larger object gives different responses, which the network must "
                "learn from examples (or augmentation).")


def q3(ctx: Context) -> None:
    pool, before = ctx.lab["pool1"], ctx.lab["relu1"]
    st.markdown("Max pooling keeps the largest value of each window: (1) **invariance to small shifts** — a "
                "feature that moves inside a window gives the same output; (2) **fewer values** to store and "
                "compute on, and (3) the receptive field of the next layers grows faster.")
    m = st.columns(3)
    m[0].metric(f"{COMPUTED} pool1 output", format_shape(pool.out_shape), f"from {format_shape(before.out_shape)}",
                delta_color="off", delta_arrow="off")
    m[1].metric(f"{COMPUTED} memory per image", f"{pool.memory:,} B", f"from {before.memory:,} B",
                delta_color="off", delta_arrow="off")
    m[2].metric(f"{COMPUTED} receptive field / jump", f"{pool.rf[0]} px / {pool.jump[0]} px",
                f"from {before.rf[0]} px / {before.jump[0]} px", delta_color="off", delta_arrow="off")
    latex(pool.formula("out_H"), r"\text{out}")
    latex(pool.formula("memory").replace(" B", r"~\text{B}"), r"\text{memory}")
    signal = (9, 0, 0, 0, 3, 1)
    rows = {f"shift {d}": (list(ca.shifted(signal, d)), ca.maxpool1d(ca.shifted(signal, d))) for d in (0, 1, 2)}
    st.markdown(f"{COMPUTED} Max pooling (k = 2, s = 2) of a signal and of its shifted copies:")
    st.dataframe(pd.DataFrame([{"input": str(i), "pooled": str(o)} for i, o in rows.values()], index=list(rows)))
    st.markdown("A shift of 1 keeps every value inside its window: the pooled output is unchanged. A shift of 2 "
                "crosses window borders: it changes — the invariance is only to *small* shifts.")
    conv2 = ctx.lab["conv2"]
    slip(f"\"pooling reduces the number of weights\". {COMPUTED} pool1 has {pool.params} parameters (it only "
         f"takes a maximum), and conv2's {conv2.weights:,} weights (N·z·k·k) do not depend on the size of the "
         "map it reads. Pooling reduces the *activations* — memory and computation per image — and, in a net "
         "with fully-connected layers, the inputs of the first of them.")


def q4(ctx: Context) -> None:
    size = st.select_slider("Image size given to the lab net (built for 32×32)", [32, 36, 40, 48, 64, 96, 128],
                            value=64, key="lc4_size")
    r = larger(size)
    chain = " → ".join(f"{n} {format_shape(s)}" for n, s in r.shapes if not n.startswith("relu"))
    st.markdown(f"{COMPUTED} PyTorch forward pass of the lab net on a 3×{size}×{size} image — the layers that "
                f"ran (ReLUs keep the shape): {chain}" + (f" → **{r.failed_at}** ✗" if r.failed_at else "") + ".")
    if r.failed_at:
        st.markdown(f"It stops at **{r.failed_at}** with PyTorch's own error:")
        st.code(r.error, language=None)
    st.markdown(r.explanation)
    if not r.failed_at and size > 32:
        st.markdown("(Pooling floors the sizes: this image still gives a 4×4 map at pool3.)")


def q5(ctx: Context) -> None:
    conv = conversion()
    st.markdown("A fully-connected layer reading a C×H×W map is a convolution with one H×W×C filter per output "
                "and no padding: the same weights, reshaped. The next fc layers become 1×1 convolutions.")
    st.markdown(f"{COMPUTED} The lab net converted with `convolutionalize` (cnncalc.pytorch.fcn):")
    st.dataframe(pd.DataFrame([{"layer": s.name, "before": s.before, "after": s.after,
                                "weight before": str(s.weight_before), "weight after": str(s.weight_after)}
                               for s in conv.steps]), hide_index=True)
    fc4 = conv.steps[0]
    st.markdown(f"{fc4.weight_before[1]:,} = " + "·".join(map(str, fc4.weight_after[1:])) +
                f": no weight is added or lost. On random 32×32 inputs the two networks give the same scores up to "
                f"**{conv.max_difference:.1e}** (float rounding).")


def q6(ctx: Context) -> None:
    geo = conversion().geometry
    st.markdown(f"On a larger image the converted net outputs a **map** of class scores: one cell per "
                f"{geo.window[0]}×{geo.window[1]} window, {geo.stride} pixels apart (the product of the pools' "
                f"strides), each cell's receptive field {geo.rf} pixels (padding included).")
    custom = st.columns([1, 3])[0].number_input("Another image size", 32, 4096, 256, key="lc6_size")
    for size in (64, 128, custom):
        n = geo.cells(size)
        st.markdown(f"{COMPUTED} **{size}×{size}** image → a **{n}×{n}×10** score map:")
        latex(geo.formula(size), rf"\left\lfloor\frac{{n - {geo.window[0]}}}{{{geo.stride}}}\right\rfloor + 1")
    q6_interest(custom)


def q6_interest(size: int) -> None:
    st.markdown("**Why it is interesting.** The map is a *heat map* of each class's score over the image: it "
                "says **where** a class is found, so a classifier trained on 32×32 images **localises** objects "
                "in a larger one (the first step of detection and segmentation). And **every window is scored "
                "in one pass**: neighbouring windows overlap, and the convolutions compute their common part "
                "once instead of once per window.")
    d = ca.dense_cost(size)
    st.markdown(f"{COMPUTED} On a {size}×{size} image, {d.cells}×{d.cells} = {d.windows:,} windows: one pass of "
                f"the converted net costs **{d.one_pass:,}** multiply-accumulates; the original net run on each "
                f"window separately, {d.windows:,} × {d.per_window:,} = **{d.separately:,}** — "
                f"{d.saving:.1f}× more (cnncalc.analyze of both nets).")


def q7(ctx: Context) -> None:
    rows = ca.receptive_fields(analysis=ctx.lab)
    st.markdown(f"{COMPUTED} Receptive field (in input pixels) of one unit, lab net; the jump is the distance "
                "in input pixels between neighbouring units:")
    cols = st.columns(len(rows))
    for col, r in zip(cols, rows):
        col.metric(r.name, f"{r.rf[0]}×{r.rf[1]}", f"jump {r.jump[0]}", delta_color="off", delta_arrow="off")
    for r in rows:
        latex(r.formula("rf_H"), rf"\text{{rf}}_{{\text{{{r.name}}}}}")
    st.latex(r"r_\text{out} = r_\text{in} + (k - 1)\,j_\text{in}, \qquad j_\text{out} = j_\text{in}\,s")
    k = ctx.lab["conv2"].layer.kernel[0]
    st.markdown(f"Layer 1 sees {rows[0].rf[0]}×{rows[0].rf[1]} pixels. After each pool the jump doubles, so every "
                f"later {k}×{k} convolution adds {k - 1} × jump pixels: the field grows faster and faster deeper in "
                "the network.")
    q7_meaning(ctx, k)


def q7_meaning(ctx: Context, k: int) -> None:
    g = ca.field_growth(ctx.lab)
    rf = dict(g.fields)
    shares = ", ".join(f"{name} {n}×{n} = {pct(g.fraction(n))}" for name, n in g.fields)
    st.markdown(f"**Interpretation.** A deeper unit integrates a larger region of the image ({COMPUTED} share of "
                f"the {g.image}×{g.image} image one unit sees: {shares}), so it can respond to larger, more "
                "global and more abstract patterns: edges and colour blobs in conv1, textures and parts deeper, "
                f"the layout of a whole object at the end. By {g.covers} a unit's field is "
                f"{rf[g.covers]}×{rf[g.covers]} pixels, the whole image; by {g.exceeds} it is "
                f"{rf[g.exceeds]}×{rf[g.exceeds]}, wider than the {g.image}-pixel image itself (the rest falls "
                "on the zero padding). These are theoretical fields: the effective one is smaller, concentrated "
                "at the centre (Luo et al. 2016).")
    slip(f"\"the receptive field is the kernel size\". conv2's kernel is {k}×{k}, but {COMPUTED} a conv2 unit "
         f"sees {rf['conv2']}×{rf['conv2']} pixels of the image: the fields add up through the layers "
         "(formula above).")


def q8(ctx: Context) -> None:
    st.markdown("At **stride 1** the output size is n + p_before + p_after − d·(k − 1), so it stays n when the "
                "padding totals d·(k − 1). A stride s > 1 divides the size by s instead.")
    for k in (3, 5, 4):
        c = ca.same_check(k)
        st.markdown(f"{COMPUTED} **k = {k}**: {c.padding.explanation} → check on 32×32:")
        latex(c.report.formula("out_H"), r"\text{out}")
    c = st.columns(3)
    k = c[0].number_input("kernel k", 1, 31, 7, key="lc8_k")
    d = c[1].number_input("dilation d", 1, 8, 1, key="lc8_d")
    chk = ca.same_check(k, d)
    c[2].metric(f"{COMPUTED} padding before / after", f"{chk.padding.before} / {chk.padding.after}")
    st.caption(chk.padding.explanation)


def q9(ctx: Context) -> None:
    n = st.number_input("Input size n", 2, 4096, 32, key="lc9_n")
    settings = solve.divide_settings(n, 2, pool=True)
    st.markdown(f"{COMPUTED} Pooling settings with stride 2 whose output is ⌈{n}/2⌉ = {-(-n // 2)} "
                "(PyTorch allows a pooling padding of at most k/2):")
    st.dataframe(pd.DataFrame([{"pool": f"maxpool {s.spec}", "output": s.out,
                                "input rows never read": s.unread} for s in settings]), hide_index=True)
    st.markdown("The lab's choice, k = 2, s = 2, reads every row exactly once; k = 3, s = 2, p = 1 overlaps the "
                "windows; k = 1, s = 2 simply drops every other row.")


def q10(ctx: Context) -> None:
    rows = ca.parameter_table(ctx.lab)
    fc4 = next(r for r in rows if r.name == "fc4")
    m = st.columns(3)
    m[0].metric(f"{COMPUTED} total parameters", fmt(ctx.lab.params))
    m[1].metric(f"{COMPUTED} fc4's share", pct(fc4.share, 2))
    m[2].metric(f"{COMPUTED} conv layers' share", pct(sum(r.share for r in rows if r.name.startswith("conv")), 2))
    number = st.column_config.NumberColumn(format="localized")
    st.dataframe(pd.DataFrame([{"layer": r.name, "spec": r.spec, "output": format_shape(r.out_shape), "weights": r.weights,
                                "biases": r.biases, "parameters": r.params, "share": 100 * r.share,
                                "memory (B)": r.memory} for r in rows]), hide_index=True, height=36 * (len(rows) + 1),
                 column_config={"share": st.column_config.ProgressColumn("share", format="%.2f %%", min_value=0,
                                                                         max_value=100),
                                **{c: number for c in ("weights", "biases", "parameters", "memory (B)")}})
    latex(f"{fc4.params:,}/{ctx.lab.params:,} = {100 * fc4.share:.2f} %".replace("%", r"\%"), r"\text{fc4 share}")
    st.markdown(f"The convolutions hold few weights (shared filters); the first fully-connected layer holds most "
                f"of them, because it connects every value of the {format_shape(ctx.lab['pool3'].out_shape)} map "
                f"to each of its {ctx.lab['fc4'].out_shape[0]:,} outputs.")
    q10_slips(ctx)


def q10_slips(ctx: Context) -> None:
    t = ca.totals(ctx.lab)
    slip(f"calling all the parameters *weights*. The parameters are the weights **plus** the biases "
         f"({COMPUTED} from cnncalc.analyze): weights {t.formula('weights')}; biases {t.formula('biases')}; "
         f"so {t.weight_total:,} weights + {t.bias_total:,} biases = **{t.params:,} parameters**.")
    slip(f"a count written in words that disagrees with its digits, like \"10⁶ (11 million)\". Count the "
         f"groups of three digits: {COMPUTED} {ca.magnitude(t.params)} parameters — about one million, "
         f"not eleven.")


def q11(ctx: Context) -> None:
    per, values = comparisons.per_training_image(ctx.lab.params), comparisons.training_values()
    m = st.columns(3)
    m[0].metric(f"{COMPUTED} parameters", fmt(ctx.lab.params))
    m[1].metric(f"{COMPUTED} {per.label}", per.formula.split("= ")[-1])
    m[2].metric(f"{COMPUTED} {values.label}", fmt(values.value))
    latex(per.formula, r"\text{parameters per image}")
    latex(values.formula, r"\text{pixel values}")
    st.markdown(f"There are about {per.formula.split('= ')[-1]} parameters per training image: enough to memorise "
                f"the training set, hence the overfitting of Part 2 and the regularisation of Part 3. Each image "
                f"brings {values.value // IMAGES:,} values, though, so the data hold "
                f"{ca.magnitude(values.value)} numbers, {values.value / ctx.lab.params:,.0f}× more than the "
                f"net's {ca.magnitude(ctx.lab.params)} parameters.")


def q12(ctx: Context) -> None:
    bow = comparisons.bag_of_words_svm()
    m = st.columns(2)
    m[0].metric(f"{COMPUTED} bag-of-words + linear SVM", fmt(bow.value))
    m[1].metric(f"{COMPUTED} lab CNN", fmt(ctx.lab.params), f"×{ctx.lab.params / bow.value:.1f}", delta_color="off",
                delta_arrow="off")
    latex(bow.formula, r"\text{codebook} + \text{SVMs}")
    st.markdown("A codebook of 1000 SIFT centroids (128 values each) and ten one-vs-rest linear SVMs on the "
                "1000-bin histogram. The features there are hand-designed (SIFT) and the codebook is learned "
                "without labels; the CNN learns its features end to end from the labels, with more parameters.")


ANSWERS = {1: q1, 2: q2, 3: q3, 4: q4, 5: q5, 6: q6, 7: q7, 8: q8, 9: q9, 10: q10, 11: q11, 12: q12}

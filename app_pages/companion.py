"""Lab companion: the CIFAR-10 lab's questions, one box each, answered by cnncalc or by a run in the store."""
import re
import sqlite3

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitAPIException

from cnncalc import companion as cc
from cnncalc import train_charts as tc
from cnncalc.lab import CIFAR10_TRAIN_IMAGES as IMAGES
from cnncalc.train.store import RunStore, default_root
from ui import fmt, to_latex

ss = st.session_state
COMPUTED, STORED, QUOTED = "🧮", "📦", "📚"

st.title("📝 Lab companion")
st.caption("The CIFAR-10 lab's questions, one box each: open a question for a short answer computed by cnncalc "
           "or read from your training runs, then follow its link to the page that goes deeper.")
query = st.text_input("Filter the questions", key="lc_filter", placeholder="a word of the question, e.g. dropout, "
                      "padding, receptive, epoch — or its number")
st.caption(f"{COMPUTED} computed here, by cnncalc or PyTorch · {STORED} read from a run in the run store · "
           f"{QUOTED} reference result obtained elsewhere, quoted with its source")


# --- helpers -----------------------------------------------------------------------------------------

def latex(formula: str, lhs: str = "") -> None:
    """A core formula string as LaTeX (exponents written ^N become ^{N})."""
    st.latex((lhs + " = " if lhs else "") + re.sub(r"\^(\d+)", r"^{\1}", to_latex(formula)))


def link(key: str, text: str = "Go deeper: {}") -> None:
    """A link to a page of the app; plain text when the app does not register that page (yet)."""
    path, label, icon = cc.PAGES[key]
    try:
        st.page_link(path, label=text.format(label), icon=icon)
    except StreamlitAPIException:
        st.markdown(f"{icon} {text.format(f'*{label}*')} (`{path}`, not in this app's menu)")


def go_training(changes: dict) -> None:
    """Fill the Training page's form with ``changes`` (nothing is queued) and open it."""
    ss.update(cc.form_values(changes))
    try:
        st.switch_page(cc.PAGES["training"][0])
    except StreamlitAPIException:
        st.info("The form is filled, but the Training page is not in this app's menu: open it from there.")


def shape(s) -> str:
    return "×".join(map(str, s)) if s else "—"


def pct(v: float, digits: int = 1) -> str:
    return f"{100 * v:.{digits}f} %"


def vectors(rows: dict, digits: int = 3) -> None:
    """Small tensors as aligned lines of numbers."""
    width = max(map(len, rows))
    st.code("\n".join(f"{name:<{width}}  [" + ", ".join(f"{v:.{digits}g}" for v in values) + "]"
                      for name, values in rows.items()), language=None)


def reference(step: str) -> None:
    ref = cc.REFERENCE[step]
    loss = (f"; test loss {ref.students_loss} (students) / {ref.measured_loss} (measured)"
            if ref.students_loss is not None else "")
    note = f" — {ref.note}" if ref.note else ""
    st.markdown(f"{QUOTED} **Reference, ladder step *{step}*:** test top-1 **{ref.students} %** in the students' "
                f"published logs, **{ref.measured} %** measured on the shared JPEG copy{loss}{note}.")
    st.caption(cc.REFERENCE_SOURCE)


def runs_table(runs, **extra) -> None:
    st.dataframe(pd.DataFrame([r.row(**({k: f(r) for k, f in extra.items()})) for r in runs]), hide_index=True)


def ladder_answer(step: str, what: str) -> None:
    runs = cc.by_step(RESULTS, step)
    if runs:
        st.markdown(f"{STORED} **Your CIFAR-10 runs of this step** ({what}), best first:")
        runs_table(runs)
    else:
        settings = ", ".join(f"{k} = {v}" for k, v in cc.LADDER[step].items())
        st.markdown(f"{STORED} No CIFAR-10 run of this step in the store yet. Launch it from the Training page: "
                    f"button *{step}* of the ladder ({settings}).")
    reference(step)


@st.cache_data(ttl=15, show_spinner=False)
def load_results(root: str) -> list:
    return cc.run_results(RunStore(root))


@st.cache_data(show_spinner="Running the lab net on a larger image in PyTorch…")
def larger(size: int):
    return cc.lab_larger_input(size)


@st.cache_resource(show_spinner="Converting the lab net's fc layers to convolutions…")
def conversion():
    return cc.lab_conversion()


@st.cache_resource(show_spinner="Reading a sample of images…")
def sample():
    return cc.sample_images(500)


@st.cache_data(show_spinner=False)
def standardization():
    return cc.standardization(sample())


@st.cache_data(show_spinner="Fitting ZCA on the sample…")
def zca(eps: float):
    return cc.zca_demo(sample(), eps=eps)


@st.cache_data(show_spinner=False)
def flips():
    return cc.flip_examples()


@st.cache_data(show_spinner=False)
def curves(epochs: int):
    return cc.schedule_curves(epochs)


try:
    RESULTS = load_results(str(default_root()))
    STORE_NOTE = ""
except (OSError, sqlite3.Error, ValueError, TypeError, KeyError) as err:
    RESULTS, STORE_NOTE = [], f"The run store at `{default_root()}` cannot be read ({err}): no run results shown."
LAB = cc.lab_analysis()


# --- Part 1 --------------------------------------------------------------------------------------------

def q1():
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
    r = cc.one_conv(x, y, z, k, p, s, n)
    if r.status == "error":
        st.warning(f"**No valid output:** {r.message}." + (f" Nearest valid layer: `{r.fix}`." if r.fix else ""))
        return
    if r.status == "warning":
        st.caption(f"Note: {r.message}.")
    oc, oh, ow = r.out_shape
    m = st.columns(2) + st.columns(2)
    m[0].metric(f"{COMPUTED} Output x′ × y′ × z′", f"{ow}×{oh}×{oc}")
    m[1].metric(f"{COMPUTED} Weights + biases", fmt(r.params))
    m[2].metric(f"{COMPUTED} FC-equivalent weights", fmt(r.fc_equivalent),
                help="One fully-connected layer from the whole input volume to the whole output volume")
    m[3].metric(f"{COMPUTED} FC-equivalent / conv weights", f"{r.fc_equivalent / r.weights:,.0f}×")
    latex(r.formula("out_W"), r"x' = \left\lfloor\frac{x + 2p - k}{s}\right\rfloor + 1")
    latex(r.formula("out_H"), r"y' = \left\lfloor\frac{y + 2p - k}{s}\right\rfloor + 1")
    latex(r.formula("weights"), r"N \cdot z \cdot k \cdot k")
    latex(r.formula("params"), r"\text{weights} + N \text{ biases}")
    latex(r.formula("fc_equivalent"), r"(x\,y\,z)\cdot(x'\,y'\,N)")


def q2():
    sh = cc.sharing(LAB)
    st.markdown("- **Weight sharing**: the same small filter is applied at every position, so the number of "
                "weights does not depend on the image size.\n- **Locality**: each output looks at a small "
                "neighbourhood, where the correlated pixels are.\n- **Equivariance to translation**: shifting the "
                "input shifts the output the same way (an object is detected wherever it is).")
    st.markdown(f"{COMPUTED} The lab's conv1 ({sh.conv.spec} on 3×32×32 → {shape(sh.conv.out_shape)}):")
    m = st.columns(3)
    m[0].metric("shared weights (conv)", fmt(sh.shared))
    m[1].metric("locally connected (no sharing)", fmt(sh.locally_connected), f"×{sh.lc_ratio:,.0f}",
                delta_color="off", delta_arrow="off")
    m[2].metric("fully connected", fmt(sh.fully_connected), f"×{sh.fc_ratio:,.0f} the conv's weights",
                delta_color="off", delta_arrow="off")
    e = cc.equivariance_1d()
    st.markdown(f"{COMPUTED} Equivariance on a 1-D signal, kernel {list(e.kernel)}, shift {e.shift}:")
    st.dataframe(pd.DataFrame({"signal": e.signal, "conv(signal)": e.out,
                               f"conv(shift {e.shift}(signal))": e.out_of_shifted,
                               f"shift {e.shift}(conv(signal))": e.shifted_out}).T, hide_index=False)
    st.markdown(f"conv(shift(signal)) {'=' if e.equivariant else '≠'} shift(conv(signal)).")
    rf = LAB["pool3"].rf[0]
    st.markdown(f"**Limits.** A unit only sees its receptive field (fixed: {rf}×{rf} pixels even after pool3 "
                "of the lab net), and a convolution is equivariant to translations only — **not invariant to "
                "rotations or changes of scale**: a rotated or twice larger object gives different responses, "
                "which the network must learn from examples (or augmentation).")


def q3():
    pool, before = LAB["pool1"], LAB["relu1"]
    st.markdown("Max pooling keeps the largest value of each window: (1) **invariance to small shifts** — a "
                "feature that moves inside a window gives the same output; (2) **fewer values** to store and "
                "compute on, and (3) the receptive field of the next layers grows faster.")
    m = st.columns(3)
    m[0].metric(f"{COMPUTED} pool1 output", shape(pool.out_shape), f"from {shape(before.out_shape)}",
                delta_color="off", delta_arrow="off")
    m[1].metric(f"{COMPUTED} memory per image", f"{pool.memory:,} B", f"from {before.memory:,} B",
                delta_color="off", delta_arrow="off")
    m[2].metric(f"{COMPUTED} receptive field / jump", f"{pool.rf[0]} px / {pool.jump[0]} px",
                f"from {before.rf[0]} px / {before.jump[0]} px", delta_color="off", delta_arrow="off")
    latex(pool.formula("out_H"), r"\text{out}")
    latex(pool.formula("memory").replace(" B", r"~\text{B}"), r"\text{memory}")
    signal = (9, 0, 0, 0, 3, 1)
    rows = {f"shift {d}": (list(cc.shifted(signal, d)), cc.maxpool1d(cc.shifted(signal, d))) for d in (0, 1, 2)}
    st.markdown(f"{COMPUTED} Max pooling (k = 2, s = 2) of a signal and of its shifted copies:")
    st.dataframe(pd.DataFrame([{"input": str(i), "pooled": str(o)} for i, o in rows.values()], index=list(rows)))
    st.markdown("A shift of 1 keeps every value inside its window: the pooled output is unchanged. A shift of 2 "
                "crosses window borders: it changes — the invariance is only to *small* shifts.")


def q4():
    size = st.select_slider("Image size given to the lab net (built for 32×32)", [32, 36, 40, 48, 64, 96, 128],
                            value=64, key="lc4_size")
    r = larger(size)
    chain = " → ".join(f"{n} {shape(s)}" for n, s in r.shapes if not n.startswith("relu"))
    st.markdown(f"{COMPUTED} PyTorch forward pass of the lab net on a 3×{size}×{size} image — the layers that "
                f"ran (ReLUs keep the shape): {chain}" + (f" → **{r.failed_at}** ✗" if r.failed_at else "") + ".")
    if r.failed_at:
        st.markdown(f"It stops at **{r.failed_at}** with PyTorch's own error:")
        st.code(r.error, language=None)
    st.markdown(r.explanation)
    if not r.failed_at and size > 32:
        st.markdown("(Pooling floors the sizes: this image still gives a 4×4 map at pool3.)")


def q5():
    conv = conversion()
    st.markdown("A fully-connected layer reading a C×H×W map is a convolution with one H×W×C filter per output "
                "and no padding: the same weights, reshaped. The next fc layers become 1×1 convolutions.")
    st.markdown(f"{COMPUTED} The lab net converted with `convolutionalize` (cnncalc.fcn):")
    st.dataframe(pd.DataFrame([{"layer": s.name, "before": s.before, "after": s.after,
                                "weight before": str(s.weight_before), "weight after": str(s.weight_after)}
                               for s in conv.steps]), hide_index=True)
    fc4 = conv.steps[0]
    st.markdown(f"{fc4.weight_before[1]:,} = " + "·".join(map(str, fc4.weight_after[1:])) +
                f": no weight is added or lost. On random 32×32 inputs the two networks give the same scores up to "
                f"**{conv.max_difference:.1e}** (float rounding).")


def q6():
    geo = conversion().geometry
    st.markdown(f"On a larger image the converted net outputs a **map** of class scores: one cell per "
                f"{geo.window[0]}×{geo.window[1]} window, {geo.stride} pixels apart (the product of the pools' "
                f"strides), each cell's receptive field {geo.rf} pixels (padding included).")
    custom = st.columns([1, 3])[0].number_input("Another image size", 32, 4096, 256, key="lc6_size")
    for size in (64, 128, custom):
        n = geo.cells(size)
        st.markdown(f"{COMPUTED} **{size}×{size}** image → a **{n}×{n}×10** score map:")
        latex(geo.formula(size), rf"\left\lfloor\frac{{n - {geo.window[0]}}}{{{geo.stride}}}\right\rfloor + 1")


def q7():
    rows = cc.receptive_fields(analysis=LAB)
    st.markdown(f"{COMPUTED} Receptive field (in input pixels) of one unit, lab net; the jump is the distance "
                "in input pixels between neighbouring units:")
    cols = st.columns(len(rows))
    for col, r in zip(cols, rows):
        col.metric(r.name, f"{r.rf[0]}×{r.rf[1]}", f"jump {r.jump[0]}", delta_color="off", delta_arrow="off")
    for r in rows:
        latex(r.formula("rf_H"), rf"\text{{rf}}_{{\text{{{r.name}}}}}")
    st.latex(r"r_\text{out} = r_\text{in} + (k - 1)\,j_\text{in}, \qquad j_\text{out} = j_\text{in}\,s")
    k = LAB["conv2"].layer.kernel[0]
    st.markdown(f"Layer 1 sees {rows[0].rf[0]}×{rows[0].rf[1]} pixels. After each pool the jump doubles, so every "
                f"later {k}×{k} convolution adds {k - 1} × jump pixels: the field grows faster and faster deeper in "
                "the network.")


def q8():
    st.markdown("At **stride 1** the output size is n + p_before + p_after − d·(k − 1), so it stays n when the "
                "padding totals d·(k − 1). A stride s > 1 divides the size by s instead.")
    for k in (3, 5, 4):
        c = cc.same_check(k)
        st.markdown(f"{COMPUTED} **k = {k}**: {c.padding.explanation} → check on 32×32:")
        latex(c.report.formula("out_H"), r"\text{out}")
    c = st.columns(3)
    k = c[0].number_input("kernel k", 1, 31, 7, key="lc8_k")
    d = c[1].number_input("dilation d", 1, 8, 1, key="lc8_d")
    chk = cc.same_check(k, d)
    c[2].metric(f"{COMPUTED} padding before / after", f"{chk.padding.before} / {chk.padding.after}")
    st.caption(chk.padding.explanation)


def q9():
    n = st.number_input("Input size n", 2, 4096, 32, key="lc9_n")
    settings = cc.divide_settings(n, 2, pool=True)
    st.markdown(f"{COMPUTED} Pooling settings with stride 2 whose output is ⌈{n}/2⌉ = {-(-n // 2)} "
                "(PyTorch allows a pooling padding of at most k/2):")
    st.dataframe(pd.DataFrame([{"pool": f"maxpool {s.spec}", "output": s.out,
                                "input rows never read": s.unread} for s in settings]), hide_index=True)
    st.markdown("The lab's choice, k = 2, s = 2, reads every row exactly once; k = 3, s = 2, p = 1 overlaps the "
                "windows; k = 1, s = 2 simply drops every other row.")


def q10():
    rows = cc.parameter_table(LAB)
    fc4 = next(r for r in rows if r.name == "fc4")
    m = st.columns(3)
    m[0].metric(f"{COMPUTED} total parameters", fmt(LAB.params))
    m[1].metric(f"{COMPUTED} fc4's share", pct(fc4.share, 2))
    m[2].metric(f"{COMPUTED} conv layers' share", pct(sum(r.share for r in rows if r.name.startswith("conv")), 2))
    number = st.column_config.NumberColumn(format="localized")
    st.dataframe(pd.DataFrame([{"layer": r.name, "spec": r.spec, "output": shape(r.out_shape), "weights": r.weights,
                                "biases": r.biases, "parameters": r.params, "share": 100 * r.share,
                                "memory (B)": r.memory} for r in rows]), hide_index=True, height=36 * (len(rows) + 1),
                 column_config={"share": st.column_config.ProgressColumn("share", format="%.2f %%", min_value=0,
                                                                         max_value=100),
                                **{c: number for c in ("weights", "biases", "parameters", "memory (B)")}})
    latex(f"{fc4.params:,}/{LAB.params:,} = {100 * fc4.share:.2f} %".replace("%", r"\%"), r"\text{fc4 share}")
    c, h, w = LAB["pool3"].out_shape
    st.markdown(f"The convolutions hold few weights (shared filters); the first fully-connected layer holds most "
                f"of them, because it connects every value of the {h}×{w}×{c} map to each of its "
                f"{LAB['fc4'].out_shape[0]:,} outputs.")


def q11():
    per, values = cc.per_training_image(LAB.params), cc.training_values()
    m = st.columns(3)
    m[0].metric(f"{COMPUTED} parameters", fmt(LAB.params))
    m[1].metric(f"{COMPUTED} {per.label}", per.formula.split("= ")[-1])
    m[2].metric(f"{COMPUTED} {values.label}", fmt(values.value))
    latex(per.formula, r"\text{parameters per image}")
    latex(values.formula, r"\text{pixel values}")
    st.markdown(f"There are about {per.formula.split('= ')[-1]} parameters per training image: enough to memorise "
                f"the training set, hence the overfitting of Part 2 and the regularisation of Part 3. Each image "
                f"brings {values.value // IMAGES:,} values, though, so the data hold "
                f"{values.value / LAB.params:,.0f}× more numbers than the net has parameters.")


def q12():
    bow = cc.bag_of_words_svm()
    m = st.columns(2)
    m[0].metric(f"{COMPUTED} bag-of-words + linear SVM", fmt(bow.value))
    m[1].metric(f"{COMPUTED} lab CNN", fmt(LAB.params), f"×{LAB.params / bow.value:.1f}", delta_color="off",
                delta_arrow="off")
    latex(bow.formula, r"\text{codebook} + \text{SVMs}")
    st.markdown("A codebook of 1000 SIFT centroids (128 values each) and ten one-vs-rest linear SVMs on the "
                "1000-bin histogram. The features there are hand-designed (SIFT) and the codebook is learned "
                "without labels; the CNN learns its features end to end from the labels, with more parameters.")


# --- Part 2 --------------------------------------------------------------------------------------------

def q13():
    st.markdown("The lab's `main(batch_size, lr, epochs, device)` is the **Training** page's form, or from a "
                "terminal:")
    st.code(cc.cli_command(), language="bash")
    d = cc.TrainConfig()
    st.markdown(f"{COMPUTED} The defaults (cnncalc.train.config.TrainConfig):")
    keys = ("preset", "data", "epochs", "batch_size", "lr", "device", "optimizer", "momentum", "schedule",
            "standardize", "augment", "dropout", "batchnorm")
    st.markdown(" · ".join(f"`{k}` = {getattr(d, k)}" for k in keys))
    st.markdown("`--device cuda` needs a GPU (`auto` picks it when there is one). Every run, from the page or "
                "the command, lands in the same run store and appears on the Training page.")


def q14():
    st.markdown("- **Training metrics** (`train()`): the model is in *training mode* — dropout drops units, "
                "batch norm uses each batch's statistics — and the loss and accuracy are **averaged over the "
                "epoch's batches**, while the weights change from one batch to the next.\n"
                "- **Test metrics** (`evaluate()`): *eval mode* — dropout off, batch norm with its running "
                "statistics — on the **whole test set**, with the weights of the end of the epoch, under "
                "`torch.no_grad()`.\n\nSo the training numbers lag behind (early batches count) and are "
                "handicapped by dropout, and the test numbers measure generalisation.")
    d = cc.dropout_demo(0.5, 8)
    st.markdown(f"{COMPUTED} `nn.Dropout(0.5)` on `torch.ones(8)` (seed {d.seed}):")
    vectors({"input": d.x, "train mode": d.train, "eval mode": d.eval})
    b = cc.batchnorm_demo()
    st.markdown(f"{COMPUTED} `nn.BatchNorm1d(1)` on the batch {list(b.x)}: train mode uses the batch's mean "
                f"{b.batch_mean:g} and variance; eval mode (after that one batch) uses the running mean "
                f"{b.running_mean:.3g} and variance {b.running_var:.4g}:")
    vectors({"input": b.x, "train mode": b.train, "eval mode": b.eval}, 4)


def q15():
    best = cc.best_cifar10(RESULTS)
    if best:
        m = st.columns(3)
        m[0].metric(f"{STORED} best test top-1", pct(best.best_top1), f"epoch {best.best['epoch']}",
                    delta_color="off", delta_arrow="off")
        m[1].metric(f"{STORED} run", f"#{best.id}")
        m[2].metric(f"{STORED} epochs", f"{best.done_epochs}/{best.config.epochs}")
        st.caption(f"{best.name} — the best CIFAR-10 run in the store at the lab's baseline settings.")
    else:
        st.markdown(f"{STORED} No baseline CIFAR-10 run in the store yet (the lab net at the default settings: "
                    "batch 128, lr 0.1, SGD, no standardization or augmentation). Launch the ladder's step "
                    "*1 baseline* (30 epochs) on the Training page:")
        link("training", "Open the {} page to launch it")
    reference("1 baseline")


def q16():
    st.markdown(f"The sweeps the Training page offers (cnncalc.train.config.SWEEPS), one value changed at a time: "
                + "; ".join(f"**{k}**: " + ", ".join(f"{v[next(iter(v))]:g}" for v in values)
                            for k, values in cc.SWEEPS.items()) + ".")
    found = False
    for key, label in (("lr", "learning rate"), ("batch_size", "batch size")):
        for sw in cc.sweeps(RESULTS, key):
            found = True
            st.markdown(f"{STORED} **{label} sweep in the store** ({sw.common}):")
            runs_table(sw.runs, **{label: lambda r, key=key: getattr(r.config, key)})
    if not found:
        st.markdown(f"{STORED} No sweep in the store yet (runs that differ only in the learning rate or only in "
                    "the batch size). Queue them with the Training page's sweep buttons.")
    steps = {b["batch_size"]: -(-IMAGES // b["batch_size"]) for b in cc.SWEEPS["batch size"]}
    st.markdown(f"{COMPUTED} Steps per epoch on the {IMAGES:,} training images: " +
                ", ".join(f"batch {b} → {s:,}" for b, s in steps.items()) + ".")
    st.markdown("**What to expect** (an expectation, not a measurement): lr 1 — the loss explodes (NaN) or "
                "stays at chance; 0.1 — learns well; 0.001 — learns, slowly; 1e-5 — hardly moves from chance "
                "in a few epochs. Small batches make many noisy steps per epoch (slower per epoch on a GPU, "
                "sometimes a better optimum); large batches make fewer, smoother steps and often want a larger "
                "learning rate.")


def q17():
    ch = cc.chance()
    m = st.columns(3)
    m[0].metric(f"{COMPUTED} loss", f"{ch['loss']:.4f}", help="−ln(1/10) = ln 10")
    m[1].metric(f"{COMPUTED} top-1 accuracy", pct(ch["top-1"], 0), f"error {pct(1 - ch['top-1'], 0)}",
                delta_color="off", delta_arrow="off")
    m[2].metric(f"{COMPUTED} top-5 accuracy", pct(ch["top-5"], 0))
    st.latex(rf"-\ln\tfrac{{1}}{{10}} = \ln 10 = {ch['loss']:.6f}")
    st.markdown("At initialisation the scores are small and nearly equal, so the softmax is close to uniform: "
                "every class gets about 1/10, the cross-entropy is about ln 10 and the net is right 1 time in 10 "
                "(5 in 10 for top-5).")
    first = next((r for r in RESULTS if r.epochs and r.epochs[0].get("batch_losses")), None)
    if first:
        st.markdown(f"{STORED} Run #{first.id}: first batch loss **{first.epochs[0]['batch_losses'][0]:.3f}** "
                    f"(chance {ch['loss']:.3f}).")


def q18():
    done = [r for r in RESULTS if r.status != "running" and len(r.epochs) >= 2]
    if not done:
        st.markdown(f"{STORED} No finished run with two epochs or more in the store yet. Train the baseline for "
                    "30 epochs and watch the test loss: overfitting is when it rises again while the training "
                    "loss keeps falling (and the train–test accuracy gap widens).")
        reference("1 baseline")
        return
    labels = {r.id: f"#{r.id} — {r.name} ({r.status})" for r in done}
    run_id = st.selectbox("Run", list(labels), format_func=labels.get, key="lc18_run",
                          help="Most recent first")
    run = next(r for r in done if r.id == run_id)
    s = tc.overfitting_summary(list(run.epochs))
    st.markdown(f"{STORED} " + tc.overfitting_note(s))
    st.altair_chart(tc.loss_chart(tc.epochs_frame(list(run.epochs)), epochs_total=run.config.epochs))


# --- Part 3 --------------------------------------------------------------------------------------------

def q19():
    s = standardization()
    st.markdown("Subtract each channel's mean and divide by its standard deviation: every input channel then has "
                "mean 0 and std 1, the first layer's inputs are centred and on the same scale, and SGD with one "
                "learning rate works better (the loss surface is better conditioned).")
    st.markdown(f"{COMPUTED} On a sample — {s.sample.source}:")
    ch = ("R", "G", "B")
    rows = [("the lab sheet's mean", cc.LAB_MEAN), ("the lab sheet's std", cc.LAB_STD),
            ("sample mean (channel_stats)", s.train_mean), ("sample std (channel_stats)", s.train_std),
            ("sample: average per-image std", s.per_image_std),
            ("after standardizing with the sample's stats: mean", s.after_mean),
            ("… std", s.after_std), ("after standardizing with the sheet's constants: mean", s.lab_after_mean),
            ("… std", s.lab_after_std)]
    st.dataframe(pd.DataFrame([{"": k, **{c: round(v, 3) for c, v in zip(ch, vals)}} for k, vals in rows]),
                 hide_index=True)
    st.markdown("The sheet's std matches the *average of each image's own std* better than the std over all "
                "pixels that `channel_stats` computes: with the sheet's constants the standardized std is a little "
                "above 1. Either way the inputs end up centred and of similar scale; the Training page offers both "
                "(*the lab sheet's constants* or *computed from the training set*).")
    if not s.sample.real:
        st.caption("Synthetic images: these are not CIFAR-10's statistics.")


def q20():
    s = standardization()
    st.markdown("The test set stands for images the model has never seen. Computing the mean and std on it (or "
                "on train + test) lets test information into training — a **leak** that makes the test score "
                "optimistic. Every preprocessing step is fitted on the training set and applied unchanged to the "
                "test set (as in deployment, where there is one new image at a time).")
    ch = ("R", "G", "B")
    st.markdown(f"{COMPUTED} The two splits of the sample of question 19 ({s.sample.kind}) have close but not "
                "identical statistics:")
    st.dataframe(pd.DataFrame([{"": k, **{c: round(v, 4) for c, v in zip(ch, vals)}} for k, vals in
                               [("train mean", s.train_mean), ("test mean", s.test_mean),
                                ("train std", s.train_std), ("test std", s.test_std)]]), hide_index=True)


def q21():
    st.markdown("ZCA whitening decorrelates the pixels. With the covariance of the (centred) training images "
                "C = U Λ Uᵀ, each image x becomes")
    st.latex(r"x_\text{ZCA} = W x, \qquad W = U\,(\Lambda + \varepsilon I)^{-1/2}\,U^\top")
    st.markdown("The result has (nearly) identity covariance — no pixel predicts its neighbour any more — and, "
                "among all whitening transforms, stays closest to the original image (edges are enhanced). ε keeps "
                "the tiny-variance directions (mostly noise) from being blown up.")
    flag = "--zca" in cc.train_flags()
    st.markdown(f"{COMPUTED} cnncalc's engine has it: `fit_zca` (cnncalc.train.engine), "
                + ("flag `--zca` of `python -m cnncalc train` " if flag else "")
                + "(fast pipeline only, fitted on the training set).")
    eps = st.select_slider("ε", [1e-1, 1e-2, 1e-3, 1e-4], value=1e-2, key="lc21_eps", format_func=lambda v: f"{v:g}")
    z = zca(eps)
    m = st.columns(3)
    m[0].metric(f"{COMPUTED} neighbour correlation before", f"{z.neighbour_before:.2f}")
    m[1].metric(f"{COMPUTED} after ZCA", f"{z.neighbour_after:.2f}")
    m[2].metric(f"{COMPUTED} mean variance after", f"{z.diag_after:.2f}", help="1 at ε = 0")
    st.caption(f"fit_zca on the central {z.patch}×{z.patch} crops of {z.n} standardized training images "
               f"({sample().kind}, the sample of question 19); correlation of horizontally adjacent pixel values.")


def q22():
    crops = cc.crop_variants()
    st.markdown(f"The lab's augmentation: a random {crops.crop}×{crops.crop} crop and a horizontal flip half the "
                f"time for each training image, the centre crop for test images (pool3 switches to ceil mode so "
                f"fc4 keeps 1,024 inputs). {COMPUTED} {crops.cropflip} different versions of each image "
                f"(({crops.size} − {crops.crop} + 1)² positions × 2).")
    ladder_answer("3 + random crop 28 + flip", "standardization + crop + flip")
    st.markdown("Expect the training accuracy to drop (the task is harder) and the test accuracy to rise: less "
                "overfitting.")


def q23():
    st.markdown("No. A flip is valid only when the mirrored image still belongs to the same class. For CIFAR-10's "
                "photos it is (a mirrored horse is a horse); for digits, letters, text and road signs it is not:")
    for f in flips():
        c = st.columns([1, 1, 3])
        c[0].image(f.image, caption=f"{f.name}", width=90)
        c[1].image(f.flipped, caption="flipped", width=90)
        c[2].markdown(f"{COMPUTED} {f.verdict}.")
    st.caption("Images drawn with PIL, flipped with numpy; the flipped seven-segment 2 is compared pixel by pixel "
               "with the 5 drawn the same way. A vertical flip is wrong even for photos (the sky is up).")


def q24():
    crops = cc.crop_variants()
    st.markdown(f"- It only produces **variations of the same images**: {COMPUTED} {crops.cropflip} crop/flip "
                f"versions per image with the lab's augmentation, {crops.padcrop} with pad-{crops.pad}-crop — not "
                "new objects, poses or backgrounds.\n"
                "- It must keep the **label**: a transformation that changes the class (flipping a 2, rotating a 6) "
                "teaches the wrong answer.\n"
                f"- It can create a **train/test mismatch**: with the crop, the test uses the centre "
                f"{crops.crop}×{crops.crop}, so {pct(crops.unseen)} of each test image's pixels are never seen.\n"
                "- It **costs** training time (more epochs to converge) and lowers the training accuracy; too "
                "strong an augmentation makes the task harder than the test itself (underfitting).")


def q25():
    aug = cc.train_choices()["augment"]
    st.markdown(f"{COMPUTED} Offered by cnncalc's training (`--augment`): " + ", ".join(f"`{a}`" for a in aug) +
                " — `cropflip` is the lab's random crop 28 + flip, `padcrop` pads by 4 and takes a random 32×32 "
                "crop + flip (keeps the size).")
    st.markdown("Others, **not implemented here**: colour jitter (brightness, contrast, saturation, hue), small "
                "rotations and scalings, Cutout / random erasing (hide a square), Mixup and CutMix (blend two "
                "images and their labels), AutoAugment / RandAugment (learned or random policies), noise and blur.")


def q26():
    lr0, gamma = cc.TrainConfig().lr, 0.95
    st.markdown(f"Ladder step 4 adds **momentum 0.9** (each step adds 0.9 × the previous one) and "
                f"**ExponentialLR γ = {gamma:g}** (the learning rate is multiplied by γ after every epoch).")
    m = st.columns(4)
    for col, e in zip(m, (10, 50, 100)):
        col.metric(f"{COMPUTED} lr after {e} epochs", f"{cc.lr_after(e, lr0, gamma):.4g}")
    m[3].metric(f"{COMPUTED} half-life", f"{cc.half_life(gamma):.1f} epochs", help="ln 0.5 / ln γ")
    for e in (10, 50, 100):
        latex(cc.lr_formula(e, lr0, gamma), rf"\text{{lr}}_{{{e}}}")
    st.caption("After e epochs (e scheduler steps); during epoch e the rate is lr·γ^(e−1).")
    ladder_answer("4 + momentum 0.9 + ExponentialLR 0.95", "+ momentum + schedule")
    st.markdown("Stability: the loss curve is smoother late in training, as the step shrinks. With momentum the "
                f"effective step is lr/(1 − m) = {cc.momentum_gain(0.9):.0f}× lr: at lr 0.1 without the schedule "
                "(or batch norm) training can stall or oscillate.")


def q27():
    g = cc.momentum_gain(0.9)
    st.markdown(f"- **Momentum** averages the recent gradients: along a consistent direction the steps add up "
                f"({COMPUTED} up to 1/(1 − 0.9) = {g:.0f}× the plain step), across a narrow valley the zig-zags "
                "cancel — faster progress, less oscillation, and it rolls through small bumps and plateaus.\n"
                "- **A decaying learning rate**: large steps early to move fast and explore, small steps late to "
                "settle at the bottom of a minimum instead of bouncing around it (SGD's noise shrinks with the "
                f"step). With γ = 0.95 {COMPUTED} the rate halves every {cc.half_life(0.95):.1f} epochs.")


def q28():
    ch = cc.train_choices()
    st.markdown(f"{COMPUTED} cnncalc's training offers optimizers " + ", ".join(f"`{o}`" for o in ch["optimizer"])
                + " (plus `--nesterov` momentum for SGD and `--weight-decay`) and schedules "
                + ", ".join(f"`{s}`" for s in ch["schedule"]) + ".")
    epochs = st.slider("Epochs", 10, 200, 50, 10, key="lc28_epochs")
    c = curves(epochs)
    df = pd.DataFrame(c, index=pd.RangeIndex(1, epochs + 1, name="epoch"))
    st.markdown(f"{COMPUTED} The learning rate at the start of each epoch (lr 0.1), from the engine's own "
                "`make_optimizer` and PyTorch's schedulers (step: × 0.1 every third of the run; onecycle: per "
                "step, up then down):")
    st.line_chart(df, height=240, x_label="epoch", y_label="learning rate")
    st.markdown("Elsewhere: RMSprop, Adagrad, LAMB/LARS (large batches), Lion; warm-up then cosine, "
                "reduce-on-plateau, cyclical learning rates.")


def q29():
    with_dropout = sorted([r for r in RESULTS if r.config.dropout > 0 and r.best], key=lambda r: -r.best_top1)
    if with_dropout:
        st.markdown(f"{STORED} **Your runs with dropout**, best first:")
        runs_table(with_dropout, dropout=lambda r: r.config.dropout)
    else:
        st.markdown(f"{STORED} No run with dropout in the store yet.")
    st.markdown("Dropout alone usually lowers the training accuracy, narrows the train–test gap and lets the test "
                "loss keep falling for longer. The lab adds it together with batch norm (step 5):")
    reference("5 + dropout 0.5 + batch norm")


def q30():
    flags = cc.train_flags()
    have = [f for f in ("--weight-decay", "--dropout", "--augment", "--batchnorm") if f in flags]
    st.markdown("- **Weight decay / L2** (penalise large weights), L1 (sparsity)\n- **Dropout**\n"
                "- **Data augmentation**\n- **Early stopping** (keep the epoch with the lowest validation loss)\n"
                "- **Batch norm** (a mild regularising noise)\n- Smaller networks, fewer parameters; label "
                "smoothing; stochastic depth; more data.")
    st.markdown(f"{COMPUTED} Available in cnncalc's training: " + ", ".join(f"`{f}`" for f in have) + ".")


def q31():
    sub = cc.subnetworks(0.5, LAB)
    st.markdown(f"- **An ensemble**: each training example trains one thinned network; with dropout on fc4's "
                f"{sub.units:,} outputs there are $2^{{{sub.units}}}$ of them ({COMPUTED} a number of {sub.digits} "
                "digits), all sharing their weights. At test time, scaling (here during training, by 1/(1 − p)) "
                "approximates averaging them all.\n"
                "- **Against co-adaptation**: a unit cannot rely on a particular other unit being there, so it "
                f"must be useful on its own ({COMPUTED} {sub.kept:,.0f} of {sub.units:,} units kept on average at "
                "p = 0.5).\n- **Noise injection / regularisation**: multiplicative noise on the activations, "
                "like an adaptive L2 penalty for linear models.")


def q32():
    groups = cc.sweeps(RESULTS, "dropout")
    if groups:
        for sw in groups:
            st.markdown(f"{STORED} **Dropout sweep in the store** ({sw.common}):")
            runs_table(sw.runs, dropout=lambda r: r.config.dropout)
    else:
        step = "5 + dropout 0.5 + batch norm"
        st.markdown(f"{STORED} No dropout sweep in the store yet. Launch the ladder's step *{step}* with "
                    f"dropout = " + ", ".join(f"{p:g}" for p in cc.DROPOUT_SWEEP) + " (everything else equal) and "
                    "compare the test top-1 and the train–test gap.")
        c = st.columns([2, 3], vertical_alignment="bottom")
        p = c[0].selectbox("Dropout rate", cc.DROPOUT_SWEEP, index=2, key="lc32_p")
        if c[1].button(f"Fill the Training form with step 5, dropout {p:g}", key="lc32_fill",
                       help="Opens the Training page with its form filled; nothing is queued until you press "
                            "'Queue this run' there."):
            go_training({**cc.LADDER[step], "dropout": p})
    st.markdown("Expect an optimum in between: p = 0 overfits (large gap), a moderate p (0.25–0.5) narrows the gap "
                "and improves the test accuracy, a large p (0.75+) removes so much that the net underfits and "
                "learns slowly. (An expectation, not a measurement.)")


def q33():
    p = st.slider("Dropout probability p", 0.0, 0.9, 0.5, 0.05, key="lc33_p")
    d = cc.dropout_demo(p, 10, seed=0)
    st.markdown(f"{COMPUTED} `nn.Dropout({p:g})` on `torch.ones(10)`, `torch.manual_seed({d.seed})`:")
    vectors({"input": d.x, "train mode": d.train, "eval mode": d.eval}, 4)
    m = st.columns(3)
    m[0].metric(f"{COMPUTED} kept in train mode", f"{d.kept} / {len(d.x)}")
    m[1].metric(f"{COMPUTED} scale of the kept values", f"{d.scale:.4g}", help="1/(1 − p)")
    m[2].metric(f"{COMPUTED} eval mode", "identity" if d.eval == d.x else "changed")
    st.markdown("Training mode zeroes each value with probability p and multiplies the others by 1/(1 − p) "
                "(*inverted dropout*), so the expected value is unchanged; eval mode (`model.eval()`) returns the "
                "input as it is. Forgetting `model.eval()` before testing gives random, worse predictions.")


def q34():
    cost = cc.batchnorm_cost()
    st.markdown("Batch norm normalises each channel over the batch, then scales and shifts it with two learned "
                "parameters per channel (γ, β). It allows larger learning rates, makes training less sensitive to "
                "the initialisation and regularises a little.")
    m = st.columns(2)
    m[0].metric(f"{COMPUTED} extra parameters (lab-bn vs lab28)", fmt(cost.extra))
    m[1].metric(f"{COMPUTED} lab-bn total", fmt(cost.with_bn))
    latex(" + ".join(f"{n}" for _, n in cost.per_layer) + f" = {cost.extra}",
          r"2\cdot(" + " + ".join(str(n // 2) for _, n in cost.per_layer) + ")")
    st.caption("Per layer (γ and β): " + ", ".join(f"{name} {n}" for name, n in cost.per_layer) +
               ". The running mean and variance are buffers, not parameters.")
    ladder_answer("5 + dropout 0.5 + batch norm", "+ dropout 0.5 + batch norm")


ANSWERS = {i: globals()[f"q{i}"] for i in range(1, len(cc.QUESTIONS) + 1)}

# --- the page ------------------------------------------------------------------------------------------

if STORE_NOTE:
    st.warning(STORE_NOTE)
shown = cc.matching(query)
if not shown:
    st.info(f"No question matches “{query}”. Clear the filter to see all {len(cc.QUESTIONS)}.")
elif query.strip():
    st.caption(f"{len(shown)} of {len(cc.QUESTIONS)} questions match.")
for part, title in cc.PARTS.items():
    questions = [q for q in shown if q.part == part]
    if not questions:
        continue
    st.subheader(title)
    for q in questions:
        with st.expander(q.label):
            try:
                ANSWERS[q.number]()
            except (RuntimeError, ValueError, OSError, ImportError) as err:  # one answer must not break the page
                st.warning(f"This answer could not be computed here: {err}")
            for key in q.pages:
                link(key)

"""The four classroom demos of the "Why convolutions" page, one function per tab (session keys ``demo_*``).
Every number comes from :mod:`cnncalc.classroom.demos`."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from cnncalc.classroom import demos
from cnncalc.classroom.samples import load_sample, sample_names
from cnncalc.draw import train_charts as tc
from cnncalc.train.data import local_cifar10
from cnncalc.server.identity import Identity
from ui import budget, identity
from ui.widgets import escape, to_latex

ss = st.session_state


def sci(v: float) -> str:
    return "0" if v == 0 else f"{v:.1e}" if abs(v) < 1e-3 else f"{v:.2f}"


METRIC_CHARS = 11  # what a metric in a third of a projected page (1280×720, menu open) shows whole


def short_count(n: int) -> str:
    """A count short enough for a metric in a third of the page: exact with separators up to 11 characters
    ('100,000,000'), else a power of ten ('10¹²', '2.3·10¹⁰'); the exact value goes in the metric's help."""
    text = f"{n:,}"
    return text if len(text) <= METRIC_CHARS else demos.human(n)


@st.cache_data(max_entries=50, show_spinner=False)
def equivariance(name: str, size: int, gray: bool, dy: int, dx: int, k: int, layers: int, padding: str):
    """Tab ①'s one PyTorch call (a random conv stack and fc layer on a size×size image). The sliders stay
    inside the core's bounds (demos.equivariance: k ≤ 31, 8 layers, 10⁸ fc weights; here 64×64, k ≤ 9, 3
    layers), which tests/app/test_demos.py checks."""
    with budget.held():
        return demos.equivariance(load_sample(name, size), dy, dx, k, layers, padding, gray)


@st.cache_data(max_entries=50, show_spinner=False)
def pooling(name: str, k: int, direction: str) -> demos.PoolingDemo:
    """Tab ②'s computation (numpy, 128×128, k ≤ 3: inside demos.pooling_demo's bounds)."""
    return demos.pooling_demo(demos.gray_uint8(load_sample(name, 128)), k, direction)


@st.cache_resource
def trained() -> dict:
    """Shuffled-pixels results by settings, shared by every visitor: each setting is trained once."""
    return {}


def shuffled(source: str, limit: int, epochs: int, bar) -> demos.ShuffledResult:
    """Tab ③'s heavy call: the four runs (also written to the run store, so they show on the Training page);
    at most 5,000 images and 8 epochs here, inside demos.shuffled_pixels_runs's bounds."""
    from cnncalc.train.store import RunStore, default_root
    if (source, limit, epochs) not in trained():
        me = identity.current() or Identity("demos", "demos page")
        with budget.held():
            trained()[source, limit, epochs] = demos.shuffled_pixels_runs(
                source, limit, 500, epochs, store=RunStore(default_root()), owner=me, limits=budget.limits(),
                on_progress=lambda f, name: bar.progress(f, text=f"training {name} …"))
    return trained()[source, limit, epochs]


def shift_tab() -> None:
    st.subheader("Convolutions commute with shifts; fully-connected layers do not")
    c = st.columns([1.4, 1, 1, 1, 1, 1, 1.2])
    name = c[0].selectbox("Image", sample_names(), key="demo_eq_image")
    dy = c[1].slider("Shift down (px)", -12, 12, 4, key="demo_eq_dy")
    dx = c[2].slider("Shift right (px)", -12, 12, 6, key="demo_eq_dx")
    k = c[3].select_slider("Kernel k", [2, 3, 4, 5, 7, 9], 5, key="demo_eq_k")
    layers = c[4].select_slider("Conv layers", [1, 2, 3], 1, key="demo_eq_layers", help="Random 'same' convs, ReLU "
                                "between, stride 1, no pooling; 4 hidden channels, one output map.")
    padding = c[5].radio("Padding", ["zeros", "circular"], key="demo_eq_pad",
                         help="zeros: the strip that enters is filled with 0 (the image is centred, so mean grey) "
                              "and the convs pad with zeros. circular: the shift and the padding wrap around.")
    gray = not c[6].toggle("RGB", key="demo_eq_rgb", help="A colour input: three channels instead of "
                          "grey levels.")
    with budget.waiting_note("Running the convolutions"):
        e = equivariance(name, 64, gray, dy, dx, k, layers, padding)
    lo, hi = min(e.conv_x.min(), e.conv_shifted.min()), max(e.conv_x.max(), e.conv_shifted.max())
    t, b, l, r = e.box
    # one row of five pictures, so that the conclusion below them is in the first screen of a projector
    c = st.columns(5)
    c[0].image(demos.picture(e.display("x")), width="stretch", caption="input x")
    c[1].image(demos.picture(e.display("x_shifted")), width="stretch", caption=f"shift x: ({dy}, {dx}) px")
    c[2].image(demos.picture(e.conv_x, lo, hi), width="stretch", caption="conv(x)")
    c[3].image(demos.picture(e.conv_shifted, lo, hi), width="stretch", caption="conv(shift x)")
    c[4].image(demos.picture(e.diff, 0, max(e.diff.max(), 1e-12), e.box, target=320), width="stretch",
               caption="|shift(conv x) − conv(shift x)|, red box: interior")
    exact = " (exactly)" if e.interior_max == 0 else ""
    st.success(f"**Shift the input by ({dy}, {dx}) px and the conv output moves by exactly ({dy}, {dx}) px** — in "
               f"the interior they differ by {sci(e.interior_max)}{exact}. A fully-connected layer with the same "
               f"output size ({e.fc_weights:,} weights, vs {e.conv_weights:,}) does not just move: its output is off "
               f"by {e.fc_moved:.2f}× its own size from a shifted copy.")
    c = st.columns([1, 2, 2])
    with c[0], st.container(border=True):
        st.markdown("**Red box**")
        st.metric("max |Δ| inside", sci(e.interior_max), help="Inside the red box of the difference map: exactly 0 "
                  "when both sides do the same multiplications in the same order (float32)")
    for col, (title, moved, changed) in zip(c[1:], [
            (f"Convolution · {e.conv_weights:,} weights", e.conv_moved, e.conv_changed),
            (f"Fully connected · {e.fc_weights:,} weights", e.fc_moved, e.fc_changed)]):
        with col, st.container(border=True):
            st.markdown(f"**{title}**")
            m = st.columns(2)
            m[0].metric("vs shifted copy", sci(moved), help="Distance from a shifted copy, ‖f(shift x) − "
                        "shift(f x)‖ / ‖f x − mean‖ in the interior: 0 means the output simply moved with the "
                        "input.")
            m[1].metric("output change", sci(changed), help="Change of the output, ‖f(shift x) − f(x)‖ / "
                        "‖f x − mean‖ in the interior")
    where = ("circular padding and a wrap-around shift lose nothing, so the whole map is interior" if padding ==
             "circular" else f"outside it the zero padding and the {abs(dy)}/{abs(dx)}-px strip that entered "
             f"make a difference (max |Δ| there {e.outside_max:.2f})")
    st.caption(f"Interior = rows {t}…{b - 1}, columns {l}…{r - 1} ({e.interior_fraction:.0%} of the map): each "
               f"output sees {e.reach[0]} px before and {e.reach[1]} px after itself ({layers} × k={k}), and that "
               f"window must avoid the border and the shifted strip; {where}. Norms over the interior.")


def pooling_tab() -> None:
    st.subheader("Pooling gives a little shift invariance")
    c = st.columns([1.5, 1, 1.5])
    pname = c[0].selectbox("Image (grey levels, 128×128)", sample_names(), key="demo_pool_image")
    pk = c[1].radio("Pool size k (stride k)", [2, 3], key="demo_pool_k", horizontal=True)
    direction = c[2].radio("Shift", list(demos.DIRECTIONS), key="demo_pool_dir", horizontal=True)
    p = pooling(pname, pk, direction)
    single, double = f"max {pk}×{pk}", f"max {pk}×{pk} → {pk}×{pk}"
    # the conclusion first: with the table it is the projector's first screen; the pictures follow
    st.success(f"**Shift by 1 px: {p.fraction(single, 1):.0%} of max-pooled outputs stay identical, "
               f"{p.fraction(f'avg {pk}×{pk}', 1):.0%} of average-pooled ones, "
               f"{p.fraction('no pooling (pixels)', 1):.0%} of raw pixels.** Stacking two pools keeps "
               f"{p.fraction(double, pk * pk - 1):.0%} even at {pk * pk - 1} px.")
    tab = p.table()
    frame = pd.DataFrame({f"{s} px": [100 * tab[n][s] for n in tab] for s in p.shifts}, index=list(tab))
    st.dataframe(frame, width="stretch", column_config={col: st.column_config.ProgressColumn(
        col, min_value=0.0, max_value=100.0, format="%.0f%%") for col in frame.columns})
    st.caption("Share of outputs identical to those of the unshifted image, at the same positions, per shift of "
               f"the input. Two stacked {pk}×{pk} pools cover {pk * pk}×{pk * pk} pixels.")
    c = st.columns([1, 1, 1, 1.2])
    show = c[3].select_slider("Shift shown (px)", p.shifts, 1, key="demo_pool_shift")
    c[3].markdown("Grey: the pooled image. **Red: outputs that changed** when the input moved.")
    for col, key in zip(c, (f"avg {pk}×{pk}", single, double)):
        col.image(p.overlay(key, show), width="stretch", caption=f"{key}: {p.fraction(key, show):.0%} unchanged")
    st.markdown("A **max** keeps its value as long as the window's maximum stays inside the window and nothing "
                "larger slides in. An **average** changes as soon as one value leaves and a different one enters — "
                "only where the image is constant does it stay. Beyond the window's size the pool is no help.")


def shuffled_settings() -> tuple[tuple, bool]:
    """The shuffled-pixels tab's settings and whether "Train" was pressed (results come later: training never
    holds up the other tabs)."""
    st.subheader("Shuffle the pixels: the MLP does not care, the CNN does")
    perm_img = demos.as_float(load_sample("cat (chelsea)", 32))[None]
    shuffled_img = demos.shuffle_pixels(perm_img, demos.permutation(32, 32))
    c = st.columns([1, 1, 3])
    c[0].image(demos.picture(perm_img[0], target=180), caption="original")
    c[1].image(demos.picture(shuffled_img[0], target=180), caption="shuffled: the same permutation for every image")
    with c[2]:
        sources = {**({"CIFAR-10 (local copy)": str(local_cifar10())} if local_cifar10() else {}),
                   "synthetic rings (offline)": "synthetic"}
        source = sources[st.selectbox("Data", list(sources), key="demo_sh_source")]
        s = st.columns(2)  # side by side: the results below stay in the projector's first screen
        limit = s[0].select_slider("Training images", [500, 1000, 2000, 5000], 2000, key="demo_sh_limit")
        epochs = s[1].select_slider("Epochs", [2, 3, 4, 5, 8], 4, key="demo_sh_epochs")
        go = st.button("Train the four networks", type="primary", key="demo_sh_go")
        st.caption(f"MLP `{demos.MLP_SPEC}` · CNN `{demos.CNN_SPEC}` · Adam 1e-3, 500 test images. Four runs, "
                   "1–2 minutes on a CPU; each goes to the run store (Training page, “shuffled-pixels: …”).")
    return (source, limit, epochs), go


def blowup_tab() -> None:
    st.subheader("How many weights to map an image to an image of the same size?")
    c = st.columns(4)
    h = c[0].number_input("Height H", 1, 100_000, 1000, key="demo_bu_h")
    w = c[1].number_input("Width W", 1, 100_000, 1000, key="demo_bu_w")
    ch = c[2].number_input("Channels C", 1, 4096, 1, key="demo_bu_c")
    kb = c[3].number_input("Window k", 1, 101, 10, key="demo_bu_k",
                           help="Side of the square window; at most the image's smaller side.")
    if kb > min(h, w):
        st.warning(f"A {kb}×{kb} window does not fit a {h}×{w} image: using k = {min(h, w)}, its smaller side.")
        kb = min(h, w)
    bu = demos.blow_up(h, w, ch, kb)
    rows = [("Fully connected", "every output sees every input", "fc", "(H·W·C)·(H·W·C)", "FC"),
            ("Locally connected", f"each output sees a {kb}×{kb} window, own weights", "locally_connected",
             "H·W·(C·C·k·k)", "local"),
            ("Convolution", f"one {kb}×{kb} kernel per channel pair, shared", "shared", "C·C·k·k", "conv")]
    for col, (title, what, key, general, short) in zip(st.columns(3), rows):
        n = getattr(bu, key)
        with col, st.container(border=True):
            st.metric(title, short_count(n), help=f"Exactly {n:,} weights: {what}.")
            st.caption(f"{what} · {demos.size(bu.bytes(key))} as float32")

    def fewer(n: int, than: str) -> str:   # k ≤ min(H, W) above ⇒ FC/shared ≥ H·W ≥ 1, local/shared = H·W ≥ 1
        return (f"as many weights as {than}" if n == bu.shared else
                f"{demos.human(n / bu.shared)}× fewer weights than {than}")

    st.success(f"**Sharing one {kb}×{kb} kernel needs {fewer(bu.fc, 'a fully-connected layer')}** and "
               f"{fewer(bu.locally_connected, 'local windows without sharing')}.")
    for title, what, key, general, short in rows:  # short names: the exact counts fit a projected page
        st.latex(to_latex(f"\\text{{{short}: }} {general} = {bu.formulas[key]}"))
    st.caption(f"Weights only (bias=0). Biases would add one per output — {bu.biases:,} to the fully- and "
               f"locally-connected layers, {ch} to the convolution. Computed by cnncalc.analyze of "
               f"`conv {ch} k={kb} p=same bias=0` on a {ch}×{h}×{w} input.")


def shuffled_results(settings: tuple, go: bool) -> None:
    if go:
        bar = st.progress(0.0, text="loading the images …")
        try:
            ss["demo_sh_result"] = (settings, shuffled(*settings, bar))
        except Exception as err:  # data missing, a diverged run…: said, not a traceback on the projector
            st.error(f"**Training failed:** {type(err).__name__}: {escape(err)}")
        bar.empty()
    if ss.get("demo_sh_result", (None,))[0] != settings:
        st.info("Press **Train the four networks** to run the experiment with these settings.")
    else:
        res = ss["demo_sh_result"][1]
        m = st.columns(4)
        for col, run in zip(m, res.runs):
            base = res.run(run.model, "original").final
            col.metric(run.label, f"{run.final:.1%}", delta=None if run.pixels == "original" else
                       f"{(run.final - base) * 100:+.1f} points", help="Final test top-1")
        left, right = st.columns(2)
        for col, model in ((left, "MLP"), (right, "CNN")):
            frames = {run.label: tc.epochs_frame(run.epochs) for run in res.runs if run.model == model}
            col.altair_chart(tc.compare_chart(frames).properties(
                title=f"{model}: test top-1 per epoch"), width="stretch")
        st.success(res.conclusion())
        st.caption(f"{res.data_name}: {res.n_train:,} training, {res.n_test:,} test images. Run ids in the store: "
                   + ", ".join(f"#{run.run_id} {run.label}" for run in res.runs))

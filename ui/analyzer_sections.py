"""Larger page sections of the network analyzer (Streamlit side; every number comes from the core)."""
from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from cnncalc import SpecError, analyze, format_shape, format_spec, layer_names, parse_shape, parse_spec
from cnncalc.cause import find_cause
from cnncalc.comparisons import bag_of_words_svm, per_training_image, training_values
from cnncalc.draw.charts import params_chart, params_rows, rf_chart, rf_rows
from cnncalc.parse import MAX_SIZE
from cnncalc.tables import HEADERS, missing_note, numeric_rows, to_csv, to_markdown, total_text
from ui import budget, widgets
from ui import model_picker as picker
from ui import spec_editor as editor
from ui.trained import classifier
from ui.widgets import escape

AUTO_TORCH_PARAMS = 5_000_000  # build small nets in PyTorch without asking; VGG-size nets on a click
META_NOTE = ("Run on PyTorch's meta device (real shape checks, no values): a real pass would need more than "
             "{limit} of memory here, so its wording differs from the CPU's message.")


def counts_section(prefix: str, result) -> None:
    """The per-layer table, the totals, one layer's formulas, the charts and "Is that a lot?" — the same for a
    text spec, a torchvision model or a checkpoint."""
    table, counts = widgets.count_table(numeric_rows(result), ("weights", "biases", "params", "fc_equivalent", "macs",
                                                               "memory"), HEADERS)
    longest = max((len(r.name) for r in result.layers), default=0)  # torchvision names: layer1.0.conv1
    if longest > 8:
        counts = {**counts, "layer": st.column_config.TextColumn("layer", width="medium" if longest <= 18 else "large")}
    st.dataframe(table, hide_index=True, width="stretch", height=min(36 * (len(table) + 1) + 3, 36 * 21 + 3),
                 placeholder="—", column_config=counts)
    widgets.metrics_row({label: total_text(result, key) for label, key in (
        ("parameters", "params"), ("MACs", "macs"), ("FLOPs", "flops"), ("activation memory (bytes)", "memory"))})
    if note := missing_note(result):
        st.caption(f"The {note}. Fix the layers in error to get the network's totals.")
    with st.expander("Formulas of one layer, values substituted"):
        pick = st.selectbox("Layer", list(dict.fromkeys(r.name for r in result.layers if r.formulas)),
                            key=f"{prefix}_formula_layer")
        for key, text in result[pick].formulas.items() if pick else []:
            st.markdown(f"**{key}**")
            st.latex(widgets.to_latex(text))
    widgets.conventions_expander()
    complete = not result.missing("params")  # shares and comparisons of a lower bound would be wrong
    left, right = st.columns(2)
    if result.params and complete:
        left.vega_lite_chart(params_chart(params_rows(result)), width="stretch")
    if rf := rf_rows(result):
        right.vega_lite_chart(rf_chart(rf), width="stretch")
    if complete:
        st.subheader("Is that a lot?")
        cols = st.columns(4)
        for col, comp in zip(cols, [per_training_image(result.params), training_values(), bag_of_words_svm()]):
            with col:
                widgets.metric_with_formula(comp.label, f"{comp.value:,}", comp.formula)
        cols[3].metric("this network / bag-of-words + SVM", f"{result.params / bag_of_words_svm().value:,.1f}×",
                       help="Total parameters divided by those of a 1000-word SIFT bag-of-words with a linear SVM.")


def model_section(prefix: str, choice) -> None:
    """A torchvision model (traced on the meta device, on the input box's shape) or a checkpoint's network: the
    same counts as a spec; the editor, quiz, fixes and share link are for text specs only."""
    editor.init(prefix)
    st.session_state[f"{prefix}_input"] = st.session_state[f"{prefix}_input"]  # kept for the text source
    st.caption(picker.TEXT_ONLY_NOTE)
    try:
        if choice.source == picker.TORCHVISION:
            result = picker.analysis_of(prefix, choice)
        else:
            clf = classifier(choice.key)
            st.caption(f"{escape(clf.spec)} on {format_shape(clf.input_shape)} — {escape(clf.name)}")
            result = analyze(clf.spec, clf.input_shape)
    except SpecError as err:
        picker.error(f"Cannot use {escape(choice.label)}", err)
        return
    except TimeoutError as err:
        st.warning(f"The server is too busy to trace this model now ({err}): try again in a minute.")
        return
    except Exception as err:  # a corrupt checkpoint, a model PyTorch cannot trace here
        picker.error(f"Cannot use {escape(choice.label)}", f"{type(err).__name__}: {err}")
        return
    counts_section(prefix, result)
    c1, c2 = st.columns(2)
    c1.download_button("Table (CSV)", to_csv(result), "layers.csv", "text/csv", key=f"{prefix}_dl_csv")
    c2.download_button("Table (Markdown)", to_markdown(result), "layers.md", "text/markdown", key=f"{prefix}_dl_md")


def larger_input_section(prefix: str, result) -> None:
    st.subheader("Run it on a larger image")
    c, h, w = (result.input_shape + (0, 0))[:3] if len(result.input_shape) == 3 else (0, 0, 0)
    if not h:
        st.caption("Give a C×H×W input to try larger images.")
        return
    if not result.ok:
        st.caption(f"Fix {result.first_error.name} first: a network with a layer in error cannot run on any size.")
        return
    top = min(max(4096, 2 * h), MAX_SIZE)  # the grammar's largest size: any larger is not an input
    if h >= top:
        st.caption(f"This input is already {h:,} pixels high, the largest size cnncalc reads ({MAX_SIZE:,}).")
        return
    size = st.number_input("Larger input size (pixels per side)", min_value=h, max_value=top, value=min(2 * h, top),
                           key=f"{prefix}_larger", help="The same network, unchanged, applied to a bigger image.")
    bigger = analyze([r.layer for r in result.layers], (c, size, size))
    fc = next((r for r in result.layers if r.layer.kind == "fc"), None)
    maps = [i for i, r in enumerate(bigger.layers) if r.out_shape and len(r.out_shape) == 3]
    now, was = (format_shape(bigger.layers[maps[-1]].out_shape), format_shape(result.layers[maps[-1]].out_shape)) \
        if maps else ("—", "—")
    st.markdown(f"Convolutions and pools slide over any size: at {size}×{size} the last feature map is "
                f"**{now}** (it was **{was}**).")
    if fc is None:
        st.success("No fully-connected layer: the whole network applies to the larger image.")
        return
    need, got = math.prod(fc.in_shape), math.prod(bigger[fc.index].in_shape)
    st.markdown(f"But **{fc.name}** has one weight per input: it was built for **{need:,}** inputs and would "
                f"now receive **{got:,}**.")
    if result.params <= AUTO_TORCH_PARAMS or st.button("Run it in PyTorch", key=f"{prefix}_run_larger"):
        try:
            with budget.waiting_note("Running the network in PyTorch"):
                outcome = _larger_input(format_spec([r.layer for r in result.layers]), result.input_shape,
                                        (c, size, size), budget.limits().memory_bytes)
        except TimeoutError as err:
            st.warning(f"The server is too busy to run PyTorch now ({err}): try again in a minute.")
            return
        refusal_box(outcome, format_spec([r.layer for r in result.layers]),
                    "this is why the *Dense score maps* page converts the fc layers to convolutions")
        if outcome.device == "meta":
            st.caption(META_NOTE.format(limit=limit_text()))
        st.info(outcome.explanation)


def expected_refusal(spec: str, failed_at: str | None) -> bool:
    """PyTorch stopped at the first fully-connected layer (or the flatten PyTorch puts before it): the refusal the
    larger-input step demonstrates, not a crash."""
    try:
        layers = parse_spec(spec)
    except (SpecError, TypeError):
        return False
    first_fc = next((n for n, layer in zip(layer_names(layers), layers) if layer.kind == "fc"), None)
    return bool(failed_at) and first_fc is not None and failed_at.removesuffix("_flatten") == first_fc


def refusal_box(outcome, spec: str, why: str) -> None:
    """PyTorch's message for a larger input: a neutral result when it refuses at the first fc layer, as the lesson
    expects; red for anything else (a real, unexpected failure)."""
    if not outcome.failed_at:
        return
    if expected_refusal(spec, outcome.failed_at):
        st.info(f"**PyTorch refuses, as expected**, at `{outcome.failed_at}`: `{outcome.error}` — {why}.",
                icon=":material/check_circle:")
    else:
        st.error(f"PyTorch, at `{outcome.failed_at}`: `{outcome.error}`")


def issues_section(prefix: str, result) -> None:
    """Each layer in error or warning: its message, the local fix, and on request the cause upstream of it."""
    ss = st.session_state
    asked = ss.get(f"{prefix}_cause_for")
    for r in result.layers:
        if r.status == "ok" or (r.status == "error" and r.message.startswith("not computed")):
            continue
        box = st.error if r.status == "error" else st.warning
        col_msg, col_fix = st.columns([4, 1])
        with col_msg:
            box(f"**{r.name}** (`{r.spec}`): {r.message}")
        if r.fix:
            col_fix.button(f"Apply `{r.fix}`", key=f"{prefix}_fix_{r.index}", on_click=editor.replace_layer,
                           args=(prefix, r.index, r.fix), help="Replace this layer by the nearest valid one")
        col_fix.button("Find the cause", key=f"{prefix}_cause_{r.index}", on_click=_ask_cause, args=(prefix, r.index),
                       help="Search this layer and those above it for one change after which the whole network "
                            "has no warning and no error")
        if asked == (ss[f"{prefix}_spec"], ss[f"{prefix}_input"], r.index):
            causes_block(prefix, result, r)


def _ask_cause(prefix: str, index: int) -> None:
    ss = st.session_state
    ss[f"{prefix}_cause_for"] = (ss[f"{prefix}_spec"], ss[f"{prefix}_input"], index)


@st.cache_data(max_entries=64, show_spinner="Looking upstream for the cause…")
def _find_cause(spec: str, shape: tuple, index: int):
    with budget.held():  # up to find_cause's 2 s of CPU holding the GIL: one of the server's heavy slots
        return find_cause(spec, shape, index)


def causes_block(prefix: str, result, report) -> None:
    """The single-layer changes at or above ``report``'s layer after which the whole network is clean."""
    try:
        with budget.waiting_note("Looking for the cause"):
            search = _find_cause(format_spec([r.layer for r in result.layers]), result.input_shape, report.index)
    except TimeoutError as err:
        st.warning(f"The server is too busy to search now ({err}): try again in a minute.")
        return
    stopped = "" if search.complete else " (the search stopped at its bound: larger changes were not tried)"
    with st.container(border=True):
        if not search.causes:
            st.info(f"No single change of one layer up to {report.name} (kernel ±2, padding ±2, stride 1 or 2) "
                    f"leaves the whole network with no warning and no error{stopped}: try the local fix, or "
                    "change two layers.")
            return
        st.markdown(f"**Find the cause of {report.name}** — one change after which no layer has a warning or "
                    f"an error, earliest layer first, then the smallest change ({search.analyses} networks "
                    f"analyzed{stopped}):")
        for n, cause in enumerate(search.causes):
            left, right = st.columns([4, 1])
            left.markdown(f"{n + 1}. **{cause.name}**: `{cause.before}` → `{cause.after}`")
            right.button(f"Apply to {cause.name}", key=f"{prefix}_cause_apply_{n}", on_click=editor.replace_layer,
                         args=(prefix, cause.index, cause.after), help=f"Replace {cause.name} by `{cause.after}`")


@st.cache_data(max_entries=32, show_spinner="Running the network in PyTorch…")
def _larger_input(spec: str, built_for: tuple, run_on: tuple, max_bytes: int):
    from cnncalc.pytorch.larger import larger_input
    with budget.held():
        return larger_input(spec, built_for, run_on, max_bytes)


@st.cache_data(max_entries=32, show_spinner="Building the model and running a forward pass…")
def _cross_check(spec: str, shape: tuple, max_bytes: int):
    from cnncalc.pytorch.crosscheck import cross_check
    with budget.held():
        return cross_check(spec, shape, max_bytes)


def limit_text() -> str:
    return f"{budget.limits().memory_mb:,} MB"


def exports_section(prefix: str, spec: str, result, csv_text: str, md_text: str) -> None:
    st.subheader("Export and share")
    from cnncalc import to_pytorch_code
    try:
        code = to_pytorch_code(spec, result.input_shape)
    except SpecError as err:
        code = f"# fix the network first: {err}"
    c1, c2, c3 = st.columns(3)
    c1.download_button("PyTorch code (.py)", code, "model.py", "text/x-python", key=f"{prefix}_dl_py")
    c2.download_button("Table (CSV)", csv_text, "layers.csv", "text/csv", key=f"{prefix}_dl_csv")
    c3.download_button("Table (Markdown)", md_text, "layers.md", "text/markdown", key=f"{prefix}_dl_md")
    with st.expander("PyTorch code"):
        st.code(code, language="python")
    st.markdown("**Share this network** — the link opens this page with the same layers and input size:")
    st.code(editor.share_link(prefix), language=None)


def cross_check_section(prefix: str, spec: str, input_shape: str) -> None:
    st.subheader("Cross-check with PyTorch")
    st.caption("Builds the network as torch.nn modules, runs one forward pass and torchinfo, and compares "
               "every layer's output shape and parameter count with the numbers above.")
    if not st.button("Cross-check with PyTorch", key=f"{prefix}_check", type="primary"):
        return
    try:
        with budget.waiting_note("Cross-checking with PyTorch"):
            check = _cross_check(spec, parse_shape(input_shape), budget.limits().memory_bytes)
    except SpecError as err:
        st.error(f"Fix the network first: {escape(err)}")
        return
    except TimeoutError as err:
        st.warning(f"The server is too busy to run PyTorch now ({err}): try again in a minute.")
        return
    except (RuntimeError, MemoryError) as err:  # the estimate let it run but the machine could not
        st.error(f"PyTorch could not run this network here: {str(err).splitlines()[0]}. cnncalc's numbers above "
                 "are arithmetic and do not need it.")
        return
    df = pd.DataFrame([{"layer": r.name, "cnncalc shape": str(r.ours_shape), "PyTorch shape": str(r.torch_shape),
                        "cnncalc params": r.ours_params, "PyTorch params": r.torch_params,
                        "agree": "✅" if r.agree else "❌"} for r in check.rows])
    (st.success if check.all_agree else st.error)(
        f"{'All layers agree' if check.all_agree else 'Disagreement found'}: parameters cnncalc "
        f"{check.ours_params:,} · PyTorch {check.torch_params:,}"
        + (f" · torchinfo {check.torchinfo_params:,}; mult-adds in torchinfo's convention (bias and batch-norm "
           f"included) {check.ours_mult_adds:,} vs {check.torchinfo_mult_adds:,}" if check.torchinfo_params else "")
        + f" ({check.seconds:.2f} s).")
    if check.device == "meta":
        st.caption(f"Shapes and parameter counts from PyTorch's meta device: a real pass would need more than "
                   f"{limit_text()} of memory here, and torchinfo needs a real pass, so it was skipped.")
    st.dataframe(df, hide_index=True, width="stretch")

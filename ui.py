"""Small Streamlit helpers shared by the pages (the core, cnncalc/, never imports streamlit)."""
from __future__ import annotations

import streamlit as st

from cnncalc import CONVENTIONS


def to_latex(text: str) -> str:
    """A core formula string ('⌊(32 + 2·2 − 5)/1⌋ + 1 = 32') as LaTeX for st.latex."""
    table = {"⌊": r"\left\lfloor ", "⌋": r"\right\rfloor ", "⌈": r"\left\lceil ", "⌉": r"\right\rceil ",
             "·": r"\cdot ", "×": r"\times ", "−": "-", "≥": r"\ge ", "≤": r"\le ", ",": "{,}", "γ": r"\gamma",
             "β": r"\beta", "…": r"\ldots ", "±": r"\pm "}
    out = "".join(table.get(ch, ch) for ch in text)
    return out.replace("(one per filter)", r"\text{ (one per filter)}").replace("(one per output)",
                                                                               r"\text{ (one per output)}")


def metric_with_formula(label: str, value: str, formula: str, help: str | None = None) -> None:
    """A number with its substituted formula one click away."""
    st.metric(label, value, help=help)
    if formula:
        with st.popover("formula"):
            st.latex(to_latex(formula))


def conventions_expander(keys=("macs", "flops", "fc_equivalent", "locally_connected", "rf", "memory")) -> None:
    with st.expander("Conventions (what each number counts)"):
        for key in keys:
            st.markdown(f"- **{key}**: {CONVENTIONS[key]}")


def fmt(value) -> str:
    if value is None:
        return "—"
    return f"{value:,}" if isinstance(value, int) else str(value)


# --- a network spec shared by text area, table editor, presets and the URL ----------------------

class SpecState:
    def __init__(self, spec: str):
        self.spec = spec
        try:
            from cnncalc import format_layer, parse_spec
            self.lines = [format_layer(layer) for layer in parse_spec(spec)]
        except ValueError:  # unreadable text: show it raw, the page explains the error
            self.lines = [p.strip() for line in spec.splitlines() for p in line.split(";") if p.strip()]


def spec_state(prefix: str, default: str = "lab") -> SpecState:
    """Initialise the page's spec once: from the URL (?spec=…&input=…) when present, else a preset."""
    from cnncalc import PRESETS
    ss = st.session_state
    if f"{prefix}_spec" not in ss:
        preset = PRESETS[default]
        spec = st.query_params.get("spec", preset.spec)
        ss[f"{prefix}_spec"] = spec
        ss[f"{prefix}_input"] = st.query_params.get("input", "x".join(map(str, preset.input_shape)))
        ss[f"{prefix}_table_v"] = 0
        ss[f"{prefix}_preset"] = next((k for k, p in PRESETS.items() if p.spec == spec), default)
    return SpecState(ss[f"{prefix}_spec"])


def _multiline(spec: str) -> str:
    return "\n".join(p.strip() for line in spec.splitlines() for p in line.split(";") if p.strip())


def _set_spec(prefix: str, spec: str) -> None:
    ss = st.session_state
    ss[f"{prefix}_spec"] = spec
    ss[f"{prefix}_table_v"] += 1  # fresh editors (text and table) showing the new spec
    ss[text_key(prefix)] = _multiline(spec)
    sync_url(prefix)


def sync_url(prefix: str) -> None:
    """Keep the network and input size in the URL so a teacher can share the link."""
    spec = "; ".join(_multiline(st.session_state[f"{prefix}_spec"]).splitlines())
    st.query_params.update({"spec": spec, "input": st.session_state[f"{prefix}_input"]})


def load_preset(prefix: str) -> None:
    from cnncalc import PRESETS
    preset = PRESETS[st.session_state[f"{prefix}_preset"]]
    st.session_state[f"{prefix}_input"] = "x".join(map(str, preset.input_shape))
    _set_spec(prefix, preset.spec)


def text_changed(prefix: str) -> None:
    _set_spec(prefix, st.session_state[text_key(prefix)])


def text_key(prefix: str) -> str:
    """The text editor's key changes with every spec change made elsewhere (preset, table, fix): a text area
    that was hidden meanwhile would otherwise come back showing its old text."""
    return f"{prefix}_text_{st.session_state[f'{prefix}_table_v']}"


def spec_text(prefix: str) -> str:
    """The text editor's current content (set up from the spec when the editor is new)."""
    return st.session_state.setdefault(text_key(prefix), _multiline(st.session_state[f"{prefix}_spec"]))


def table_key(prefix: str) -> str:
    return f"{prefix}_table_{st.session_state[f'{prefix}_table_v']}"


def table_changed(prefix: str) -> None:
    """Apply the data editor's edits (edited/added/deleted rows) to the spec's lines."""
    edits = st.session_state[table_key(prefix)]
    lines = SpecState(st.session_state[f"{prefix}_spec"]).lines
    for index, change in edits.get("edited_rows", {}).items():
        lines[int(index)] = change.get("layer", lines[int(index)]) or ""
    lines = [line for i, line in enumerate(lines) if i not in set(edits.get("deleted_rows", []))]
    lines += [row.get("layer") or "" for row in edits.get("added_rows", [])]
    _set_spec(prefix, "\n".join(line for line in lines if line.strip()))


def replace_layer(prefix: str, index: int, new_layer: str) -> None:
    lines = SpecState(st.session_state[f"{prefix}_spec"]).lines
    lines[index] = new_layer
    _set_spec(prefix, "\n".join(lines))


INT64_MAX = 2**63 - 1


def count_table(rows: list[dict], columns, headers: dict):
    """A DataFrame and its column configs for exact counts. pandas turns an int column holding a None into
    float64, which rounds every count above 2⁵³ (the FC-equivalent of a 30,001² input is 8.1·10¹⁷): count
    columns are built as nullable Int64 instead, and a column with a count beyond int64 (a 20,000² input
    gives ~10¹⁹) as exact text — Arrow has no larger integer."""
    import pandas as pd
    frame = pd.DataFrame(rows)
    config = {}
    for c in columns:
        values = [r[c] for r in rows]
        if any(v is not None and v > INT64_MAX for v in values):
            frame[c] = pd.Series([None if v is None else fmt(v) for v in values], dtype=object)
            config[c] = st.column_config.TextColumn(headers[c])
        else:
            frame[c] = pd.array(values, dtype="Int64")
            config[c] = st.column_config.NumberColumn(headers[c], format="localized")
    return frame, config


METRIC_CHARS = 13  # a metric's value longer than this is cut with "…" in a quarter of the page


def metrics_row(values: dict) -> None:
    """One row of metrics; two per row when a value is too long to show whole in a narrow column."""
    texts = {label: fmt(value) for label, value in values.items()}
    per_row = len(texts) if max(map(len, texts.values()), default=0) <= METRIC_CHARS else 2
    items = list(texts.items())
    for start in range(0, len(items), per_row):
        for col, (label, text) in zip(st.columns(per_row), items[start:start + per_row]):
            col.metric(label, text)


def quiz_block(questions, prefix: str) -> None:
    """Predict, then reveal: an input per question; the answer, its formula and a verdict after 'Reveal'."""
    from cnncalc.quiz import check
    revealed = st.session_state.setdefault(f"{prefix}_revealed", set())
    for q in questions:
        with st.container(border=True):
            c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
            guess = c1.text_input(q.prompt, key=f"{prefix}_{q.key}", placeholder="your prediction",
                                  help="Whole numbers; a shape as H×W×C, e.g. 32x32x32.")
            if c2.button("Reveal", key=f"{prefix}_{q.key}_reveal", disabled=not guess.strip()):
                revealed.add(q.key)
            if q.key in revealed:
                verdict = check(q, guess)
                (st.success if verdict.correct else st.error)(verdict.message)
                if q.formula:
                    st.latex(to_latex(q.formula))

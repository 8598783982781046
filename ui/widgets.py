"""Small Streamlit helpers shared by the pages: formulas as LaTeX, metrics, exact count tables, the quiz block.
(The core, cnncalc/, never imports streamlit.)"""
from __future__ import annotations

import math

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


def fmt(value, spec: str | None = None) -> str:
    """A number for the page: '—' when missing or not finite (a diverged epoch); with ``spec`` formatted by
    it ('.1%'), else whole numbers with thousands separators and anything else as text."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if spec:
        return format(value, spec)
    return f"{value:,}" if isinstance(value, int) else str(value)


MARKDOWN_SPECIALS = set("\\`*_{}[]()#+-.!|<>~$&=\"'")


def escape(text) -> str:
    """User text shown as text inside Markdown: every Markdown/HTML character backslash-escaped, and the
    colon followed by a zero-width space so ``:red[…]``, ``:material/…:`` and emoji codes are not read."""
    out = []
    for ch in str(text):
        if ch in MARKDOWN_SPECIALS:
            out.append("\\" + ch)
        elif ch == ":":
            out.append(":\u200b")
        elif ch in "\r\n":
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


BROWSER_EXACT = 2**53  # the browser formats numbers as doubles: past this, a count is shown as exact text


def count_table(rows: list[dict], columns, headers: dict):
    """An Arrow table and its column configs for exact counts: count columns are int64 with nulls (pandas would
    turn an int column holding a None into float64, which rounds every count above 2⁵³), and a column with a
    count the browser cannot format exactly — above 2⁵³, as the FC-equivalent of a 30,001² input (8.1·10¹⁷) or
    beyond int64 (a 20,000² input: ~10¹⁹) — is exact text with separators. Built straight as Arrow: a pandas
    frame cost a tenth of an analyzer rerun."""
    import pyarrow as pa
    names = list(rows[0]) if rows else list(columns)
    arrays, config = [], {}
    for c in names:
        values = [r.get(c) for r in rows]
        if c not in columns:
            arrays.append(pa.array(values))
        elif any(v is not None and v > BROWSER_EXACT for v in values):
            arrays.append(pa.array([None if v is None else fmt(v) for v in values], type=pa.string()))
            config[c] = st.column_config.TextColumn(headers[c])
        else:
            arrays.append(pa.array(values, type=pa.int64()))
            config[c] = st.column_config.NumberColumn(headers[c], format="localized")
    return pa.Table.from_arrays(arrays, names=names), config


METRIC_CHARS = 13  # a metric's value longer than this is cut with "…" in a quarter of the page


def metrics_row(values: dict) -> None:
    """One row of metrics; two per row when a value is too long to show whole in a narrow column."""
    texts = {label: fmt(value) for label, value in values.items()}
    per_row = len(texts) if max(map(len, texts.values()), default=0) <= METRIC_CHARS else 2
    items = list(texts.items())
    for start in range(0, len(items), per_row):
        for col, (label, text) in zip(st.columns(per_row), items[start:start + per_row]):
            col.metric(label, text)


PAGE_CSS = """<style>
/* Formulas scroll sideways instead of being clipped, with their scrollbar always shown (Streamlit shows
   scrollbars on hover only, and a phone has no hover); tables likewise. */
.katex-display { overflow-x: auto; overflow-y: hidden; padding-bottom: 0.35rem; scrollbar-width: thin;
                 scrollbar-color: rgba(128, 128, 128, 0.6) transparent; }
[data-testid="stDataFrame"] .dvn-scroller { scrollbar-color: rgba(128, 128, 128, 0.6) transparent; }
@supports not (scrollbar-color: transparent transparent) {
  .katex-display::-webkit-scrollbar-thumb,
  [data-testid="stDataFrame"] .dvn-scroller::-webkit-scrollbar-thumb { background: rgba(128, 128, 128, 0.6); }
}
/* On a phone a wide table says that it scrolls. */
@media (max-width: 640px) {
  .katex-display { font-size: 0.95em; }
  [data-testid="stElementContainer"]:has(> [data-testid="stDataFrame"])::after {
    content: "← scroll →"; display: block; text-align: center; font-size: 0.8rem; opacity: 0.65; }
}
</style>"""

COMPACT_CSS = """<style>
/* A page projected at 1280×720: less empty space above the title, so a demo's result fits the first screen. */
[data-testid="stMainBlockContainer"] { padding-top: 3rem; padding-bottom: 3rem; }
[data-testid="stMainBlockContainer"] h1 { padding-top: 0.5rem; padding-bottom: 0.25rem; }
</style>"""


def page_style() -> None:
    """The app's global CSS (formulas and tables that scroll visibly on a phone): called once per run, by the
    router. A style-only st.html takes no room on the page."""
    st.html(PAGE_CSS)


def compact_page() -> None:
    """Tighter spacing above the title, for a page whose first screen must hold a result on a projector."""
    st.html(COMPACT_CSS)


def quiz_block(questions, prefix: str) -> None:
    """Predict, then reveal: an input per question; the answer, its formula and a verdict after 'Reveal'."""
    from cnncalc.classroom.quiz import check
    revealed = st.session_state.setdefault(f"{prefix}_revealed", set())
    for q in questions:
        with st.container(border=True):
            c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
            guess = c1.text_input(q.prompt, key=f"{prefix}_{q.key}", placeholder="your prediction",
                                  help="Whole numbers (2432, 2,432); a shape as C×H×W, e.g. 32x28x28.")
            if c2.button("Reveal", key=f"{prefix}_{q.key}_reveal", disabled=not guess.strip()):
                revealed.add(q.key)
            if q.key in revealed:
                verdict = check(q, guess)
                (st.success if verdict.correct else st.error)(verdict.message)
                if q.formula:
                    st.latex(to_latex(q.formula))

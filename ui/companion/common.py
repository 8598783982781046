"""What every answer of the Lab companion shares (Streamlit side): the source markers, small display helpers,
the cached computations, and the run store's results read once per run of the page."""
from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from cnncalc.classroom.companion import arithmetic as ca
from cnncalc.classroom.companion import improvements as ci
from cnncalc.train import references as refs
from cnncalc.classroom.companion import runs as cr
from cnncalc.train import config as tcfg
from cnncalc.train import ladder
from cnncalc.report import Analysis
from cnncalc.train.store import RunStore, default_root
from ui import ladder_view, nav
from ui.training_form import form_values
from ui.widgets import to_latex

ss = st.session_state
COMPUTED, STORED, QUOTED = "🧮", "📦", "📚"


@dataclass(frozen=True)
class Context:
    """What the page reads once per run and hands to every answer."""
    results: list      # cr.RunResult, every run of the store with an epoch, newest first
    lab: Analysis      # the lab net, analyzed
    store_note: str = ""  # why the run store could not be read, when it could not


def context() -> Context:
    """The run store's results (none, with a note, when it cannot be read) and the lab net's analysis."""
    try:
        results = load_results(str(default_root()))
        store_note = ""
    except (OSError, sqlite3.Error, ValueError, TypeError, KeyError) as err:
        results, store_note = [], f"The run store at `{default_root()}` cannot be read ({err}): no run results shown."
    return Context(results, ca.lab_analysis(), store_note)


# --- helpers -----------------------------------------------------------------------------------------

def latex(formula: str, lhs: str = "") -> None:
    """A core formula string as LaTeX (exponents written ^N become ^{N})."""
    st.latex((lhs + " = " if lhs else "") + re.sub(r"\^(\d+)", r"^{\1}", to_latex(formula)))


def link(key: str, text: str = "Go deeper: {}") -> None:
    nav.link(key, text)


def go_training(changes: dict) -> None:
    """Fill the Training page's form with ``changes`` (nothing is queued) and open it."""
    ss.update(form_values(changes))
    if not nav.switch("training"):
        st.info("The form is filled, but the Training page is not in this app's menu: open it from there.")


def slip(text: str) -> None:
    """A student's classic slip and its correction, the same small callout in every answer."""
    st.info(f"**Common slip:** {text}", icon="✏️")


def pct(v: float, digits: int = 1) -> str:
    return f"{100 * v:.{digits}f} %"


def vectors(rows: dict, digits: int = 3) -> None:
    """Small tensors as aligned lines of numbers."""
    width = max(map(len, rows))
    st.code("\n".join(f"{name:<{width}}  [" + ", ".join(f"{v:.{digits}g}" for v in values) + "]"
                      for name, values in rows.items()), language=None)


def reference(step: str) -> None:
    """A step's reference results as quoted (or why there is none), with their sources."""
    found = sorted(refs.results(step), key=lambda r: r.source != "students")
    if found:
        note = refs.REFERENCE[step].note
        st.markdown(f"{QUOTED} **Reference, ladder step *{step}*:** test top-1 " + "; ".join(r.quoted for r in found)
                    + (f" — {note}" if note else "") + ".")
    else:
        st.markdown(f"{QUOTED} **Reference, ladder step *{step}*:** {refs.MISSING.get(step, 'none')}.")
    st.caption(refs.REFERENCE_SOURCE)


def runs_table(runs, **extra) -> None:
    st.dataframe(pd.DataFrame([r.row(**({k: f(r) for k, f in extra.items()})) for r in runs]), hide_index=True)


def ladder_answer(results: list, step: str, what: str, before: str | None = None) -> list:
    """A ladder step's results: the step beside the one ``before`` it (table and chart: your runs and the
    references), the two compared in words, then every run of the step with its data, epochs and verdict."""
    rows = ladder_view.show(results, (before, step) if before else (step,))
    if before:
        st.markdown(f"{STORED} " + ladder.runs_sentence(*rows))
        st.markdown(f"{QUOTED} " + ladder.quoted_sentence(before, step))
    runs = cr.by_step(results, step)
    if runs:
        st.markdown(f"{STORED} **Your CIFAR-10 runs of this step** ({what}), best fit first:")
        runs_table(runs, **{"data, epochs: verdict": lambda r: r.label})
    else:
        settings = ", ".join(f"{k} = {v}" for k, v in tcfg.LADDER[step].items())
        st.markdown(f"{STORED} No CIFAR-10 run of this step in the store yet. Launch it from the Training page: "
                    f"button *{step}* of the ladder ({settings}).")
    return rows


# --- cached computations -----------------------------------------------------------------------------

@st.cache_data(ttl=15, show_spinner=False)
def load_results(root: str) -> list:
    return cr.run_results(RunStore(root))


@st.cache_data(show_spinner="Running the lab net on a larger image in PyTorch…")
def larger(size: int):
    return ca.lab_larger_input(size)


@st.cache_resource(show_spinner="Converting the lab net's fc layers to convolutions…")
def conversion():
    return ca.lab_conversion()


@st.cache_resource(show_spinner="Reading a sample of images…")
def sample():
    return ci.sample_images(500)


@st.cache_data(show_spinner=False)
def standardization():
    return ci.standardization(sample())


@st.cache_data(show_spinner="Fitting ZCA on the sample…")
def zca(eps: float):
    return ci.zca_demo(sample(), eps=eps)


@st.cache_data(show_spinner=False)
def flips():
    return ci.flip_examples()


@st.cache_data(show_spinner=False)
def curves(epochs: int):
    return ci.schedule_curves(epochs)

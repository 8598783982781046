"""The lab's ladder side by side, Streamlit side: one table and one chart (test top-1 and test loss per epoch,
one line per step) with the student's own runs next to the reference results — for the Training page and the
Lab companion (questions 19, 22, 26, 29, 34). Every number comes from cnncalc.train.ladder; references are
quoted (cnncalc.train.references), never computed."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from cnncalc.classroom.companion.runs import RunResult
from cnncalc.draw import train_charts as tc
from cnncalc.train import ladder
from cnncalc.train import references as refs

PCT, WHOLE = st.column_config.NumberColumn(format="%.1f"), st.column_config.NumberColumn(format="%d")


def results_of(runs, epochs_of) -> list[RunResult]:
    """The store's runs (cnncalc.train.store.Run) with their epochs (``epochs_of(run)`` → the dicts of
    RunStore.epochs; the Training page passes its cached reader), as the ladder reads them."""
    out = []
    for run in runs:
        epochs = epochs_of(run)
        if epochs:
            out.append(RunResult(run.id, run.name, run.status, run.config, tuple(epochs)))
    return out


def table(rows: list[ladder.Row]) -> None:
    df = pd.DataFrame(ladder.table(rows))
    st.dataframe(df, hide_index=True, width="stretch", placeholder="—", column_config={
        "your test top-1 (%)": PCT, "reference, measured (%) — quoted": PCT, "difference (points)":
            st.column_config.NumberColumn(format="%+.1f"), "reference, students' logs (%) — quoted": PCT,
        "your data, epochs: verdict": st.column_config.TextColumn(width="medium"),
        "comparison": st.column_config.TextColumn(width="medium"), "at epoch": WHOLE, "reference epoch": WHOLE,
        "runs of this step": WHOLE})


@st.cache_data(max_entries=64, show_spinner=False)
def _spec(lines, points, metric: str, slots) -> dict:
    """The chart as a Vega-Lite dict, built once per set of curves: the page shows it on every visit."""
    return tc.ladder_chart(lines, points, metric, slots=slots).to_dict()


def charts(rows: list[ladder.Row]) -> None:
    """Test top-1 and test loss per epoch, one line per step, the measured references as diamonds: one chart
    above the other, full width (side by side, the legend of six steps left the plots a sliver)."""
    lines = ladder.lines(rows)
    for metric in ("top-1", "loss"):
        st.vega_lite_chart(_spec(lines, ladder.points(rows, metric), metric, ladder.slots(rows)), width="stretch")


def show(results, steps=None, chart: bool = True) -> list[ladder.Row]:
    """The ladder (or ``steps`` of it) from ``results`` (RunResult, e.g. :func:`results_of` or
    cnncalc.classroom.companion.runs.run_results): the table, the chart and where the references come from."""
    rows = ladder.rows(results, steps)
    table(rows)
    if chart:
        charts(rows)
    missing = [f"*{s}*: {why}." for s, why in refs.MISSING.items() if any(r.step == s for r in rows)]
    st.caption(" ".join(["Each step shows its best-fitting run of the lab net on CIFAR-10 (all 50,000 images and "
                         "the step's epochs first); a run is compared with a measured reference only on all the "
                         "data and at the same epoch count.", *missing, refs.REFERENCE_SOURCE]))
    return rows

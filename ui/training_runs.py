"""The Training page's run list, one run's curves and verdicts, and the comparison of ticked runs (session keys
``tr_sel``, ``tr_ids``, ``tr_runs``, ``tr_owner``)."""
from __future__ import annotations

import dataclasses
import sqlite3

import pandas as pd
import streamlit as st

from cnncalc import format_shape, parse_spec
from cnncalc.draw import train_charts as tc
from cnncalc.train.store import RunStore
from ui.widgets import fmt

ICONS = {"queued": "⏳", "running": "🏃", "done": "✅", "diverged": "💥", "failed": "❌", "cancelled": "⛔",
         "interrupted": "⚠️"}
STORE_ERRORS = (OSError, sqlite3.Error, ValueError, TypeError, KeyError)  # unreadable store or stored config
ss = st.session_state


@st.cache_data(max_entries=500, show_spinner=False)
def epochs_of(path: str, run_id: int, updated: float) -> list[dict]:  # `updated` changes with every epoch
    return RunStore(path).epochs(run_id)


def classes_of(run) -> int:
    try:
        return next(layer.out_features for layer in reversed(parse_spec(run.spec)) if layer.kind == "fc")
    except (StopIteration, ValueError, TypeError):
        return 10


def picked() -> None:
    ids = [ss.tr_ids[r] for r in ss.tr_runs.selection.rows if r < len(ss.tr_ids)]
    added = [i for i in ids if i not in ss.tr_sel]
    ss.tr_sel = ids
    if added or (ids and st.query_params.get("run") not in map(str, ids)):
        st.query_params["run"] = str((added or ids)[-1])


def show_run(store: RunStore, run) -> None:
    epochs, k = epochs_of(str(store.root), run.id, run.updated), classes_of(run)
    st.subheader(f"Run #{run.id} — {run.name}")
    ahead = sum(r.status == "queued" and r.id < run.id for r in store.list("queued"))
    st.progress(min(max(run.progress, 0.0), 1.0), text=f"{ICONS[run.status]} {run.status} · epoch {len(epochs)} "
                f"of {run.config.epochs}" + (f" · {ahead} queued run(s) ahead" if run.status == "queued" else "")
                + (f" · {run.device}" if run.device else ""))
    box = {"done": st.success, "diverged": st.error, "failed": st.error, "cancelled": st.warning,
           "interrupted": st.warning}.get(run.status)
    if box and run.message:
        box(f"**{run.status.capitalize()}.** {run.message}")
    if run.status in ("queued", "running"):
        st.button(f"Cancel run #{run.id}", key=f"tr_cancel{run.id}", on_click=store.request_cancel, args=(run.id,))
    if not epochs:
        if run.status in ("queued", "running"):
            st.caption("The charts appear when the first epoch ends.")
        return
    s, last = tc.overfitting_summary(epochs), epochs[-1]
    for col, (label, value) in zip(st.columns(5), {
            "epoch": f"{last['epoch']} / {run.config.epochs}", "test loss": fmt(last["test_loss"], ".3f"),
            "test top-1": fmt(last["test_top1"], ".1%"), "best test top-1": fmt(s.get("best_top1"), ".1%"),
            "seconds per epoch": fmt(last["seconds"], ".1f")}.items()):
        col.metric(label, value)
    df = tc.epochs_frame(epochs)
    left, right = st.columns(2)
    left.altair_chart(tc.loss_chart(df, k, run.config.epochs), width="stretch", height=420)
    right.altair_chart(tc.accuracy_chart(df, k, run.config.epochs), width="stretch", height=420)
    left.markdown(tc.chance_note(epochs[0], k))
    right.markdown(tc.overfitting_note(s))
    st.altair_chart(tc.batch_loss_chart(last["batch_losses"], k, last["epoch"]), width="stretch", height=280)
    if run.status == "done" and run.checkpoint:
        st.caption(f"💾 Trained weights: `{store.checkpoint_path(run)}` (input {format_shape(run.input_shape)}) — "
                   "the other cnncalc pages can load this run.")


def compare(store: RunStore, runs) -> None:
    st.subheader("Compare the ticked runs")
    frames = {f"#{r.id} {r.name}": tc.epochs_frame(epochs_of(str(store.root), r.id, r.updated)) for r in runs}
    left, right = st.columns(2)
    for col, metric in ((left, "top-1"), (right, "loss")):
        col.altair_chart(tc.compare_chart(frames, metric, classes=classes_of(runs[0])), width="stretch",
                         height=400)
    configs = pd.DataFrame([dataclasses.asdict(r.config) for r in runs], index=list(frames))
    differ = [c for c in configs.columns if configs[c].astype(str).nunique() > 1]
    st.dataframe(configs[differ].astype(str) if differ else pd.DataFrame({"settings": ["identical"] * len(runs)},
                 index=list(frames)), width="stretch")


def runs_table(store: RunStore, runs) -> None:
    rows = []
    for r in runs:
        ep = [100 * e["test_top1"] for e in epochs_of(str(store.root), r.id, r.updated) if tc.finite(e["test_top1"])]
        rows.append({"#": r.id, "name": r.name, "status": f"{ICONS[r.status]} {r.status}", "progress": r.progress,
                     "final test top-1": ep[-1] if ep else None, "best test top-1": max(ep, default=None),
                     "yours": "✓" if r.owner == ss.tr_owner else "", "message": r.message})
    ss.tr_ids = [r.id for r in runs]
    ss.tr_runs = {"selection": {"rows": [ss.tr_ids.index(i) for i in ss.tr_sel if i in ss.tr_ids], "columns": [],
                                "cells": []}}
    st.subheader("Runs")
    st.caption("Tick a run to show it below; tick several to compare them.")
    pct = st.column_config.NumberColumn(format="%.1f %%")
    st.dataframe(pd.DataFrame(rows), key="tr_runs", on_select=picked, selection_mode="multi-row", hide_index=True,
                 placeholder="—", height=min(36 * (len(rows) + 1) + 3, 400), column_config={
                     "progress": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="percent"),
                     "final test top-1": pct, "best test top-1": pct, "status": st.column_config.TextColumn(width=110),
                     "message": st.column_config.TextColumn(width="large")})


def live(store: RunStore, active_before: bool) -> None:
    """The run list and the run shown; refreshed every 2 s while a watched run is queued or running."""
    try:
        runs = store.list()
    except STORE_ERRORS as err:
        st.error(f"**The run store cannot be read:** {err}")
        return
    if not runs:
        st.info("No runs yet: pick a ladder step above and press **Queue this run**.")
        return
    runs_table(store, runs)
    by_id, wanted = {r.id: r for r in runs}, st.query_params.get("run", "")
    if wanted and not (wanted.isdigit() and int(wanted) in by_id):
        st.warning(f"There is no run {wanted} in this store; showing the newest run.")
    show_run(store, by_id[shown_id(runs)])
    chosen = [by_id[i] for i in ss.tr_sel if i in by_id]
    if len(chosen) >= 2:
        compare(store, chosen)
    if active_before and not busy(runs):
        st.rerun()  # everything watched has finished: a full rerun turns the 2-second refresh off


def shown_id(runs) -> int | None:
    """The run shown in detail: ?run=ID when it exists, else the newest run."""
    wanted, ids = st.query_params.get("run", ""), {r.id for r in runs}
    return int(wanted) if wanted.isdigit() and int(wanted) in ids else (runs[0].id if runs else None)


def busy(runs) -> bool:
    """Is a run this browser watches (ticked, shown, or its own) still queued or running?"""
    watched = set(ss.tr_sel) | {shown_id(runs)}
    return any(r.status in ("queued", "running") and (r.id in watched or r.owner == ss.tr_owner) for r in runs)

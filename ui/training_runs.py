"""The Training page's run list, one run's curves and verdicts, and the comparison of ticked runs (session keys
``tr_sel``, ``tr_ids``, ``tr_runs``). Everyone sees every run read-only; its owner and the teacher may cancel,
resume or delete it (the store checks again). Run names and messages are user text: shown escaped."""
from __future__ import annotations

import dataclasses
import sqlite3

import pandas as pd
import streamlit as st

from cnncalc import format_shape, parse_spec
from cnncalc.draw import train_charts as tc
from cnncalc.server.identity import Identity
from cnncalc.train import worker
from cnncalc.train import verdicts
from cnncalc.train.store import RunStore
from ui.training_handin import handin_section
from ui.widgets import escape, fmt

ICONS = {"queued": "⏳", "running": "🏃", "done": "✅", "diverged": "💥", "failed": "❌", "cancelled": "⛔",
         "interrupted": "⚠️", "stopped": "⏱️"}
STORE_ERRORS = (OSError, sqlite3.Error, ValueError, TypeError, KeyError)  # unreadable store or stored config
ss = st.session_state


@st.cache_data(max_entries=500, show_spinner=False)
def epochs_of(path: str, run_id: int, updated: float) -> list[dict]:  # `updated` changes with every epoch
    return RunStore(path).epochs(run_id)


@st.cache_data(max_entries=200, show_spinner=False)
def run_charts(path: str, run_id: int, updated: float, classes: int, epochs_total: int) -> tuple[dict, dict, dict]:
    """The run's three charts as Vega-Lite specs, built once per epoch for every student watching the run
    (a 2-second refresh by 30 browsers would otherwise rebuild them 15 times a second)."""
    epochs = epochs_of(path, run_id, updated)
    df = tc.epochs_frame(epochs)
    return (tc.loss_chart(df, classes, epochs_total).to_dict(), tc.accuracy_chart(df, classes, epochs_total).to_dict(),
            tc.batch_loss_chart(epochs[-1]["batch_losses"], classes, epochs[-1]["epoch"]).to_dict())


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


def devices(root, local_gpu: bool) -> tuple[bool, str]:
    """(whether runs train on a GPU, who serves the queue — for the caption). Embedded: this machine's devices.
    Ray: the cluster's, as its worker found them when it started."""
    if worker.serving_backend(root) != "ray":
        return local_gpu, "one background worker per device"
    cluster = worker.ray_cluster(root)
    if cluster is None:
        return False, "the class's Ray cluster (its worker is not running yet)"
    try:
        gpus, machines = int(cluster.get("gpus") or 0), int(cluster.get("machines") or 0)
    except (TypeError, ValueError):  # a damaged lock file: say what is sure
        return False, "the class's Ray cluster"
    where = f"{machines} machine{'s' * (machines != 1)}"
    if gpus == 0:
        return False, f"the class's Ray cluster: no GPU (CPUs only) on {where}"
    return True, f"the class's Ray cluster: {gpus} GPU{'s' * (gpus != 1)} on {where}"


def queue(store: RunStore, cfg, name: str, me: Identity, limits) -> int:
    """Queue ``cfg`` — or, when the same experiment is already in the store (done, queued or running), show that
    run instead of training it again — and select it. QuotaExceeded when a classroom limit refuses it."""
    same = store.identical(cfg, active=True)
    run_id = same.id if same is not None else store.enqueue(cfg, name, me, limits)
    if same is not None:
        ss["tr_reused"] = (f"The same experiment is already in the store (run #{same.id}, {same.status}): it is "
                           "shown below instead of being trained again.")
    else:
        worker.ensure_worker(store.root)
    ss.tr_sel = [i for i in ss.tr_sel if i != run_id] + [run_id]
    st.query_params["run"] = str(run_id)
    return run_id


def act(verb: str, store: RunStore, run_id: int, me: Identity, limits=None) -> None:
    """A button's callback: cancel, resume or delete, as ``me``; a refusal is said, never raised."""
    try:
        if verb == "resume":
            store.resume(run_id, me, limits)
            worker.ensure_worker(store.root)
        else:
            getattr(store, verb)(run_id, me)
            if verb == "delete":
                ss.tr_sel = [i for i in ss.tr_sel if i != run_id]
                st.query_params.pop("run", None)
    except (PermissionError, ValueError, KeyError) as err:
        ss["tr_refused"] = f"Run #{run_id} was not {verb}d: {escape(err)}"


def owner_buttons(store: RunStore, run, me: Identity | None, limits) -> None:
    """Cancel / resume / delete for the run's owner and the teacher; a note for everyone else."""
    if me is None or not me.may_change(run.owner):
        st.caption("🔒 Another student's run: you can watch it, not change it." if run.owner and me else
                   "🔒 Sign in with your name above to cancel, resume or delete your own runs.")
        return
    row = st.container(horizontal=True)
    if run.status in ("queued", "running"):
        row.button(f"Cancel run #{run.id}", key=f"tr_cancel{run.id}", on_click=act,
                   args=("cancel", store, run.id, me))
    if run.resumable:
        row.button(f"Resume run #{run.id}", key=f"tr_resume{run.id}", on_click=act,
                   args=("resume", store, run.id, me, limits),
                   help="Queue it again: it continues after the last epoch whose checkpoint was kept.")
    if run.finished:
        with row.popover(f"Delete run #{run.id}"):
            st.markdown("Its epochs and weights are removed for good.")
            st.button("Delete", key=f"tr_delete{run.id}", type="primary", on_click=act,
                      args=("delete", store, run.id, me))


def waiting(place) -> str:
    """Where a queued run stands, for the progress line: its place and the estimated wait."""
    if place is None:
        return ""
    minutes = max(1, round(place.wait_seconds / 60))
    wait = f"{'about' if place.measured else 'at most'} {minutes} min" if place.wait_seconds >= 30 else "under a minute"
    return f" · place {place.position} in the queue, {wait} to wait"


def show_run(store: RunStore, run, me: Identity | None = None, limits=None, places: dict | None = None) -> None:
    epochs, k = epochs_of(str(store.root), run.id, run.updated), classes_of(run)
    if reused := ss.pop("tr_reused", None):
        st.info(reused)
    st.subheader(f"Run #{run.id} — {escape(run.name)}")
    phase = f" · {run.phase}" if run.status == "running" and run.phase else ""
    st.progress(min(max(run.progress, 0.0), 1.0), text=f"{ICONS.get(run.status, '•')} {run.status}{phase} · epoch "
                f"{len(epochs)} of {run.config.epochs}" + waiting((places or {}).get(run.id))
                + (f" · {run.device}" if run.device else ""))
    box = {"done": st.success, "diverged": st.error, "failed": st.error, "cancelled": st.warning,
           "interrupted": st.warning, "stopped": st.warning}.get(run.status, st.info)
    if run.message:
        box(f"**{run.status.capitalize()}.** {escape(run.message)}")
    if refused := ss.pop("tr_refused", None):
        st.error(refused)
    owner_buttons(store, run, me, limits)
    if not epochs:
        if run.status in ("queued", "running"):
            st.caption("The charts appear when the first epoch ends.")
        return
    n = verdicts.test_images(run.config)  # the verdict's noise depends on how many test images were scored
    s, last, judged = tc.overfitting_summary(epochs, k, n), epochs[-1], verdicts.verdict(epochs, k, n)
    for col, (label, value) in zip(st.columns(5), {
            "epoch": f"{last['epoch']} / {run.config.epochs}", "test loss": fmt(last["test_loss"], ".3f"),
            "test top-1": fmt(last["test_top1"], ".1%"), "best test top-1": fmt(s.get("best_top1"), ".1%"),
            "seconds per epoch": fmt(last["seconds"], ".1f")}.items()):
        col.metric(label, value)
    loss, accuracy, batches = run_charts(str(store.root), run.id, run.updated, k, run.config.epochs)
    left, right = st.columns(2)
    left.vega_lite_chart(loss, width="stretch", height=420)
    right.vega_lite_chart(accuracy, width="stretch", height=420)
    left.markdown(tc.chance_note(epochs[0], k, n))
    right.markdown(judged.text)
    st.vega_lite_chart(batches, width="stretch", height=280)
    handin_section(store, run, me)
    if run.status == "done" and run.checkpoint:
        st.caption(f"💾 Trained weights kept (input {format_shape(run.input_shape)}): the receptive-field and "
                   "dense-map pages can load this run.")


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


def runs_table(store: RunStore, runs, me: Identity | None, places: dict | None = None) -> None:
    rows, places = [], places or {}
    for r in runs:
        ep = [100 * e["test_top1"] for e in epochs_of(str(store.root), r.id, r.updated) if tc.finite(e["test_top1"])]
        status = (f"{ICONS.get(r.status, '•')} {r.status}" + (f" ({places[r.id].position})" if r.id in places else "")
                  + (f": {r.phase}" if r.status == "running" and r.phase else ""))
        row = {"#": r.id, "name": r.name, "status": status, "progress": r.progress,
               "final test top-1": ep[-1] if ep else None, "best test top-1": max(ep, default=None),
               "yours": "✓" if me and r.owner == me.id else "", "message": r.message}
        if me and me.teacher:
            row["student"] = r.owner_name or r.owner  # only the teacher sees who ran what
        rows.append(row)
    ss.tr_ids = [r.id for r in runs]
    ss.tr_runs = {"selection": {"rows": [ss.tr_ids.index(i) for i in ss.tr_sel if i in ss.tr_ids], "columns": [],
                                "cells": []}}
    st.subheader("Runs")
    st.caption("Tick a run to show it below; tick several to compare them.")
    pct = st.column_config.NumberColumn(format="%.1f %%")
    st.dataframe(pd.DataFrame(rows), key="tr_runs", on_select=picked, selection_mode="multi-row", hide_index=True,
                 placeholder="—", height=min(36 * (len(rows) + 1) + 3, 400), column_config={
                     "progress": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="percent"),
                     "final test top-1": pct, "best test top-1": pct, "status": st.column_config.TextColumn(width=160),
                     "message": st.column_config.TextColumn(width="large")})


def live(store: RunStore, active_before: bool, me: Identity | None = None, limits=None) -> None:
    """The run list and the run shown; refreshed every 2 s while a watched run is queued or running. Each
    refresh also heals the queue: a dead worker's run becomes interrupted, waiting runs get a worker."""
    try:
        if store.heal().needs_worker and not worker.ensure_worker(store.root) \
                and worker.serving_backend(store.root) == "ray":
            st.warning("Runs wait for the class's Ray worker, which is not running: the teacher starts it with "
                       "`python -m cnncalc worker --backend ray` (README: A class on several GPU machines).")
        runs = store.list()
    except STORE_ERRORS as err:
        st.error(f"**The run store cannot be read:** {err}")
        return
    if not runs:
        st.info("No runs yet: pick a ladder step above and press **Queue this run**.")
        return
    places = store.queue_places(limits, worker.queue_slots(store.root))  # once per refresh: order and waits
    runs_table(store, runs, me, places)
    by_id, wanted = {r.id: r for r in runs}, st.query_params.get("run", "")
    if wanted and not (run_number(wanted) in by_id):
        st.warning(f"There is no run {escape(wanted[:40])} in this store; showing the newest run.")
    show_run(store, by_id[shown_id(runs)], me, limits, places)
    chosen = [by_id[i] for i in ss.tr_sel if i in by_id]
    if len(chosen) >= 2:
        compare(store, chosen)
    if active_before and not busy(runs):
        st.rerun()  # everything watched has finished: a full rerun turns the 2-second refresh off


def run_number(text: str) -> int | None:
    """``?run=12`` → 12; anything else (``²``, ``-1``, a 40-digit number) → None."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 12 else None


def shown_id(runs) -> int | None:
    """The run shown in detail: ?run=ID when it exists, else the newest run."""
    wanted, ids = run_number(st.query_params.get("run", "")), {r.id for r in runs}
    return wanted if wanted in ids else (runs[0].id if runs else None)


def busy(runs, me: Identity | None = None) -> bool:
    """Is a run this browser watches (ticked, shown, or its own) still queued or running?"""
    watched = set(ss.tr_sel) | {shown_id(runs)}
    return any(r.status in ("queued", "running") and (r.id in watched or (me and r.owner == me.id)) for r in runs)

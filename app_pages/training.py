"""Training: queue the CIFAR-10 lab's experiments, watch loss and accuracy live, compare runs."""
import dataclasses
import os
import sqlite3
import uuid
from pathlib import Path

import pandas as pd
import streamlit as st
import torch

from cnncalc import parse_spec
from cnncalc import train_charts as tc
from cnncalc.train import worker as train_worker
from cnncalc.train.config import LADDER, SWEEPS, TrainConfig
from cnncalc.train.store import RunStore, default_root

ROOT, GPU, D = Path(__file__).resolve().parents[1], torch.cuda.is_available(), TrainConfig()
FIELDS = ("epochs", "batch_size", "lr", "optimizer", "momentum", "nesterov", "weight_decay", "schedule", "gamma",
          "standardize", "augment", "dropout", "batchnorm", "pipeline", "device")
ICONS = {"queued": "⏳", "running": "🏃", "done": "✅", "diverged": "💥", "failed": "❌", "cancelled": "⛔",
         "interrupted": "⚠️"}
LOCAL = [str(p) for p in (os.environ.get("CNNCALC_CIFAR10_DIR"), ROOT.parent / "shared/data/cifar10-jpeg")
         if p and (Path(p) / "train").is_dir()]
SOURCES = {**{f"CIFAR-10, local copy ({Path(p).name})": p for p in dict.fromkeys(LOCAL)},
           "CIFAR-10 (download)": "cifar10", "MNIST (download)": "mnist", "synthetic (offline demo)": "synthetic",
           "custom folder (path below)": ""}
STORE_ERRORS = (OSError, sqlite3.Error, ValueError, TypeError, KeyError)  # unreadable store or stored config
ss = st.session_state

st.title("📈 Training")
st.caption("Run the lab's experiments on the CIFAR-10 network, watch the loss and accuracy epoch by epoch, "
           "compare runs. Runs go to a queue served by one background worker per device.")
try:
    store = RunStore(default_root())
except (OSError, sqlite3.Error) as err:
    st.error(f"**The run store at `{default_root()}` cannot be opened:** {err}. Set $CNNCALC_DATA to a "
             "writable folder.")
    st.stop()
ss.setdefault("tr_owner", uuid.uuid4().hex[:8])  # this browser session: your runs are marked in the list
for f in FIELDS:
    ss.setdefault(f"tr_{f}", getattr(D, f))
ss.setdefault("tr_limit", 0 if GPU else 2000)
ss.setdefault("tr_sel", [int(st.query_params["run"])] if st.query_params.get("run", "").isdigit() else [])


def apply_preset(changes: dict, reset: bool) -> None:
    for f in FIELDS if reset else ():
        if f not in ("pipeline", "device"):  # where to run is not part of the experiment
            ss[f"tr_{f}"] = getattr(D, f)
    ss.update({f"tr_{k}": v for k, v in changes.items()})


with st.expander("New run", expanded=True):
    if not GPU:
        st.info("**No GPU here: training runs on the CPU, which is slow.** Keep a few epochs and a limit of "
                "1,000–2,000 examples per split for a demo; the ladder's 30–100 epochs on all 50,000 images "
                "need a GPU.")
    st.markdown("**The lab's ladder** — each step adds one idea to the one before (fills the form):")
    with st.container(horizontal=True):  # buttons as wide as their labels, wrapping on a narrow screen
        for label, changes in LADDER.items():
            st.button(label.replace("ExponentialLR", "exp. lr"), key=f"tr_step{label[0]}", on_click=apply_preset,
                      args=(changes, True), help=", ".join(f"{k} = {v}" for k, v in changes.items())
                      + "; everything else at the default")
    for name, values in SWEEPS.items():
        with st.container(horizontal=True, vertical_alignment="center"):
            st.markdown(f"**Sweep the {name}** (changes only that value):")
            for change in values:
                (k, v), = change.items()
                st.button(f"{'lr' if k == 'lr' else 'batch'} {v:g}", key=f"tr_{k}_{v}", on_click=apply_preset,
                          args=({k: v}, False))
    with st.form("tr_form", border=False):
        c = st.columns(4)
        c[0].selectbox("Data", list(SOURCES), key="tr_source", help="".join(f"Local copy: {p}. " for p in LOCAL)
                       + "CIFAR-10/MNIST download into a cache on first use (offline, the run fails and says "
                       "why). A local ImageFolder copy: with a limit only that many images are decoded; all of "
                       "them are decoded once (slow the first time) and cached. Synthetic: 10 classes of "
                       "generated patterns, nothing to download.")
        c[0].text_input("Custom folder", key="tr_path", placeholder="/path/with/train/and/test",
                        help="An ImageFolder tree: train/<class>/*.jpg and test/<class>/*.jpg, images of one size.")
        c[0].number_input("Examples per split (0 = all)", 0, 1_000_000, step=500, key="tr_limit",
                          help="A seeded random subset of this many training and this many test images. "
                               + ("" if GPU else "No GPU: try 1,000–2,000."))
        c[0].text_input("Run name (optional)", key="tr_name", help="Empty: a summary of the settings.")
        c[1].number_input("Epochs", 1, 1000, key="tr_epochs", help="Passes over the training set.")
        c[1].number_input("Batch size (images)", 1, 65536, key="tr_batch_size",
                          help="Images per optimisation step; one epoch = ⌈N / batch size⌉ steps.")
        c[1].number_input("Learning rate (per step)", 1e-7, 10.0, key="tr_lr", format="%g", step=0.01,
                          help="Size of each SGD step: weights −= lr × gradient. Too high → loss explodes (NaN).")
        c[1].selectbox("Optimizer", ["sgd", "adam", "adamw"], key="tr_optimizer")
        c[2].number_input("Momentum", 0.0, 0.999, key="tr_momentum", step=0.1, format="%g",
                          help="SGD only: fraction of the previous step added to the next (lab step 4: 0.9).")
        c[2].checkbox("Nesterov momentum", key="tr_nesterov", help="SGD with momentum > 0 only.")
        c[2].number_input("Weight decay (L2, per step)", 0.0, 1.0, key="tr_weight_decay", format="%g", step=1e-4,
                          help="Each step also shrinks the weights by lr × decay × w.")
        c[2].selectbox("LR schedule", ["none", "exponential", "step", "cosine", "onecycle"], key="tr_schedule",
                       help="exponential: lr × gamma after every epoch; step: × 0.1 every third of the run; "
                            "cosine: down to 0; onecycle: up then down, per step.")
        c[2].number_input("Gamma (per epoch)", 0.5, 1.0, key="tr_gamma", step=0.01, format="%g",
                          help="ExponentialLR factor per epoch: lr at epoch e = lr × gamma^(e−1).")
        c[3].selectbox("Standardization", ["none", "lab", "train"], key="tr_standardize",
                       format_func={"none": "none (pixels in [0, 1])", "lab": "the lab sheet's constants",
                                    "train": "computed from the training set"}.get,
                       help="Subtract a per-channel mean and divide by a std. The statistics come from the "
                            "training images only — using test images would leak test information into training.")
        c[3].selectbox("Augmentation", ["none", "cropflip", "padcrop"], key="tr_augment",
                       format_func={"none": "none", "cropflip": "random crop 28 + flip (the lab's)",
                                    "padcrop": "pad 4 + random crop 32 + flip"}.get,
                       help="The lab's: a random 28×28 crop and a horizontal flip half the time for training, the "
                            "centre 28×28 crop for test (pool3 switches to ceil mode so fc4 keeps 1024 inputs). "
                            "Pad-crop: zero-pad by 4, take a random 32×32 crop and flip; test images unchanged.")
        c[3].number_input("Dropout (before the last fc)", 0.0, 0.95, key="tr_dropout", step=0.1, format="%g",
                          help="Probability of zeroing each input of the last fc layer during training.")
        c[3].checkbox("Batch norm after each conv", key="tr_batchnorm")
        c[3].selectbox("Pipeline", ["fast", "lab"], key="tr_pipeline", format_func={
            "fast": "fast (data on the device)", "lab": "the lab's DataLoader"}.get,
                       help="Same training; fast keeps the images on the device and augments whole batches.")
        c[3].selectbox("Device", ["auto", "cpu"] + (["cuda"] if GPU else []), key="tr_device",
                       help="auto: the GPU when there is one, else the CPU.")
        submitted = st.form_submit_button("Queue this run", type="primary")

if submitted:
    source = SOURCES[ss.tr_source] or ss.tr_path.strip()
    folder = Path(source).expanduser()
    if source not in ("cifar10", "mnist", "synthetic") and not (
            source and (folder / "train").is_dir() and (folder / "test").is_dir()):
        st.error(f"**Cannot use the folder `{source or '(empty)'}`:** it must hold `train/<class>/` and "
                 "`test/<class>/` folders of images. Type its full path in *Custom folder*.")
    else:
        try:
            data = source if source in ("cifar10", "mnist", "synthetic") else str(folder.resolve())
            cfg = TrainConfig(data=data, limit=ss.tr_limit or None, **{f: ss[f"tr_{f}"] for f in FIELDS})
            new = store.enqueue(cfg, ss.tr_name.strip(), ss.tr_owner)
            train_worker.ensure_worker(store.root)
            ss.tr_sel = [i for i in ss.tr_sel if i != new] + [new]
            st.query_params["run"] = str(new)
        except STORE_ERRORS as err:
            st.error(f"**The run was not queued:** {err}")


@st.cache_data(max_entries=500, show_spinner=False)
def epochs_of(path: str, run_id: int, updated: float) -> list[dict]:  # `updated` changes with every epoch
    return RunStore(path).epochs(run_id)


def fmt(value, spec: str) -> str:
    """A number for the page; '—' for a missing or non-finite one (a diverged epoch)."""
    return format(value, spec) if tc.finite(value) else "—"


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


def show_run(run) -> None:
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
        st.caption(f"💾 Trained weights: `{store.checkpoint_path(run)}` (input "
                   f"{'×'.join(map(str, run.input_shape or ()))}) — the other cnncalc pages can load this run.")


def compare(runs) -> None:
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


def live(active_before: bool) -> None:
    try:
        runs = store.list()
    except STORE_ERRORS as err:
        st.error(f"**The run store cannot be read:** {err}")
        return
    if not runs:
        st.info("No runs yet: pick a ladder step above and press **Queue this run**.")
        return
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
    by_id, wanted = {r.id: r for r in runs}, st.query_params.get("run", "")
    if wanted and not (wanted.isdigit() and int(wanted) in by_id):
        st.warning(f"There is no run {wanted} in this store; showing the newest run.")
    show_run(by_id[shown_id(runs)])
    chosen = [by_id[i] for i in ss.tr_sel if i in by_id]
    if len(chosen) >= 2:
        compare(chosen)
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


try:
    active = busy(store.list())
except STORE_ERRORS as err:
    st.error(f"**The run store cannot be read:** {err}")
    st.stop()
st.fragment(run_every=2 if active else None)(live)(active)

"""Training: queue the CIFAR-10 lab's experiments, watch loss and accuracy live, compare runs."""
import uuid

import streamlit as st
import torch

from cnncalc.train import worker as train_worker
from cnncalc.train.store import RunStore, default_root
from ui import training_form as form
from ui import training_runs as runs_view

GPU, ss = torch.cuda.is_available(), st.session_state

st.title("📈 Training")
st.caption("Run the lab's experiments on the CIFAR-10 network, watch the loss and accuracy epoch by epoch, "
           "compare runs. Runs go to a queue served by one background worker per device.")
try:
    store = RunStore(default_root())
except runs_view.STORE_ERRORS as err:
    st.error(f"**The run store at `{default_root()}` cannot be opened:** {err}. Set $CNNCALC_DATA to a "
             "writable folder.")
    st.stop()
ss.setdefault("tr_owner", uuid.uuid4().hex[:8])  # this browser session: your runs are marked in the list
form.init(GPU)
ss.setdefault("tr_sel", [int(st.query_params["run"])] if st.query_params.get("run", "").isdigit() else [])

with st.expander("New run", expanded=True):
    if not GPU:
        st.info("**No GPU here: training runs on the CPU, which is slow.** Keep a few epochs and a limit of "
                "1,000–2,000 examples per split for a demo; the ladder's 30–100 epochs on all 50,000 images "
                "need a GPU.")
    form.ladder_buttons()
    submitted = form.form(GPU)

if submitted:
    try:
        new = store.enqueue(form.config_from_form(), ss.tr_name.strip(), ss.tr_owner)
        train_worker.ensure_worker(store.root)
        ss.tr_sel = [i for i in ss.tr_sel if i != new] + [new]
        st.query_params["run"] = str(new)
    except runs_view.STORE_ERRORS as err:
        st.error(f"**The run was not queued:** {err}")

try:
    active = runs_view.busy(store.list())
except runs_view.STORE_ERRORS as err:
    st.error(f"**The run store cannot be read:** {err}")
    st.stop()
st.fragment(run_every=2 if active else None)(runs_view.live)(store, active)

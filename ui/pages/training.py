"""Training: queue the CIFAR-10 lab's experiments, watch loss and accuracy live, compare runs."""
import streamlit as st
import torch

from cnncalc.train.config import QUICK_EXPLANATION
from cnncalc.train.store import QuotaExceeded, RunStore, default_root
from ui import budget, identity, ladder_view
from ui import training_form as form
from ui import training_runs as runs_view

ss = st.session_state

st.title("📈 Training")
try:
    store, limits = RunStore(default_root()), budget.limits()
except runs_view.STORE_ERRORS as err:
    st.error(f"**The run store cannot be opened:** {err}. The server's administrator should set $CNNCALC_DATA "
             "to a writable folder.")
    st.stop()
GPU, served_by = runs_view.devices(store.root, torch.cuda.is_available())
st.caption("Run the lab's experiments on the CIFAR-10 network, watch the loss and accuracy epoch by epoch, "
           f"compare runs. Runs go to a queue served by {served_by}.")
me = identity.box("your runs are yours: only you and the teacher can cancel, resume or delete them.")
form.init(GPU)
ss.setdefault("tr_sel", [n] if (n := runs_view.run_number(st.query_params.get("run", ""))) else [])

with st.expander("New run", expanded=True):
    quick = st.button("⚡ Quick demo — the lab's network learns CIFAR-10 in about a minute on a CPU", type="primary",
                      key="tr_quick", help="Queues the quick recipe on CIFAR-10 (the same run for everyone: "
                      "if it already ran, you get its result at once).")
    with st.expander("What the quick recipe changes from the lab's settings, and why"):
        st.markdown(QUICK_EXPLANATION)
    if not GPU:
        st.info("**No GPU here: training runs on the CPU.** The form starts with the quick recipe, and the ladder "
                "buttons fill a CPU-sized version of each step (a few minutes) unless *Full length* is on.")
    form.ladder_buttons(GPU)
    submitted = form.form(GPU, limits.data_folders)
    st.caption(f"Classroom limits: {limits.queued_runs_per_owner} runs queued or running per student, "
               f"{limits.run_epoch_examples:,} epochs × training images per run, {limits.run_minutes:g} min per run.")

if submitted or quick:
    if me is None:
        st.error("**Type your name first** (above): runs are kept under it.")
    else:
        try:
            cfg = form.quick_run() if quick else form.config_from_form(limits.data_folders)
            runs_view.queue(store, cfg, "quick demo" if quick else ss.tr_name.strip(), me, limits)
        except QuotaExceeded as err:
            st.error(f"**Not queued — a classroom limit:** {err}")
        except runs_view.STORE_ERRORS as err:
            st.error(f"**The run was not queued:** {err}")

try:
    active = runs_view.busy(store.list(), me)
except runs_view.STORE_ERRORS as err:
    st.error(f"**The run store cannot be read:** {err}")
    st.stop()
st.fragment(run_every=2 if active else None)(runs_view.live)(store, active, me, limits)
with st.expander("The lab's ladder side by side — your runs next to the reference results"):
    ladder_view.show(ladder_view.results_of(store.list(), lambda r: runs_view.epochs_of(str(store.root), r.id,
                                                                                          r.updated)))
identity.teacher_box()

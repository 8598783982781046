"""The Training page's hand-in section for the run shown (issue #11, point 7): its confusion matrix on the test
set — computed when a student presses the button, then cached beside the checkpoint for everyone — and the zip
to hand in. Session keys start with ``tr_``.

The lead's one call, under the run's curves: ``handin_section(store, run, me)``. Everyone may compute and
export any run (runs are visible to the class); the export holds no names and no server paths. The matrix is
a heavy computation: it waits for a slot of the server's budget (ui.budget) like the other PyTorch passes.
Class names come from data folders and run names from students: shown escaped.
"""
from __future__ import annotations

import streamlit as st

from cnncalc.draw import confusion as cd
from cnncalc.server.identity import Identity
from cnncalc.train import handin
from ui import budget
from ui.widgets import escape

STORE_ERRORS = (OSError, ValueError, KeyError)  # a store or cache that cannot be read: said, never raised


def handin_section(store, run, me: Identity | None = None) -> None:
    """The confusion matrix of ``run`` (button, then cached) and the download of its hand-in zip."""
    st.subheader("What to hand in")
    if me is not None and run.owner and run.owner != me.id:
        st.caption("Another student's run: you may study and export it; the export carries no names.")
    confusion_block(store, run)
    export_block(store, run)


def confusion_block(store, run) -> None:
    """The matrix when it is cached; else why it cannot be computed, or the button that computes it."""
    try:
        conf = handin.cached(store, run)
    except STORE_ERRORS as err:
        st.error(f"**The confusion matrix cannot be read:** {escape(err)}")
        return
    if conf is None:
        reason = handin.unavailable(store, run)
        if reason:
            st.info(f"**Confusion matrix.** {escape(reason)}")
            return
        st.markdown("**Confusion matrix.** Which classes the network mixes up: its checkpoint evaluated on the "
                    f"run's test set (at most {handin.MAX_TEST_IMAGES:,} images; about ten seconds on a CPU for "
                    "CIFAR-10), then kept for everyone.")
        if not st.button("Compute the confusion matrix", key=f"tr_confusion{run.id}", icon="🧮"):
            return
        conf = compute(store, run)
        if conf is None:
            return
    show_confusion(conf)


def compute(store, run) -> handin.Confusion | None:
    """Compute (or take the copy another student just computed) inside a heavy-computation slot; a refusal is
    shown, never raised."""
    try:
        with budget.waiting_note("Confusion matrix"), st.spinner("Evaluating the checkpoint on the test set…"):
            with budget.held():
                return handin.confusion(store, run)
    except handin.NotAvailable as err:
        st.error(f"**No confusion matrix:** {escape(err)}")
    except TimeoutError:
        st.error("**The server is busy:** too many heavy computations are waiting. Try again in a minute.")
    except STORE_ERRORS as err:
        st.error(f"**The confusion matrix could not be saved:** {escape(err)}")
    return None


def show_confusion(conf: handin.Confusion) -> None:
    """The heat map, the accuracy it gives beside the one recorded in training, and the worst confusions."""
    left, right = st.columns([3, 2])
    # theme=None and the chart's own size: Streamlit's theme and widths squeeze the cells and drop class labels
    # they find crowded; this way the page shows the chart as the hand-in's confusion.png
    left.altair_chart(cd.confusion_chart(conf.classes, conf.counts), theme=None, width="content")
    right.metric("test top-1 from the matrix", f"{conf.accuracy:.2%}",
                 help="trace / total: the images on the diagonal over all images evaluated")
    recorded = "—" if conf.recorded_top1 is None else f"{conf.recorded_top1:.2%}"
    right.metric(f"recorded in training (epoch {conf.epoch or '?'})", recorded)
    if conf.agrees:
        right.success(f"The same {conf.correct:,} of {conf.evaluated:,} images right: the matrix is the "
                      "engine's own evaluation, counted per class.")
    elif conf.agrees is False:
        right.warning(f"{conf.correct:,} of {conf.evaluated:,} right here, "
                      f"{round(conf.recorded_top1 * conf.evaluated):,} recorded in training: the images or the "
                      "kernels differ from the run's (another kind of device, data changed since, or a demo run "
                      "trained on transformed images).")
    right.markdown("**Most confused** (true → predicted):\n" + "\n".join(
        f"- {escape(s)}" for s in cd.confused_sentences(conf.classes, conf.counts, 3)))
    extra = f" {conf.note}." if conf.note else ""
    right.caption(f"Computed in {conf.seconds:.1f} s on {conf.device}{' (bf16)' if conf.bf16 else ''}.{extra} "
                  "Hover a cell for its count and its share of the true class.")


def export_block(store, run) -> None:
    """The zip, built only when the button is pressed (the page refreshes every 2 s while runs train)."""
    try:
        has_epochs = bool(store.epochs(run.id))
    except STORE_ERRORS as err:
        st.error(f"**The run's epochs cannot be read:** {escape(err)}")
        return
    if not has_epochs:
        st.caption("📦 The hand-in can be downloaded once an epoch has finished.")
        return
    st.download_button("Download the hand-in (zip)", data=lambda: handin.export_zip(store, run),
                       file_name=handin.zip_name(run), mime="application/zip", key=f"tr_handin{run.id}",
                       on_click="ignore", icon="📦")
    st.caption(f"📦 epochs.csv (one row per epoch), curves.png, command.txt (the command that trains it again), "
               f"run.json, the confusion matrix (csv and png) once computed, and the weights (safetensors) — at "
               f"most {handin.ZIP_MAX_BYTES // 2**20} MiB; no names, no server paths. From a terminal: "
               f"`python -m cnncalc export {run.id} --out DIR`.")

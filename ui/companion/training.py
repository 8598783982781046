"""Part 2 of the Lab companion: training the lab's network on CIFAR-10, one renderer per question (q13–q18)."""
from __future__ import annotations

import streamlit as st

from cnncalc.classroom.companion import runs as cr
from cnncalc.classroom.companion import training as ct
from cnncalc.train import config as tcfg
from cnncalc.train import ladder, verdicts
from cnncalc.draw import train_charts as tc
from cnncalc.comparisons import CIFAR10_TRAIN_IMAGES as IMAGES
from ui.widgets import escape

from .common import COMPUTED, STORED, Context, link, pct, reference, runs_table, slip, vectors


def q13(ctx: Context) -> None:
    st.markdown("The lab's `main(batch_size, lr, epochs, device)` is the **Training** page's form, or from a "
                "terminal:")
    st.code(ct.cli_command(), language="bash")
    d = tcfg.TrainConfig()
    st.markdown(f"{COMPUTED} The defaults (cnncalc.train.config.TrainConfig):")
    keys = ("preset", "data", "epochs", "batch_size", "lr", "device", "optimizer", "momentum", "schedule",
            "standardize", "augment", "dropout", "batchnorm")
    st.markdown(" · ".join(f"`{k}` = {getattr(d, k)}" for k in keys))
    st.markdown("`--device cuda` needs a GPU (`auto` picks it when there is one). Every run, from the page or "
                "the command, lands in the same run store and appears on the Training page.")


def q14(ctx: Context) -> None:
    st.markdown("- **Training metrics** (`train()`): the model is in *training mode* — dropout drops units, "
                "batch norm uses each batch's statistics — and the loss and accuracy are **averaged over the "
                "epoch's batches**, while the weights change from one batch to the next.\n"
                "- **Test metrics** (`evaluate()`): *eval mode* — dropout off, batch norm with its running "
                "statistics — on the **whole test set**, with the weights of the end of the epoch, under "
                "`torch.no_grad()`.\n\nSo the training numbers lag behind (early batches count) and are "
                "handicapped by dropout, and the test numbers measure generalisation.")
    d = ct.dropout_demo(0.5, 8)
    st.markdown(f"{COMPUTED} `nn.Dropout(0.5)` on `torch.ones(8)` (seed {d.seed}):")
    vectors({"input": d.x, "train mode": d.train, "eval mode": d.eval})
    b = ct.batchnorm_demo()
    n = len(b.x)
    st.markdown(f"{COMPUTED} `nn.BatchNorm1d(1)` on the batch {list(b.x)}: train mode uses the batch's mean "
                f"{b.batch_mean:g} and variance {b.batch_var_biased:.4g} (divided by n = {n}; the running "
                f"variance is updated with the unbiased {b.batch_var:.4g}, divided by n − 1 = {n - 1}); eval mode "
                f"(after that one batch) uses the running mean {b.running_mean:.3g} and variance "
                f"{b.running_var:.4g}:")
    vectors({"input": b.x, "train mode": b.train, "eval mode": b.eval}, 4)
    slip("\"the test accuracy is above the training accuracy, so there is a bug\". Early on it is expected: "
         "the training numbers are averaged over an epoch in which the weights were still worse, and measured "
         f"with dropout on ({COMPUTED} {d.kept} of {len(d.x)} values kept above).")


def q15(ctx: Context) -> None:
    reference("1 baseline")
    best = cr.best_cifar10(ctx.results)
    if not best:
        st.markdown(f"{STORED} No baseline CIFAR-10 run in the store yet (the lab net at the default settings: "
                    "batch 128, lr 0.1, SGD, no standardization or augmentation). Launch the ladder's step "
                    "*1 baseline* (30 epochs) on the Training page:")
        link("training", "Open the {} page to launch it")
        return
    fit = ladder.fit(best, "1 baseline")
    need = tcfg.LADDER["1 baseline"]["epochs"]
    converged = fit.full and fit.done >= need and fit.verdict.kind in ("plateau", "overfitting")
    m = st.columns(3)
    m[0].metric(f"{STORED} best test top-1", pct(best.best_top1), f"epoch {best.best['epoch']}",
                delta_color="off", delta_arrow="off")
    m[1].metric(f"{STORED} run", f"#{best.id}")
    m[2].metric(f"{STORED} epochs", f"{best.done_epochs}/{best.config.epochs}")
    if converged:
        st.caption(f"{escape(best.name)} — your best-fitting baseline run: {fit.label}; {fit.comparison}.")
    else:
        st.markdown(f"{STORED} Your best-fitting baseline run (#{best.id}, {escape(best.name)}) is **not the "
                    f"accuracy at convergence**: {fit.label}; {fit.comparison}. For the lab's answer, train "
                    f"*1 baseline* on all {ladder.CIFAR10_TRAIN:,} images for {need} epochs.")


def q16(ctx: Context) -> None:
    st.markdown("The sweeps the Training page offers (cnncalc.train.config.SWEEPS), one value changed at a time: "
                + "; ".join(f"**{k}**: " + ", ".join(f"{v[next(iter(v))]:g}" for v in values)
                            for k, values in tcfg.SWEEPS.items()) + ".")
    found = False
    for key, label in (("lr", "learning rate"), ("batch_size", "batch size")):
        for sw in cr.sweeps(ctx.results, key):
            found = True
            st.markdown(f"{STORED} **{label} sweep in the store** ({sw.common}):")
            runs_table(sw.runs, **{label: lambda r, key=key: getattr(r.config, key)})
    if not found:
        st.markdown(f"{STORED} No sweep in the store yet (runs that differ only in the learning rate or only in "
                    "the batch size). Queue them with the Training page's sweep buttons.")
    steps = {b["batch_size"]: ct.steps_per_epoch(b["batch_size"]) for b in tcfg.SWEEPS["batch size"]}
    st.markdown(f"{COMPUTED} Steps per epoch on the {IMAGES:,} training images, ⌈{IMAGES:,} / batch⌉: " +
                ", ".join(f"batch {b} → {s:,}" for b, s in steps.items()) + ".")
    st.markdown("**What to expect** (an expectation, not a measurement): lr 1 — the loss explodes (NaN) or "
                "stays at chance; 0.1 — learns well; 0.001 — learns, slowly; 1e-5 — hardly moves from chance "
                "in a few epochs. Small batches make many noisy steps per epoch (slower per epoch on a GPU, "
                "sometimes a better optimum); large batches make fewer, smoother steps and often want a larger "
                "learning rate.")
    (small, n_small), (large, n_large) = min(steps.items()), max(steps.items())
    slip(f"\"large batches reach wider minima\". The usual finding is the reverse: large batches tend to "
         "converge to *sharp* minima that generalise worse, and the noise of small batches tends to find "
         f"*flatter* ones ({ct.KESKAR}). {COMPUTED} In one epoch batch {small} makes {n_small:,} noisy steps, "
         f"batch {large} only {n_large:,} smoother ones.")


def q17(ctx: Context) -> None:
    ch = ct.chance()
    m = st.columns(3)
    m[0].metric(f"{COMPUTED} loss", f"{ch['loss']:.4f}", help="−ln(1/10) = ln 10")
    m[1].metric(f"{COMPUTED} top-1 accuracy", pct(ch["top-1"], 0), f"error {pct(1 - ch['top-1'], 0)}",
                delta_color="off", delta_arrow="off")
    m[2].metric(f"{COMPUTED} top-5 accuracy", pct(ch["top-5"], 0))
    st.latex(rf"-\ln\tfrac{{1}}{{10}} = \ln 10 = {ch['loss']:.6f}")
    st.markdown("At initialisation the scores are small and nearly equal, so the softmax is close to uniform: "
                "every class gets about 1/10, the cross-entropy is about ln 10 and the net is right 1 time in 10 "
                "(5 in 10 for top-5).")
    first = next((r for r in cr.lab_runs(ctx.results, "1 baseline") if r.epochs[0].get("batch_losses")), None)
    if first:
        st.markdown(f"{STORED} Run #{first.id} of the lab net ({first.label}): first batch loss "
                    f"**{first.epochs[0]['batch_losses'][0]:.3f}** (chance {ch['loss']:.3f}).")
    slip(f"reading the starting loss {ch['loss']:.2f} as an error rate. It is a cross-entropy, ln 10; the "
         f"error at the start is {COMPUTED} 1 − 1/10 = {pct(1 - ch['top-1'], 0)}, the top-1 accuracy "
         f"{pct(ch['top-1'], 0)}.")


def q18(ctx: Context) -> None:
    finished = [r for r in ctx.results if r.status != "running" and len(r.epochs) >= 2]
    lab = cr.lab_runs(finished, "1 baseline")
    ids = {r.id for r in lab}
    done = lab + [r for r in finished if r.id not in ids]  # the lab net's runs first, best fit first
    if not done:
        st.markdown(f"{STORED} No finished run with two epochs or more in the store yet. Train the baseline for "
                    "30 epochs and watch the test loss: overfitting is when it rises again while the training "
                    "loss keeps falling (and the train–test accuracy gap widens).")
        reference("1 baseline")
        return
    labels = {r.id: f"#{r.id} — {r.name} ({r.status})" + ("" if r.id in ids else " — not the lab net")
              for r in done}
    run_id = st.selectbox("Run", list(labels), format_func=labels.get, key="lc18_run",
                          help="The lab net's runs first: the baseline, all the data and the most epochs first.")
    run = next(r for r in done if r.id == run_id)
    st.markdown(f"{STORED} Run #{run.id}: {run.label}." + ("" if run.id in ids else " **Not the lab net** (a demo "
                "or a network of its own): its curves say nothing about the lab's."))
    st.markdown(f"{STORED} **Overfitting marker.** " + run.verdict.text)
    st.altair_chart(tc.loss_chart(tc.epochs_frame(list(run.epochs)), epochs_total=run.config.epochs))
    st.caption(f"The verdict (cnncalc.train.verdicts): overfitting only when the test accuracy is clearly above "
               f"chance, after {verdicts.MIN_EPOCHS} epochs or more, the test loss has risen from its minimum by "
               f"more than {verdicts.Z:g} × its noise and the training loss kept falling.")
    q18_slip(run)


def q18_slip(run) -> None:
    last = run.epochs[-1]
    gap = 100 * (last["train_top1"] - last["test_top1"])
    signed = f"{gap:+.1f}".replace("-", "−")
    slip(f"calling any train–test gap overfitting. {STORED} This run's gap at epoch {last['epoch']} is "
         f"{signed} points (train {pct(last['train_top1'])}, test {pct(last['test_top1'])}): a gap alone is the "
         "generalisation gap every model has. Overfitting is the gap *growing* while the test loss climbs from "
         "its minimum and the training loss keeps falling — the marker above reads exactly that.")


ANSWERS = {13: q13, 14: q14, 15: q15, 16: q16, 17: q17, 18: q18}

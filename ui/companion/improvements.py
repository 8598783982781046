"""Part 3 of the Lab companion: improving the results, one renderer per question (q19–q34)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from cnncalc.classroom.companion import arithmetic as ca
from cnncalc.classroom.companion import improvements as ci
from cnncalc.classroom.companion import runs as cr
from cnncalc.classroom.companion import training as ct
from cnncalc.train import config as tcfg
from cnncalc.train import ladder
from ui.widgets import fmt

from .common import (COMPUTED, QUOTED, STORED, Context, curves, flips, go_training, ladder_answer, latex, pct,
                     runs_table, sample, slip, standardization, vectors, zca)

STEPS = list(tcfg.LADDER)  # 1 baseline … 6 + batch norm: questions 19, 22, 26, 29, 34 compare neighbours


def q19(ctx: Context) -> None:
    s = standardization()
    st.markdown("Subtract each channel's mean and divide by its standard deviation: every input channel then has "
                "mean 0 and std 1, the first layer's inputs are centred and on the same scale, and SGD with one "
                "learning rate works better (the loss surface is better conditioned).")
    st.markdown(f"{COMPUTED} On a sample — {s.sample.source}:")
    ch = ("R", "G", "B")
    rows = [("the lab sheet's mean", tcfg.LAB_MEAN), ("the lab sheet's std", tcfg.LAB_STD),
            ("sample mean (channel_stats)", s.train_mean), ("sample std (channel_stats)", s.train_std),
            ("sample: average per-image std", s.per_image_std),
            ("after standardizing with the sample's stats: mean", s.after_mean),
            ("… std", s.after_std), ("after standardizing with the sheet's constants: mean", s.lab_after_mean),
            ("… std", s.lab_after_std)]
    st.dataframe(pd.DataFrame([{"": k, **{c: round(v, 3) for c, v in zip(ch, vals)}} for k, vals in rows]),
                 hide_index=True)
    st.markdown("The sheet's std matches the *average of each image's own std* better than the std over all "
                "pixels that `channel_stats` computes: with the sheet's constants the standardized std is a little "
                "above 1. Either way the inputs end up centred and of similar scale; the Training page offers both "
                "(*the lab sheet's constants* or *computed from the training set*).")
    if not s.sample.real:
        st.caption("Synthetic images: these are not CIFAR-10's statistics.")
    st.markdown("**The result**: the standardization step (ladder step 2) beside the baseline (step 1), both "
                f"{tcfg.LADDER[STEPS[1]]['epochs']} epochs in the ladder:")
    ladder_answer(ctx.results, STEPS[1], "standardization", before=STEPS[0])


def q20(ctx: Context) -> None:
    s = standardization()
    st.markdown("The test set stands for images the model has never seen. Computing the mean and std on it (or "
                "on train + test) lets test information into training — a **leak** that makes the test score "
                "optimistic. Every preprocessing step is fitted on the training set and applied unchanged to the "
                "test set (as in deployment, where there is one new image at a time).")
    ch = ("R", "G", "B")
    st.markdown(f"{COMPUTED} The two splits of the sample of question 19 ({s.sample.kind}) have close but not "
                "identical statistics:")
    st.dataframe(pd.DataFrame([{"": k, **{c: round(v, 4) for c, v in zip(ch, vals)}} for k, vals in
                               [("train mean", s.train_mean), ("test mean", s.test_mean),
                                ("train std", s.train_std), ("test std", s.test_std)]]), hide_index=True)


def q21(ctx: Context) -> None:
    st.markdown("ZCA whitening decorrelates the pixels. With the covariance of the (centred) training images "
                "C = U Λ Uᵀ, each image x becomes")
    st.latex(r"x_\text{ZCA} = W x, \qquad W = U\,(\Lambda + \varepsilon I)^{-1/2}\,U^\top")
    st.markdown("At ε = 0 the result has identity covariance — no pixel predicts its neighbour any more — and, "
                "among all whitening transforms, stays closest to the original image (edges are enhanced). **ε "
                "trades exact whitening for less noise amplification**: a direction of variance λ is multiplied "
                "by 1/√(λ + ε) instead of 1/√λ, so the tiny-variance directions (mostly noise) are no longer "
                "blown up, and the result is only partly whitened.")
    flag = "--zca" in ct.train_flags()
    st.markdown(f"{COMPUTED} cnncalc's engine has it: `fit_zca` (cnncalc.train.engine), "
                + ("flag `--zca` of `python -m cnncalc train` " if flag else "")
                + "(fast pipeline only, fitted on the training set).")
    eps = st.select_slider("ε", [1e-1, 1e-2, 1e-3, 1e-4], value=1e-2, key="lc21_eps", format_func=lambda v: f"{v:g}")
    z = zca(eps)
    m = st.columns(3)
    m[0].metric(f"{COMPUTED} neighbour correlation before", f"{z.neighbour_before:.2f}")
    m[1].metric(f"{COMPUTED} after ZCA", f"{z.neighbour_after:.2f}")
    m[2].metric(f"{COMPUTED} mean variance after", f"{z.diag_after:.2f}", help="1 at ε = 0")
    st.caption(f"fit_zca on the central {z.patch}×{z.patch} crops of {z.n} standardized training images "
               f"({sample().kind}, the sample of question 19); correlation of horizontally adjacent pixel values.")
    q21_slip(z)


def q21_slip(z) -> None:
    slip(f"\"after ZCA the covariance is the identity\". Only at ε = 0. {COMPUTED} At ε = {z.eps:g} the "
         f"neighbour correlation goes from {z.neighbour_before:.2f} to {z.neighbour_after:.2f}, not 0, and the "
         f"mean variance is {z.diag_after:.2f}, not 1. In exchange the smallest-variance direction "
         f"(λ = {z.lambda_min:.2g}) is multiplied by 1/√(λ + ε) = {z.gain:.1f} instead of 1/√λ = "
         f"{z.gain_exact:.0f}: less noise amplified.")


def q22(ctx: Context) -> None:
    crops = ci.crop_variants()
    st.markdown(f"The lab's augmentation: a random {crops.crop}×{crops.crop} crop and a horizontal flip half the "
                f"time for each training image, the centre crop for test images (pool3 switches to ceil mode so "
                f"fc4 keeps 1,024 inputs). {COMPUTED} {crops.cropflip} different versions of each image "
                f"(({crops.size} − {crops.crop} + 1)² positions × 2).")
    ladder_answer(ctx.results, STEPS[2], "standardization + crop + flip", before=STEPS[1])
    st.markdown("Expect the training accuracy to drop (the task is harder) and the test accuracy to rise: less "
                "overfitting.")


def q23(ctx: Context) -> None:
    st.markdown("No. A flip is valid only when the mirrored image still belongs to the same class. For CIFAR-10's "
                "photos it is (a mirrored horse is a horse); for digits, letters, text and road signs it is not:")
    for f in flips():
        c = st.columns([1, 1, 3])
        c[0].image(f.image, caption=f"{f.name}", width=90)
        c[1].image(f.flipped, caption="flipped", width=90)
        c[2].markdown(f"{COMPUTED} {f.verdict}.")
    st.caption("Images drawn with PIL, flipped with numpy; the flipped seven-segment 2 is compared pixel by pixel "
               "with the 5 drawn the same way. A vertical flip is wrong even for photos (the sky is up).")


def q24(ctx: Context) -> None:
    crops = ci.crop_variants()
    st.markdown(f"- It only produces **variations of the same images**: {COMPUTED} {crops.cropflip} crop/flip "
                f"versions per image with the lab's augmentation, {crops.padcrop} with pad-{crops.pad}-crop — not "
                "new objects, poses or backgrounds.\n"
                "- It must keep the **label**: a transformation that changes the class (flipping a 2, rotating a 6) "
                "teaches the wrong answer.\n"
                f"- It can create a **train/test mismatch**: with the crop, the test uses the centre "
                f"{crops.crop}×{crops.crop}, so {pct(crops.unseen)} of each test image's pixels are never seen.\n"
                "- It **costs** training time (more epochs to converge) and lowers the training accuracy; too "
                "strong an augmentation makes the task harder than the test itself (underfitting).")


def q25(ctx: Context) -> None:
    aug = ct.train_choices()["augment"]
    st.markdown(f"{COMPUTED} Offered by cnncalc's training (`--augment`): " + ", ".join(f"`{a}`" for a in aug) +
                " — `cropflip` is the lab's random crop 28 + flip, `padcrop` pads by 4 and takes a random 32×32 "
                "crop + flip (keeps the size).")
    st.markdown("Others, **not implemented here**: colour jitter (brightness, contrast, saturation, hue), small "
                "rotations and scalings, Cutout / random erasing (hide a square), Mixup and CutMix (blend two "
                "images and their labels), AutoAugment / RandAugment (learned or random policies), noise and blur.")


def q26(ctx: Context) -> None:
    lr0, gamma = tcfg.TrainConfig().lr, 0.95
    st.markdown(f"Ladder step 4 adds **momentum 0.9** (each step adds 0.9 × the previous one) and "
                f"**ExponentialLR γ = {gamma:g}** (the learning rate is multiplied by γ after every epoch).")
    m = st.columns(4)
    for col, e in zip(m, (10, 50, 100)):
        col.metric(f"{COMPUTED} lr after {e} epochs", f"{ci.lr_after(e, lr0, gamma):.4g}")
    m[3].metric(f"{COMPUTED} half-life", f"{ci.half_life(gamma):.1f} epochs", help="ln 0.5 / ln γ")
    for e in (10, 50, 100):
        latex(ci.lr_formula(e, lr0, gamma), rf"\text{{lr}}_{{{e}}}")
    st.caption("After e epochs (e scheduler steps); during epoch e the rate is lr·γ^(e−1).")
    rows = ladder_answer(ctx.results, STEPS[3], "+ momentum + schedule", before=STEPS[2])
    e = ci.momentum_effect(lr0)
    (m3, m4), (s3, s4) = e.measured, e.students
    st.markdown(f"{QUOTED} **The final accuracy is about the same as step 3's**: {m3:.1f} % → {m4:.1f} % measured "
                f"at epoch {e.epochs} ({m4 - m3:+.1f} points), {s3:.1f} % → {s4:.1f} % in the students' logs "
                f"({s4 - s3:+.1f}) — quoted numbers, within a point or two either way. **The gain is stability**: "
                f"{COMPUTED} by epoch {e.epochs} the schedule has brought the learning rate from {e.lr:g} to "
                f"{e.lr_last:.4f} ({e.factor:.0f}× smaller), so the last epochs take small steps and the curves "
                f"flatten, where step 3 keeps taking steps of lr {e.lr:g} to the end.")
    st.markdown(f"{STORED} " + ladder.stability_sentence(*rows))
    st.markdown(f"Early on the opposite holds: with momentum the effective step is lr/(1 − m) = "
                f"{ci.momentum_gain(0.9):.0f}× lr, and at lr 0.1 without the schedule (or batch norm) training "
                "can stall or oscillate.")


def q27(ctx: Context) -> None:
    g = ci.momentum_gain(0.9)
    st.markdown(f"- **Momentum** averages the recent gradients: along a consistent direction the steps add up "
                f"({COMPUTED} up to 1/(1 − 0.9) = {g:.0f}× the plain step), across a narrow valley the zig-zags "
                "cancel — faster progress, less oscillation, and it rolls through small bumps and plateaus.\n"
                "- **A decaying learning rate**: large steps early to move fast and explore, small steps late to "
                "settle at the bottom of a minimum instead of bouncing around it (SGD's noise shrinks with the "
                f"step). With γ = 0.95 {COMPUTED} the rate halves every {ci.half_life(0.95):.1f} epochs.")
    mg = ci.momentum_vs_gamma()
    slip(f"taking the momentum {mg.momentum:g} and the schedule's γ {mg.gamma:g} for the same kind of number. "
         f"Momentum acts at **every step** ({COMPUTED} {mg.steps:,} steps per epoch at batch {mg.batch_size}): "
         f"each step keeps {mg.momentum:g} of the previous one, a memory of about 1/(1 − {mg.momentum:g}) = "
         f"{mg.memory_steps:.0f} steps ({mg.momentum:g}^{mg.steps:,} = {mg.momentum_after_epoch:.1e} after one "
         f"epoch). γ multiplies the learning rate **once per epoch**: after those {mg.steps:,} steps, "
         f"lr × {mg.gamma:g}.")


def q28(ctx: Context) -> None:
    ch = ct.train_choices()
    st.markdown(f"{COMPUTED} cnncalc's training offers optimizers " + ", ".join(f"`{o}`" for o in ch["optimizer"])
                + " (plus `--nesterov` momentum for SGD and `--weight-decay`) and schedules "
                + ", ".join(f"`{s}`" for s in ch["schedule"]) + ".")
    epochs = st.slider("Epochs", 10, 200, 50, 10, key="lc28_epochs")
    c = curves(epochs)
    df = pd.DataFrame(c, index=pd.RangeIndex(1, epochs + 1, name="epoch"))
    st.markdown(f"{COMPUTED} The learning rate at the start of each epoch (lr 0.1), from the engine's own "
                "`make_optimizer` and PyTorch's schedulers (step: × 0.1 every third of the run; onecycle: per "
                "step, up then down):")
    st.line_chart(df, height=240, x_label="epoch", y_label="learning rate")
    st.markdown("Elsewhere: RMSprop, Adagrad, LAMB/LARS (large batches), Lion; warm-up then cosine, "
                "reduce-on-plateau, cyclical learning rates.")


def q29(ctx: Context) -> None:
    st.markdown("The lab sheet adds **dropout alone** first (§3.4: ladder step 5, dropout 0.5 before fc5), then "
                "batch norm on top of it (§3.5: step 6, question 34). Dropout usually lowers the training "
                "accuracy, narrows the train–test gap and lets the test loss keep falling for longer. Step 5 "
                "beside step 4:")
    ladder_answer(ctx.results, STEPS[4], "+ dropout 0.5", before=STEPS[3])
    with_dropout = sorted([r for r in cr.lab_runs(ctx.results) if r.config.dropout > 0 and r.best],
                          key=lambda r: -r.best_top1)
    if with_dropout:
        st.markdown(f"{STORED} **All your runs of the lab net with dropout**, best first:")
        runs_table(with_dropout, dropout=lambda r: r.config.dropout, **{"data, epochs: verdict": lambda r: r.label})
    q29_slip()


def q29_slip() -> None:
    d = ci.dropout_cost(0.5)
    slip(f"\"dropout removes parameters, so epochs are faster\". It removes none: {COMPUTED} the lab net "
         f"with dropout {d.p:g} has {d.params_with:,} parameters, exactly as many as without "
         f"({d.params_without:,}), and costs the same {d.macs_with:,} multiply-accumulates per image "
         f"(without: {d.macs_without:,}). The dropped units are multiplied by 0, not skipped: an epoch takes "
         "as long (plus drawing the random mask).")


def q30(ctx: Context) -> None:
    flags = ct.train_flags()
    have = [r.flag for r in ci.REGULARIZERS if r.flag in flags]
    st.markdown(ci.REGULARIZATION)
    st.markdown("\n".join(f"- **{r.name}**: {r.how}. *In the lab*: {r.in_lab}." for r in ci.REGULARIZERS))
    st.markdown("Others: L1 (sparse weights), smaller networks with fewer parameters, label smoothing, "
                "stochastic depth, and more data.")
    st.markdown(f"{COMPUTED} Available in cnncalc's training: " + ", ".join(f"`{f}`" for f in have) + ".")


def q31(ctx: Context) -> None:
    sub = ci.subnetworks(0.5, ctx.lab)
    st.markdown(f"- **An ensemble**: each training example trains one thinned network; with dropout on fc4's "
                f"{sub.units:,} outputs there are $2^{{{sub.units}}}$ of them ({COMPUTED} a number of {sub.digits} "
                f"digits, ≈ {ca.power_of_ten(2 ** sub.units)}), all sharing their weights. At test time, "
                "scaling (here during training, by 1/(1 − p)) approximates averaging them all.\n"
                "- **Against co-adaptation**: a unit cannot rely on a particular other unit being there, so it "
                f"must be useful on its own ({COMPUTED} {sub.kept:,.0f} of {sub.units:,} units kept on average at "
                "p = 0.5).\n- **Noise injection / regularisation**: multiplicative noise on the activations, "
                "like an adaptive L2 penalty for linear models.")


def q32(ctx: Context) -> None:
    groups = cr.sweeps(ctx.results, "dropout")
    if groups:
        for sw in groups:
            st.markdown(f"{STORED} **Dropout sweep in the store** ({sw.common}):")
            runs_table(sw.runs, dropout=lambda r: r.config.dropout)
    else:
        step = STEPS[5]
        st.markdown(f"{STORED} No dropout sweep in the store yet. Launch the ladder's step *{step}* with "
                    f"dropout = " + ", ".join(f"{p:g}" for p in ci.DROPOUT_SWEEP) + " (everything else equal) and "
                    "compare the test top-1 and the train–test gap.")
        c = st.columns([2, 3], vertical_alignment="bottom")
        p = c[0].selectbox("Dropout rate", ci.DROPOUT_SWEEP, index=2, key="lc32_p")
        if c[1].button(f"Fill the Training form with step {step[0]}, dropout {p:g}", key="lc32_fill",
                       help="Opens the Training page with its form filled; nothing is queued until you press "
                            "'Queue this run' there."):
            go_training({**tcfg.LADDER[step], "dropout": p})
    st.markdown("Expect an optimum in between: p = 0 overfits (large gap), a moderate p (0.25–0.5) narrows the gap "
                "and improves the test accuracy, a large p (0.75+) removes so much that the net underfits and "
                "learns slowly. (An expectation, not a measurement.)")


def q33(ctx: Context) -> None:
    p = st.slider("Dropout probability p", 0.0, 0.9, 0.5, 0.05, key="lc33_p")
    d = ct.dropout_demo(p, 10, seed=0)
    st.markdown(f"{COMPUTED} `nn.Dropout({p:g})` on `torch.ones(10)`, `torch.manual_seed({d.seed})`:")
    vectors({"input": d.x, "train mode": d.train, "eval mode": d.eval}, 4)
    m = st.columns(3)
    m[0].metric(f"{COMPUTED} kept in train mode", f"{d.kept} / {len(d.x)}")
    m[1].metric(f"{COMPUTED} scale of the kept values", f"{d.scale:.4g}", help="1/(1 − p)")
    m[2].metric(f"{COMPUTED} eval mode", "identity" if d.eval == d.x else "changed")
    st.markdown("Training mode zeroes each value with probability p and multiplies the others by 1/(1 − p) "
                "(*inverted dropout*), so the expected value is unchanged; eval mode (`model.eval()`) returns the "
                "input as it is. Forgetting `model.eval()` before testing gives random, worse predictions.")
    slip(f"\"at test time dropout multiplies the activations by (1 − p)\". That is the original paper's "
         "convention (Srivastava et al. 2014 scale the weights at test time). PyTorch's `nn.Dropout` scales the "
         f"kept values by 1/(1 − p) during training instead ({COMPUTED} {d.scale:.4g} here) and eval mode "
         "returns the input unchanged (above).")


def q34(ctx: Context) -> None:
    cost = ci.batchnorm_cost()
    st.markdown("Batch norm normalises each channel over the batch, then scales and shifts it with two learned "
                "parameters per channel (γ, β). It allows larger learning rates, makes training less sensitive to "
                "the initialisation and regularises a little.")
    m = st.columns(2)
    m[0].metric(f"{COMPUTED} extra parameters (lab-bn vs lab28)", fmt(cost.extra))
    m[1].metric(f"{COMPUTED} lab-bn total", fmt(cost.with_bn))
    latex(" + ".join(f"{n}" for _, n in cost.per_layer) + f" = {cost.extra}",
          r"2\cdot(" + " + ".join(str(n // 2) for _, n in cost.per_layer) + ")")
    st.caption("Per layer (γ and β): " + ", ".join(f"{name} {n}" for name, n in cost.per_layer) +
               ". The running mean and variance are buffers, not parameters.")
    q34_slip(cost)
    ladder_answer(ctx.results, STEPS[5], "+ batch norm, on top of dropout 0.5", before=STEPS[4])


def q34_slip(cost) -> None:
    layers, running = len(cost.per_layer), cost.extra  # one mean and one variance per channel: as many as γ, β
    slip(f"counting the running mean and variance as parameters. {COMPUTED} They are buffers: the checkpoint "
         f"holds {running} running statistics (and {layers} batch counters) beside the {cost.extra} new "
         f"parameters, but no gradient or optimiser step ever touches them — training mode updates them as "
         "moving averages of the batches, and evaluation mode normalises with them instead of the batch's own "
         "statistics (Q14).")


ANSWERS = {19: q19, 20: q20, 21: q21, 22: q22, 23: q23, 24: q24, 25: q25, 26: q26,
           27: q27, 28: q28, 29: q29, 30: q30, 31: q31, 32: q32, 33: q33, 34: q34}

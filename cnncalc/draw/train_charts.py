"""Pure Altair builders and text for the Training page: epochs (dicts from ``RunStore.epochs``) in, charts
and sentences out. No Streamlit here.

Chance levels for K classes (a net that outputs the uniform distribution): loss ln K (−ln(1/K)), top-1 1/K,
top-5 min(5, K)/K — for CIFAR-10 ln 10 ≈ 2.303, 10 % and 50 %.
"""
from __future__ import annotations

import math

import altair as alt
import pandas as pd

from ..train import verdicts

METRICS = {"loss": "loss", "top-1": "top1", "top-5": "top5"}  # label → column suffix in the store
SPLIT_COLORS = alt.Scale(domain=["train", "test"], range=["#1f77b4", "#e8590c"])
CHANCE_COLOR, MARKER_COLOR = "#6c757d", "#7048e8"
PLOT_HEIGHT = 300
LEGEND = alt.Legend(orient="top", symbolType="stroke", symbolStrokeWidth=3, labelFontSize=13)


def chance_levels(classes: int = 10) -> dict[str, float]:
    """What a uniform guess over ``classes`` classes scores: loss ln K, top-1 1/K, top-5 min(5, K)/K."""
    k = max(int(classes), 1)
    return {"loss": math.log(k), "top-1": 1 / k, "top-5": min(5, k) / k}


finite = verdicts.finite  # a real number, not None, NaN or ±inf (a diverged epoch stores NaN, read back as None)


def epochs_frame(epochs: list[dict]) -> pd.DataFrame:
    """Long format: one row per (epoch, split, metric) with a finite value; splits train/test, metrics
    loss/top-1/top-5 (accuracies as fractions). A diverged epoch's NaN values are left out."""
    rows = [(e["epoch"], split, label, float(e[f"{split}_{col}"]))
            for e in epochs for split in ("train", "test") for label, col in METRICS.items()
            if finite(e.get(f"{split}_{col}"))]
    return pd.DataFrame(rows, columns=["epoch", "split", "metric", "value"])


def overfitting_summary(epochs: list[dict], classes: int = 10, n_test: int | None = None) -> dict:
    """The overfitting marker: the epoch of the lowest test loss, that loss, and the final train–test gaps
    (top-1 in fraction points: train − test; loss: test − train), with the run's verdict
    (cnncalc.train.verdicts.verdict: ``overfitting`` only when the rise of the test loss is beyond its noise,
    the accuracy clearly above chance and the training loss still falling). Empty when no epoch has finished.
    ``n_test``: the number of test images (unknown: CIFAR-10's 10,000 assumed, as the verdict says)."""
    ok = [e for e in epochs if finite(e.get("test_loss"))]
    if not ok:
        return {}
    low = min(ok, key=lambda e: e["test_loss"])
    best = max(ok, key=lambda e: e["test_top1"])
    last = epochs[-1]
    gap = lambda a, b: a - b if finite(a) and finite(b) else float("nan")  # noqa: E731
    v = verdicts.verdict(epochs, classes, n_test)
    return {"min_loss_epoch": low["epoch"], "min_test_loss": low["test_loss"], "final_epoch": last["epoch"],
            "gap_top1": gap(last["train_top1"], last["test_top1"]),
            "gap_loss": gap(last["test_loss"], last["train_loss"]),
            "best_top1": best["test_top1"], "best_top1_epoch": best["epoch"],
            "test_loss_rose": low["epoch"] < last["epoch"],
            "overfitting": v.kind == "overfitting", "verdict": v}


# --- charts ---------------------------------------------------------------------------------------

def _epoch_top(df: pd.DataFrame, total: int | None) -> int:
    """The last epoch of the x axis: the planned number, so a live chart does not rescale as epochs land."""
    return max([total or 0, int(df["epoch"].max()) if len(df) else 1, 2])


def _epoch_x(top: int) -> alt.X:
    return alt.X("epoch:Q", title="epoch", scale=alt.Scale(domain=[1, top], nice=False),
                 axis=alt.Axis(tickMinStep=1, format="d"))


def _chance_rules(levels: dict[str, float]) -> alt.LayerChart:
    """Dashed horizontal rules, each labelled at the left edge."""
    df = pd.DataFrame({"value": list(levels.values()), "label": list(levels)})
    base = alt.Chart(df).encode(y="value:Q")
    rule = base.mark_rule(strokeDash=[6, 4], color=CHANCE_COLOR, strokeWidth=1.5)
    style = dict(align="left", baseline="bottom", dx=4, dy=-2, fontSize=12)
    halo = base.mark_text(stroke="white", strokeWidth=4, **style).encode(x=alt.value(0), text="label:N")
    text = base.mark_text(color=CHANCE_COLOR, **style).encode(x=alt.value(0), text="label:N")
    return rule + halo + text


def _marker(epoch: int | None, top: int, bottom: bool) -> list:
    """The overfitting marker: a vertical rule at the epoch of the lowest test loss, labelled at the bottom
    (loss: 0, where the curves start far from) or the top (accuracy: 100 %)."""
    if epoch is None:
        return []
    df = pd.DataFrame({"epoch": [epoch], "label": [f"lowest test loss: epoch {epoch}"]})
    right = epoch > (1 + top) / 2
    base = alt.Chart(df).encode(x="epoch:Q")
    style = dict(align="right" if right else "left", dx=-5 if right else 5, baseline="bottom" if bottom else "top",
                 dy=-3 if bottom else 3,
                 fontSize=12, fontWeight="bold")
    where = dict(y=alt.datum(0 if bottom else 1), text="label:N")  # the loss axis starts at 0; accuracy ends at 1
    return [base.mark_rule(color=MARKER_COLOR, strokeWidth=2),
            base.mark_text(stroke="white", strokeWidth=4, **style).encode(**where),
            base.mark_text(color=MARKER_COLOR, **style).encode(**where)]


def _min_epoch(df: pd.DataFrame) -> int | None:
    test = df[(df["split"] == "test") & (df["metric"] == "loss")]
    return int(test.loc[test["value"].idxmin(), "epoch"]) if len(test) else None


def loss_chart(df: pd.DataFrame, classes: int = 10, epochs_total: int | None = None) -> alt.LayerChart:
    """Train and test loss per epoch, the chance level ln K and the overfitting marker."""
    data = df[df["metric"] == "loss"]
    top = _epoch_top(df, epochs_total)
    x = _epoch_x(top)
    lines = alt.Chart(data).mark_line(point=True, strokeWidth=2.5).encode(
        x=x, y=alt.Y("value:Q", title="cross-entropy loss", scale=alt.Scale(zero=True)),
        color=alt.Color("split:N", scale=SPLIT_COLORS, title=None, legend=LEGEND),
        tooltip=["epoch:Q", "split:N", alt.Tooltip("value:Q", title="loss", format=".3f")])
    ln = chance_levels(classes)["loss"]
    chance = _chance_rules({f"chance: ln {classes} ≈ {ln:.3f}": ln})
    return alt.layer(lines, chance, *_marker(_min_epoch(df), top, bottom=True)).properties(
        title=alt.TitleParams("Loss per epoch", subtitle="dashed grey: chance · purple: lowest test loss"),
        height=PLOT_HEIGHT)


def accuracy_chart(df: pd.DataFrame, classes: int = 10, epochs_total: int | None = None) -> alt.LayerChart:
    """Train and test top-1 (solid) and top-5 (dashed), chance levels 1/K and min(5, K)/K, the marker."""
    data = df[df["metric"].isin(["top-1", "top-5"])]
    top = _epoch_top(df, epochs_total)
    x = _epoch_x(top)
    lines = alt.Chart(data).mark_line(point=True, strokeWidth=2.5).encode(
        x=x, y=alt.Y("value:Q", title="accuracy", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        color=alt.Color("split:N", scale=SPLIT_COLORS, title=None, legend=LEGEND),
        strokeDash=alt.StrokeDash("metric:N", scale=alt.Scale(domain=["top-1", "top-5"], range=[[1, 0], [6, 3]]),
                                  legend=None),  # explained in the subtitle
        tooltip=["epoch:Q", "split:N", "metric:N", alt.Tooltip("value:Q", title="accuracy", format=".1%")])
    lv = chance_levels(classes)
    chance = _chance_rules({f"chance top-1: {lv['top-1']:.0%}": lv["top-1"],
                            f"chance top-5: {lv['top-5']:.0%}": lv["top-5"]})
    return alt.layer(lines, chance, *_marker(_min_epoch(df), top, bottom=False)).properties(
        title=alt.TitleParams("Accuracy per epoch", subtitle="solid: top-1 · dashed: top-5 · grey: chance"),
        height=PLOT_HEIGHT)


def batch_loss_chart(batch_losses: list[float], classes: int = 10, epoch: int | None = None) -> alt.LayerChart:
    """The training loss of every batch (step) of one epoch, with the chance level ln K."""
    df = pd.DataFrame({"batch": range(1, len(batch_losses) + 1), "loss": list(batch_losses)})
    df = df[df["loss"].map(finite)]
    line = alt.Chart(df).mark_line(color=SPLIT_COLORS.range[0], strokeWidth=1.5).encode(
        x=alt.X("batch:Q", title="batch (step) within the epoch", axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("loss:Q", title="training loss", scale=alt.Scale(zero=True)),
        tooltip=["batch:Q", alt.Tooltip("loss:Q", format=".3f")])
    ln = chance_levels(classes)["loss"]
    title = "Training loss per batch" + (f" — epoch {epoch}" if epoch else "")
    return alt.layer(line, _chance_rules({f"chance: ln {classes} ≈ {ln:.3f}": ln})).properties(
        title=title, height=220)


def compare_frame(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The epochs frames of several runs stacked, with a ``run`` column (the dict's keys)."""
    parts = [df.assign(run=name) for name, df in frames.items() if len(df)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["epoch", "split", "metric", "value", "run"])


def compare_chart(frames: dict[str, pd.DataFrame], metric: str = "top-1", split: str = "test",
                  classes: int = 10) -> alt.LayerChart:
    """One line per run (the dict's keys, e.g. '#3 lr 0.1'): the test top-1 (or loss, top-5) per epoch."""
    df = compare_frame(frames)
    df = df[(df["metric"] == metric) & (df["split"] == split)]
    acc = metric != "loss"
    y = alt.Y("value:Q", title=f"{split} {metric}", scale=alt.Scale(domain=[0, 1]) if acc else alt.Scale(zero=True),
              axis=alt.Axis(format="%") if acc else alt.Axis())
    lines = alt.Chart(df).mark_line(point=True, strokeWidth=2.5).encode(
        x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1, format="d")), y=y,
        color=alt.Color("run:N", title=None, scale=alt.Scale(scheme="tableau10"),
                        legend=alt.Legend(orient="top", columns=2, labelLimit=400, symbolType="stroke",
                                          symbolStrokeWidth=3)),
        tooltip=["run:N", "epoch:Q", alt.Tooltip("value:Q", title=f"{split} {metric}", format=".1%" if acc else ".3f")])
    level = chance_levels(classes)[metric]
    label = f"chance: {level:.0%}" if acc else f"chance: ln {classes} ≈ {level:.3f}"
    return alt.layer(lines, _chance_rules({label: level})).properties(
        title=f"{split.capitalize()} {metric} by run", height=300)


# --- sentences for the page -----------------------------------------------------------------------

def chance_note(first: dict, classes: int = 10, n_test: int | None = None) -> str:
    """How the first epoch compares with a uniform guess (markdown), with the noise of ``n_test`` test images
    (cnncalc.train.verdicts.chance_band; unknown: 10,000)."""
    lv = chance_levels(classes)
    head = (f"**Chance level.** A net that guesses uniformly over {classes} classes has a loss of "
            f"ln {classes} ≈ {lv['loss']:.3f} (−ln of 1/{classes}), top-1 {lv['top-1']:.0%} and top-5 "
            f"{lv['top-5']:.0%}. ")
    loss, top1 = first.get("test_loss"), first.get("test_top1")
    if not finite(loss) or not finite(top1):
        return head + f"After epoch {first['epoch']} the test loss is not a number: training diverged."
    n = n_test or verdicts.DEFAULT_TEST_IMAGES
    band = verdicts.chance_band(classes, n)
    now = f"After epoch {first['epoch']}: test loss {loss:.3f}, test top-1 {top1:.1%} — "
    noise = (f" (On {n:,} test images chance reads as top-1 up to {band['top1_max']:.1%} and loss "
             f"{band['loss_min']:.3f}–{band['loss_max']:.3f}: two standard errors.)")
    if loss > band["loss_max"]:  # above ln K beyond the noise
        verdict = ("**worse than guessing**: the net is confidently wrong, often a sign that the learning rate "
                   "is too high.")
    elif verdicts.at_chance(first, classes, n):
        verdict = ("**still at chance**: the net has not learned anything measurable yet. Normal at the very "
                   "start; if it stays there, the learning rate is probably too low (or too high).")
    else:
        clear = [what for what, yes in (("the loss below chance", loss < band["loss_min"]),
                                        ("the top-1 above chance", top1 > band["top1_max"])) if yes]
        verdict = f"**better than chance** — {' and '.join(clear)} beyond the noise: the net is learning."
    return head + now + verdict + noise


def overfitting_note(summary: dict) -> str:
    """The overfitting marker in words (markdown): the run's verdict (cnncalc.train.verdicts); empty without
    epochs."""
    if not summary:
        return ""
    return "**Overfitting marker.** " + summary["verdict"].text


# --- the ladder side by side ------------------------------------------------------------------------------

def ladder_frame(lines: dict[str, list[dict]]) -> pd.DataFrame:
    """One row per (line, epoch, metric): the test top-1 and the test loss of each line's epochs (finite
    values only); ``line`` is the dict's key (e.g. '3 + random crop 28 + flip · #12')."""
    rows = [(name, e["epoch"], label, float(e[f"test_{col}"])) for name, epochs in lines.items() for e in epochs
            for label, col in (("top-1", "top1"), ("loss", "loss")) if finite(e.get(f"test_{col}"))]
    return pd.DataFrame(rows, columns=["line", "epoch", "metric", "value"])


LADDER_COLORS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#b07aa1", "#edc948", "#ff9da7",
                 "#9c755f", "#bab0ac")  # Tableau 10: step k keeps colour k on every chart


def ladder_chart(lines: dict[str, list[dict]], points: list[dict] | None = None, metric: str = "top-1",
                 classes: int = 10, slots: dict[str, int] | None = None) -> alt.LayerChart:
    """The ladder side by side: the test top-1 (or loss) per epoch, one line per step (the dict's keys), and
    the quoted reference results as diamonds at their epoch (``points``: dicts with line, epoch, value, label —
    a value quoted, never computed). ``slots``: each line's colour number (its step's place in the ladder, so a
    step has the same colour on the Training page and in every answer); by default the order of the lines."""
    df = ladder_frame(lines)
    df = df[df["metric"] == metric]
    acc = metric != "loss"
    names = list(lines) + [p["line"] for p in points or () if p["line"] not in lines]
    slots = slots or {name: i for i, name in enumerate(names)}
    palette = [LADDER_COLORS[slots.get(name, i) % len(LADDER_COLORS)] for i, name in enumerate(names)]
    color = alt.Color("line:N", title=None, scale=alt.Scale(domain=names, range=palette),
                      legend=alt.Legend(orient="right", columns=1, labelLimit=260, symbolType="stroke",
                                        symbolStrokeWidth=3))  # beside the plot: above it, six steps' labels
                                                                # took the plot's height
    y = alt.Y("value:Q", title=f"test {metric}", scale=alt.Scale(domain=[0, 1]) if acc else alt.Scale(zero=True),
              axis=alt.Axis(format="%") if acc else alt.Axis())
    fmt = ".1%" if acc else ".3f"
    x = alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1, format="d"))
    layers = [alt.Chart(df).mark_line(point=True, strokeWidth=2.5).encode(
        x=x, y=y, color=color, tooltip=["line:N", "epoch:Q", alt.Tooltip("value:Q", title=f"test {metric}",
                                                                           format=fmt)])]
    refs = pd.DataFrame([p for p in points or () if finite(p.get("value"))],
                        columns=["line", "epoch", "value", "label"])
    if len(refs):
        layers.append(alt.Chart(refs).mark_point(shape="diamond", size=160, filled=True, stroke="black",
                                                 strokeWidth=1).encode(
            x=x, y=y, color=color, tooltip=["line:N", "label:N", "epoch:Q",
                                            alt.Tooltip("value:Q", title="quoted", format=fmt)]))
    level = chance_levels(classes)[metric]
    label = f"chance: {level:.0%}" if acc else f"chance: ln {classes} ≈ {level:.3f}"
    title = alt.TitleParams(f"Test {metric} per epoch, step by step",
                            subtitle="lines: your runs · diamonds: reference results (quoted) · grey: chance")
    return alt.layer(*layers, _chance_rules({label: level})).properties(title=title, height=PLOT_HEIGHT)

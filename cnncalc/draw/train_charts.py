"""Pure Altair builders and text for the Training page: epochs (dicts from ``RunStore.epochs``) in, charts
and sentences out. No Streamlit here.

Chance levels for K classes (a net that outputs the uniform distribution): loss ln K (−ln(1/K)), top-1 1/K,
top-5 min(5, K)/K — for CIFAR-10 ln 10 ≈ 2.303, 10 % and 50 %.
"""
from __future__ import annotations

import math

import altair as alt
import pandas as pd

METRICS = {"loss": "loss", "top-1": "top1", "top-5": "top5"}  # label → column suffix in the store
SPLIT_COLORS = alt.Scale(domain=["train", "test"], range=["#1f77b4", "#e8590c"])
CHANCE_COLOR, MARKER_COLOR = "#6c757d", "#7048e8"
PLOT_HEIGHT = 300
LEGEND = alt.Legend(orient="top", symbolType="stroke", symbolStrokeWidth=3, labelFontSize=13)


def chance_levels(classes: int = 10) -> dict[str, float]:
    """What a uniform guess over ``classes`` classes scores: loss ln K, top-1 1/K, top-5 min(5, K)/K."""
    k = max(int(classes), 1)
    return {"loss": math.log(k), "top-1": 1 / k, "top-5": min(5, k) / k}


def finite(value) -> bool:
    """A real number, not None, NaN or ±inf (a diverged epoch stores NaN, read back as None)."""
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def epochs_frame(epochs: list[dict]) -> pd.DataFrame:
    """Long format: one row per (epoch, split, metric) with a finite value; splits train/test, metrics
    loss/top-1/top-5 (accuracies as fractions). A diverged epoch's NaN values are left out."""
    rows = [(e["epoch"], split, label, float(e[f"{split}_{col}"]))
            for e in epochs for split in ("train", "test") for label, col in METRICS.items()
            if finite(e.get(f"{split}_{col}"))]
    return pd.DataFrame(rows, columns=["epoch", "split", "metric", "value"])


def overfitting_summary(epochs: list[dict]) -> dict:
    """The overfitting marker: the epoch of the lowest test loss, that loss, and the final train–test gaps
    (top-1 in fraction points: train − test; loss: test − train). Empty when no epoch has finished."""
    ok = [e for e in epochs if finite(e.get("test_loss"))]
    if not ok:
        return {}
    low = min(ok, key=lambda e: e["test_loss"])
    best = max(ok, key=lambda e: e["test_top1"])
    last = epochs[-1]
    gap = lambda a, b: a - b if finite(a) and finite(b) else float("nan")  # noqa: E731
    return {"min_loss_epoch": low["epoch"], "min_test_loss": low["test_loss"], "final_epoch": last["epoch"],
            "gap_top1": gap(last["train_top1"], last["test_top1"]),
            "gap_loss": gap(last["test_loss"], last["train_loss"]),
            "best_top1": best["test_top1"], "best_top1_epoch": best["epoch"],
            "test_loss_rose": low["epoch"] < last["epoch"],
            # overfitting: the test loss rose after its minimum while the training loss kept falling
            "overfitting": low["epoch"] < last["epoch"] and finite(last["train_loss"])
            and last["train_loss"] < low["train_loss"]}


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

def chance_note(first: dict, classes: int = 10) -> str:
    """How the first epoch compares with a uniform guess (markdown)."""
    lv = chance_levels(classes)
    head = (f"**Chance level.** A net that guesses uniformly over {classes} classes has a loss of "
            f"ln {classes} ≈ {lv['loss']:.3f} (−ln of 1/{classes}), top-1 {lv['top-1']:.0%} and top-5 "
            f"{lv['top-5']:.0%}. ")
    loss, top1 = first.get("test_loss"), first.get("test_top1")
    if not finite(loss):
        return head + f"After epoch {first['epoch']} the test loss is not a number: training diverged."
    now = f"After epoch {first['epoch']}: test loss {loss:.3f}, test top-1 {top1:.1%} — "
    if loss > 1.1 * lv["loss"]:
        verdict = ("**worse than guessing**: the net is confidently wrong, often a sign that the learning rate "
                   "is too high.")
    elif loss > 0.95 * lv["loss"] and top1 < 1.5 * lv["top-1"]:
        verdict = ("**still at chance**: the net has not learned anything yet. Normal at the very start; if it "
                   "stays there, the learning rate is probably too low (or too high).")
    else:
        verdict = "**below chance**: the net is learning."
    return head + now + verdict


def overfitting_note(summary: dict) -> str:
    """The overfitting marker in words (markdown); empty without epochs."""
    if not summary:
        return ""
    s = summary
    gaps = (f"Train − test gap at epoch {s['final_epoch']}: top-1 {s['gap_top1'] * 100:+.1f} points, "
            f"loss {s['gap_loss']:+.3f}.")
    low = f"The test loss was lowest at epoch {s['min_loss_epoch']} ({s['min_test_loss']:.3f}) and has risen since"
    if s["overfitting"]:
        return (f"**Overfitting marker.** {low} while the training loss kept falling: after that epoch the net "
                f"fits the training images better without generalising better — it overfits. {gaps} Best test "
                f"top-1: {s['best_top1']:.1%} (epoch {s['best_top1_epoch']}).")
    if s["test_loss_rose"]:
        return (f"**Overfitting marker.** {low}, but the training loss has not fallen either: that is not "
                f"overfitting — the net is not learning steadily (too few steps yet, or a learning rate too high "
                f"or too low). {gaps}")
    return (f"**Overfitting marker.** The test loss is lowest at the latest epoch ({s['min_loss_epoch']}, "
            f"{s['min_test_loss']:.3f}): no sign of overfitting yet. {gaps}")

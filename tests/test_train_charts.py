"""train_charts: chance levels, the overfitting marker and the frames, checked against hand-worked numbers."""
import math

import altair as alt
import pytest

from cnncalc.draw import train_charts as tc

# Three epochs worked by hand: the test loss is lowest at epoch 2 (1.80), then rises (1.95);
# at epoch 3 train top-1 0.60 vs test 0.42 → gap 0.18; loss gap 1.95 − 1.10 = 0.85.
EPOCHS = [
    dict(epoch=1, train_loss=2.30, train_top1=0.12, train_top5=0.55, test_loss=2.25, test_top1=0.18,
         test_top5=0.62, lr=0.1, seconds=1.0, batch_losses=[2.31, 2.30, 2.28]),
    dict(epoch=2, train_loss=1.60, train_top1=0.40, train_top5=0.85, test_loss=1.80, test_top1=0.35,
         test_top5=0.80, lr=0.1, seconds=1.0, batch_losses=[1.7, 1.6, 1.5]),
    dict(epoch=3, train_loss=1.10, train_top1=0.60, train_top5=0.95, test_loss=1.95, test_top1=0.42,
         test_top5=0.83, lr=0.1, seconds=1.0, batch_losses=[1.2, 1.1, 1.0]),
]


def test_chance_levels_cifar10():
    lv = tc.chance_levels(10)
    assert lv["loss"] == pytest.approx(2.302585093, abs=1e-9)  # ln 10
    assert lv["top-1"] == pytest.approx(0.1)
    assert lv["top-5"] == pytest.approx(0.5)


def test_chance_levels_three_classes():
    lv = tc.chance_levels(3)
    assert lv["loss"] == pytest.approx(1.098612289, abs=1e-9)  # ln 3
    assert lv["top-1"] == pytest.approx(1 / 3)
    assert lv["top-5"] == 1.0  # top-5 of 3 classes always contains the label


def test_overfitting_summary_hand_worked():
    s = tc.overfitting_summary(EPOCHS)
    assert s["min_loss_epoch"] == 2 and s["min_test_loss"] == pytest.approx(1.80)
    assert s["gap_top1"] == pytest.approx(0.18) and s["gap_loss"] == pytest.approx(0.85)
    assert s["best_top1"] == pytest.approx(0.42) and s["best_top1_epoch"] == 3
    assert s["overfitting"] is True and s["final_epoch"] == 3
    assert tc.overfitting_summary([]) == {}
    assert tc.overfitting_summary(EPOCHS[:2])["overfitting"] is False  # still falling at the last epoch
    noisy = [EPOCHS[0], dict(EPOCHS[1], test_loss=2.28, train_loss=2.31)]  # test loss up, train loss not down
    assert tc.overfitting_summary(noisy)["overfitting"] is False
    assert "not overfitting" in tc.overfitting_note(tc.overfitting_summary(noisy))


def test_epochs_frame_rows():
    df = tc.epochs_frame(EPOCHS)
    assert list(df.columns) == ["epoch", "split", "metric", "value"]
    assert len(df) == 3 * 2 * 3  # epochs × splits × metrics
    row = df[(df.epoch == 3) & (df.split == "test") & (df.metric == "top-1")]
    assert row["value"].item() == pytest.approx(0.42)
    assert set(df.metric) == {"loss", "top-1", "top-5"} and set(df.split) == {"train", "test"}


def test_diverged_values_are_left_out():
    bad = [dict(EPOCHS[0], epoch=1, test_loss=float("nan"), train_loss=None)]
    df = tc.epochs_frame(bad)
    assert len(df) == 4 and not df["value"].map(math.isfinite).eq(False).any()
    assert tc.overfitting_summary(bad) == {}
    assert "diverged" in tc.chance_note(bad[0])


def test_charts_carry_chance_levels_and_marker():
    df = tc.epochs_frame(EPOCHS)
    spec = tc.loss_chart(df, 10, epochs_total=5).to_dict()
    text = str(spec)
    assert "chance: ln 10 ≈ 2.303" in text and "lowest test loss: epoch 2" in text
    acc = str(tc.accuracy_chart(df, 10).to_dict())
    assert "chance top-1: 10%" in acc and "chance top-5: 50%" in acc and "lowest test loss: epoch 2" in acc
    assert isinstance(tc.batch_loss_chart(EPOCHS[-1]["batch_losses"], 10, 3), alt.LayerChart)
    both = tc.compare_chart({"#1 a": df, "#2 b": df.assign(value=df.value / 2)}, "top-1")
    assert len(tc.compare_frame({"#1 a": df, "#2 b": df})) == 2 * len(df)
    assert "Test top-1 by run" in str(both.to_dict())


def test_notes():
    assert "ln 10 ≈ 2.303" in tc.chance_note(EPOCHS[0]) and "below chance" in tc.chance_note(EPOCHS[0])
    at_chance = dict(EPOCHS[0], test_loss=2.30, test_top1=0.10)
    assert "still at chance" in tc.chance_note(at_chance)
    assert "worse than guessing" in tc.chance_note(dict(EPOCHS[0], test_loss=3.5))
    note = tc.overfitting_note(tc.overfitting_summary(EPOCHS))
    assert "lowest at epoch 2 (1.800)" in note and "it overfits" in note and "+18.0 points" in note

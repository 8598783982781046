"""cnncalc.train.verdicts: at chance, still learning, overfitting, plateau — hand-worked runs (issue #11's chance
run among them) and property tests on synthetic curves built on either side of each rule's threshold."""
import math
from types import SimpleNamespace

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnncalc.draw import train_charts as tc
from cnncalc.train import verdicts as v
from cnncalc.train.config import TrainConfig

LN10 = math.log(10)


def _epochs(test_loss, test_top1, train_loss=None, train_top1=None):
    n = len(test_loss)
    train_loss = train_loss or [2.3 - 0.05 * i for i in range(n)]
    train_top1 = train_top1 or [min(1.0, t + 0.1) for t in test_top1]
    return [dict(epoch=i + 1, train_loss=train_loss[i], train_top1=train_top1[i], test_loss=test_loss[i],
                 test_top1=test_top1[i]) for i in range(n)]


# Issue #11: 500 CIFAR-10 images, 3 epochs, stuck at chance — test loss 2.302 → 2.303, top-1 11.8 %.
CHANCE_RUN = _epochs([2.302, 2.302, 2.303], [0.104, 0.110, 0.118], train_loss=[2.306, 2.304, 2.301],
                     train_top1=[0.098, 0.104, 0.109])
# Three epochs worked by hand (tests/test_train_charts.py): test loss lowest at epoch 2 (1.80), 1.95 at epoch 3.
HAND = _epochs([2.25, 1.80, 1.95], [0.18, 0.35, 0.42], train_loss=[2.30, 1.60, 1.10], train_top1=[0.12, 0.40, 0.60])


# --- hand-worked ---------------------------------------------------------------------------------------------

def test_the_issues_chance_run_is_at_chance_never_overfitting():
    r = v.verdict(CHANCE_RUN, 10, n_test=500)
    assert r.kind == "at_chance" and r.label == "at chance"
    n = r.numbers
    # binomial standard error at 10 % on 500 images: √(0.1·0.9/500) = 0.013416 → chance up to 10 + 2·1.34 = 12.7 %
    assert n["top1_se_chance"] == pytest.approx(math.sqrt(0.09 / 500))
    assert n["top1_max"] == pytest.approx(0.12683, 1e-4)
    # loss: ln 10/√500 = 0.10298 → chance down to 2.3026 − 0.2060 = 2.0966
    assert n["loss_se_chance"] == pytest.approx(LN10 / math.sqrt(500)) and n["loss_min"] == pytest.approx(2.0966, 1e-4)
    assert "Verdict: at chance" in r.text and "11.8%" in r.text and "12.7%" in r.text and "500 test images" in r.text
    assert "overfits" not in r.text
    summary = tc.overfitting_summary(CHANCE_RUN, 10, 500)
    assert summary["overfitting"] is False and "it overfits" not in tc.overfitting_note(summary)
    assert "still at chance" in tc.chance_note(CHANCE_RUN[0], 10, 500)
    # without the number of test images (10,000 assumed) it is still not overfitting: +0.001 is far within the noise
    assert v.verdict(CHANCE_RUN).kind != "overfitting" and "assumed" in v.verdict(CHANCE_RUN).text


def test_hand_worked_run_depends_on_the_number_of_test_images():
    big = v.verdict(HAND, 10, 10_000)      # noise 1.80/√10,000 = 0.018: the rise of 0.150 is clear
    assert big.kind == "overfitting" and big.label == "overfitting after epoch 2"
    assert big.numbers["loss_noise"] == pytest.approx(0.018) and big.numbers["rise"] == pytest.approx(0.15)
    assert "it overfits" in big.text and "1.600 → 1.100" in big.text
    small = v.verdict(HAND, 10, 200)       # noise 1.80/√200 = 0.127: 0.150 is within 2 × 0.127
    assert small.kind == "still_learning"
    assert small.numbers["loss_noise"] == pytest.approx(1.8 / math.sqrt(200))
    for r in (big, small):  # what the Training page's test reads, whatever the verdict
        assert "lowest at epoch 2 (1.800)" in r.text and "+18.0 points" in r.text
    assert "not overfitting" in small.text


def test_no_epochs_diverged_and_unsteady():
    assert v.verdict([]).kind == "no_epochs"
    nan = dict(HAND[0], epoch=2, test_loss=float("nan"), test_top1=None)
    d = v.verdict([HAND[0], nan])
    assert d.kind == "diverged" and "18.0%" in d.text and "ten times lower" in d.text
    # test loss up by 0.4 (clear) but the training loss did not fall: not overfitting
    u = v.verdict(_epochs([1.5, 1.2, 1.6], [0.5, 0.6, 0.55], train_loss=[1.4, 1.1, 1.3]), 10, 10_000)
    assert u.kind == "unsteady" and "not overfitting" in u.text


def test_too_few_epochs_for_overfitting():
    r = v.verdict(_epochs([1.5, 1.9], [0.5, 0.52], train_loss=[1.4, 1.0]), 10, 10_000)
    assert r.kind != "overfitting" and "too few to call it overfitting" in r.text


def test_worse_than_guessing_is_at_chance_with_a_warning():
    r = v.verdict(_epochs([3.5, 3.6], [0.1, 0.1]), 10, 10_000)
    assert r.kind == "at_chance" and "worse than guessing" in r.text


def test_test_images_of_a_config():
    assert v.test_images(TrainConfig()) == 10_000
    assert v.test_images(TrainConfig(limit=500)) == 500 and v.test_images(TrainConfig(limit=20_000)) == 10_000
    assert v.test_images(TrainConfig(data="synthetic")) == 1000
    assert v.test_images(TrainConfig(data="synthetic", limit=300)) == 200      # max(300 // 5, 200)
    assert v.test_images(TrainConfig(data="synthetic", limit=5000)) == 1000
    assert v.test_images(TrainConfig(data="/d/CIFAR-10-images")) == 10_000
    assert v.test_images(TrainConfig(data="/d/cifar10-jpeg.npz", limit=800)) == 800
    assert v.test_images(TrainConfig(data="mnist")) == 10_000
    assert v.test_images(TrainConfig(data="/d/flowers", limit=300)) == 300
    assert v.test_images(TrainConfig(data="/d/flowers")) is None
    # a config with a separate test limit (the demos' 500 test images): at most that many
    assert v.test_images(SimpleNamespace(data="cifar10", limit=2000, test_limit=500)) == 500
    assert v.test_images(SimpleNamespace(data="cifar10", limit=300, test_limit=500)) == 300
    assert v.test_images(SimpleNamespace(data="/d/flowers", limit=None, test_limit=400)) == 400


def test_jitter_ignores_a_straight_trend():
    assert v.jitter([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4]) == pytest.approx(0)
    assert v.jitter([1.0, 0.5, 1.0]) == 0.0                      # too few epochs to measure
    wobble = [1 + 0.01 * (-1) ** i for i in range(10)]          # |Δ²| = 0.04 everywhere
    assert v.jitter(wobble) == pytest.approx(1.4826 * 0.04 / math.sqrt(6))


def test_chance_note_uses_the_same_band():
    first = dict(HAND[0], test_loss=2.20, test_top1=0.11)
    assert "still at chance" in tc.chance_note(first, 10, 500)    # within 2.097…2.509 and under 12.7 %
    assert "better than chance" in tc.chance_note(first, 10, 10_000)  # 2.20 < 2.257 on 10,000 images
    assert "12.7%" in tc.chance_note(first, 10, 500)


# --- properties on synthetic curves ---------------------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(n=st.integers(100, 20_000), epochs=st.integers(1, 40), classes=st.sampled_from([2, 10, 100]),
       data=st.data())
def test_within_the_chance_band_is_at_chance_never_overfitting(n, epochs, classes, data):
    band = v.chance_band(classes, n)
    top = st.floats(0.0, band["top1_max"] * 0.999)
    loss = st.floats(band["loss_min"] * 1.001, band["loss_max"] * 3)
    tops = data.draw(st.lists(top, min_size=epochs, max_size=epochs))
    losses = data.draw(st.lists(loss, min_size=epochs, max_size=epochs))
    r = v.verdict(_epochs(losses, tops, train_loss=[5 - 0.1 * i for i in range(epochs)]), classes, n)
    assert r.kind == "at_chance" and r.kind != "overfitting"
    assert not tc.overfitting_summary(_epochs(losses, tops), classes, n)["overfitting"]


def _u_curve(epochs, low_at, low, rise, top1):
    """Test loss falling straight to ``low`` at epoch ``low_at``, then rising straight by ``rise``; the top-1
    constant (clearly above chance); piecewise straight, so the measured jitter is 0."""
    fall = [low + 0.05 * (low_at - e) for e in range(1, low_at + 1)]
    up = [low + rise * (e - low_at) / (epochs - low_at) for e in range(low_at + 1, epochs + 1)]
    return fall + up, [top1] * epochs


@settings(max_examples=150, deadline=None)
@given(n=st.integers(500, 20_000), epochs=st.integers(3, 60), data=st.data(),
       low=st.floats(0.3, 1.5), top1=st.floats(0.3, 0.95), factor=st.floats(1.1, 20))
def test_a_clear_rise_with_the_training_loss_falling_is_overfitting(n, epochs, data, low, top1, factor):
    low_at = data.draw(st.integers(2, epochs - 1))
    threshold = v.Z * v.loss_se(low, n)
    losses, tops = _u_curve(epochs, low_at, low, factor * threshold, top1)
    falling = [2.0 - 1.5 * i / epochs for i in range(epochs)]
    r = v.verdict(_epochs(losses, tops, train_loss=falling), 10, n)
    assert r.kind == "overfitting" and r.numbers["min_loss_epoch"] == low_at
    assert f"lowest at epoch {low_at} ({low:.3f})" in r.text
    # the same curve, the training loss flat after the minimum: never overfitting
    flat = falling[:low_at] + [falling[low_at - 1]] * (epochs - low_at)
    assert v.verdict(_epochs(losses, tops, train_loss=flat), 10, n).kind == "unsteady"


@settings(max_examples=150, deadline=None)
@given(n=st.integers(500, 20_000), epochs=st.integers(3, 60), data=st.data(),
       low=st.floats(0.3, 1.5), top1=st.floats(0.3, 0.95), factor=st.floats(0.0, 0.9))
def test_a_rise_within_the_noise_is_never_overfitting(n, epochs, data, low, top1, factor):
    low_at = data.draw(st.integers(2, epochs - 1))
    losses, tops = _u_curve(epochs, low_at, low, factor * v.Z * v.loss_se(low, n), top1)
    r = v.verdict(_epochs(losses, tops, train_loss=[2.0 - 1.5 * i / epochs for i in range(epochs)]), 10, n)
    assert r.kind in ("plateau", "still_learning") and "not overfitting" in r.text


@settings(max_examples=100, deadline=None)
@given(n=st.integers(500, 20_000), epochs=st.integers(2, 60), start=st.floats(0.2, 0.4), factor=st.floats(1.1, 5))
def test_a_clear_gain_in_the_last_epochs_is_still_learning(n, epochs, start, factor):
    w = min(v.WINDOW, epochs - 1)
    # a straight line (no jitter) whose gain over the last w epochs, w·step, beats 2 standard errors at any p
    step = factor * v.Z * 0.5 / math.sqrt(n) / w
    assume(start + epochs * step < 0.99)
    tops = [start + i * step for i in range(epochs)]
    r = v.verdict(_epochs([1.5 - 0.01 * i for i in range(epochs)], tops), 10, n)
    assert r.kind == "still_learning" and "not converged" in r.text


@settings(max_examples=100, deadline=None)
@given(n=st.integers(500, 20_000), rising=st.integers(1, 20), flat=st.integers(v.WINDOW + 1, 30),
       top1=st.floats(0.3, 0.9), low=st.floats(0.4, 1.5))
def test_flat_last_epochs_are_a_plateau(n, rising, flat, top1, low):
    tops = [top1 - 0.01 * (rising - i) for i in range(rising)] + [top1] * flat
    losses = [low + 0.03 * (rising - i) for i in range(rising)] + [low] * flat
    r = v.verdict(_epochs(losses, tops), 10, n)
    assert r.kind == "plateau" and "stopped improving" in r.text
    assert r.numbers["gain_top1"] == pytest.approx(0) and r.numbers["drop_loss"] == pytest.approx(0)

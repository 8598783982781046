"""One verdict on a run's curves — at chance, still learning, overfitting, plateau (or diverged, unsteady, no
epochs) — used by the Training page and the lab companion alike. Each verdict names the numbers it used.

Pure: the standard library only. Epochs are the dicts of ``RunStore.epochs`` (``epoch``, ``train_loss``,
``train_top1``, ``test_loss``, ``test_top1``; accuracies as fractions, a diverged epoch's values NaN or None).

The rules (why a change counts as "clear"):

- **Chance** for K classes: loss ln K (a uniform guess), top-1 1/K.
- **Noise of the test top-1**: it is a proportion over the n test images, so its binomial standard error is
  √(p(1 − p)/n) — at chance (p = 1/K = 10 %) ±1.34 points on 500 images, ±0.30 on 10,000.
- **Noise of the test loss**: a mean of n per-image cross-entropies, standard error sd/√n. The per-image spread
  is not stored; it is taken equal to the mean loss L (per-image cross-entropies are skewed like an exponential
  distribution, whose sd is its mean: many small losses, a tail of confident mistakes), so the standard error
  is L/√n — ln 10/√500 ≈ 0.103 at chance on 500 images. Near chance the outputs are nearly uniform and the true
  spread is far smaller: the rule over-states the noise there, which errs toward "at chance" and never toward
  "overfitting". Two epochs are measured on the same images (a paired comparison), so this errs the same way.
- **Jitter**: with at least :data:`JITTER_EPOCHS` epochs the curve's own epoch-to-epoch noise is measured too,
  from its second differences (a straight trend cancels; for independent noise of sd σ they have sd √6·σ,
  σ ≈ 1.4826·median|Δ²|/√6), and the larger of the two noises is used — a constant learning rate makes the
  test loss jitter by more than the sampling error.
- **Clear** means more than :data:`Z` = 2 standard errors (about 95 %, two-sided).

The verdicts, checked in this order:

- ``no_epochs``; ``diverged``: the last epoch's test loss or top-1 is not a number.
- ``at_chance``: the last test top-1 is within 2 standard errors of 1/K *and* the test loss is not below ln K
  by more than 2 of its standard errors (above it is "worse than guessing", still no learning).
- ``overfitting``: at least :data:`MIN_EPOCHS` epochs (one to fall, the minimum, one to rise), the last test
  top-1 clearly above chance, the test loss risen from its minimum by more than 2 noises, and the training
  loss lower at the last epoch than at the epoch of that minimum.
- ``unsteady``: the test loss rose by more than 2 noises but the training loss did not fall — not overfitting.
- ``still_learning``: over the last :data:`WINDOW` epochs (fewer in a short run) the best test top-1 rose, or
  the lowest test loss fell, by more than 2 noises compared with the epochs before (a single epoch above
  chance: learning has started).
- ``plateau``: neither — no gain beyond the noise over the last epochs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

Z = 2.0                      # standard errors for a change to count as clear (≈ 95 %, two-sided)
MIN_EPOCHS = 3               # overfitting needs a fall, a minimum and a rise
WINDOW = 3                   # the last epochs that decide "still learning" vs "plateau"
JITTER_EPOCHS = 6            # epochs needed to measure the curve's own jitter (4 second differences)
DEFAULT_TEST_IMAGES = 10_000  # CIFAR-10's test set (the lab's data) when the caller does not say
KINDS = ("no_epochs", "diverged", "at_chance", "overfitting", "unsteady", "still_learning", "plateau")
LABELS = {"no_epochs": "no epoch yet", "diverged": "diverged", "at_chance": "at chance",
          "overfitting": "overfitting", "unsteady": "unsteady", "still_learning": "still learning",
          "plateau": "plateau"}
FULL_TEST = {"cifar10": 10_000, "mnist": 10_000}  # test images of the data sets the engine downloads


def finite(value) -> bool:
    """A real number, not None, NaN or ±inf (a diverged epoch stores NaN, read back as None)."""
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def test_images(cfg) -> int | None:
    """The number of test images a run's config evaluates on (``cfg.data``, ``cfg.limit``, and ``cfg.test_limit``
    where the config has one: at most that many), as cnncalc.train.data.load draws them: CIFAR-10 and MNIST
    10,000 (``limit`` of them when smaller), also for a folder whose name says CIFAR-10; synthetic 1,000, or
    max(limit // 5, 200) with a limit; another folder ``limit`` (an upper bound) or None — unknown."""
    data, limit, cap = str(cfg.data), cfg.limit, getattr(cfg, "test_limit", None)
    if data == "synthetic":
        n = max(limit // 5, 200) if limit else 1000
    else:
        key = data if data in FULL_TEST else Path(data).name.lower().replace("-", "").replace("_", "")
        full = next((n for name, n in FULL_TEST.items() if key == name or key.startswith(name)), None)
        n = (min(limit, full) if limit else full) if full else limit or None
    return min(n, cap) if n and cap else n or cap or None


def top1_se(p: float, n: int) -> float:
    """Binomial standard error of an accuracy p measured on n images: √(p(1 − p)/n)."""
    p = min(max(p, 0.0), 1.0)
    return math.sqrt(p * (1 - p) / max(n, 1))


def loss_se(loss: float, n: int) -> float:
    """Standard error of a mean cross-entropy on n images, the per-image spread taken equal to the mean: L/√n."""
    return max(loss, 0.0) / math.sqrt(max(n, 1))


def jitter(values: list[float]) -> float:
    """A curve's epoch-to-epoch noise from its second differences (robust to a straight trend):
    1.4826·median|x[t+1] − 2x[t] + x[t−1]|/√6; 0 with fewer than :data:`JITTER_EPOCHS` values."""
    if len(values) < JITTER_EPOCHS:
        return 0.0
    d2 = sorted(abs(values[i + 1] - 2 * values[i] + values[i - 1]) for i in range(1, len(values) - 1))
    mid = len(d2) // 2
    median = d2[mid] if len(d2) % 2 else (d2[mid - 1] + d2[mid]) / 2
    return 1.4826 * median / math.sqrt(6)


def chance_band(classes: int, n: int) -> dict[str, float]:
    """Chance for ``classes`` classes and the band around it that ``n`` test images cannot tell from chance:
    top-1 up to 1/K + 2·√(p(1 − p)/n), loss down to ln K − 2·ln K/√n (and up to ln K + 2·ln K/√n)."""
    k = max(int(classes), 2)
    p0, ln = 1 / k, math.log(k)
    se0, lse0 = top1_se(p0, n), loss_se(ln, n)
    return {"chance_top1": p0, "chance_loss": ln, "top1_se_chance": se0, "loss_se_chance": lse0,
            "top1_max": p0 + Z * se0, "loss_min": ln - Z * lse0, "loss_max": ln + Z * lse0}


def at_chance(epoch: dict, classes: int = 10, n_test: int | None = None) -> bool:
    """Is this epoch within the noise of chance (the ``at_chance`` rule of the module docstring)?"""
    band = chance_band(classes, n_test or DEFAULT_TEST_IMAGES)
    return (finite(epoch.get("test_top1")) and finite(epoch.get("test_loss"))
            and epoch["test_top1"] <= band["top1_max"] and epoch["test_loss"] >= band["loss_min"])


@dataclass(frozen=True)
class Verdict:
    kind: str                                   # one of KINDS
    text: str                                   # markdown for the page, with the numbers used
    numbers: dict = field(default_factory=dict, compare=False)  # every number the verdict used, by name

    @property
    def label(self) -> str:
        """The verdict in two or three words, for a table cell: 'overfitting after epoch 12', 'at chance'."""
        if self.kind == "overfitting":
            return f"overfitting after epoch {self.numbers['min_loss_epoch']}"
        return LABELS[self.kind]


def _measure(ok: list[dict], classes: int, n: int) -> dict:
    """The numbers every verdict reads (the epochs with a finite test loss and top-1)."""
    last, losses, tops = ok[-1], [e["test_loss"] for e in ok], [e["test_top1"] for e in ok]
    low = min(ok, key=lambda e: e["test_loss"])
    best = max(ok, key=lambda e: e["test_top1"])
    w = min(WINDOW, len(ok) - 1)
    before, recent = ok[:len(ok) - w], ok[len(ok) - w:]
    gap = lambda a, b: a - b if finite(a) and finite(b) else float("nan")  # noqa: E731
    m = dict(chance_band(classes, n), classes=max(int(classes), 2), n_test=n, epochs=len(ok), z=Z,
             last_epoch=last["epoch"], last_test_loss=last["test_loss"], last_test_top1=last["test_top1"],
             last_train_loss=last.get("train_loss"), min_loss_epoch=low["epoch"], min_test_loss=low["test_loss"],
             train_loss_at_min=low.get("train_loss"), rise=last["test_loss"] - low["test_loss"],
             loss_noise=max(loss_se(low["test_loss"], n), jitter(losses)),
             best_top1=best["test_top1"], best_top1_epoch=best["epoch"], window=w,
             gap_top1=gap(last.get("train_top1"), last["test_top1"]),
             gap_loss=gap(last["test_loss"], last.get("train_loss")))
    if w:
        top_before = max(e["test_top1"] for e in before)
        m.update(gain_top1=max(e["test_top1"] for e in recent) - top_before,
                 drop_loss=min(e["test_loss"] for e in before) - min(e["test_loss"] for e in recent),
                 top1_noise=max(top1_se(top_before, n), jitter(tops)))
    return m


def _kind(m: dict) -> str:
    if m["last_test_top1"] <= m["top1_max"] and m["last_test_loss"] >= m["loss_min"]:
        return "at_chance"
    rose = m["rise"] > Z * m["loss_noise"]
    train_fell = finite(m["last_train_loss"]) and finite(m["train_loss_at_min"]) and \
        m["last_train_loss"] < m["train_loss_at_min"]
    if rose and not train_fell:
        return "unsteady"
    if rose and m["epochs"] >= MIN_EPOCHS and m["last_test_top1"] > m["top1_max"]:
        return "overfitting"
    if not m["window"]:
        return "still_learning"
    if m["gain_top1"] > Z * m["top1_noise"] or m["drop_loss"] > Z * m["loss_noise"]:
        return "still_learning"
    return "plateau"


def verdict(epochs: list[dict], classes: int = 10, n_test: int | None = None) -> Verdict:
    """The verdict on a run's epochs (rules and their sources: the module docstring). ``n_test``: the number of
    test images (:func:`test_images` of the run's config); unknown, CIFAR-10's 10,000 are assumed and the text
    says so."""
    if not epochs:
        return Verdict("no_epochs", "No epoch has finished yet: no verdict.", {})
    n = int(n_test) if n_test else DEFAULT_TEST_IMAGES
    last = epochs[-1]
    if not (finite(last.get("test_loss")) and finite(last.get("test_top1"))):
        return _diverged(epochs, n)
    ok = [e for e in epochs if finite(e.get("test_loss")) and finite(e.get("test_top1"))]
    m = _measure(ok, classes, n)
    m["n_assumed"] = not n_test
    kind = _kind(m)
    return Verdict(kind, _text(kind, m), m)


def _diverged(epochs: list[dict], n: int) -> Verdict:
    last = epochs[-1]
    ok = [e for e in epochs if finite(e.get("test_top1"))]
    best = max(ok, key=lambda e: e["test_top1"]) if ok else None
    text = (f"**Verdict: diverged.** After epoch {last['epoch']} the test loss is not a number: the weights blew "
            "up. Try a learning rate ten times lower.")
    if best:
        text += f" Before that, the best test top-1 was {best['test_top1']:.1%} (epoch {best['epoch']})."
    numbers = {"last_epoch": last["epoch"], "n_test": n}
    if best:
        numbers.update(best_top1=best["test_top1"], best_top1_epoch=best["epoch"])
    return Verdict("diverged", text, numbers)


# --- the verdicts in words --------------------------------------------------------------------------------

def _points(x: float) -> str:
    return f"{round(100 * x, 1) + 0.0:+.1f} points"  # + 0.0: no "−0.0"


def _gaps(m: dict) -> str:
    if not (finite(m["gap_top1"]) and finite(m["gap_loss"])):
        return ""
    return (f" Train − test gap at epoch {m['last_epoch']}: top-1 {_points(m['gap_top1'])}, "
            f"loss {m['gap_loss']:+.3f}.")


def _noise(m: dict, loss_key: str = "loss_noise") -> str:
    images = f"{m['n_test']:,} test images" + (" (assumed: CIFAR-10's test set)" if m["n_assumed"] else "")
    return (f" _Noise on {images}: top-1 ±{100 * m['top1_se_chance']:.1f} points at chance (√(p(1 − p)/n)), "
            f"test loss ±{m[loss_key]:.3f} (loss/√n, or the curve's own jitter if larger); a change is clear "
            f"beyond {Z:g} of them._")


def _minimum(m: dict) -> str:
    """Where the test loss was lowest, and why that is or is not overfitting (for the other verdicts)."""
    if m["min_loss_epoch"] == m["last_epoch"]:
        return (f" The test loss is lowest at the latest epoch, {m['last_epoch']} ({m['min_test_loss']:.3f}): no "
                "sign of overfitting.")
    head = (f" The test loss was lowest at epoch {m['min_loss_epoch']} ({m['min_test_loss']:.3f}) and is "
            f"{m['rise']:+.3f} from there at epoch {m['last_epoch']}")
    if m["rise"] <= Z * m["loss_noise"]:
        return head + f", within its noise ({Z:g} × ±{m['loss_noise']:.3f}): not overfitting."
    if m["epochs"] < MIN_EPOCHS:
        return (head + f", beyond its noise (±{m['loss_noise']:.3f}), but after only {m['epochs']} epochs: too "
                f"few to call it overfitting (it takes {MIN_EPOCHS}: a fall, a minimum, a rise).")
    return (head + f", beyond its noise, but the test top-1 ({m['last_test_top1']:.1%}) is not clearly above "
            f"chance ({m['top1_max']:.1%}): not overfitting.")


def _at_chance_text(m: dict) -> str:
    k = m["classes"]
    text = (f"**Verdict: at chance.** After epoch {m['last_epoch']}: test loss {m['last_test_loss']:.3f} and test "
            f"top-1 {m['last_test_top1']:.1%}, within the noise of a uniform guess (ln {k} ≈ {m['chance_loss']:.3f} "
            f"and {m['chance_top1']:.0%}; on {m['n_test']:,} test images chance reads as top-1 up to "
            f"{m['top1_max']:.1%} and loss down to {m['loss_min']:.3f}): the net has not learned anything "
            "measurable.")
    if m["last_test_loss"] > m["loss_max"]:
        text += (f" The loss is even above ln {k} (beyond {m['loss_max']:.3f}): worse than guessing — "
                 "confidently wrong, often a learning rate too high.")
    if m["best_top1"] > m["top1_max"]:
        text += f" It had reached {m['best_top1']:.1%} at epoch {m['best_top1_epoch']} and fell back."
    else:
        text += " Normal in the first epochs; if it stays there, the learning rate is probably too low (or too high)."
    return text + " No overfitting verdict: that needs a test accuracy clearly above chance."


def _rise_text(m: dict, head: str) -> str:
    return (f"{head} The test loss was lowest at epoch {m['min_loss_epoch']} ({m['min_test_loss']:.3f}) and has "
            f"risen since, to {m['last_test_loss']:.3f} at epoch {m['last_epoch']} ({m['rise']:+.3f}, more than "
            f"{Z:g} × its noise ±{m['loss_noise']:.3f}),")


def _trend_text(kind: str, m: dict) -> str:
    """Still learning or plateau: what the last epochs gained, against the noise."""
    if not m["window"]:
        clear = " and ".join(what for what, yes in (
            (f"test top-1 {m['last_test_top1']:.1%} above chance", m["last_test_top1"] > m["top1_max"]),
            (f"test loss {m['last_test_loss']:.3f} below chance", m["last_test_loss"] < m["loss_min"])) if yes)
        return (f"**Verdict: still learning.** After epoch {m['last_epoch']} the net is clear of chance ({clear}, "
                "beyond the noise); one epoch is too few to see a trend.")
    w = m["window"]
    change = (f"Over the last {w} epoch{'s' if w > 1 else ''} the best test top-1 moved {_points(m['gain_top1'])} "
              f"and the lowest test loss {round(-m['drop_loss'], 3) + 0.0:+.3f}, compared with the epochs before")
    noise = f"{Z:g} × the noise (top-1 ±{100 * m['top1_noise']:.1f} points, loss ±{m['loss_noise']:.3f})"
    if kind == "still_learning":
        return f"**Verdict: still learning.** {change} — more than {noise}: not converged; more epochs should help."
    return f"**Verdict: plateau.** {change} — within {noise}: the run has stopped improving at these settings."


def _text(kind: str, m: dict) -> str:
    """The verdict's markdown: the kind in bold, then the numbers it rests on."""
    if kind == "at_chance":
        return _at_chance_text(m) + _noise(m, "loss_se_chance")
    train = f"({m['train_loss_at_min']:.3f} → {m['last_train_loss']:.3f})"
    if kind == "overfitting":
        text = (_rise_text(m, f"**Verdict: overfitting after epoch {m['min_loss_epoch']}.**") + " while the "
                f"training loss kept falling {train}: after epoch {m['min_loss_epoch']} the net fits the training "
                "images better without generalising better — it overfits.")
    elif kind == "unsteady":
        text = (_rise_text(m, "**Verdict: unsteady — not overfitting.**") + f" but the training loss has not fallen "
                f"{train}: that is not overfitting — the net is not learning steadily (a learning rate too high, or "
                "too few steps yet).")
    else:
        text = _trend_text(kind, m) + _minimum(m)
    best = f" Best test top-1: {m['best_top1']:.1%} (epoch {m['best_top1_epoch']})."
    return text + best + _gaps(m) + _noise(m)

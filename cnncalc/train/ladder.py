"""The lab's ladder side by side: which stored run stands for each step, how it compares with the reference
results, as rows for a table and lines for a chart. Pure: runs in, rows out (the standard library only; the
quoted results come from cnncalc.classroom.train.references).

A *run* here is anything with ``id``, ``name``, ``status``, ``config`` (a TrainConfig) and ``epochs`` (the
dicts of ``RunStore.epochs``) — cnncalc.classroom.companion.runs.RunResult is one.

The rules (issue #11):

- A run stands for a step only if it is the **lab net** (preset ``lab``, no custom spec) on **CIFAR-10** with
  that step's settings (:func:`ladder_step`; epochs, data size and device aside). The shuffled-pixels demo runs
  (a spec of their own, names ``shuffled-pixels: …``) never do.
- Among a step's runs the one shown is the best fit: all of CIFAR-10 (50,000 training, 10,000 test images)
  first, then one that reached the step's epoch count, then the best test top-1 (:func:`step_runs`).
- A run is labelled with its data, epochs and verdict ("2,000 images, 10 epochs: still learning — not
  converged") instead of being passed off as the step's result.
- A run is compared with a measured reference only on all the data and at the same epoch count: its record at
  the largest epoch count of a measurement it reached (:func:`references.comparable`); otherwise it is shown
  as "10 epochs: not comparable". Reference results are shown as quoted, never as computed.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import references as refs
from . import verdicts
from .config import LADDER, TrainConfig

EXPERIMENT = ("preset", "spec", "standardize", "augment", "zca", "optimizer", "momentum", "nesterov",
              "weight_decay", "schedule", "gamma", "dropout", "batchnorm", "lr", "batch_size")
CIFAR10_TRAIN, CIFAR10_TEST = 50_000, 10_000  # CIFAR-10's training and test images: "all the data"
DEMO_PREFIX = "shuffled-pixels:"
STEPS = tuple(LADDER)


def is_cifar10(cfg: TrainConfig) -> bool:
    """CIFAR-10, downloaded or a local copy whose name says so (cifar10, CIFAR-10-images, cifar10-jpeg.npz)."""
    return cfg.data == "cifar10" or "cifar10" in Path(cfg.data).name.lower().replace("-", "")


def lab_net(cfg: TrainConfig) -> bool:
    """The lab's network: preset ``lab`` and no custom spec (the ladder adds dropout and batch norm to it)."""
    return cfg.spec is None and str(cfg.preset).lower() == "lab"


def is_demo(run) -> bool:
    """A classroom demo's run (shuffled pixels: an MLP or a small CNN of its own spec), never the lab net."""
    return str(run.name).startswith(DEMO_PREFIX)


def is_lab_run(run) -> bool:
    """A run of the lab net (not a demo, not a custom spec)."""
    return lab_net(run.config) and not is_demo(run)


def canon(cfg: TrainConfig, without=()) -> tuple:
    """The experiment's settings, with the lab's variants merged: standardization with the sheet's constants
    or with computed statistics; the lab's crop-28 or pad-crop augmentation; gamma only with an exponential
    schedule."""
    d = {k: getattr(cfg, k) for k in EXPERIMENT if k not in without}
    if "preset" in d:
        d["preset"] = str(d["preset"]).lower()
    if "standardize" in d:
        d["standardize"] = d["standardize"] != "none"
    if "augment" in d:
        d["augment"] = d["augment"] != "none"
    if "gamma" in d and cfg.schedule != "exponential":
        d["gamma"] = None
    return tuple(sorted(d.items()))


def ladder_step(cfg: TrainConfig) -> str | None:
    """The step of the lab's ladder a config is (epochs, data and where it ran aside), or None: only the lab
    net, with exactly one step's settings."""
    if not lab_net(cfg):
        return None
    for key, changes in LADDER.items():
        if canon(cfg) == canon(TrainConfig(**{k: v for k, v in changes.items() if k != "epochs"})):
            return key
    return None


def train_images(cfg: TrainConfig) -> int | None:
    """Training images of a CIFAR-10 run: ``limit`` of the 50,000, or all of them; None for other data."""
    if not is_cifar10(cfg):
        return None
    return min(cfg.limit, CIFAR10_TRAIN) if cfg.limit else CIFAR10_TRAIN


def full_data(cfg: TrainConfig) -> bool:
    """All of CIFAR-10: the 50,000 training and the 10,000 test images (the references' data)."""
    return train_images(cfg) == CIFAR10_TRAIN and verdicts.test_images(cfg) == CIFAR10_TEST


def _ok(run) -> list[dict]:
    return [e for e in run.epochs if verdicts.finite(e.get("test_top1")) and verdicts.finite(e.get("test_loss"))]


def _best_top1(run) -> float:
    return max((e["test_top1"] for e in _ok(run)), default=-1.0)


def run_verdict(run) -> verdicts.Verdict:
    """The verdict on a run's curves, on the number of test images its config evaluates on."""
    return verdicts.verdict(list(run.epochs), 10, verdicts.test_images(run.config))


def step_runs(results, step: str) -> list:
    """The lab-net CIFAR-10 runs of ``step`` with a finished epoch, best fit first: all of CIFAR-10, then the
    step's epoch count reached, then the best test top-1."""
    need = LADDER[step]["epochs"]
    found = [r for r in results if is_lab_run(r) and is_cifar10(r.config) and ladder_step(r.config) == step
             and _ok(r)]
    return sorted(found, key=lambda r: (not full_data(r.config), len(_ok(r)) < need, -_best_top1(r), -r.id))


def best_run(results, step: str):
    """The run that stands for ``step`` (:func:`step_runs`' first), or None."""
    found = step_runs(results, step)
    return found[0] if found else None


# --- one run's place on the ladder ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Fit:
    """How a run stands for its step: its data and epochs, its verdict, and what it is compared with."""
    step: str
    run: object
    verdict: verdicts.Verdict
    images: int | None              # training images (None: not CIFAR-10)
    tests: int | None               # test images
    done: int                       # epochs with a finite test result
    reference: refs.Result | None   # the measurement it is compared with (same epoch count), if any
    top1_at: float | None           # the run's test top-1 at the reference's epoch (fraction)
    loss_at: float | None

    @property
    def full(self) -> bool:
        return self.images == CIFAR10_TRAIN and self.tests == CIFAR10_TEST

    @property
    def unfinished(self) -> bool:
        return self.run.status != "done" or len(self.run.epochs) < self.run.config.epochs

    @property
    def label(self) -> str:
        """'2,000 images, 10 epochs: still learning — not converged' / 'all 50,000 images, 12 of 30 epochs
        (interrupted): …'."""
        data = f"all {self.images:,} images" if self.images == CIFAR10_TRAIN else f"{self.images or 0:,} images"
        if self.images == CIFAR10_TRAIN and self.tests != CIFAR10_TEST:
            data += f" ({self.tests or 0:,} test images)"
        planned = self.run.config.epochs
        epochs = (f"{self.done} of {planned} epochs ({self.run.status})" if self.unfinished
                  else f"{self.done} epoch{'s' if self.done != 1 else ''}")
        v = self.verdict
        state = "still learning — not converged" if v.kind == "still_learning" else v.label
        return f"{data}, {epochs}: {state}"

    @property
    def comparable(self) -> str:
        """Whether and where the run is compared with the measured reference, in words."""
        if self.step is None:
            return "not a step of the ladder: not comparable"
        if not self.full:
            if self.images != CIFAR10_TRAIN:
                return f"{self.images or 0:,} images: not comparable (the reference trains on all {CIFAR10_TRAIN:,})"
            return f"{self.tests or 0:,} test images: not comparable (the reference tests on all {CIFAR10_TEST:,})"
        if self.step in refs.MISSING:
            return "no reference measured yet"
        if self.reference is None:
            first = min(r.epochs for r in refs.results(self.step, "measured"))
            return f"{self.done} epochs: not comparable (reference at {first} epochs)"
        if self.top1_at is None:
            return f"no finite result at epoch {self.reference.epochs}"
        return f"compared at epoch {self.reference.epochs}"

    @property
    def comparison(self) -> str:
        """:attr:`comparable` with the two numbers when there are two: 'compared at epoch 30: 71.9 % here,
        72.8 % measured (quoted)'."""
        if self.reference is None or self.top1_at is None or not self.full:
            return self.comparable
        return (f"{self.comparable}: {100 * self.top1_at:.1f} % here, {self.reference.top1:.1f} % measured "
                "(quoted)")


def fit(run, step: str | None = None) -> Fit:
    """A run's place on the ladder (``step``: its own by default, :func:`ladder_step`)."""
    step = step or ladder_step(run.config)
    ok, images = _ok(run), train_images(run.config)
    ref = refs.comparable(step, ok[-1]["epoch"] if ok else 0) if full_data(run.config) and step else None
    at = next((e for e in ok if ref and e["epoch"] == ref.epochs), None)
    return Fit(step, run, run_verdict(run), images, verdicts.test_images(run.config), len(ok), ref,
               at and at["test_top1"], at and at["test_loss"])


@dataclass(frozen=True)
class Row:
    """One step of the ladder: the run that stands for it (if any), how many runs it has, its references."""
    step: str
    fit: Fit | None
    runs: int
    measured: tuple[refs.Result, ...]
    students: refs.Result | None

    @property
    def line(self) -> str:
        """The step's name on the chart: with the run's number when a run stands for it."""
        return f"{self.step} (#{self.fit.run.id})" if self.fit else self.step


def rows(results, steps=None) -> list[Row]:
    """The ladder (or ``steps`` of it, ladder order), one row per step, from the runs in ``results``."""
    out = []
    for step in [s for s in STEPS if steps is None or s in steps]:
        found = step_runs(results, step)
        students = next(iter(refs.results(step, "students")), None)
        out.append(Row(step, fit(found[0], step) if found else None, len(found),
                       tuple(refs.results(step, "measured")), students))
    return out


# --- the table and the chart -------------------------------------------------------------------------------

def _pct(v: float | None) -> float | None:
    return round(100 * v, 1) if verdicts.finite(v) else None


def _shown_reference(row: Row) -> refs.Result | None:
    """The measurement set beside a row: the one it is compared with, else the one at the step's epochs."""
    if row.fit and row.fit.reference:
        return row.fit.reference
    return refs.at(row.step, LADDER[row.step]["epochs"]) or (row.measured[-1] if row.measured else None)


def table(ladder_rows: list[Row]) -> list[dict]:
    """The ladder as table rows: the run that stands for each step (label, verdict), its test top-1 at the
    compared epoch (else at its last epoch), the measured reference and the students' logs (quoted), the
    difference when comparable. Accuracies in %."""
    out = []
    for row in ladder_rows:
        f, ref = row.fit, _shown_reference(row)
        ok = _ok(f.run) if f else []
        compared = f is not None and f.top1_at is not None
        mine = f.top1_at if compared else (ok[-1]["test_top1"] if ok else None)
        out.append({  # the numbers to compare first, the words after (a narrow screen scrolls to them)
            "step": row.step, "your run": f"#{f.run.id}" if f else "—",
            "your test top-1 (%)": _pct(mine),
            "at epoch": (f.reference.epochs if compared else ok[-1]["epoch"]) if f else None,
            "reference, measured (%) — quoted": ref.top1 if ref else None,
            "reference epoch": ref.epochs if ref else None,
            "difference (points)": round(100 * f.top1_at - ref.top1, 1) + 0.0 if compared else None,
            "reference, students' logs (%) — quoted": row.students.top1 if row.students else None,
            "your data, epochs: verdict": f.label if f else "no run yet",
            "comparison": f.comparable if f else ("no reference measured yet" if row.step in refs.MISSING else "—"),
            "lowest test loss": round(min(e["test_loss"] for e in ok), 3) if ok else None,
            "runs of this step": row.runs})
    return out


def lines(ladder_rows: list[Row]) -> dict[str, list[dict]]:
    """The chart's lines: each step's run's epochs, keyed by :attr:`Row.line` (ladder order)."""
    return {row.line: list(row.fit.run.epochs) for row in ladder_rows if row.fit}


def slots(ladder_rows: list[Row]) -> dict[str, int]:
    """Each row's line and its step's place in the ladder (0 for step 1): the chart's colour number."""
    return {row.line: STEPS.index(row.step) for row in ladder_rows}


def points(ladder_rows: list[Row], metric: str = "top-1") -> list[dict]:
    """The measured references as chart points (top-1 as a fraction, or the test loss where quoted), on their
    step's line; each labelled as quoted."""
    out = []
    for row in ladder_rows:
        for r in row.measured:
            value = r.top1 / 100 if metric == "top-1" else r.loss
            if value is not None:
                out.append({"line": row.line, "epoch": r.epochs, "value": value, "label": "quoted: " + r.quoted})
    return out


# --- two steps compared, in words --------------------------------------------------------------------------

def _at(run, epoch: int) -> dict | None:
    return next((e for e in _ok(run) if e["epoch"] == epoch), None)


def runs_sentence(a: Row, b: Row) -> str:
    """The student's runs of two steps compared at the same epoch (the last both reached), with the noise of
    the difference of two accuracies on the test images, √(se_a² + se_b²) (markdown)."""
    missing = [r.step for r in (a, b) if not r.fit]
    if missing:
        return ("To compare your own runs, train " + " and ".join(f"*{s}*" for s in missing) +
                " (all the data, the ladder's epochs) on the Training page.")
    if not (a.fit.full and b.fit.full):
        return (f"Your runs are not both on all of CIFAR-10 ({a.fit.label}; {b.fit.label}): "
                "their numbers are shown, not compared.")
    epoch = min(_ok(a.fit.run)[-1]["epoch"], _ok(b.fit.run)[-1]["epoch"])
    ea, eb = _at(a.fit.run, epoch), _at(b.fit.run, epoch)
    if not (ea and eb):
        return f"Your runs have no finite result at a common epoch ({epoch}): not compared."
    n = verdicts.test_images(a.fit.run.config) or verdicts.DEFAULT_TEST_IMAGES
    ta, tb = ea["test_top1"], eb["test_top1"]
    noise = verdicts.Z * (verdicts.top1_se(ta, n) ** 2 + verdicts.top1_se(tb, n) ** 2) ** 0.5
    d = tb - ta
    short = max(LADDER[a.step]["epochs"], LADDER[b.step]["epochs"]) > epoch
    return (f"Your runs at epoch {epoch}: *{a.step}* (#{a.fit.run.id}) {ta:.1%} → *{b.step}* (#{b.fit.run.id}) "
            f"{tb:.1%}, {100 * d:+.1f} points — {'beyond' if abs(d) > noise else 'within'} the noise "
            f"(±{100 * noise:.1f} points on {n:,} test images)."
            + (" Epoch {} is short of the ladder's length: not converged yet.".format(epoch) if short else ""))


def _common_epoch(a: str, b: str) -> int | None:
    """The epoch count both steps were measured at: the ladder's when they share it, else the largest."""
    ea = {r.epochs for r in refs.results(a, "measured")}
    common = ea & {r.epochs for r in refs.results(b, "measured")}
    same = LADDER[a]["epochs"] if LADDER[a]["epochs"] == LADDER[b]["epochs"] else None
    return same if same in common else max(common, default=None)


def quoted_sentence(a: str, b: str) -> str:
    """The two steps' reference results side by side, as quoted (measured at a common epoch count; the
    students' logs), with the difference of the two quoted numbers; a step without a reference says so and the
    other's results are listed (markdown)."""
    epoch = _common_epoch(a, b)
    sa, sb = (next(iter(refs.results(s, "students")), None) for s in (a, b))
    if any(s in refs.MISSING for s in (a, b)):
        parts = [f"*{s}*: {refs.MISSING[s]}." if s in refs.MISSING else
                 f"*{s}*: " + "; ".join(r.quoted for r in refs.results(s)) + "." for s in (a, b)]
        return "Reference results (quoted, not computed here): " + " ".join(parts)
    parts = []
    if epoch:
        ra, rb = refs.at(a, epoch), refs.at(b, epoch)
        parts.append(f"Measured (JPEG copy, H200) at epoch {epoch}: *{a}* {ra.top1:.1f} % → *{b}* {rb.top1:.1f} % "
                     f"({rb.top1 - ra.top1:+.1f} points between the two quoted numbers).")
    if sa and sb:
        parts.append(f"Students' published logs: {sa.top1:.1f} % → {sb.top1:.1f} % "
                     f"({sb.top1 - sa.top1:+.1f} points).")
    return "Reference results (quoted, not computed here): " + " ".join(parts)


def stability(run, first: int, last: int) -> dict | None:
    """How much a run's test curves move from one epoch to the next over epochs ``first``…``last``: the mean
    |Δ test top-1| (fraction) and |Δ test loss| per epoch and the largest drop of the top-1; None with fewer than
    3 epochs in that range."""
    ep = [e for e in _ok(run) if first <= e["epoch"] <= last]
    if len(ep) < 3:
        return None
    steps = list(zip(ep, ep[1:]))
    return {"first": ep[0]["epoch"], "last": ep[-1]["epoch"],
            "top1": sum(abs(b["test_top1"] - a["test_top1"]) for a, b in steps) / len(steps),
            "loss": sum(abs(b["test_loss"] - a["test_loss"]) for a, b in steps) / len(steps),
            "worst_drop": max(a["test_top1"] - b["test_top1"] for a, b in steps)}


def stability_sentence(a: Row, b: Row) -> str:
    """The two steps' runs compared for steadiness over the second half of the epochs both reached
    (markdown); what to run when a step has no run."""
    missing = [r.step for r in (a, b) if not r.fit]
    if missing:
        return ("Steadiness shows in the curves, which the references do not give: train " +
                " and ".join(f"*{s}*" for s in missing) + " to measure it.")
    epoch = min(_ok(a.fit.run)[-1]["epoch"], _ok(b.fit.run)[-1]["epoch"])
    sa, sb = (stability(r.fit.run, epoch // 2 + 1, epoch) for r in (a, b))
    if not (sa and sb):
        return f"Your runs share only {epoch} epochs: too few to measure how steady the curves are (6 or more)."
    return (f"Over epochs {sa['first']}–{sa['last']} of your runs, the test top-1 moved on average "
            f"{100 * sa['top1']:.2f} points per epoch at *{a.step}* (#{a.fit.run.id}; largest drop "
            f"{100 * max(sa['worst_drop'], 0):.1f} points) and {100 * sb['top1']:.2f} at *{b.step}* (#{b.fit.run.id}; "
            f"largest drop {100 * max(sb['worst_drop'], 0):.1f}); the test loss {sa['loss']:.3f} and "
            f"{sb['loss']:.3f} per epoch.")

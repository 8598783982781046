"""The lab companion's view of the run store: each run's results and verdict, which step of the lab's ladder it
is (the lab net only — cnncalc.train.ladder), and the sweeps (runs that differ in one setting only) found among
them."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ...train import ladder, verdicts
from ...train.config import TrainConfig

# The rules of which run stands for which step live in cnncalc.train.ladder (shared with the Training page).
EXPERIMENT = ladder.EXPERIMENT
is_cifar10 = ladder.is_cifar10
ladder_step = ladder.ladder_step      # the lab net only, with exactly one step's settings
is_lab_run = ladder.is_lab_run        # not a demo (shuffled pixels), not a custom spec
_canon = ladder.canon


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


@dataclass(frozen=True)
class RunResult:
    id: int
    name: str
    status: str
    config: TrainConfig
    epochs: tuple[dict, ...] = field(repr=False)

    @property
    def done_epochs(self) -> int:
        return len(self.epochs)

    @property
    def ok(self) -> list[dict]:
        return [e for e in self.epochs if _finite(e.get("test_top1"))]

    @property
    def best(self) -> dict | None:
        ok = self.ok
        return max(ok, key=lambda e: e["test_top1"]) if ok else None

    @property
    def best_top1(self) -> float | None:
        return self.best["test_top1"] if self.best else None

    @property
    def last(self) -> dict | None:
        return self.epochs[-1] if self.epochs else None

    @property
    def verdict(self) -> verdicts.Verdict:
        """The run's verdict (cnncalc.train.verdicts) on the number of test images its config evaluates on."""
        return ladder.run_verdict(self)

    @property
    def label(self) -> str:
        """Its data, epochs and verdict: '2,000 images, 10 epochs: still learning — not converged' (a CIFAR-10
        run of the lab net; other runs: the data set's name)."""
        if is_cifar10(self.config):
            return ladder.fit(self, ladder_step(self.config)).label
        return f"{self.data}, {self.done_epochs} of {self.config.epochs} epochs: {self.verdict.label}"

    @property
    def data(self) -> str:
        d = self.config.data
        name = d if d in ("cifar10", "mnist", "synthetic") else Path(d).name
        return name + (f" ({self.config.limit:,} per split)" if self.config.limit else "")

    def row(self, **extra) -> dict:
        """One line of a results table (accuracies in %)."""
        best, last = self.best, self.last
        pct = lambda v: round(100 * v, 1) if _finite(v) else None  # noqa: E731
        return {"run": self.id, **extra, "data": self.data, "status": self.status,
                "epochs": f"{self.done_epochs}/{self.config.epochs}",
                "best test top-1 (%)": pct(best["test_top1"]) if best else None,
                "at epoch": best["epoch"] if best else None,
                "final test loss": round(last["test_loss"], 3) if last and _finite(last.get("test_loss")) else None,
                "final train top-1 (%)": pct(last.get("train_top1")) if last else None}


def run_results(store) -> list[RunResult]:
    """Every run of ``store`` (a RunStore) that has at least one epoch, newest first."""
    out = []
    for run in store.list():
        epochs = store.epochs(run.id)
        if epochs:
            out.append(RunResult(run.id, run.name, run.status, run.config, tuple(epochs)))
    return out


def by_step(results: list[RunResult], step: str, cifar_only: bool = True) -> list[RunResult]:
    """The lab-net runs that are ``step`` of the ladder, best fit first (cnncalc.train.ladder.step_runs: all
    50,000 images, then the step's epochs reached, then the best test top-1); with ``cifar_only=False`` the runs
    on other data follow. Demo runs (shuffled pixels) and custom specs are never among them."""
    found = ladder.step_runs(results, step)
    if not cifar_only:
        found += sorted((r for r in results if is_lab_run(r) and not is_cifar10(r.config) and r.best
                         and ladder_step(r.config) == step), key=lambda r: -r.best_top1)
    return found


def best_cifar10(results: list[RunResult], step: str = "1 baseline") -> RunResult | None:
    """The CIFAR-10 run that stands for a ladder step (the baseline: the lab net at its defaults), best fit
    first — a full-data run that reached the step's epochs before a subset or a short run with a higher top-1."""
    return ladder.best_run(results, step)


def lab_runs(results: list[RunResult], first_step: str | None = None) -> list[RunResult]:
    """The lab net's runs (never a demo's), best fit first: CIFAR-10 before other data, the runs of
    ``first_step`` of the ladder first (e.g. the baseline for Part 2's questions), all 50,000 images, finished,
    most epochs, newest."""
    def key(r):
        return (not is_cifar10(r.config), first_step is not None and ladder_step(r.config) != first_step,
                not ladder.full_data(r.config), r.status != "done", -r.done_epochs, -r.id)
    return sorted((r for r in results if is_lab_run(r)), key=key)


def latest_finished(results: list[RunResult]) -> RunResult | None:
    done = [r for r in results if r.status in ("done", "diverged", "cancelled", "interrupted", "failed")]
    return done[0] if done else None


@dataclass(frozen=True)
class Sweep:
    key: str                        # the setting that varies
    common: str                     # what the runs share (a description)
    runs: tuple[RunResult, ...]     # sorted by the value of ``key``

    @property
    def values(self) -> list:
        return [getattr(r.config, self.key) for r in self.runs]


def sweeps(results: list[RunResult], key: str) -> list[Sweep]:
    """Groups of runs that differ only in ``key`` (same data, subset, epochs and every other setting), with at
    least two different values — a sweep over ``key`` found in the store."""
    groups: dict[tuple, list[RunResult]] = {}
    for r in results:
        if not is_lab_run(r) or (r.best is None and r.status != "diverged"):
            continue
        c = r.config
        groups.setdefault((_canon(c, without=(key,)), c.data, c.limit, c.epochs), []).append(r)
    out = []
    for (_, data, limit, epochs), runs in groups.items():
        values = {getattr(r.config, key) for r in runs}
        if len(values) >= 2:
            runs = sorted(runs, key=lambda r: (getattr(r.config, key), -(r.best_top1 or 0)))
            common = f"{runs[0].data}, {epochs} epochs"
            out.append(Sweep(key, common, tuple(runs)))
    return out

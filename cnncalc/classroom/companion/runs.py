"""The lab companion's view of the run store: each run's results, which step of the lab's ladder it is, and the
sweeps (runs that differ in one setting only) found among them."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ...train.config import LADDER, TrainConfig

EXPERIMENT = ("preset", "spec", "standardize", "augment", "zca", "optimizer", "momentum", "nesterov",
              "weight_decay", "schedule", "gamma", "dropout", "batchnorm", "lr", "batch_size")


def is_cifar10(cfg: TrainConfig) -> bool:
    return cfg.data == "cifar10" or "cifar10" in Path(cfg.data).name.lower().replace("-", "")


def _canon(cfg: TrainConfig, without=()) -> tuple:
    """The experiment's settings, with the lab's variants merged: standardization with the sheet's constants
    or with computed statistics; the lab's crop-28 or pad-crop augmentation; gamma only with an exponential
    schedule."""
    d = {k: getattr(cfg, k) for k in EXPERIMENT if k not in without}
    if "standardize" in d:
        d["standardize"] = d["standardize"] != "none"
    if "augment" in d:
        d["augment"] = d["augment"] != "none"
    if "gamma" in d and cfg.schedule != "exponential":
        d["gamma"] = None
    return tuple(sorted(d.items()))


def ladder_step(cfg: TrainConfig) -> str | None:
    """The step of the lab's ladder a config is (epochs, data and where it ran aside), or None."""
    for key, changes in LADDER.items():
        if _canon(cfg) == _canon(TrainConfig(**{k: v for k, v in changes.items() if k != "epochs"})):
            return key
    return None


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
    """The runs that are ``step`` of the ladder, best test top-1 first."""
    found = [r for r in results
             if ladder_step(r.config) == step and r.best and (is_cifar10(r.config) or not cifar_only)]
    return sorted(found, key=lambda r: -r.best_top1)


def best_cifar10(results: list[RunResult], step: str = "1 baseline") -> RunResult | None:
    """The best CIFAR-10 run of a ladder step (the baseline: the lab net at its defaults)."""
    found = by_step(results, step)
    return found[0] if found else None


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
        if r.best is None and r.status != "diverged":
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

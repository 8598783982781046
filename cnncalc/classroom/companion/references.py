"""Reference results: quoted, never computed. Results obtained elsewhere (the lab students' published logs and a
measurement on the shared JPEG copy of CIFAR-10), kept as data with their source and always shown as such —
never as computed by the app."""
from __future__ import annotations

from dataclasses import dataclass

@dataclass(frozen=True)
class Reference:
    students: float                     # test top-1 (%) in the lab students' published logs
    measured: float                     # test top-1 (%) measured on the shared JPEG copy of CIFAR-10
    students_loss: float | None = None  # test loss, when quoted
    measured_loss: float | None = None
    note: str = ""


REFERENCE_SOURCE = ("Reference results — not computed by this app: test top-1 of the lab's network on CIFAR-10 "
                    "(batch 128, lr 0.1) from the lab students' published logs, and as measured on the shared JPEG "
                    "copy of CIFAR-10 on one H200 (project notes: shared/ANCHORS.md, shared/data/README.md).")
REFERENCE: dict[str, Reference] = {  # keyed by the ladder's steps (cnncalc.train.config.LADDER)
    "1 baseline": Reference(72.6, 72.9, note="the test loss is U-shaped, lowest near epoch 10"),
    "2 + standardization": Reference(74.3, 75.5),
    "3 + random crop 28 + flip": Reference(80.1, 78.7, note="measured: 78.7 % at the end, best 80.1 %"),
    "4 + momentum 0.9 + ExponentialLR 0.95": Reference(
        79.5, 77.0, note="momentum 0.9 at lr 0.1 without a schedule or batch norm stalls near 45–50 %"),
    "6 + batch norm": Reference(84.3, 83.7, 0.49, 0.54, note="measured over 100 epochs"),
}

"""Receptive field, jump and start of one unit, per axis, in input pixels.

Convention (Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks",
Distill 2019; Dumoulin & Visin 2016): input pixel centres sit at 0, 1, 2, …; for layer ℓ,

* ``rf``    — how many input pixels one unit sees:   rf_ℓ = rf_ℓ₋₁ + d·(k − 1)·jump_ℓ₋₁
* ``jump``  — input pixels between neighbouring units: jump_ℓ = jump_ℓ₋₁ · s
* ``start`` — centre of unit 0's field, input coords:  start_ℓ = start_ℓ₋₁ + (d·(k − 1)/2 − p_before)·jump_ℓ₋₁

Unit j of layer ℓ sees the input interval  start + j·jump ± (rf − 1)/2  (clipped to the image; the
part outside is padding). A negative ``start`` means unit 0 is centred inside the top/left padding.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from .parse import as_hw


@dataclass(frozen=True)
class Field:
    """Receptive field along one axis."""

    rf: int = 1
    jump: int = 1
    start: float = 0.0

    def interval(self, unit: int) -> tuple[float, float]:
        """First and last input pixel (centres, unclipped) seen by ``unit``."""
        centre = self.start + unit * self.jump
        half = (self.rf - 1) / 2
        return centre - half, centre + half


def step(field: Field, k: int, s: int, before: int, d: int = 1) -> Field:
    """The field after a window layer (conv or pool) with kernel k, stride s, padding before, dilation d."""
    return Field(
        rf=field.rf + d * (k - 1) * field.jump,
        jump=field.jump * s,
        start=field.start + (d * (k - 1) / 2 - before) * field.jump,
    )


def formulas(field: Field, k: int, s: int, before: int, d: int, new: Field) -> dict[str, str]:
    """The three update rules with this layer's values substituted."""
    dk = f"{k} − 1" if d == 1 else f"{d}·({k} − 1)"
    dk_paren = f"({k} − 1)" if d == 1 else f"{d}·({k} − 1)"
    return {
        "rf": f"{field.rf} + {dk_paren}·{field.jump} = {new.rf}",
        "jump": f"{field.jump}·{s} = {new.jump}",
        "start": f"{number_text(field.start)} + (({dk})/2 − {before})·{field.jump} = {number_text(new.start)}",
    }


def number_text(x: float) -> str:
    """Every digit of a field coordinate: 3.5, 499999.5, 1001001 — never 5e+05 (``:g`` keeps 6 digits)."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


# --- the input pixels one unit sees ---------------------------------------------------------------

Box = tuple[int, int, int, int]
"""(top, left, bottom, right), inclusive, in input pixels."""


class FieldBox(NamedTuple):
    """The input pixels a unit sees: ``unclipped`` may reach into padding (negative, or past the image);
    ``clipped`` is the part inside the image (None when the whole field lies in padding)."""

    unclipped: Box
    clipped: Box | None

    @property
    def centre(self) -> tuple[float, float]:
        t, l, b, r = self.unclipped
        return (t + b) / 2, (l + r) / 2

    @property
    def size(self) -> tuple[int, int]:
        t, l, b, r = self.unclipped
        return b - t + 1, r - l + 1


def _check(report, i: int, j: int) -> None:
    if report.rf is None or "rf" in report.unavailable:
        raise ValueError(f"{report.name}: receptive field unavailable"
                         + (f" ({report.message})" if report.message else ""))
    shape = report.out_shape
    if shape is None or len(shape) != 3:
        raise ValueError(f"{report.name} is not a spatial layer (output {shape}): it has no units (i, j)")
    _, oh, ow = shape
    if not (0 <= i < oh and 0 <= j < ow):
        raise ValueError(f"unit ({i}, {j}) is outside {report.name}'s {oh}×{ow} output: "
                         f"i must be 0…{oh - 1}, j 0…{ow - 1}")


def field_box(report, i: int, j: int, image_size=None) -> FieldBox:
    """Rows and columns of input pixels seen by unit (i, j) of the layer in ``report`` (a LayerReport).

    ``image_size`` is (H, W), (C, H, W) or N, the size the report was analyzed at; it is needed to clip the
    bottom/right side. Without it only the top/left side is clipped (at pixel 0).
    """
    _check(report, i, j)
    bounds = []
    for unit, rf, jump, start in zip((i, j), report.rf, report.jump, report.start):
        centre = start + unit * jump
        half = (rf - 1) / 2
        bounds.append((int(round(centre - half)), int(round(centre + half))))
    (t, b), (l, r) = bounds
    size = as_hw(image_size)
    h, w = size if size is not None else (None, None)
    ct, cl = max(t, 0), max(l, 0)
    cb = b if h is None else min(b, h - 1)
    cr = r if w is None else min(r, w - 1)
    clipped = (ct, cl, cb, cr) if ct <= cb and cl <= cr else None
    return FieldBox((t, l, b, r), clipped)

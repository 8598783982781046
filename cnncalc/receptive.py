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


"""Receptive field, jump and start of one unit, per axis, in input pixels — exact fractions.

Convention (Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks",
Distill 2019; Dumoulin & Visin 2016): input pixel centres sit at 0, 1, 2, …; for layer ℓ,

* ``rf``    — how many input pixels one unit sees:   rf_ℓ = rf_ℓ₋₁ + d·(k − 1)·jump_ℓ₋₁
* ``jump``  — input pixels between neighbouring units: jump_ℓ = jump_ℓ₋₁ · s
* ``start`` — centre of unit 0's field, input coords:  start_ℓ = start_ℓ₋₁ + (d·(k − 1)/2 − p_before)·jump_ℓ₋₁

Unit j of layer ℓ sees the input interval  start + j·jump ± (rf − 1)/2  (clipped to the image; the
part outside is padding). A negative ``start`` means unit 0 is centred inside the top/left padding. The
size counts positions of the *padded* tensor: with ``padding_mode='circular'`` the positions left of 0 are
the last rows of the input (the field wraps to the far side), with reflect/replicate they repeat rows near
the edge — the formulas are the same, only which pixel a padded position holds changes.

**Transposed convolution** (:func:`step_transposed`, Dumoulin & Visin §4): the input dilated by s − 1 zeros,
padded by d·(k − 1) − p, then a stride-1 convolution. Neighbouring output units are 1/s input pixels
apart, so jump_ℓ = jump_ℓ₋₁ / s, rf_ℓ = rf_ℓ₋₁ + d·(k − 1)·jump_ℓ, start_ℓ = start_ℓ₋₁ + (p − d·(k − 1)/2)·jump_ℓ.
Output unit o reads input i (one layer) exactly when i lies in start + o·jump ± (rf − 1)/2, i.e. when
o = i·s − p + j·d for a tap j. The field may be fractional (k = 4, s = 2: 1 + 3/2 = 5/2): it spans 3/2 input
pixels, so a unit reads 1 or 2 of them. **Upsampling** by an integer F: nearest is the transposed
convolution k = F, s = F, p = 0 (each unit reads pixel ⌊o/F⌋); bilinear (align_corners=False) reads the two
neighbours of (o + ½)/F − ½, the transposed convolution k = 2F − F mod 2, s = F, p = ⌈(F − 1)/2⌉ (its
field; at the border PyTorch repeats the edge pixel where that convolution would read padding). For one
such layer the interval is exact (the gradient test in tests/test_transposed.py); after a fractional jump, a
later window's ends may fall between the copies a nearest upsampling makes, so there it is a bound: every
pixel read lies inside, the ends may not be read (dilation leaves holes inside, as for a conv).

Every value is a :class:`fractions.Fraction` (:class:`Exact`), so no digit is lost past 2⁵³; ``rf`` and
``jump`` of a report are plain ints whenever they are whole.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

from .parse import as_hw


class Exact(Fraction):
    """A Fraction that numpy reads as a float (``start + jump·np.arange(n)`` stays a float array) and that
    answers ``is_integer()`` like a float does."""

    def __array__(self, dtype=None, copy=None):
        import numpy as np  # only ever called by numpy, so the core never imports it
        return np.asarray(float(self), dtype=dtype)

    def is_integer(self) -> bool:
        return self.denominator == 1

    def __repr__(self) -> str:
        return f"Exact({number_text(self)})"


def exact(x) -> Exact:
    """``x`` (int, Fraction, float — a float exactly as stored) as an :class:`Exact`."""
    return x if isinstance(x, Exact) else Exact(x)


def whole_or_exact(x) -> int | Exact:
    """An int when ``x`` is whole, else the exact fraction (a report's rf and jump)."""
    x = Fraction(x)
    return int(x) if x.denominator == 1 else Exact(x)


@dataclass(frozen=True)
class Field:
    """Receptive field along one axis (all three exact: ints or fractions)."""

    rf: Fraction = Fraction(1)
    jump: Fraction = Fraction(1)
    start: Fraction = Fraction(0)
    bound: bool = False  # the interval covers the pixels read but may hold some a unit does not read: after a
                         # transposed conv or upsampling fed by more than single pixels (see the module's docstring)

    def __post_init__(self):
        for key in ("rf", "jump", "start"):
            object.__setattr__(self, key, exact(getattr(self, key)))

    def interval(self, unit: int) -> tuple[Fraction, Fraction]:
        """First and last input coordinate (unclipped) of ``unit``'s field: pixels read lie between them."""
        centre = self.start + unit * self.jump
        half = (self.rf - 1) / 2
        return centre - half, centre + half


def step(field: Field, k: int, s: int, before: int, d: int = 1) -> Field:
    """The field after a window layer (conv or pool) with kernel k, stride s, padding before, dilation d."""
    return Field(
        rf=field.rf + d * (k - 1) * field.jump,
        jump=field.jump * s,
        start=field.start + (Fraction(d * (k - 1), 2) - before) * field.jump,
        bound=field.bound,
    )


def step_transposed(field: Field, k: int, s: int, p: int, d: int = 1) -> Field:
    """The field after a transposed convolution (kernel k, stride s, padding p, dilation d): see above."""
    jump = field.jump / s
    # exact only on single pixels: fed by wider fields, neighbouring outputs read the same inputs (k = s = 2:
    # outputs 2u and 2u + 1 both read unit u), which no (rf, jump, start) can say — the interval covers them
    exact_here = field.rf == 1 and field.jump == 1 and not field.bound
    return Field(rf=field.rf + d * (k - 1) * jump, jump=jump,
                 start=field.start + (p - Fraction(d * (k - 1), 2)) * jump, bound=not exact_here)


def upsample_kernel(factor: int, mode: str) -> tuple[int, int, int]:
    """(k, s, p) of the transposed convolution whose field is that of an integer upsampling by ``factor``."""
    if mode == "nearest":
        return factor, factor, 0
    return 2 * factor - factor % 2, factor, factor // 2


def formulas(field: Field, k: int, s: int, before: int, d: int, new: Field) -> dict[str, str]:
    """The three update rules with this layer's values substituted."""
    dk = f"{k} − 1" if d == 1 else f"{d}·({k} − 1)"
    dk_paren = f"({k} − 1)" if d == 1 else f"{d}·({k} − 1)"
    j = number_text(field.jump)
    return {
        "rf": f"{number_text(field.rf)} + {dk_paren}·{j} = {number_text(new.rf)}",
        "jump": f"{j}·{s} = {number_text(new.jump)}",
        "start": f"{number_text(field.start)} + (({dk})/2 − {before})·{j} = {number_text(new.start)}",
    }


def formulas_transposed(field: Field, k: int, s: int, p: int, d: int, new: Field) -> dict[str, str]:
    """The transposed rules (jump divides by s) with this layer's values substituted."""
    dk = f"{k} − 1" if d == 1 else f"{d}·({k} − 1)"
    dk_paren = f"({k} − 1)" if d == 1 else f"{d}·({k} − 1)"
    j, nj = number_text(field.jump), number_text(new.jump)
    return {
        "rf": f"{number_text(field.rf)} + {dk_paren}·{nj} = {number_text(new.rf)}",
        "jump": f"{j}/{s} = {nj}",
        "start": f"{number_text(field.start)} + ({p} − ({dk})/2)·{nj} = {number_text(new.start)}",
    }


def number_text(x) -> str:
    """Every digit of a field coordinate: 3.5, -0.5, 499999.5, 1001001, 2⁶⁰ + ½ exactly — never 5e+05. A
    fraction with a finite decimal is written as that decimal; any other (a third, after a transposed
    convolution of stride 3) as p/q."""
    if isinstance(x, float):
        return str(int(x)) if x.is_integer() else repr(x)
    q = Fraction(x)
    if q.denominator == 1:
        return str(q.numerator)
    den, twos, fives = q.denominator, 0, 0
    while den % 2 == 0:
        den, twos = den // 2, twos + 1
    while den % 5 == 0:
        den, fives = den // 5, fives + 1
    if den != 1:
        return f"{q.numerator}/{q.denominator}"
    places = max(twos, fives)
    scaled = abs(q.numerator) * (10 ** places // q.denominator)
    sign = "-" if q < 0 else ""
    return f"{sign}{scaled // 10 ** places}.{scaled % 10 ** places:0{places}d}"


def json_number(x):
    """A field value for JSON: an int when whole, a float when the float is exact, else its exact text."""
    q = Fraction(x)
    if q.denominator == 1:
        return q.numerator
    if abs(q) < 2 ** 1000 and Fraction(float(q)) == q:
        return float(q)
    return number_text(q)


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
        lo, hi = Field(rf, jump, start).interval(unit)
        bounds.append((math.ceil(lo), math.floor(hi)))  # the pixels inside (whole bounds but for convT)
    (t, b), (l, r) = bounds
    size = as_hw(image_size)
    h, w = size if size is not None else (None, None)
    ct, cl = max(t, 0), max(l, 0)
    cb = b if h is None else min(b, h - 1)
    cr = r if w is None else min(r, w - 1)
    clipped = (ct, cl, cb, cr) if ct <= cb and cl <= cr else None
    return FieldBox((t, l, b, r), clipped)

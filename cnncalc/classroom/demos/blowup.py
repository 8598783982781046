"""4. The parameter blow-up: fully-connected vs locally-connected vs shared weights, from
:func:`cnncalc.analyze` of a 'same' convolution."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ...analyze import analyze

@dataclass(frozen=True)
class BlowUp:
    shape: tuple[int, int, int]  # C, H, W
    kernel: int
    fc: int                      # weights, biases not included (each would add one per output: C·H·W)
    locally_connected: int
    shared: int
    biases: int                  # C·H·W: what biases would add to FC and locally-connected (C to shared)
    formulas: dict

    def bytes(self, key: str) -> int:
        """float32 storage of the weights."""
        return 4 * getattr(self, key)


def blow_up(h: int = 1000, w: int = 1000, c: int = 1, kernel: int = 10) -> BlowUp:
    """A layer mapping an H×W×C image to an output of the same size, three ways — weights only (bias=0):
    fully connected (C·H·W)², locally connected H·W·C·(C·k·k) (a k×k window per output, nothing shared),
    shared k×k kernels C·C·k·k — via :func:`cnncalc.analyze` of ``conv C k=k p=same bias=0``."""
    r = analyze(f"conv {c} k={kernel} p=same bias=0", (c, h, w))[0]
    if r.status == "error":
        raise ValueError(r.message)
    f = r.formulas
    return BlowUp((c, h, w), kernel, r.fc_equivalent, r.locally_connected, r.weights, c * h * w,
                  {"fc": f["fc_equivalent"], "locally_connected": f["locally_connected"], "shared": f["weights"]})


def human(n: float) -> str:
    """10^12 → '10¹²'-style powers of ten for round numbers, else 1.2·10⁹; below 1000 the plain number (81,
    9, 2.5 — not 9.0·10⁰); bytes as kB…TB via :func:`size`."""
    if n <= 0:
        return "0"
    if n < 1000:
        return f"{n:,.0f}" if float(n).is_integer() else f"{n:.3g}"
    e = int(math.floor(math.log10(n)))
    m = n / 10 ** e
    sup = str(e).translate(str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻"))
    return f"10{sup}" if abs(m - 1) < 1e-9 else f"{m:.1f}·10{sup}"


def size(nbytes: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if nbytes < 1000 or unit == "PB":
            return f"{nbytes:,.0f} {unit}" if unit == "B" else f"{nbytes:,.1f} {unit}"
        nbytes /= 1000
    return ""

"""Output size along one axis, with the formula substituted and the rows the layer never reads.

Formulas (PyTorch ``Conv2d`` / ``MaxPool2d`` docs; Dumoulin & Visin, "A guide to convolution
arithmetic", 2016, relationship 6 with dilation):

* convolution:  o = ⌊(n + p_before + p_after − d·(k − 1) − 1) / s⌋ + 1
* pooling:      o = ⌊(n + 2p − d·(k − 1) − 1) / s⌋ + 1, or with ``ceil_mode`` the ceiling, minus one
  when that last window would start inside the right padding: if (o − 1)·s ≥ n + p then o −= 1.
"""
from __future__ import annotations

from dataclasses import dataclass

MAX_SCAN = 2_000_000  # window·kernel positions scanned to list unread rows exactly; beyond, tail only


@dataclass(frozen=True)
class Axis:
    """One axis of one layer: size in, size out, and what the windows never touch."""

    size: int
    formula: str
    unread: tuple[int, ...] = ()   # 0-based input rows (or cols) that no window reads
    ceil_dropped: bool = False     # ceil_mode's last window removed because it began in the padding


def _sub(n: int, before: int, after: int) -> str:
    if before == after:
        return f"{n} + 2·{before}" if before else f"{n}"
    return f"{n} + {before} + {after}"


def _eff(k: int, d: int) -> str:
    return f"{k}" if d == 1 else f"{d}·({k} − 1) − 1"


def _unread(n: int, out: int, k: int, s: int, before: int, d: int) -> tuple[int, ...]:
    """Input indices in [0, n) never covered by any window tap (padding excluded)."""
    if out <= 0:
        return tuple(range(n))
    last = (out - 1) * s + d * (k - 1) - before  # last input index any window reaches
    if d == 1 and s <= k:  # windows touch or overlap: the read rows are one interval, only a tail is lost
        return tuple(range(max(last + 1, 0), n))
    if out * k <= MAX_SCAN:
        read = {i * s + j * d - before for i in range(out) for j in range(k)}
        return tuple(x for x in range(n) if x not in read)
    return tuple(range(max(last + 1, 0), n))


def conv_axis(n: int, k: int, s: int, before: int, after: int, d: int = 1) -> Axis:
    num = n + before + after - d * (k - 1) - 1
    out = num // s + 1
    formula = f"⌊({_sub(n, before, after)} − {_eff(k, d)})/{s}⌋ + 1 = {out}"
    return Axis(out, formula, _unread(n, out, k, s, before, d))


def pool_axis(n: int, k: int, s: int, p: int, d: int = 1, ceil_mode: bool = False) -> Axis:
    num = n + 2 * p - d * (k - 1) - 1
    if not ceil_mode:
        out = num // s + 1
        formula = f"⌊({_sub(n, p, p)} − {_eff(k, d)})/{s}⌋ + 1 = {out}"
        return Axis(out, formula, _unread(n, out, k, s, p, d))
    out = -(-num // s) + 1
    dropped = out > 0 and (out - 1) * s >= n + p
    formula = f"⌈({_sub(n, p, p)} − {_eff(k, d)})/{s}⌉ + 1 = {out}"
    if dropped:
        out -= 1
        formula += f"; the last window would start in the padding ({out}·{s} ≥ {n} + {p}), so {out}"
    return Axis(out, formula, _unread(n, out, k, s, p, d), dropped)


def describe_unread(rows: tuple[int, ...], axis: str, n: int) -> str:
    """'the last 1 row (31) is never read' / 'rows 1, 3, 5 … are never read'."""
    noun = "row" if axis == "H" else "column"
    if not rows:
        return ""
    tail = rows == tuple(range(n - len(rows), n))
    shown = ", ".join(map(str, rows[:6])) + (" …" if len(rows) > 6 else "")
    plural = noun + ("s" if len(rows) > 1 else "")
    if tail:
        return f"the last {len(rows)} input {plural} ({shown}) never read along {axis}"
    return f"{len(rows)} input {plural} ({shown}) never read along {axis}"

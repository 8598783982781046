"""Output size along one axis, with the formula substituted and the rows the layer never reads.

Formulas (PyTorch ``Conv2d`` / ``MaxPool2d`` docs; Dumoulin & Visin, "A guide to convolution
arithmetic", 2016, relationship 6 with dilation):

* convolution:  o = ⌊(n + p_before + p_after − d·(k − 1) − 1) / s⌋ + 1
* pooling:      o = ⌊(n + 2p − d·(k − 1) − 1) / s⌋ + 1, or with ``ceil_mode`` the ceiling, minus one
  when that last window would start inside the right padding: if (o − 1)·s ≥ n + p then o −= 1.
"""
from __future__ import annotations

from dataclasses import dataclass

LISTED = 64          # unread rows listed by index (all of them are counted)
MAX_TAP_LOOP = 65_536  # kernel taps scanned one strided slice at a time; beyond, only the tail is checked


@dataclass(frozen=True)
class Axis:
    """One axis of one layer: size in, size out, and what the windows never touch."""

    size: int
    formula: str
    unread: tuple[int, ...] = ()   # the first LISTED 0-based input rows (or cols) that no window reads
    ceil_dropped: bool = False     # ceil_mode's last window removed because it began in the padding
    unread_count: int = 0          # how many input rows no window reads


def _sub(n: int, before: int, after: int) -> str:
    if before == after:
        return f"{n} + 2·{before}" if before else f"{n}"
    return f"{n} + {before} + {after}"


def _eff(k: int, d: int) -> str:
    return f"{k}" if d == 1 else f"{d}·({k} − 1) − 1"


def _unread(n: int, out: int, k: int, s: int, before: int, d: int) -> tuple[int, tuple[int, ...]]:
    """(count, first LISTED) of input rows in [0, n) that no tap i·s + j·d − before reads (0 ≤ i < out,
    0 ≤ j < k): padding excluded. Exact; only a dilated kernel of more than MAX_TAP_LOOP taps is checked
    at the tail alone."""
    if out <= 0:
        return n, tuple(range(min(n, LISTED)))
    last = (out - 1) * s + d * (k - 1) - before  # last input row any window reaches
    if (d == 1 and s <= k) or (d > 1 and k > MAX_TAP_LOOP):
        # windows touch or overlap: the rows read form one interval from row 0, only a tail is lost
        first = max(last + 1, 0)
        return max(n - first, 0), tuple(range(first, min(n, first + LISTED)))
    read = bytearray(n)  # pure Python (no numpy import): strided slice assignment runs at C speed
    for j in range(k):  # tap j of every window: one strided slice of rows
        offset = j * d - before
        i_lo = max(0, -(offset // s) if offset < 0 else 0)
        while i_lo * s + offset < 0:
            i_lo += 1
        i_hi = min(out - 1, (n - 1 - offset) // s)
        if i_hi >= i_lo:
            read[i_lo * s + offset: i_hi * s + offset + 1: s] = b"\x01" * (i_hi - i_lo + 1)
    listed, at = [], read.find(0)
    while at != -1 and len(listed) < LISTED:
        listed.append(at)
        at = read.find(0, at + 1)
    return read.count(0), tuple(listed)


def conv_axis(n: int, k: int, s: int, before: int, after: int, d: int = 1) -> Axis:
    num = n + before + after - d * (k - 1) - 1
    out = num // s + 1
    formula = f"⌊({_sub(n, before, after)} − {_eff(k, d)})/{s}⌋ + 1 = {out}"
    count, rows = _unread(n, out, k, s, before, d)
    return Axis(out, formula, rows, unread_count=count)


def pool_axis(n: int, k: int, s: int, p: int, d: int = 1, ceil_mode: bool = False) -> Axis:
    num = n + 2 * p - d * (k - 1) - 1
    if not ceil_mode:
        out = num // s + 1
        formula = f"⌊({_sub(n, p, p)} − {_eff(k, d)})/{s}⌋ + 1 = {out}"
        count, rows = _unread(n, out, k, s, p, d)
        return Axis(out, formula, rows, unread_count=count)
    out = -(-num // s) + 1
    dropped = out > 0 and (out - 1) * s >= n + p
    formula = f"⌈({_sub(n, p, p)} − {_eff(k, d)})/{s}⌉ + 1 = {out}"
    if dropped:
        out -= 1
        formula += f"; the last window would start in the padding ({out}·{s} ≥ {n} + {p}), so {out}"
    count, rows = _unread(n, out, k, s, p, d)
    return Axis(out, formula, rows, dropped, count)


def describe_unread(ax: Axis, axis: str, n: int) -> str:
    """'the last 1 input row (31) never read along H' / '14 input rows (1, 3, 5 …) never read along W'."""
    noun = "row" if axis == "H" else "column"
    rows, count = ax.unread, ax.unread_count
    if not count:
        return ""
    tail = rows[0] == n - count
    shown = ", ".join(map(str, rows[:6])) + (" …" if count > 6 else "")
    plural = noun + ("s" if count > 1 else "")
    if tail:
        return f"the last {count:,} input {plural} ({shown}) never read along {axis}"
    return f"{count:,} input {plural} ({shown}) never read along {axis}"

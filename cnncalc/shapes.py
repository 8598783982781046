"""Output size along one axis, with the formula substituted and the rows the layer never reads.

Formulas (PyTorch ``Conv2d`` / ``MaxPool2d`` docs; Dumoulin & Visin, "A guide to convolution
arithmetic", 2016, relationship 6 with dilation):

* convolution:  o = ⌊(n + p_before + p_after − d·(k − 1) − 1) / s⌋ + 1
* pooling:      o = ⌊(n + 2p − d·(k − 1) − 1) / s⌋ + 1, or with ``ceil_mode`` the ceiling, minus one
  when that last window would start inside the right padding: if (o − 1)·s ≥ n + p then o −= 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

LISTED = 64          # unread rows listed by index (all of them are counted)


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


def _mark(read: bytearray, start: int, step: int, count: int) -> None:
    """Set read[start + m·step] for 0 ≤ m < count, clipped to the buffer: one strided slice (C speed)."""
    m_lo = max(0, -(start // step)) if start < 0 else 0
    m_hi = min(count - 1, (len(read) - 1 - start) // step)
    if m_hi >= m_lo:
        read[start + m_lo * step: start + m_hi * step + 1: step] = b"\x01" * (m_hi - m_lo + 1)


def _read_mask(n: int, out: int, k: int, s: int, before: int, d: int) -> bytearray:
    """1 for each input row in [0, n) that some tap i·s + j·d − before reads (0 ≤ i < out, 0 ≤ j < k).

    Exact in O(n) byte writes and few Python steps for any k, s, d. The taps read the sums i·s + j·d. Split
    the taps j by residue j mod s' (s' = s/gcd(s, d)): taps of one class read rows of one class mod s, and
    consecutive taps of a class start lcm(s, d) apart. When the windows span at least that (out·s ≥ lcm), a
    class reads one unbroken progression of step s, so min(k, s') strided slices mark everything. Otherwise
    mark by window (out slices) or by tap (k slices), whichever is fewer — then out < d, so either way the
    writes stay O(n)."""
    read = bytearray(n)  # pure Python (no numpy import)
    classes = s // math.gcd(s, d)
    if out * s >= classes * d and min(k, classes) < out:
        for j0 in range(min(k, classes)):
            last_j = j0 + (k - 1 - j0) // classes * classes
            _mark(read, j0 * d - before, s, ((last_j - j0) * d + (out - 1) * s) // s + 1)
    elif out <= k:
        for i in range(out):
            _mark(read, i * s - before, d, k)
    else:
        for j in range(k):
            _mark(read, j * d - before, s, out)
    return read


def _unread(n: int, out: int, k: int, s: int, before: int, d: int) -> tuple[int, tuple[int, ...]]:
    """(count, first LISTED) of input rows in [0, n) that no window reads: padding excluded, exact."""
    if out <= 0:
        return n, tuple(range(min(n, LISTED)))
    if d == 1 and s <= k:
        # windows touch or overlap: the rows read form one interval from row 0, only a tail is lost
        first = max((out - 1) * s + k - before, 0)
        return max(n - first, 0), tuple(range(first, min(n, first + LISTED)))
    read = _read_mask(n, out, k, s, before, d)
    listed, at = [], read.find(0)
    while at != -1 and len(listed) < LISTED:
        listed.append(at)
        at = read.find(0, at + 1)
    return (read.count(0) if listed else 0), tuple(listed)


def reads_every_row(n: int, out: int, k: int, s: int, before: int, d: int) -> bool:
    """True when out ≥ 1 windows read all n rows — what a fix must achieve; no counting, so it is cheap."""
    if out <= 0:
        return False
    if d == 1 and s <= k:
        return (out - 1) * s + k - before >= n
    return _read_mask(n, out, k, s, before, d).find(0) == -1


def conv_size(n: int, k: int, s: int, before: int, after: int, d: int = 1) -> int:
    """Convolution output size: ⌊(n + p_before + p_after − d·(k − 1) − 1)/s⌋ + 1 (≤ 0: no valid output)."""
    return (n + before + after - d * (k - 1) - 1) // s + 1


def conv_axis(n: int, k: int, s: int, before: int, after: int, d: int = 1) -> Axis:
    out = conv_size(n, k, s, before, after, d)
    formula = f"⌊({_sub(n, before, after)} − {_eff(k, d)})/{s}⌋ + 1 = {out}"
    count, rows = _unread(n, out, k, s, before, d)
    return Axis(out, formula, rows, unread_count=count)


def _ceiled(n: int, k: int, s: int, p: int, d: int) -> int:
    return -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1


def pool_size(n: int, k: int, s: int, p: int, d: int = 1, ceil_mode: bool = False) -> int:
    """Pooling output size, PyTorch's rule: floor, or ceil minus the window that would start past n + p."""
    if not ceil_mode:
        return conv_size(n, k, s, p, p, d)
    out = _ceiled(n, k, s, p, d)
    return out - 1 if out > 0 and (out - 1) * s >= n + p else out


def pool_axis(n: int, k: int, s: int, p: int, d: int = 1, ceil_mode: bool = False) -> Axis:
    out = pool_size(n, k, s, p, d, ceil_mode)
    if not ceil_mode:
        formula = f"⌊({_sub(n, p, p)} − {_eff(k, d)})/{s}⌋ + 1 = {out}"
        count, rows = _unread(n, out, k, s, p, d)
        return Axis(out, formula, rows, unread_count=count)
    ceiled = _ceiled(n, k, s, p, d)
    dropped = out != ceiled
    formula = f"⌈({_sub(n, p, p)} − {_eff(k, d)})/{s}⌉ + 1 = {ceiled}"
    if dropped:
        formula += f"; the last window would start in the padding ({out}·{s} ≥ {n} + {p}), so {out}"
    count, rows = _unread(n, out, k, s, p, d)
    return Axis(out, formula, rows, dropped, count)


def describe_unread(ax: Axis, axis: str, n: int, k: int = 1, s: int = 1, d: int = 1) -> str:
    """'the last 1 input row (31) never read along H (PyTorch floors the division: …)' /
    '16 input rows (1, 3, 5 …) never read along W (the stride 2 is larger than the 1-pixel window …)' —
    the rows, then why: a floored tail, a window dropped by ceil_mode, gaps between windows or between
    dilated taps, or windows that see only padding."""
    noun = "row" if axis == "H" else "column"
    rows, count = ax.unread, ax.unread_count
    if not count:
        return ""
    span = d * (k - 1) + 1
    shown = ", ".join(map(str, rows[:6])) + (" …" if count > 6 else "")
    plural = noun + ("s" if count > 1 else "")
    if count == n:
        return f"all {count:,} input {plural} ({shown}) never read along {axis} (every window's taps fall in the padding)"
    if rows[0] == n - count:   # exactly the last rows
        why = ("ceil_mode's extra window would start past the input, and PyTorch drops such a window"
               if ax.ceil_dropped else "PyTorch floors the division: the next window would run past the edge")
        return f"the last {count:,} input {plural} ({shown}) never read along {axis} ({why})"
    g = math.gcd(s, d)
    if s > span:
        why = f"the stride {s} is larger than the {span}-pixel window, so {noun}s between windows are skipped"
    elif g > 1:
        why = f"stride {s} and dilation {d} are both multiples of {g}: only one {noun} in {g} is ever reached"
    else:
        why = (f"dilation {d} leaves gaps between the kernel's taps that {ax.size:,} "
               f"window{'s do' if ax.size > 1 else ' does'} not fill")
    return f"{count:,} input {plural} ({shown}) never read along {axis} ({why})"

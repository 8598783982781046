"""The nearest valid setting for a window layer that is impossible or leaves input rows unread — a local fix, made
where the layer stands (it can move a problem downstream; :mod:`cnncalc.cause` looks upstream for its cause).

"Nearest" changes padding first, then stride, then kernel (cost 1 per padding step, 10 per stride
step, 100 per kernel step): a student's kernel choice is usually deliberate, padding is not.
"""
from __future__ import annotations

from dataclasses import replace

from .layers import Conv, Pair, Pool, SpecError, sym_pad
from .shapes import conv_size, pool_size, reads_every_row

SPAN = 8  # candidates around the current value (and from the smallest values up) per setting


def _axis_ok(n: int, k: int, s: int, p: int, d: int, pool: Pool | None) -> bool:
    """Output ≥ 1 and every input row read (pool padding ≤ k/2, as PyTorch requires)."""
    if pool is not None:
        if p > k // 2:
            return False
        out = pool_size(n, k, s, p, d, pool.ceil_mode)
    else:
        out = conv_size(n, k, s, p, p, d)
    return reads_every_row(n, out, k, s, p, d)


def _near(value: int, low: int, high: int) -> set[int]:
    """Values within SPAN of ``value`` and the SPAN smallest, inside [low, high]."""
    around = range(max(low, value - SPAN), min(high, value + SPAN) + 1)
    return set(around) | set(range(low, min(high, low + SPAN) + 1))


def nearest_axis(n: int, k: int, s: int, p: int, d: int, pool: Pool | None = None) -> tuple[int, int, int] | None:
    """(k', s', p') closest to (k, s, p) with an output ≥ 1 that reads every input row, or None.

    Candidates are bounded (near the current values, the smallest values, the largest kernel that fits and
    the largest useful padding), sorted by cost and tried cheapest first, so even absurd settings
    (k = 10,000 on 8 pixels) are answered at once."""
    fits = [k2 for k2 in range(1, k + 1) if d * (k2 - 1) + 1 <= n + 2 * (k2 // 2 if pool else d * (k2 - 1))]
    kernels = {x for x in _near(k, 1, k)} | ({fits[-1], *fits[-SPAN:]} if fits else set())
    strides = _near(s, 1, s) | {min(s, n)}
    candidates = []
    for k2 in kernels:
        top = k2 // 2 if pool is not None else max(p, d * (k2 - 1))
        for s2 in strides:
            for p2 in _near(p, 0, top) | {top}:
                candidates.append((100 * (k - k2) + 10 * (s - s2) + abs(p - p2), k2, s2, p2))
    for _, k2, s2, p2 in sorted(candidates):
        if _axis_ok(n, k2, s2, p2, d, pool):
            return k2, s2, p2
    return None


def nearest_layer(layer: Conv | Pool, hw: Pair) -> Conv | Pool | None:
    """The same layer with per-axis (kernel, stride, symmetric padding) moved to the nearest valid values."""
    if isinstance(layer, Pool):
        pads = layer.padding
    elif layer.padding == "same":
        pads = tuple(d * (k - 1) // 2 for k, d in zip(layer.kernel, layer.dilation))
    else:
        pads = (layer.padding[0][0], layer.padding[1][0])
    found = [nearest_axis(n, k, s, p, d, layer if isinstance(layer, Pool) else None)
             for n, k, s, p, d in zip(hw, layer.kernel, layer.strides if isinstance(layer, Pool) else layer.stride,
                                      pads, layer.dilation)]
    if None in found:
        return None
    kernel = (found[0][0], found[1][0])
    stride = (found[0][1], found[1][1])
    padding = (found[0][2], found[1][2])
    try:  # a setting past the layers' bound (MAX_SIZE) is no fix: the layer refuses it
        if isinstance(layer, Pool):
            return replace(layer, kernel=kernel, stride=None if stride == kernel else stride, padding=padding)
        return replace(layer, kernel=kernel, stride=stride, padding=sym_pad(padding))
    except SpecError:
        return None

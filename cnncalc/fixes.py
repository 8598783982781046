"""The nearest valid setting for a window layer that is impossible or leaves input rows unread.

"Nearest" changes padding first, then stride, then kernel (cost 1 per padding step, 10 per stride
step, 100 per kernel step): a student's kernel choice is usually deliberate, padding is not.
"""
from __future__ import annotations

from dataclasses import replace

from .layers import Conv, Pair, Pool, sym_pad
from .shapes import conv_axis, pool_axis


def _axis_ok(n: int, k: int, s: int, p: int, d: int, pool: Pool | None) -> bool:
    if pool is not None:
        if p > k // 2:
            return False
        ax = pool_axis(n, k, s, p, d, pool.ceil_mode)
    else:
        ax = conv_axis(n, k, s, p, p, d)
    return ax.size >= 1 and not ax.unread


def nearest_axis(n: int, k: int, s: int, p: int, d: int, pool: Pool | None = None) -> tuple[int, int, int] | None:
    """(k', s', p') closest to (k, s, p) with an output ≥ 1 that reads every input row, or None."""
    best, best_cost = None, None
    for k2 in range(k, 0, -1):
        for s2 in range(s, 0, -1):
            top = k2 // 2 if pool is not None else max(p, d * (k2 - 1))
            for p2 in range(0, top + 1):
                cost = 100 * (k - k2) + 10 * (s - s2) + abs(p - p2)
                if best_cost is not None and cost >= best_cost:
                    continue
                if _axis_ok(n, k2, s2, p2, d, pool):
                    best, best_cost = (k2, s2, p2), cost
        if best is not None and best_cost < 100 * (k - k2 + 1):
            break
    return best


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
    if isinstance(layer, Pool):
        return replace(layer, kernel=kernel, stride=None if stride == kernel else stride, padding=padding)
    return replace(layer, kernel=kernel, stride=stride, padding=sym_pad(padding))

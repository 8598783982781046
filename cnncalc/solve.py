"""Solvers: padding that keeps the size, settings that divide it, input sizes that give a wanted output."""
from __future__ import annotations

from dataclasses import dataclass

import math

from .layers import AdaptiveAvgPool, Conv, ConvTranspose, Pool, Upsample
from .parse import as_layers
from .shapes import conv_axis, conv_size, pool_axis, pool_size


@dataclass(frozen=True)
class SamePadding:
    """Padding that keeps the size at stride 1: o = n + before + after − d·(k − 1), so before + after = d·(k − 1)."""

    total: int
    before: int
    after: int

    @property
    def symmetric(self) -> bool:
        return self.before == self.after

    @property
    def explanation(self) -> str:
        if self.symmetric:
            return f"p = d·(k − 1)/2 = {self.before} on each side"
        return (f"d·(k − 1) = {self.total} is odd: pad {self.before} before and {self.after} after "
                f"(PyTorch's padding='same' puts the extra pixel after)")


def same_padding(k: int, d: int = 1) -> SamePadding:
    total = d * (k - 1)
    return SamePadding(total, total // 2, total - total // 2)


@dataclass(frozen=True)
class Setting:
    kernel: int
    stride: int
    padding: int
    out: int
    unread: int  # input rows never read

    @property
    def spec(self) -> str:
        return f"k={self.kernel} s={self.stride}" + (f" p={self.padding}" if self.padding else "")


def divide_settings(n: int, factor: int = 2, max_kernel: int = 7, pool: bool = False) -> list[Setting]:
    """(k, s=factor, p) with output ⌈n/factor⌉ along an axis of size n, those that read every row first.

    For pooling, p ≤ k/2 (PyTorch). Output o = ⌊(n + 2p − k)/s⌋ + 1.
    """
    target = -(-n // factor)
    found = []
    for k in range(1, max_kernel + 1):
        for p in range(0, (k // 2 if pool else k - 1) + 1):
            ax = pool_axis(n, k, factor, p) if pool else conv_axis(n, k, factor, p, p)
            if ax.size == target:
                found.append(Setting(k, factor, p, ax.size, ax.unread_count))
    return sorted(found, key=lambda s: (s.unread > 0, s.kernel < factor, s.kernel, s.padding))


def _axis_out(layers, n: int, axis: int) -> int:
    """Spatial size after the window layers, along one axis (flatten/fc end the spatial part)."""
    for layer in layers:
        if isinstance(layer, Conv):
            if layer.padding == "same":
                if any(s != 1 for s in layer.stride):   # PyTorch refuses padding='same' with a stride
                    return 0
                continue
            (b, a) = layer.padding[axis]
            n = conv_size(n, layer.kernel[axis], layer.stride[axis], b, a, layer.dilation[axis])
        elif isinstance(layer, Pool):
            if layer.padding[axis] > layer.kernel[axis] // 2:
                return 0
            n = pool_size(n, layer.kernel[axis], layer.strides[axis], layer.padding[axis], layer.dilation[axis],
                          layer.ceil_mode)
        elif isinstance(layer, AdaptiveAvgPool):
            n = layer.output[axis]
        elif isinstance(layer, ConvTranspose):
            if layer.output_padding[axis] >= max(layer.stride[axis], layer.dilation[axis]):
                return 0
            n = ((n - 1) * layer.stride[axis] - 2 * layer.padding[axis]
                 + layer.dilation[axis] * (layer.kernel[axis] - 1) + layer.output_padding[axis] + 1)
        elif isinstance(layer, Upsample):
            n = layer.size[axis] if layer.size is not None else math.floor(n * layer.scale)
        elif layer.kind in ("flatten", "fc"):
            break
        if n <= 0:
            return 0
    return n


def input_sizes_for_output(spec, target: int, axis: int = 0, limit: int = 4096) -> list[tuple[int, int]]:
    """Input sizes (as inclusive ranges lo…hi) along ``axis`` whose last spatial map has size ``target``.

    Each candidate is checked by running the exact forward arithmetic, so ceil_mode and padding rules hold.
    """
    layers = as_layers(spec)
    ranges: list[tuple[int, int]] = []
    if target < 1:   # 0 is how _axis_out says "invalid", never a size a network produces
        return ranges
    for n in range(1, limit + 1):
        if _axis_out(layers, n, axis) == target:
            if ranges and ranges[-1][1] == n - 1:
                ranges[-1] = (ranges[-1][0], n)
            else:
                ranges.append((n, n))
    return ranges

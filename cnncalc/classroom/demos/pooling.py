"""2. Pooling gives local invariance: how many pooled outputs stay identical when the input moves by
0 … K − 1 pixels."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .common import picture

DIRECTIONS = {"right": (0, 1), "down": (1, 0), "diagonal": (1, 1)}
MAX_PIXELS, MAX_K = 1_000_000, 8
"""Largest image and pool size :func:`pooling_demo` takes: it keeps k² shifted views of the image and their
pooled maps (the page uses 128×128 and k ≤ 3)."""


def _pool(x: np.ndarray, k: int, mode: str) -> np.ndarray:
    """k×k pooling with stride k (floor: a partial window at the edge is dropped, as PyTorch does).
    ``avg`` returns window *sums*: equal sums ⇔ equal averages, and sums of integers are exact."""
    h, w = (x.shape[0] // k) * k, (x.shape[1] // k) * k
    blocks = x[:h, :w].reshape(h // k, k, w // k, k)
    return blocks.max(axis=(1, 3)) if mode == "max" else blocks.sum(axis=(1, 3))


@dataclass(frozen=True)
class PoolCount:
    pooling: str
    shift: int
    unchanged: int
    total: int

    @property
    def fraction(self) -> float:
        return self.unchanged / self.total if self.total else float("nan")


def views(image2d: np.ndarray, shifts, direction: str = "right") -> dict[int, np.ndarray]:
    """The same frame looking at the image with its content moved by s pixels (s in ``shifts``): a window
    cropped ``max(shifts)`` pixels smaller along each moving axis, at offset max − s. No pixel is invented,
    so nothing but the shift changes."""
    ay, ax = DIRECTIONS[direction]
    m = max(shifts)
    h, w = image2d.shape
    hv, wv = h - ay * m, w - ax * m
    if hv < 1 or wv < 1:
        raise ValueError(f"image {h}×{w} too small for shifts up to {m}")
    return {s: image2d[ay * (m - s):ay * (m - s) + hv, ax * (m - s):ax * (m - s) + wv] for s in shifts}


def pool_invariance(image2d, k: int = 2, levels: int = 1, shifts=None, direction: str = "right",
                    modes=("max", "avg")) -> tuple[list[PoolCount], dict]:
    """For each mode and shift: how many outputs of ``levels`` stacked k×k pools (stride k) are identical to
    those of the unshifted view, at the same positions. Returns the counts and the boolean 'unchanged' maps
    keyed by (mode, shift)."""
    x = np.asarray(image2d, dtype=np.float64)
    shifts = list(range(k ** levels)) if shifts is None else list(shifts)
    v = views(x, shifts, direction)
    tol = 1e-9 * (1.0 + float(np.abs(x).max(initial=0.0))) * k ** (2 * levels)
    counts, maps = [], {}
    for mode in modes:
        pooled = {}
        for s, view in v.items():
            out = view
            for level in range(levels):
                out = _pool(out, k, mode)
            pooled[s] = out
        name = f"{mode} " + " → ".join([f"{k}×{k}"] * levels)
        for s in shifts:
            same = np.abs(pooled[s] - pooled[0]) <= tol
            counts.append(PoolCount(name, s, int(same.sum()), int(same.size)))
            maps[(name, s)] = same
    return counts, maps


@dataclass(frozen=True)
class PoolingDemo:
    k: int
    direction: str
    shifts: list[int]
    counts: list[PoolCount]
    maps: dict = field(repr=False)
    image: np.ndarray = field(repr=False)

    def table(self) -> dict[str, dict[int, float]]:
        """{pooling: {shift: fraction unchanged}}."""
        out: dict[str, dict[int, float]] = {}
        for c in self.counts:
            out.setdefault(c.pooling, {})[c.shift] = c.fraction
        return out

    def fraction(self, pooling: str, s: int) -> float:
        return self.table()[pooling][s]

    def overlay(self, pooling: str, s: int, target: int = 256) -> np.ndarray:
        """The pooled output of the unshifted image in grey levels, each output that a shift by ``s`` changed
        tinted red — RGB uint8, enlarged for a projector."""
        out = views(self.image, self.shifts, self.direction)[0]
        for _ in range(pooling.count("×")):  # 'max 2×2 → 2×2': two levels; 'no pooling (pixels)': none
            out = _pool(out, self.k, pooling.split(" ")[0])
        g = (out - out.min()) / (np.ptp(out) or 1.0)
        rgb = np.stack([g, g, g], axis=-1) * 0.85 + 0.15
        changed = ~self.maps[(pooling, s)]
        rgb[changed] = 0.35 * rgb[changed] + 0.65 * np.array([0.9, 0.1, 0.1])
        return picture(rgb.transpose(2, 0, 1), target=target)


def pooling_demo(image2d, k: int = 2, direction: str = "right") -> PoolingDemo:
    """Pixels (no pooling), one k×k pool and two stacked k×k pools, max and average, for shifts 0 … k² − 1
    (a stacked pair covers k² pixels), all measured on the same views."""
    x = np.asarray(image2d, dtype=np.float64)
    if x.size > MAX_PIXELS or not 1 <= k <= MAX_K:
        raise ValueError(f"the pooling demo takes images up to {MAX_PIXELS:,} pixels and k = 1…{MAX_K}, not "
                         f"{'×'.join(map(str, x.shape))} and k = {k}")
    shifts = list(range(k * k))
    counts, maps = pool_invariance(x, 1, 1, shifts, direction, modes=("max",))
    counts = [PoolCount("no pooling (pixels)", c.shift, c.unchanged, c.total) for c in counts]
    maps = {("no pooling (pixels)", s): m for (_, s), m in maps.items()}
    for levels in (1, 2):
        c, m = pool_invariance(x, k, levels, shifts, direction)
        counts += c
        maps.update(m)
    return PoolingDemo(k, direction, shifts, counts, maps, x)

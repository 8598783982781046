"""The one colour map and the named colours every picture of cnncalc uses (numpy only).

Values are coloured with viridis (matplotlib's default): perceptually uniform, dark → bright, readable in
greyscale and by colour-blind students. Classes get matplotlib's tab10 colours."""
from __future__ import annotations

import numpy as np

BOX_COLOUR = (255, 214, 0)        # a receptive field / a window
CENTRE_COLOUR = (230, 20, 60)     # a unit's centre
GRID_COLOUR = (0, 220, 255)       # unit centres, a field drawn beside a window
CENTRAL_COLOUR = (255, 70, 255)   # the central box on a heat map (stands out of every viridis colour)
PAD_COLOUR = (150, 150, 150)      # padding around an image
HATCH_COLOUR = (120, 120, 120)
EDGE_COLOUR = (0, 0, 0)           # contrast edge around coloured lines
OTHER_COLOUR = (45, 45, 45)       # a class beyond the ten of TAB10

# viridis (matplotlib), sampled at 0, 1/8, …, 1: dark blue → green → yellow, perceptually uniform
_VIRIDIS = np.array([(68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 145, 140), (39, 173, 129),
                     (92, 200, 99), (170, 220, 50), (253, 231, 37)], dtype=np.float64)
LUT = np.rint(np.stack([np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_VIRIDIS)), _VIRIDIS[:, c])
                        for c in range(3)], axis=1)).astype(np.uint8)
"""256 RGB colours, LUT[0] for the lowest value, LUT[255] for the highest."""

TAB10 = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
         (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
"""Ten colours that stay distinct (matplotlib's tab10), one per class in a class map."""


def colorize(values, vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """An array → RGB uint8 (…, 3): ``vmin`` (default: the minimum) gets LUT[0], ``vmax`` LUT[255];
    values outside are clipped, NaN gets the lowest colour, a constant map the lowest colour."""
    v = np.asarray(values, dtype=np.float64)
    lo = np.nanmin(v) if vmin is None and v.size else (vmin or 0.0)
    hi = np.nanmax(v) if vmax is None and v.size else (vmax if vmax is not None else 1.0)
    t = (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v)
    return LUT[np.rint(np.clip(np.nan_to_num(t, nan=0.0), 0, 1) * 255).astype(np.int64)]


def colorbar(width: int = 256, height: int = 12) -> np.ndarray:
    """The colour scale as a horizontal strip, lowest value on the left."""
    return np.repeat(colorize(np.linspace(0, 1, width), 0, 1)[None], height, axis=0)


def heat(values, gamma: float = 0.5) -> np.ndarray:
    """A non-negative map scaled to its maximum and raised to ``gamma`` (0.5 shows faint edges), coloured."""
    a = np.asarray(values, dtype=np.float64)
    top = a.max() if a.size else 0.0
    return colorize((a / top if top > 0 else np.zeros_like(a)) ** gamma, 0, 1)

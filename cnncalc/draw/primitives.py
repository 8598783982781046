"""Drawing primitives shared by the pictures (Pillow): hatching, dashed and outlined rectangles, a centre
marker, an image as RGB uint8. Rectangles are (x0, y0, x1, y1), inclusive, in canvas pixels."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .colours import CENTRE_COLOUR, EDGE_COLOUR


def hatch(draw: ImageDraw.ImageDraw, rect, colour, spacing: int, width: int = 1) -> None:
    """Diagonal lines (↗) inside ``rect``."""
    x0, y0, x1, y1 = rect
    if x1 < x0 or y1 < y0:
        return
    for c in range(x0 + y0 - (y1 - y0), x1 + y1 + 1, max(2, spacing)):
        # the line x + y = c, clipped to the rectangle
        pts = [(c - y, y) for y in (y0, y1) if x0 <= c - y <= x1] + [(x, c - x) for x in (x0, x1) if y0 <= c - x <= y1]
        if len(pts) >= 2:
            pts.sort()
            draw.line([pts[0], pts[-1]], fill=colour, width=width)


def dashed_rect(draw, rect, colour, width: int, dash: int, sides: str = "tblr") -> None:
    """Dashed outline of ``rect``; ``sides`` picks which of top/bottom/left/right to draw."""
    x0, y0, x1, y1 = rect
    edges = {"t": ((x0, y0), (x1, y0)), "r": ((x1, y0), (x1, y1)), "b": ((x1, y1), (x0, y1)), "l": ((x0, y1), (x0, y0))}
    for (ax, ay), (bx, by) in (edges[k] for k in "trbl" if k in sides):
        length = max(abs(bx - ax), abs(by - ay))
        steps = max(1, length // dash)
        for k in range(0, steps, 2):
            s0, s1 = k / steps, min(1.0, (k + 1) / steps)
            draw.line([(ax + (bx - ax) * s0, ay + (by - ay) * s0), (ax + (bx - ax) * s1, ay + (by - ay) * s1)],
                      fill=colour, width=width)


def outline(draw, rect, colour, width: int) -> None:
    """A solid rectangle outline drawn inward, with a thin black edge on both sides for contrast."""
    x0, y0, x1, y1 = rect
    draw.rectangle((x0 - 1, y0 - 1, x1 + 1, y1 + 1), outline=EDGE_COLOUR, width=width + 2)
    draw.rectangle((x0, y0, x1, y1), outline=colour, width=width)


def marker(draw, xy, radius: float) -> None:
    """A red dot with a white rim (a unit's centre)."""
    x, y = xy
    draw.ellipse((x - radius - 2, y - radius - 2, x + radius + 2, y + radius + 2), fill=(255, 255, 255))
    draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=CENTRE_COLOUR)


def as_rgb(image) -> np.ndarray:
    """A PIL image or an (H, W), (H, W, 1|3|4) array, uint8 or floats in 0…1 → (H, W, 3) uint8."""
    a = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an (H, W, 3) image, got shape {a.shape}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    if a.dtype != np.uint8:
        a = np.clip(a * 255 if a.max() <= 1.0 else a, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(a[:, :, :3])


def enlarge(image, target: int = 480) -> np.ndarray:
    """Upscale by the largest whole factor keeping the longest side ≤ ``target`` (nearest: pixels stay
    square on a projector; never shrinks)."""
    a = np.asarray(image, dtype=np.uint8)
    k = max(1, target // max(a.shape[:2]))
    return a.repeat(k, axis=0).repeat(k, axis=1)

"""Helpers shared by the demos: images as float arrays (C, H, W), luminance, and the projector-sized pictures
the page shows (coloured with cnncalc's one colour map)."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from ...draw.colours import colorize

LUMA = (0.299, 0.587, 0.114)


def as_float(image_rgb, gray: bool = False) -> np.ndarray:
    """RGB uint8 (H, W, 3) → float (C, H, W) in [0, 1]; ``gray``: one channel of luminance."""
    a = np.asarray(image_rgb, dtype=np.float64) / 255.0
    if a.ndim == 2:
        a = a[:, :, None]
    if gray and a.shape[2] == 3:
        a = (a @ np.array(LUMA))[:, :, None]
    return np.ascontiguousarray(a.transpose(2, 0, 1))


def picture(values, vmin=None, vmax=None, box=None, target: int = 256, colour=(255, 40, 40)) -> np.ndarray:
    """A 2-D map (coloured with :func:`colorize`) or an RGB/gray image in [0, 1] (C, H, W) → RGB uint8,
    enlarged by a whole factor to ≈ ``target`` pixels (nearest: pixels stay square on a projector), with an
    optional rectangle ``box`` = (top, bottom, left, right) in map pixels (bottom/right exclusive)."""
    v = np.asarray(values)
    if v.ndim == 3:
        rgb = np.rint(np.clip(np.repeat(v, 3, axis=0) if v.shape[0] == 1 else v, 0, 1) * 255)
        rgb = rgb.astype(np.uint8).transpose(1, 2, 0)
    else:
        rgb = colorize(v, vmin, vmax)
    f = max(1, target // max(rgb.shape[:2]))
    big = rgb.repeat(f, axis=0).repeat(f, axis=1)
    if box is not None and box[1] > box[0] and box[3] > box[2]:
        im = Image.fromarray(np.ascontiguousarray(big))
        t, b, l, r = box
        ImageDraw.Draw(im).rectangle([l * f, t * f, r * f - 1, b * f - 1], outline=colour, width=max(2, f // 2))
        big = np.asarray(im)
    return big


def gray_uint8(image_rgb) -> np.ndarray:
    """Luminance rounded to whole grey levels 0…255 (as float64: equal averages are then exact)."""
    return np.rint(np.asarray(image_rgb, dtype=np.float64) @ np.array(LUMA))

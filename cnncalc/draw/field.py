"""Drawing a unit's receptive field on the input image (pure Pillow/numpy, no torch).

Convention (:mod:`cnncalc.receptive`): input pixel centres sit at 0, 1, 2, …; unit (i, j) of a layer sees
rows ``start_H + i·jump_H ± (rf_H − 1)/2`` and columns ``start_W + j·jump_W ± (rf_W − 1)/2``. Those bounds
are always whole numbers (``start − (rf − 1)/2 = −Σ padding·jump``). Rows/columns outside the image are
padding.

The drawings put the image on a canvas with a grey, hatched margin standing for the padding, so the part
of a field that falls in padding can be drawn too (dashed). The canvas is upscaled by a whole factor with
nearest-neighbour sampling so single pixels stay visible on a projector (32×32 → about 512×512).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from ..parse import as_hw
from ..receptive import Box, field_box
from .colours import BOX_COLOUR, CENTRAL_COLOUR, EDGE_COLOUR, GRID_COLOUR, HATCH_COLOUR, PAD_COLOUR, heat
from .primitives import as_rgb, dashed_rect, hatch, marker, outline


def unit_centres(report) -> tuple[np.ndarray, np.ndarray]:
    """Centres (input coordinates) of all units of the layer along H and along W: start + k·jump."""
    _, oh, ow = report.out_shape
    return (report.start[0] + report.jump[0] * np.arange(oh), report.start[1] + report.jump[1] * np.arange(ow))


@dataclass(frozen=True)
class Layout:
    """Where input pixels land on the canvas: pixel (r, c) covers canvas rows (r + top)·scale …
    (r + top + 1)·scale − 1 and columns likewise with ``left``. ``top``/``left``/``bottom``/``right`` are
    the padding margins, in input pixels, that the canvas shows around the image."""

    height: int
    width: int
    top: int
    left: int
    bottom: int
    right: int
    scale: int

    @property
    def canvas_size(self) -> tuple[int, int]:
        """(height, width) of the drawing in screen pixels."""
        return ((self.height + self.top + self.bottom) * self.scale,
                (self.width + self.left + self.right) * self.scale)

    def pixel_span(self, row: float, col: float) -> tuple[int, int]:
        """Canvas (y, x) of the top-left corner of input pixel (row, col)."""
        return int(round((row + self.top) * self.scale)), int(round((col + self.left) * self.scale))

    def point(self, row: float, col: float) -> tuple[float, float]:
        """Canvas (x, y) of the input coordinate (row, col), pixel centres at whole numbers."""
        return (col + self.left + 0.5) * self.scale, (row + self.top + 0.5) * self.scale

    def box(self, b: Box) -> tuple[int, int, int, int]:
        """Canvas rectangle (x0, y0, x1, y1), inclusive, covering the input pixels of box ``b``."""
        t, l, bt, r = b
        y0, x0 = self.pixel_span(t, l)
        y1, x1 = self.pixel_span(bt + 1, r + 1)
        return x0, y0, x1 - 1, y1 - 1


def layout(report, image_size, target: int = 512, max_margin: int | None = None) -> Layout:
    """The canvas for drawing ``report``'s layer on an image of ``image_size``: margins wide enough for
    the fields of the layer's first and last units (the same for every unit, so moving the unit slider
    does not move the picture), and the largest whole scale that keeps the canvas within ``target``
    screen pixels (at least 1)."""
    h, w = as_hw(image_size)
    _, oh, ow = report.out_shape
    first, last = field_box(report, 0, 0, (h, w)), field_box(report, oh - 1, ow - 1, (h, w))
    top = max(0, -first.unclipped[0], -last.unclipped[0])
    left = max(0, -first.unclipped[1], -last.unclipped[1])
    bottom = max(0, first.unclipped[2] - (h - 1), last.unclipped[2] - (h - 1))
    right = max(0, first.unclipped[3] - (w - 1), last.unclipped[3] - (w - 1))
    if max_margin is not None:
        top, left, bottom, right = (min(m, max_margin) for m in (top, left, bottom, right))
    longest = max(h + top + bottom, w + left + right)
    return Layout(h, w, top, left, bottom, right, max(1, target // longest))






def _canvas(rgb: np.ndarray, lay: Layout) -> Image.Image:
    """The image upscaled (nearest neighbour) on a hatched grey padding margin."""
    H, W = lay.canvas_size
    canvas = Image.new("RGB", (W, H), PAD_COLOUR)
    draw = ImageDraw.Draw(canvas)
    hatch(draw, (0, 0, W - 1, H - 1), HATCH_COLOUR, spacing=max(6, lay.scale * 2), width=max(1, lay.scale // 6))
    big = Image.fromarray(rgb).resize((lay.width * lay.scale, lay.height * lay.scale), Image.Resampling.NEAREST)
    canvas.paste(big, (lay.left * lay.scale, lay.top * lay.scale))
    if lay.top or lay.left or lay.bottom or lay.right:  # where the image ends and the padding starts
        x0, y0, x1, y1 = lay.box((0, 0, lay.height - 1, lay.width - 1))
        draw.rectangle((x0 - 2, y0 - 2, x1 + 2, y1 + 2), outline=(255, 255, 255), width=2)
    return canvas


def _line_width(lay: Layout) -> int:
    return int(min(6, max(2, lay.scale // 3)))






def grid_visible(report, lay: Layout, min_spacing: int = 5) -> bool:
    """Whether :func:`draw_field` draws the jump grid: not for jump 1 (a dot on every pixel hides the image),
    nor when the dots would merge (under ``min_spacing`` screen pixels apart) or be too many."""
    return (min(report.jump) >= 2 and min(report.jump) * lay.scale >= min_spacing
            and report.out_shape[1] * report.out_shape[2] <= 40_000)


def _grid(draw, report, lay: Layout) -> bool:
    """Dots at the centres of all units of the layer; False (nothing drawn) when they would merge."""
    if not grid_visible(report, lay):
        return False
    rows, cols = unit_centres(report)
    spacing = min(report.jump) * lay.scale
    r = max(1.5, min(spacing / 6, lay.scale * 0.35, 5))
    for row in rows:
        for col in cols:
            x, y = lay.point(row, col)
            draw.ellipse((x - r - 1, y - r - 1, x + r + 1, y + r + 1), fill=EDGE_COLOUR)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=GRID_COLOUR)
    return True




def draw_field(image, report, i: int, j: int, *, grid: bool = True, dim: float = 0.45, target: int = 512,
               lay: Layout | None = None) -> Image.Image:
    """The image with unit (i, j)'s receptive field: solid yellow box around the pixels inside the image,
    dashed yellow box and yellow hatching over the part in padding, a red dot at the unit's centre, and
    (``grid``) cyan dots at the centres of all units of the layer, ``jump`` pixels apart. Pixels outside
    the field are darkened by ``dim`` (0 = not at all).

    ``image`` (H, W, 3) must be the network's input, or any larger size with ``report`` analyzed at that
    size (the conv part applied fully-convolutionally). Returns an upscaled Pillow image; its geometry is
    :func:`layout` (pass ``lay`` to share it with :func:`draw_heat`).
    """
    rgb = as_rgb(image)
    h, w = rgb.shape[:2]
    box = field_box(report, i, j, (h, w))
    lay = lay or layout(report, (h, w), target)
    if dim > 0:
        shade = rgb.astype(np.float32) * (1 - dim)
        if box.clipped is not None:
            t, l, b, r = box.clipped
            shade[t:b + 1, l:r + 1] = rgb[t:b + 1, l:r + 1]
        rgb = shade.astype(np.uint8)
    canvas = _canvas(rgb, lay)
    draw = ImageDraw.Draw(canvas)
    width = _line_width(lay)
    full, sides = _shown(lay, box.unclipped), _uncut(lay, box.unclipped)
    if box.clipped != box.unclipped:
        _tint_outside(canvas, lay, full, BOX_COLOUR, 0.3)
        _hatch_outside(draw, lay, full, BOX_COLOUR, spacing=max(6, lay.scale * 2))
        dashed_rect(draw, lay.box(full), EDGE_COLOUR, width + 2, dash=max(6, lay.scale * 2), sides=sides)
        dashed_rect(draw, lay.box(full), BOX_COLOUR, width, dash=max(6, lay.scale * 2), sides=sides)
    if grid:
        _grid(draw, report, lay)
    if box.clipped is not None:
        outline(draw, lay.box(box.clipped), BOX_COLOUR, width)
    marker(draw, lay.point(*box.centre), radius=max(3.0, min(lay.scale * 0.6, 9)))
    return canvas


def _shown(lay: Layout, b: Box) -> Box:
    """``b`` limited to what the canvas shows (the margins may be capped)."""
    t, l, bt, r = b
    return (max(t, -lay.top), max(l, -lay.left), min(bt, lay.height - 1 + lay.bottom),
            min(r, lay.width - 1 + lay.right))


def _uncut(lay: Layout, b: Box) -> str:
    """The sides of ``b`` the canvas shows (a side beyond a capped margin is not drawn: it is not there)."""
    t, l, bt, r = b
    shown = {"t": t >= -lay.top, "l": l >= -lay.left, "b": bt <= lay.height - 1 + lay.bottom,
             "r": r <= lay.width - 1 + lay.right}
    return "".join(k for k, ok in shown.items() if ok)


def _bands(lay: Layout, b: Box) -> list[Box]:
    """The parts of box ``b`` that lie in the padding margin (up to four bands)."""
    t, l, bt, r = b
    bands = [(t, l, min(bt, -1), r), (max(t, lay.height), l, bt, r),
             (max(t, 0), l, min(bt, lay.height - 1), min(r, -1)),
             (max(t, 0), max(l, lay.width), min(bt, lay.height - 1), r)]
    return [band for band in bands if band[0] <= band[2] and band[1] <= band[3]]


def _tint_outside(canvas: Image.Image, lay: Layout, b: Box, colour, alpha: float) -> None:
    """Blend ``colour`` over the parts of box ``b`` in the padding margin."""
    for band in _bands(lay, b):
        x0, y0, x1, y1 = lay.box(band)
        region = canvas.crop((x0, y0, x1 + 1, y1 + 1))
        canvas.paste(Image.blend(region, Image.new("RGB", region.size, colour), alpha), (x0, y0))


def _hatch_outside(draw, lay: Layout, b: Box, colour, spacing: int) -> None:
    """Hatch the parts of box ``b`` that lie in the padding margin."""
    for band in _bands(lay, b):
        hatch(draw, lay.box(band), colour, spacing, width=max(1, lay.scale // 5))


# --- the gradient map as a heat image ------------------------------------------------------------

def draw_heat(values: np.ndarray, report, i: int, j: int, *, gamma: float = 0.5, central: Box | None = None,
              target: int = 512, lay: Layout | None = None) -> Image.Image:
    """The gradient map (H, W) as a heat image on the same canvas as :func:`draw_field`, with the theoretical
    field as a thin white outline (dashed where it runs in padding), the ``central`` box dotted, and the
    unit's centre."""
    values = np.asarray(values, dtype=np.float64)
    h, w = values.shape
    box = field_box(report, i, j, (h, w))
    lay = lay or layout(report, (h, w), target)
    canvas = _canvas(heat(values, gamma), lay)
    draw = ImageDraw.Draw(canvas)
    width = max(1, _line_width(lay) - 1)
    dashed_rect(draw, lay.box(_shown(lay, box.unclipped)), (255, 255, 255), width, dash=max(6, lay.scale * 2),
                 sides=_uncut(lay, box.unclipped))
    if box.clipped is not None:
        draw.rectangle(lay.box(box.clipped), outline=(255, 255, 255), width=width)
    if central is not None:
        dashed_rect(draw, lay.box(central), CENTRAL_COLOUR, width, dash=max(3, lay.scale))
    marker(draw, lay.point(*box.centre), radius=max(2.0, min(lay.scale * 0.35, 6)))
    return canvas


__all__ = ["Layout", "unit_centres", "layout", "grid_visible", "draw_field", "draw_heat"]

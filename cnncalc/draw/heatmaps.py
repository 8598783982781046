"""Pictures of dense score maps (pure numpy/Pillow: no torch, no streamlit).

A score map of the convolutionalized network (:mod:`cnncalc.pytorch.fcn`) has one cell per training-size
window, ``stride`` pixels
apart (:class:`cnncalc.pytorch.fcn.Geometry`). Here a cell is drawn as the stride×stride square at the centre of
its window: cell (i, j) covers rows ``i·s + (win − s)/2 … + s`` (and columns likewise), so neighbouring
cells tile the image without gaps or overlaps; the border the windows' centres never reach
(``(win − s)/2`` pixels) is left as the image.

Coordinates are pixels of the image shown; a geometry with ``scale`` ≠ 1 (the image was resized by that
factor before the pass) is mapped back by dividing by the scale.

Uploads can be any shape: :func:`fit` centre-crops an image more elongated than :data:`MAX_RATIO` before
resizing it for the network (a 1×100,000 strip would otherwise become 32×3,200,000), and says what it did;
:func:`cap_pixels` keeps every picture sent to a browser to a few megapixels.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw

from .colours import BOX_COLOUR, CENTRE_COLOUR, EDGE_COLOUR, GRID_COLOUR, OTHER_COLOUR, TAB10, colorize
from .primitives import dashed_rect, enlarge, outline

def _edges(n: int, stride: int, window: int, scale: float, limit: int) -> np.ndarray:
    """Pixel edges of n cells along one axis: cell k spans edges[k] … edges[k + 1] − 1."""
    offset = (window - stride) / 2
    return np.clip(np.rint((np.arange(n + 1) * stride + offset) / scale), 0, limit).astype(np.int64)


def cell_squares(shape: tuple[int, int], geometry, image_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column index of the cell covering each pixel of an image of ``image_hw`` (−1: no cell)."""
    idx = []
    for axis, (n, size) in enumerate(zip(shape, image_hw)):
        e = _edges(n, geometry.stride, geometry.window[axis], geometry.scale, size)
        which = np.full(size, -1, dtype=np.int64)
        for k in range(n):
            which[e[k]:e[k + 1]] = k
        idx.append(which)
    return idx[0], idx[1]


def cell_overlay(image_rgb, map2d, geometry, vmin: float | None = 0.0, vmax: float | None = 1.0,
                 alpha: float = 0.6) -> np.ndarray:
    """Each cell's value (a 2-D map, coloured by :func:`colorize`) or colour (an (h, w, 3) uint8 map)
    blended over the stride×stride square at its window's centre; the uncovered border stays the image."""
    image = np.asarray(image_rgb, dtype=np.uint8)
    m = np.asarray(map2d)
    colours = m.astype(np.uint8) if m.ndim == 3 else colorize(m, vmin, vmax)
    rows, cols = cell_squares(m.shape[:2], geometry, image.shape[:2])
    covered = (rows[:, None] >= 0) & (cols[None, :] >= 0)
    painted = colours[rows.clip(0)[:, None], cols.clip(0)[None, :]].astype(np.float64)
    blend = np.rint((1 - alpha) * image + alpha * painted).astype(np.uint8)
    return np.where(covered[..., None], blend, image)


def palette(class_ids) -> dict[int, tuple[int, int, int]]:
    """A colour per class id, in the order given (up to ten; use :data:`OTHER_COLOUR` for the rest)."""
    return {int(c): TAB10[k % len(TAB10)] for k, c in enumerate(class_ids)}


def class_map(argmax2d, colours) -> np.ndarray:
    """The winning class of each cell as colours (h, w, 3) uint8; ``colours`` maps class id → RGB (a dict,
    or a sequence indexed by class id); a class it lacks is drawn in :data:`OTHER_COLOUR`."""
    a = np.asarray(argmax2d, dtype=np.int64)
    lookup = dict(colours) if isinstance(colours, dict) else dict(enumerate(colours))
    out = np.empty(a.shape + (3,), dtype=np.uint8)
    out[:] = OTHER_COLOUR
    for cls, rgb in lookup.items():
        out[a == cls] = rgb
    return out


class LegendItem(NamedTuple):
    class_id: int
    name: str
    hex: str


def legend(classes, colours) -> list[LegendItem]:
    """(class id, class name, '#rrggbb') for each class of ``colours`` (dict or sequence), in its order."""
    items = colours.items() if isinstance(colours, dict) else enumerate(colours)
    return [LegendItem(int(c), classes[int(c)], "#%02x%02x%02x" % tuple(rgb)) for c, rgb in items]




MAX_RATIO = 32
"""Longest side : shortest side of an image the network scores. Each side must hold the window, so a 1×100,000
strip would grow to 32×3,200,000 (a 26-second, 6-GB pass); beyond this ratio the middle is kept instead."""
MAX_PICTURE_PIXELS = 4_000_000
"""Pixels of one picture sent to the browser (a few megapixels: a projector shows fewer)."""


class Fitted(NamedTuple):
    """An image made ready for the network: ``image`` (H, W, 3) uint8; ``original`` (H, W) before; ``kept``
    (top, left, height, width) of the centre crop of an over-elongated image, None when all of it was kept."""
    image: np.ndarray
    original: tuple[int, int]
    kept: tuple[int, int, int, int] | None

    def note(self, what: str = "The image") -> str:
        """What was done, in one or two sentences for the page (empty when nothing was)."""
        (h, w), (nh, nw) = self.original, self.image.shape[:2]
        out = []
        if self.kept is not None:
            t, l, kh, kw = self.kept
            side = "wider than high" if w > h else "higher than wide"
            out.append(f"{what} is {h:,}×{w:,} pixels, more than {MAX_RATIO} times {side}: only its middle "
                       f"{kh:,}×{kw:,} pixels (rows {t:,}…{t + kh - 1:,}, columns {l:,}…{l + kw - 1:,}) are used.")
        if (nh, nw) != (h, w):
            out.append(f"{'It' if out else what + f' ({h:,}×{w:,} pixels)'} is resized to {nh:,}×{nw:,} for the "
                       "network.")
        return " ".join(out)


def fit(image, longest: int, minimum: int = 1, max_ratio: int = MAX_RATIO, original=None) -> Fitted:
    """Resize (Lanczos) so the longest side is ``longest`` pixels, the aspect ratio kept, but no side under
    ``minimum`` (the network's window); an image more than ``max_ratio`` times longer than wide (or the
    reverse) is first centre-cropped to that ratio, so the result never exceeds max(longest,
    max_ratio·minimum) pixels on a side. ``original``: the (H, W) of the file when ``image`` was decoded
    smaller (:func:`cnncalc.classroom.samples.open_upload`); the note speaks in its pixels."""
    a = np.asarray(image, dtype=np.uint8)
    h, w = a.shape[:2]
    oh, ow = original or (h, w)
    kept = None
    if max(h, w) > max_ratio * min(h, w):
        kh, kw = (h, max_ratio * h) if w > h else (max_ratio * w, w)
        t, l = (h - kh) // 2, (w - kw) // 2
        a = a[t:t + kh, l:l + kw]
        kept = (round(t * oh / h), round(l * ow / w), round(kh * oh / h), round(kw * ow / w))
    ch, cw = a.shape[:2]
    f = max(longest / max(ch, cw), minimum / min(ch, cw))
    size = (max(minimum, round(cw * f)), max(minimum, round(ch * f)))
    if size == (cw, ch):
        return Fitted(np.array(a), (oh, ow), kept)  # a writable copy (torch.as_tensor warns on read-only arrays)
    resized = np.array(Image.fromarray(np.ascontiguousarray(a)).resize(size, Image.Resampling.LANCZOS),
                       dtype=np.uint8)  # writable
    return Fitted(resized, (oh, ow), kept)


def fit_longest(image, longest: int, minimum: int = 1) -> np.ndarray:
    """:func:`fit`'s image: longest side ``longest``, no side under ``minimum``, at most :data:`MAX_RATIO`."""
    return fit(image, longest, minimum).image


def cap_pixels(image, max_pixels: int = MAX_PICTURE_PIXELS) -> np.ndarray:
    """``image`` (H, W, 3) shrunk (box filter, the aspect ratio kept) to at most ``max_pixels``; unchanged
    when it is smaller. Every picture the browser gets goes through here."""
    a = np.asarray(image, dtype=np.uint8)
    h, w = a.shape[:2]
    if h * w <= max_pixels:
        return a
    f = (max_pixels / (h * w)) ** 0.5
    size = (max(1, int(w * f)), max(1, int(h * f)))
    return np.asarray(Image.fromarray(np.ascontiguousarray(a)).resize(size, Image.Resampling.BOX), dtype=np.uint8)


def _box(b, h: int, w: int) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) floats → whole pixels inside the image (None when outside)."""
    t, l, bt, r = (int(round(v)) for v in b)
    t, l, bt, r = max(t, 0), max(l, 0), min(bt, h - 1), min(r, w - 1)
    return (t, l, bt, r) if t <= bt and l <= r else None


def draw_cell(image_rgb, geometry, i: int, j: int, target: int = 480, dim: float = 0.5) -> Image.Image:
    """The image upscaled (nearest, whole factor: see :func:`enlarge`) with cell (i, j)'s window as a solid
    yellow box and its receptive field as a dashed cyan box clipped to the image; pixels outside the
    field are darkened by ``dim``, those in the field but outside the window by half as much."""
    a = np.asarray(image_rgb, dtype=np.uint8)
    h, w = a.shape[:2]
    k = max(1, target // max(h, w))
    win, field = _box(geometry.window_box(i, j), h, w), _box(geometry.field_box(i, j), h, w)
    shade = np.full((h, w), 1 - dim)
    if field is not None:
        shade[field[0]:field[2] + 1, field[1]:field[3] + 1] = 1 - dim / 2
    if win is not None:
        shade[win[0]:win[2] + 1, win[1]:win[3] + 1] = 1.0
    canvas = Image.fromarray(enlarge((a * shade[..., None]).astype(np.uint8), k * max(h, w)))
    draw = ImageDraw.Draw(canvas)
    width = int(min(6, max(2, k // 3)))

    def rect(b):  # canvas (x0, y0, x1, y1), inclusive, covering pixels b
        return b[1] * k, b[0] * k, (b[3] + 1) * k - 1, (b[2] + 1) * k - 1

    if field is not None:
        dashed_rect(draw, rect(field), EDGE_COLOUR, width + 2, dash=max(6, 2 * k))
        dashed_rect(draw, rect(field), GRID_COLOUR, width, dash=max(6, 2 * k))
    if win is not None:
        outline(draw, rect(win), BOX_COLOUR, width)
        x0, y0, x1, y1 = rect(win)
        r = max(3, min(k, 8))
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        draw.ellipse((cx - r - 2, cy - r - 2, cx + r + 2, cy + r + 2), fill=(255, 255, 255))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=CENTRE_COLOUR)
    return canvas


class Tile(NamedTuple):
    index: int                    # position in the list of images
    row: int
    col: int
    top: int                      # pixel offset of the tile in the mosaic
    left: int
    cell: tuple[int, int] | None  # the score-map cell whose window is exactly this tile (None: no such cell)


def mosaic(images, rows: int, cols: int, stride: int | None = None,
           window: tuple[int, int] | None = None) -> tuple[np.ndarray, list[Tile]]:
    """Tile ``rows × cols`` equal-size images (H, W, 3) row by row into one image, with each tile's score-map
    cell: tile (r, c) sits at (H·r, W·c); the window of cell (i, j) starts at (i·stride, j·stride), so with a
    window of the tile's size the tile is cell (H·r/stride, W·c/stride) — exactly when stride divides the
    offsets (for 32×32 tiles and stride 8: cell (4r, 4c)). A window smaller than the tile is centred in it."""
    images = [np.asarray(im, dtype=np.uint8) for im in images[:rows * cols]]
    if len(images) < rows * cols:
        raise ValueError(f"a {rows}×{cols} mosaic needs {rows * cols} images, got {len(images)}")
    th, tw = images[0].shape[:2]
    if any(im.shape != images[0].shape for im in images):
        raise ValueError("mosaic images must all have the same size")
    wh, ww = window or (th, tw)
    grid = np.concatenate([np.concatenate(images[r * cols:(r + 1) * cols], axis=1) for r in range(rows)], axis=0)
    tiles = []
    for n in range(rows * cols):
        r, c = divmod(n, cols)
        oi, oj = th * r + (th - wh) / 2, tw * c + (tw - ww) / 2
        exact = stride and oi >= 0 and oj >= 0 and oi % stride == 0 and oj % stride == 0
        tiles.append(Tile(n, r, c, th * r, tw * c, (int(oi // stride), int(oj // stride)) if exact else None))
    return grid, tiles


__all__ = ["cell_squares", "cell_overlay", "palette", "class_map", "legend", "LegendItem", "fit_longest", "fit",
           "Fitted", "cap_pixels", "MAX_RATIO", "MAX_PICTURE_PIXELS",
           "draw_cell", "Tile", "mosaic"]

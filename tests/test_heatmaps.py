"""Pictures of dense score maps: the colour scale, where each cell lands on the image, the mosaic's tiles and
the cell's window and receptive field, all checked at hand-computed pixels."""
import numpy as np
import pytest

from cnncalc.draw import colours as cmap
from cnncalc.draw import primitives
from cnncalc.draw import heatmaps as hm
from cnncalc.pytorch import fcn
from cnncalc.pytorch.fcn import Geometry
from cnncalc.draw.colours import BOX_COLOUR, EDGE_COLOUR

LAB = Geometry(window=(32, 32), stride=8, rf=60, start=15.5)  # the lab net's converted head


def luminance(rgb):
    return np.asarray(rgb, dtype=np.float64) @ [0.2126, 0.7152, 0.0722]


def test_colorize_endpoints_range_and_order():
    out = cmap.colorize(np.array([[0.0, 0.5, 1.0], [-3.0, 7.0, np.nan]]), 0, 1)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 3)
    assert (out[0, 0] == cmap.LUT[0]).all() and (out[0, 2] == cmap.LUT[255]).all()
    assert (out[1, 0] == cmap.LUT[0]).all() and (out[1, 1] == cmap.LUT[255]).all()  # clipped
    assert (out[1, 2] == cmap.LUT[0]).all()  # NaN: the lowest colour
    assert tuple(cmap.LUT[0]) == (68, 1, 84) and tuple(cmap.LUT[255]) == (253, 231, 37)  # viridis' ends
    steps = np.diff(luminance(cmap.LUT))  # dark → bright (up to rounding): readable in greyscale too
    assert (steps > -0.5).all() and luminance(cmap.LUT[255]) - luminance(cmap.LUT[0]) > 180
    auto = cmap.colorize(np.array([2.0, 4.0, 6.0]))  # default range: the map's own min … max
    assert (auto[0] == cmap.LUT[0]).all() and (auto[2] == cmap.LUT[255]).all() and (auto[1] == cmap.LUT[128]).all()
    assert (cmap.colorize(np.full((2, 2), 5.0)) == cmap.LUT[0]).all()  # constant map: no division by zero
    assert (cmap.colorbar(50, 4)[:, 0] == cmap.LUT[0]).all() and (cmap.colorbar(50, 4)[:, -1] == cmap.LUT[255]).all()


def test_cell_overlay_puts_each_cell_at_its_window_centre():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (64, 72, 3), dtype=np.uint8)
    values = np.zeros((LAB.cells(64, 0), LAB.cells(72, 1)))
    assert values.shape == (5, 6)
    values[2, 3] = 1.0
    out = hm.cell_overlay(image, values, LAB, 0, 1, alpha=1.0)
    # cell (2, 3): window rows 16…47, columns 24…55; its 8×8 square at the centre: offset (32 − 8)/2 = 12
    assert (out[28:36, 36:44] == cmap.LUT[255]).all()
    assert (out[27, 36:44] == cmap.LUT[0]).all() and (out[36, 36:44] == cmap.LUT[0]).all()  # cells (1, 3), (3, 3)
    assert (out[28:36, 35] == cmap.LUT[0]).all() and (out[28:36, 44] == cmap.LUT[0]).all()
    # the border no window centre reaches is the image, untouched: 12 px at the top and left; at the bottom
    # 64 − (12 + 5·8) = 12 px, at the right 72 − (12 + 6·8) = 12 px
    for region in (np.s_[:12], np.s_[52:], np.s_[:, :12], np.s_[:, 60:]):
        assert (out[region] == image[region]).all()
    assert (out[12:52, 12:60] != image[12:52, 12:60]).any(axis=-1).all()
    half = hm.cell_overlay(image, values, LAB, 0, 1, alpha=0.5)  # a blend: halfway between image and colour
    expected = np.rint(0.5 * image[30, 40] + 0.5 * cmap.LUT[255].astype(float))
    assert np.abs(half[30, 40].astype(int) - expected).max() <= 1


def test_cell_overlay_with_colours_and_at_half_scale():
    image = np.zeros((128, 128, 3), np.uint8)
    colours = np.zeros((3, 3, 3), np.uint8)
    colours[1, 2] = (255, 0, 0)
    # the map of the image resized by 0.5 (64×64 → 5×5 cells, here 3×3 given): cell (1, 2) covers rows
    # (1·8 + 12)/0.5 = 40 … (2·8 + 12)/0.5 − 1 = 55 and columns (2·8 + 12)/0.5 = 56 … 71 of the original
    out = hm.cell_overlay(image, colours, Geometry((32, 32), 8, 60, 15.5, scale=0.5), alpha=1.0)
    red = np.argwhere((out == (255, 0, 0)).all(-1))
    assert red.min(0).tolist() == [40, 56] and red.max(0).tolist() == [55, 71] and len(red) == 16 * 16


def test_class_map_and_legend():
    argmax = np.array([[0, 3], [3, 7]])
    colours = hm.palette([3, 0])
    rgb = hm.class_map(argmax, colours)
    assert tuple(rgb[0, 0]) == cmap.TAB10[1] and tuple(rgb[0, 1]) == cmap.TAB10[0]
    assert tuple(rgb[1, 1]) == cmap.OTHER_COLOUR  # a class without a colour
    classes = [f"c{k}" for k in range(10)]
    assert hm.legend(classes, colours) == [(3, "c3", "#1f77b4"), (0, "c0", "#ff7f0e")]
    assert hm.legend(classes, cmap.TAB10)[9] == (9, "c9", "#17becf")


def test_mosaic_tiles_are_cells():
    images = [np.full((32, 32, 3), n, np.uint8) for n in range(24)]
    grid, tiles = hm.mosaic(images, 4, 6, stride=8)
    assert grid.shape == (128, 192, 3) and len(tiles) == 24
    for tile in tiles:
        r, c = tile.row, tile.col
        assert (tile.top, tile.left) == (32 * r, 32 * c)
        assert (grid[32 * r:32 * r + 32, 32 * c:32 * c + 32] == r * 6 + c).all()
        assert tile.cell == (4 * r, 4 * c)  # 32r/8, 32c/8
        assert LAB.window_box(*tile.cell) == (32 * r, 32 * c, 32 * r + 31, 32 * c + 31)  # the window is the tile
    assert LAB.cells(128, 0) == 13 and LAB.cells(192, 1) == 21
    _, tiles = hm.mosaic(images, 4, 6, stride=12)  # 12 does not divide 32: only tiles at multiples of 96
    assert tiles[0].cell == (0, 0) and tiles[1].cell is None and tiles[3].cell == (0, 8)
    _, tiles = hm.mosaic(images, 4, 6, stride=8, window=(28, 28))  # a 28×28 window centred in a 32 tile
    assert all(t.cell is None for t in tiles)
    with pytest.raises(ValueError, match="needs 24 images"):
        hm.mosaic(images[:5], 4, 6)


def test_draw_cell_boxes_where_expected():
    image = np.full((64, 64, 3), 200, np.uint8)
    canvas = np.asarray(hm.draw_cell(image, LAB, 2, 3, target=256, dim=0.5))
    k = 4  # 256 // 64: each pixel is a 4×4 block
    assert canvas.shape == (256, 256, 3)
    # window of cell (2, 3): rows 16…47, columns 24…55 → canvas x 96…223, y 64…191, outline drawn inward
    x0, y0, x1, y1 = 24 * k, 16 * k, 56 * k - 1, 48 * k - 1
    mid = (y0 + y1) // 2 + 20  # away from the centre marker
    assert tuple(canvas[mid, x0]) == BOX_COLOUR and tuple(canvas[mid, x1]) == BOX_COLOUR
    assert tuple(canvas[y0, x0 + 40]) == BOX_COLOUR and tuple(canvas[y1, x0 + 40]) == BOX_COLOUR
    assert tuple(canvas[mid, x0 - 1]) == EDGE_COLOUR  # a black edge outside for contrast
    assert tuple(canvas[y0 + 30, x0 + 30]) == (200, 200, 200)  # inside the window: the image, not dimmed
    # receptive field: centre 15.5 + 8·i = 31.5 rows, 39.5 columns, ± (60 − 1)/2 → rows 2…61, columns
    # 10…69, clipped to 63: a dashed cyan box on rows 2 and 61, column 10 and the image's right edge
    cyan = (canvas == cmap.GRID_COLOUR).all(-1)
    # dashes along the field's edges (lines 2 px wide, centred on the edge: canvas rows 8 and 247, columns
    # 40 and 255): about half of each edge is cyan; nothing cyan lies outside the field
    assert cyan[7:10, 40:256].any(0).mean() > 0.35 and cyan[246:249, 40:256].any(0).mean() > 0.35
    assert cyan[8:248, 38:42].any(1).mean() > 0.35 and cyan[8:248, 253:256].any(1).mean() > 0.35
    assert not cyan[:7].any() and not cyan[249:].any() and not cyan[:, :38].any()
    assert tuple(canvas[1, 1]) == (100, 100, 100)  # outside the field: dimmed by half
    assert tuple(canvas[5 * k, 12 * k]) == (150, 150, 150)  # in the field, outside the window: a quarter


def test_fit_enlarge_top_k_and_agreement():
    image = np.zeros((300, 451, 3), np.uint8)
    assert hm.fit_longest(image, 96, 32).shape == (64, 96, 3)
    assert hm.fit_longest(np.zeros((20, 400, 3), np.uint8), 96, 32).shape == (32, 640, 3)  # no side < window
    assert primitives.enlarge(np.zeros((10, 20, 3), np.uint8), 100).shape == (50, 100, 3)
    assert fcn.top_k([0.1, 0.6, 0.3], ["a", "b", "c"], 2) == [("b", 0.6), ("c", 0.3)]
    dense = np.zeros((3, 2, 2))
    dense[0] = 1.0
    crops = dense.copy()
    crops[1, 0, 0] = 2.5
    assert fcn.agreement(dense, crops) == (2.5, 0.75)


def test_softmax_and_tile_table():
    scores = np.zeros((3, 8, 8))
    scores[2] = np.log(8.0)  # class 2: e^log8 = 8 against 1 + 1
    probs = fcn.softmax(scores)
    assert np.allclose(probs.sum(0), 1) and np.allclose(probs[2], 0.8)
    crops = probs.copy()
    crops[:, 4, 0] = (0.7, 0.2, 0.1)  # the crop of tile (1, 0) alone says class 0
    _, tiles = hm.mosaic([np.zeros((32, 32, 3), np.uint8)] * 4, 2, 2, stride=8)
    rows = fcn.tile_table(tiles, probs, crops, ["a", "b", "c"], np.array([2, 2, 0, 2]), ["a", "b", "c"])
    assert [r["cell (i, j)"] for r in rows] == ["(0, 0)", "(0, 4)", "(4, 0)", "(4, 4)"]
    assert rows[2] == {"tile (r, c)": "(1, 0)", "cell (i, j)": "(4, 0)", "true class": "a", "dense map": "c 80%",
                       "dense right": False, "crop alone": "a 70%", "crop right": True}
    assert [r["dense right"] for r in rows] == [True, True, False, True]

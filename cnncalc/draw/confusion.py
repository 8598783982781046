"""The confusion matrix as a heat map (Altair), its most confused pairs in words, and any Vega-Lite chart as a
PNG. Plain inputs (class names, a count matrix): no torch, no Streamlit.

Rows are the true class, columns the predicted one, as in scikit-learn and most textbooks: a row reads "what
became of the cats". Cells are coloured by their share of the row (of the true class), not by the raw count,
so a class with fewer test images is not drawn paler; the scale is cnncalc's one colour map, viridis
(:mod:`cnncalc.draw.colours`), on a square-root scale so the off-diagonal mistakes — a few percent each, next
to a diagonal near 80 % — still stand out from zero.

PNG: ``vl-convert-python`` renders the same Vega-Lite spec the page shows, offline (a bundled engine, no
browser); when it is not installed, :class:`PngUnavailable` says how to install it.
"""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from .colours import LUT

VIRIDIS = [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in LUT[np.linspace(0, 255, 9).round().astype(int)]]
"""cnncalc's viridis (colours.LUT) as nine stops for Vega-Lite: the page's and the PNG's colours are the LUT's."""
LABELLED_CLASSES = 20  # counts are written in the cells up to this many classes; beyond, the tooltip only
DARK_BELOW = 0.36      # row shares below this sit on dark viridis (√0.36 = 0.6 of the scale): white text there
CELL = 38              # pixels per cell from 8 to 12 classes; fewer classes get larger cells, more get smaller ones
VL_CONVERT = "vl-convert-python==1.9.0.post1"  # the pin of requirements.txt, named in the install hint


class PngUnavailable(RuntimeError):
    """A chart cannot be rendered as PNG here (vl-convert-python missing); the message says how to fix it."""


def confusion_frame(classes, counts) -> pd.DataFrame:
    """Long format, one row per cell: true, predicted, count, row_total (images of the true class) and
    row_share (count / row_total; 0 for a class without test images)."""
    c = np.asarray(counts, dtype=np.int64)
    totals = c.sum(axis=1)
    rows = [(classes[i], classes[j], int(c[i, j]), int(totals[i]), c[i, j] / totals[i] if totals[i] else 0.0)
            for i in range(len(classes)) for j in range(len(classes))]
    return pd.DataFrame(rows, columns=["true", "predicted", "count", "row_total", "row_share"])


def confusion_chart(classes, counts, title: str = "Confusion matrix (test set)") -> alt.LayerChart:
    """The heat map: rows true class, columns predicted; colour = share of the true class (viridis, √ scale);
    counts written in the cells up to :data:`LABELLED_CLASSES` classes; tooltip: both classes, the count and
    the row percentage."""
    classes = [str(c) for c in classes]
    k = max(len(classes), 1)
    cell = max(CELL, 300 // k) if k <= 12 else max(12, 456 // k)
    df = confusion_frame(classes, counts)
    base = alt.Chart(df).encode(
        x=alt.X("predicted:N", sort=classes, title="predicted class",
                axis=alt.Axis(orient="top", labelAngle=-40, labelLimit=140)),
        y=alt.Y("true:N", sort=classes, title="true class", axis=alt.Axis(labelLimit=140)))
    rect = base.mark_rect(stroke="white", strokeWidth=0.5).encode(
        color=alt.Color("row_share:Q", title="share of the true class",
                        scale=alt.Scale(type="sqrt", domain=[0, 1], range=VIRIDIS),
                        legend=alt.Legend(format="%", orient="right", gradientLength=max(120, cell * k - 40))),
        tooltip=[alt.Tooltip("true:N", title="true class"), alt.Tooltip("predicted:N", title="predicted as"),
                 alt.Tooltip("count:Q", title="images", format=","),
                 alt.Tooltip("row_share:Q", title="of the true class", format=".1%"),
                 alt.Tooltip("row_total:Q", title="images of the true class", format=",")])
    layers = [rect]
    if k <= LABELLED_CLASSES:
        layers.append(base.mark_text(fontSize=11 if k <= 12 else 9).encode(
            text=alt.Text("count:Q", format=","),
            color=alt.condition(f"datum.row_share < {DARK_BELOW}", alt.value("white"), alt.value("black"))))
    # autosize "pad": the cells keep their size and the labels and legend are added around them (Streamlit's
    # default, "fit", squeezes the grid into the width asked, labels and legend included)
    return alt.layer(*layers).properties(
        width=cell * k, height=cell * k, autosize=alt.AutoSizeParams(type="pad"),
        title=alt.TitleParams(title, subtitle="rows: true class · columns: predicted · colour: share of the row"))


def pair_sentence(true: str, predicted: str, count: int, row_total: int) -> str:
    """One confusion in words: ``cat → dog: 142 of the 1,000 cat images (14.2 %)``. "images" rather than a
    plural of the class name: class names are folder names, and "deers" or "warm rings ×1s" read badly."""
    share = f" ({count / row_total:.1%})" if row_total else ""
    return f"{true} → {predicted}: {count:,} of the {row_total:,} {true} images{share}"


def most_confused(classes, counts, n: int = 3) -> list[tuple[str, str, int, int]]:
    """The ``n`` largest off-diagonal cells as (true, predicted, count, row_total), largest count first (ties:
    the larger share of its row, then the class order); cells with no image are never listed."""
    c = np.asarray(counts, dtype=np.int64)
    totals = c.sum(axis=1)
    cells = [(i, j) for i in range(len(c)) for j in range(len(c)) if i != j and c[i, j] > 0]
    cells.sort(key=lambda ij: (-c[ij], -(c[ij] / totals[ij[0]]), ij))
    return [(str(classes[i]), str(classes[j]), int(c[i, j]), int(totals[i])) for i, j in cells[:n]]


def confused_sentences(classes, counts, n: int = 3) -> list[str]:
    """The most confused pairs in words (:func:`pair_sentence`); one sentence when nothing was confused."""
    pairs = most_confused(classes, counts, n)
    if not pairs:
        return ["no confusion at all: every test image was classified as its true class"]
    return [pair_sentence(*p) for p in pairs]


def to_png(chart, scale: float = 2.0) -> bytes:
    """A chart (Altair or its Vega-Lite dict) as PNG bytes, rendered offline by vl-convert at ``scale`` × its
    pixel size (2: sharp on a printed page). :class:`PngUnavailable` when vl-convert-python is missing."""
    try:
        import vl_convert
    except ImportError:
        raise PngUnavailable(f"PNG export needs the package vl-convert-python, which is not installed here "
                             f"(pip install {VL_CONVERT}, or pip install -r requirements.txt)") from None
    spec = chart.to_dict() if hasattr(chart, "to_dict") else chart
    return vl_convert.vegalite_to_png(spec, scale=scale)

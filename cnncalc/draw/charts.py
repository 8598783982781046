"""Pure Altair builders: a DataFrame (or Analysis) in, an ``alt.Chart`` out. No Streamlit here."""
from __future__ import annotations

import altair as alt
import pandas as pd

from ..report import Analysis


def params_frame(analysis: Analysis) -> pd.DataFrame:
    """Layers that hold parameters, with their share of the total."""
    rows = [(r.name, r.params) for r in analysis.layers if r.params]
    df = pd.DataFrame(rows, columns=["layer", "params"])
    total = df["params"].sum() if len(df) else 0
    df["share"] = df["params"] / total if total else 0.0
    return df


def params_chart(df: pd.DataFrame) -> alt.Chart:
    """Horizontal bars: where the parameters are (the lab net's fc4 holds ~86 %)."""
    base = alt.Chart(df).encode(
        y=alt.Y("layer:N", sort=None, title=None),
        x=alt.X("params:Q", title="parameters"),
        tooltip=["layer", alt.Tooltip("params:Q", format=","), alt.Tooltip("share:Q", format=".1%")])
    bars = base.mark_bar()
    labels = base.mark_text(align="left", dx=4).encode(text=alt.Text("share:Q", format=".1%"))
    return (bars + labels).properties(title="Where the parameters are", height=alt.Step(26))


def rf_frame(analysis: Analysis) -> pd.DataFrame:
    rows = [(i, r.name, r.rf[0], r.rf[1], r.jump[0]) for i, r in enumerate(analysis.layers) if r.rf is not None]
    return pd.DataFrame(rows, columns=["index", "layer", "rf_h", "rf_w", "jump_h"])


def rf_chart(df: pd.DataFrame) -> alt.Chart:
    """Receptive-field size (height axis) layer after layer, jump as a second series."""
    long = df.melt(id_vars=["index", "layer"], value_vars=["rf_h", "jump_h"], var_name="quantity",
                   value_name="pixels")
    long["quantity"] = long["quantity"].map({"rf_h": "receptive field (H)", "jump_h": "jump (H)"})
    return alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("layer:N", sort=list(df["layer"]), title=None),
        y=alt.Y("pixels:Q", title="input pixels"),
        color=alt.Color("quantity:N", title=None, legend=alt.Legend(orient="top")),
        tooltip=["layer", "quantity", "pixels"]).properties(title="How the receptive field grows")

"""The analyzer's two charts as plain Vega-Lite specifications (dicts with their data inline): an Analysis in,
a spec out, for ``st.vega_lite_chart``. Written as data rather than built with Altair because Altair validates
every object against the Vega-Lite JSON schema, which cost ~0.3 s per analyzer change on a class server; a dict
costs well under a millisecond. No Streamlit here."""
from __future__ import annotations

from ..report import Analysis

VEGA_LITE = "https://vega.github.io/schema/vega-lite/v6.json"


def params_rows(analysis: Analysis) -> list[dict]:
    """Layers that hold parameters, with their share of the total."""
    rows = [(r.name, r.params) for r in analysis.layers if r.params]
    total = sum(p for _, p in rows)
    return [{"layer": name, "params": params, "share": params / total if total else 0.0} for name, params in rows]


def params_chart(rows: list[dict]) -> dict:
    """Horizontal bars: where the parameters are (the lab net's fc4 holds ~86 %), each labelled with its share."""
    encoding = {"y": {"field": "layer", "type": "nominal", "sort": None, "title": None},
                "x": {"field": "params", "type": "quantitative", "title": "parameters"},
                "tooltip": [{"field": "layer", "type": "nominal"},
                            {"field": "params", "type": "quantitative", "format": ","},
                            {"field": "share", "type": "quantitative", "format": ".1%"}]}
    return {"$schema": VEGA_LITE, "title": "Where the parameters are", "data": {"values": rows},
            "height": {"step": 26}, "encoding": encoding,
            "layer": [{"mark": {"type": "bar"}},
                      {"mark": {"type": "text", "align": "left", "dx": 4},
                       "encoding": {"text": {"field": "share", "type": "quantitative", "format": ".1%"}}}]}


def rf_rows(analysis: Analysis) -> list[dict]:
    """Per layer with a field: its receptive field and jump along H, as two series (long format)."""
    rows = []
    for i, r in enumerate(analysis.layers):
        if r.rf is not None:
            rows += [{"index": i, "layer": r.name, "quantity": "receptive field (H)", "pixels": r.rf[0]},
                     {"index": i, "layer": r.name, "quantity": "jump (H)", "pixels": r.jump[0]}]
    return rows


def rf_chart(rows: list[dict]) -> dict:
    """Receptive-field size (height axis) layer after layer, jump as a second series."""
    order = list(dict.fromkeys(row["layer"] for row in rows))
    return {"$schema": VEGA_LITE, "title": "How the receptive field grows", "data": {"values": rows},
            "mark": {"type": "line", "point": True},
            "encoding": {"x": {"field": "layer", "type": "nominal", "sort": order, "title": None},
                         "y": {"field": "pixels", "type": "quantitative", "title": "input pixels"},
                         "color": {"field": "quantity", "type": "nominal", "title": None,
                                   "legend": {"orient": "top"}},
                         "tooltip": [{"field": "layer", "type": "nominal"}, {"field": "quantity", "type": "nominal"},
                                     {"field": "pixels", "type": "quantitative"}]}}

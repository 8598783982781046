"""The analyzer's charts as Vega-Lite specs: the numbers they carry are the lab net's, worked by hand, and the
specs are valid Vega-Lite (checked against Altair's copy of the v6 JSON schema)."""
import pytest

from cnncalc import PRESETS, analyze
from cnncalc.draw.charts import params_chart, params_rows, rf_chart, rf_rows

LAB = analyze(PRESETS["lab"].spec, (3, 32, 32))


def test_params_rows_are_the_lab_layers_with_their_shares():
    rows = params_rows(LAB)
    assert [(r["layer"], r["params"]) for r in rows] == [("conv1", 2432), ("conv2", 51264), ("conv3", 102464),
                                                         ("fc4", 1025000), ("fc5", 10010)]
    assert rows[3]["share"] == pytest.approx(1_025_000 / 1_191_170)        # ≈ 86 %
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)


def test_rf_rows_follow_the_hand_worked_fields():
    rows = {(r["layer"], r["quantity"]): r["pixels"] for r in rf_rows(LAB)}
    # rf: 5, 6, 14, 16, 32, 36 (conv1 … pool3); jump: 1, 2, 2, 4, 4, 8
    assert [rows[(n, "receptive field (H)")] for n in ("conv1", "pool1", "conv2", "pool2", "conv3", "pool3")] == \
        [5, 6, 14, 16, 32, 36]
    assert [rows[(n, "jump (H)")] for n in ("conv1", "pool1", "conv2", "pool2", "conv3", "pool3")] == [1, 2, 2, 4, 4, 8]


@pytest.mark.parametrize("spec", [params_chart(params_rows(LAB)), rf_chart(rf_rows(LAB))])
def test_specs_are_valid_vega_lite(spec):
    from altair.utils.schemapi import validate_jsonschema
    from altair.vegalite.v6.schema import load_schema
    validate_jsonschema(spec, load_schema())


def test_an_empty_network_gives_empty_series():
    flat = analyze("fc 10", (784,))
    assert rf_rows(flat) == [] and [r["layer"] for r in params_rows(flat)] == ["fc1"]

"""cnncalc.pytorch.graph.from_module: no silent undercounts — attention's functional calls get rows, params and
MACs equal torchvision's own figures (traced on the meta device: no real compute)."""
import pytest
import torch
import torchvision
from torch import nn

from cnncalc.pytorch.graph import from_module
from cnncalc.tables import total_text


class ConvAttention(nn.Module):
    """A 16×16/16 patch conv, then one MultiheadAttention(64, 4) over the 16 tokens."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 64, 16, 16)
        self.mha = nn.MultiheadAttention(64, 4, batch_first=True)

    def forward(self, x):
        x = self.conv(x).flatten(2).transpose(1, 2)
        return self.mha(x, x, x, need_weights=False)[0]


def test_conv_plus_attention_by_hand():
    """3×64×64 → conv 16×16/16 → 64×4×4 = 16 tokens of 64.
    conv:      16 positions · 64 out · (3·16·16) = 786,432
    in_proj:   16 tokens · 64 in · 192 out (q, k, v) = 196,608
    Q·Kᵀ:      4 heads · 16·16 · 16 (d = 64/4) = 16,384;   softmax·V: the same, 16,384
    out_proj:  16 tokens · 64 · 64 = 65,536
    total      786,432 + 196,608 + 32,768 + 65,536 = 1,081,344 (the leaf-only trace saw 786,432)."""
    model = ConvAttention()
    a = from_module(model, (3, 64, 64))
    rows = {r.name: r.macs for r in a.layers}
    assert rows == {"conv": 786_432, "mha (in_proj)": 196_608, "mha (attention matmuls)": 32_768,
                    "mha (out_proj)": 65_536}
    assert a.macs == 786_432 + 196_608 + 2 * 16_384 + 65_536 == 1_081_344
    assert a.missing("macs") == () and total_text(a, "macs") == 1_081_344
    assert a.params == sum(p.numel() for p in model.parameters()) == 65_856


def test_attention_with_weights_counts_bmm():
    """need_weights=True takes the explicit baddbmm/bmm path: the same 32,768 attention MACs."""
    model = ConvAttention()
    model.forward = lambda x: model.mha(*(3 * [model.conv(x).flatten(2).transpose(1, 2)]))[0]
    a = from_module(model, (3, 64, 64))
    assert a.macs == 1_081_344 and a.missing("macs") == ()


def test_unknown_functional_op_is_missing_not_zero():
    class Up(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            return self.conv(nn.functional.interpolate(x, scale_factor=2))

    a = from_module(Up(), (3, 8, 8))
    assert a.missing("macs") == ("model (interpolate)",)
    assert total_text(a, "macs") == f"≥ {16 * 16 * 4 * 27:,}"
    assert a["conv"].rf is None and "interpolate" in a["conv"].message


def _meta(name):
    with torch.device("meta"):
        return getattr(torchvision.models, name)()


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "vit_b_16"])
def test_torchvision_params_and_macs(name):
    """torchvision's meta["_ops"] is in GMACs despite its "GFLOPS" label (resnet50: 4.089 = its 4.09 G MACs)."""
    model = _meta(name)
    a = from_module(model, (3, 224, 224))
    assert a.params == sum(p.numel() for p in model.parameters())
    ops = torchvision.models.get_model_weights(name).DEFAULT.meta["_ops"]
    assert a.missing("macs") == () and abs(a.macs / 1e9 - ops) / ops < 0.01, (a.macs, ops)


def test_vit_rows_name_the_attention():
    a = from_module(_meta("vit_b_16"), (3, 224, 224))
    block = "encoder.layers.encoder_layer_0.self_attention"
    # 197 tokens: in_proj 197·768·2304; two matmuls 12 heads · 197·197 · 64 each
    assert a[f"{block} (in_proj)"].macs == 197 * 768 * 2304
    assert a[f"{block} (attention matmuls)"].macs == 2 * 12 * 197 * 197 * 64
    assert a[f"{block} (out_proj)"].macs == 197 * 768 * 768
    assert a["model"].params == 768 and a["encoder"].params == 197 * 768   # class token, positional embedding


@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0"])
def test_mobile_nets_keep_fields_and_exact_totals(name):
    model = _meta(name)
    a = from_module(model, (3, 224, 224))
    assert a.missing("macs") == () and not isinstance(total_text(a, "macs"), str)
    assert a.params == sum(p.numel() for p in model.parameters())
    ops = torchvision.models.get_model_weights(name).DEFAULT.meta["_ops"]
    assert abs(a.macs / 1e9 - ops) / ops < 0.01
    spatial = [r for r in a.layers if r.out_shape and len(r.out_shape) == 3]
    assert all(r.rf is not None and "rf" not in r.unavailable for r in spatial), \
        [(r.name, r.message) for r in spatial if r.rf is None][:3]

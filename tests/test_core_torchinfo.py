"""torchinfo and torchvision as oracles: every preset's parameters and mult-adds, and ``from_module`` on
torchvision's VGG16 and ResNet-18 and on modules cnncalc has no formula for."""
from __future__ import annotations

import pytest
import torch
import torchinfo
import torchvision
from torch import nn

import cnncalc
from cnncalc import BatchNorm, Conv, Linear, Pool, analyze, build_model, from_module
from cnncalc.tables import row, totals_row



def torchinfo_mult_adds(a) -> int:
    """torchinfo's total_mult_adds in cnncalc's terms. torchinfo (layer_info.calculate_macs) multiplies
    *every* parameter tensor named weight/bias by the output positions: for Conv* by batch·out_H·out_W, for
    other layers by the batch (1 here). So beyond cnncalc's MACs (weight products only) it counts
      conv:  biases · out_H·out_W            (one "mult-add" per bias add)
      fc:    biases
      bn:    γ and β, i.e. its params (2·C)
    Checked empirically on the lab, lab-bn, LeNet-5 and AlexNet presets before being written down here."""
    extra = 0
    for r in a.layers:
        if isinstance(r.layer, Conv):
            extra += r.biases * r.out_shape[1] * r.out_shape[2]
        elif isinstance(r.layer, Linear):
            extra += r.biases
        elif isinstance(r.layer, BatchNorm):
            extra += r.params
    return a.macs + extra


@pytest.mark.parametrize("key", list(cnncalc.PRESETS))
def test_preset_matches_torchinfo(key):
    p = cnncalc.preset(key)
    a = analyze(p.spec, p.input_shape)
    model = build_model(p.spec, p.input_shape)
    s = torchinfo.summary(model, input_size=(1, *p.input_shape), verbose=0, device="cpu")
    assert s.total_params == a.params == sum(q.numel() for q in model.parameters())
    assert s.total_mult_adds == torchinfo_mult_adds(a)
    # per layer, on the layers torchinfo lists by name
    by_name = {info.var_name: info for info in s.summary_list if info.depth == 1}
    for r in a.layers:
        info = by_name[r.name]
        assert tuple(info.output_size[1:]) == r.out_shape, r.name
        assert info.trainable_params == r.params, r.name


# --- torchvision VGG16 ----------------------------------------------------------------------------

def test_from_module_torchvision_vgg16_equals_preset():
    with torch.device("meta"):                 # no 138M-parameter initialisation; from_module traces on meta
        model = torchvision.models.vgg16(weights=None)
    got = from_module(model, (3, 224, 224))
    want = analyze(cnncalc.preset("vgg16").spec, (3, 224, 224))
    assert got.params == want.params == sum(p.numel() for p in model.parameters()) == 138_357_544
    assert got.macs == want.macs
    pools = [r for r in got.layers if isinstance(r.layer, Pool)]
    assert len(pools) == 5
    # pool5: rf 212, jump 32, start 15.5 (worked out in test_core_receptive.py::test_vgg16_pool5_arithmetic)
    assert (pools[-1].rf, pools[-1].jump, pools[-1].start) == ((212, 212), (32, 32), (15.5, 15.5))
    assert pools[-1].name == "features.30"
    # the adaptive 7×7 average pool is the identity at 224×224 and keeps the field
    avg = next(r for r in got.layers if r.name == "avgpool")
    assert avg.out_shape == (512, 7, 7) and avg.rf == (212, 212)


# --- torchvision ResNet-18 ------------------------------------------------------------------------

def _leaf_calls(model, shape):
    """(name, output shape) of every leaf module call of a real forward, in order (a module called twice,
    like BasicBlock.relu, appears twice)."""
    names = {m: n for n, m in model.named_modules()}
    calls = []
    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(lambda mod, args, out: calls.append((names[mod], tuple(out.shape[1:]))))
               for m in leaves]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    for h in handles:
        h.remove()
    return calls


def test_from_module_resnet18():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    shape = (3, 64, 64)
    a = from_module(model, shape)
    calls = _leaf_calls(model, shape)
    assert [(r.name, r.out_shape) for r in a.layers] == calls
    assert a.params == sum(p.numel() for p in model.parameters()) == 11_689_512
    assert a.layers[-1].out_shape == (1000,)

    # the stem keeps its field: conv1 k7 s2 p3 → rf 7, jump 2, start 0 + (3 − 3)·1 = 0;
    # maxpool k3 s2 p1 → rf 7 + 2·2 = 11, jump 4, start 0 + (1 − 1)·2 = 0;
    # layer1.0.conv1 k3 p1 → rf 11 + 2·4 = 19
    stem = {r.name: r for r in a.layers[:5]}
    assert (stem["conv1"].rf, stem["conv1"].jump, stem["conv1"].start) == ((7, 7), (2, 2), (0, 0))
    assert (stem["maxpool"].rf, stem["maxpool"].jump, stem["maxpool"].start) == ((11, 11), (4, 4), (0, 0))
    assert stem["layer1.0.conv1"].rf == (19, 19)

    # the first residual add: layer1.0's `out += identity` happens between bn2 and the second relu call.
    # Both paths have jump 4 and the same centre, so the field is their union (Araujo et al., Distill 2019):
    # main path conv2 k3 → 19 + 2·4 = 27; identity path = the maxpool's 11; union 27.
    names = [r.name for r in a.layers]
    first_add = names.index("layer1.0.relu", names.index("layer1.0.bn2"))
    assert a.layers[first_add].rf == (27, 27) and a.layers[first_add].jump == (4, 4)
    spatial = [r for r in a.layers if r.out_shape and len(r.out_shape) == 3]
    assert all(r.rf is not None and not r.unavailable for r in spatial)
    assert a.layers[names.index("layer4.1.relu", names.index("layer4.1.bn2"))].rf == (435, 435)  # gradient: 435

    # the leaf-only reference stops there with an explicit "unavailable", never a guess
    from cnncalc.pytorch.bridge import from_module_leaves
    leaves = from_module_leaves(model, (3, 64, 64))
    after = [r for r in leaves.layers[first_add:] if r.out_shape and len(r.out_shape) == 3]
    assert after and all(r.rf is None and "rf" in r.unavailable for r in after)
    assert "residual" in leaves.layers[first_add].message
    assert row(leaves.layers[first_add])["rf"] == "unavailable"


# --- layers without a formula -------------------------------------------------------------------------

def test_from_module_layer_without_formula_is_unavailable_not_zero():
    # bicubic: cnncalc has formulas for nearest and bilinear upsampling only (tests/test_transposed.py)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.PReLU(), nn.Upsample(scale_factor=2, mode="bicubic"),
                          nn.Conv2d(8, 4, 3))
    a = from_module(model, (3, 16, 16))
    assert [(r.name, r.out_shape) for r in a.layers] == _leaf_calls(model, (3, 16, 16))
    prelu, up, conv = a.layers[1], a.layers[2], a.layers[3]
    for r in (prelu, up):
        assert r.macs is None and "macs" in r.unavailable, r.name
        assert row(r)["macs"] == "unavailable"
        assert "no formula" in r.message
    assert prelu.params == 1                                # nn.PReLU(): one learnable slope
    assert up.out_shape == (8, 32, 32)
    assert a.params == sum(p.numel() for p in model.parameters())
    # the conv after the upsample: shapes and MACs are known, its receptive field is not
    assert conv.macs == 30 * 30 * 4 * 8 * 3 * 3 and conv.rf is None and "rf" in conv.unavailable
    # the MACs total is a lower bound that names what it leaves out; the parameter total is exact
    first_conv = 16 * 16 * 8 * 3 * 3 * 3
    assert a.missing("macs") == (prelu.name, up.name) and a.missing("params") == ()
    assert totals_row(a)["macs"] == f"≥ {first_conv + conv.macs:,}"
    assert totals_row(a)["params"] == a.params
    assert a.to_dict()["totals_missing"]["macs"] == [prelu.name, up.name]


def test_from_module_linear_over_last_axis():
    # nn.Linear(30, 5) on a 4×30×30 map acts on the last axis: out 4×30×5, weight 5·30 = 150, bias 5
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Linear(30, 5))
    r = from_module(model, (3, 32, 32)).layers[1]
    assert r.out_shape == (4, 30, 5) and r.params == 155        # PyTorch's own numbers (these hold)
    assert (r.weights, r.biases) == (model[1].weight.numel(), model[1].bias.numel()) == (150, 5), \
        f"weights {r.weights} + biases {r.biases} ≠ params {r.params}"


# --- PyTorch runs that would not fit: the meta device -------------------------------------------------

def test_run_bytes_of_the_lab_net_by_hand():
    """float32: weights 1,191,170·4 = 4,764,680 B; input 3·32·32·4 = 12,288 B; the two largest activations,
    conv1's and relu1's 32·32·32·4 = 131,072 B each → 5,039,112 B."""
    from cnncalc.pytorch.crosscheck import run_bytes
    assert run_bytes(cnncalc.preset("lab").spec, (3, 32, 32)) == 4_764_680 + 12_288 + 2 * 131_072 == 5_039_112


def test_larger_input_and_cross_check_on_the_meta_device():
    from cnncalc.pytorch.crosscheck import cross_check
    from cnncalc.pytorch.larger import larger_input
    lab = cnncalc.preset("lab")
    real = larger_input(lab.spec, (3, 32, 32), (3, 64, 64))
    meta = larger_input(lab.spec, (3, 32, 32), (3, 64, 64), max_bytes=0)   # as if it did not fit
    assert (real.device, meta.device) == ("cpu", "meta")
    assert real.failed_at == meta.failed_at == "fc4" and real.shapes == meta.shapes
    assert real.explanation == meta.explanation and "mat1 and mat2" in real.error
    check = cross_check(lab.spec, (3, 32, 32), max_bytes=0)
    assert check.device == "meta" and check.all_agree and check.torch_params == 1_191_170
    assert check.torchinfo_params is None       # torchinfo needs a real pass

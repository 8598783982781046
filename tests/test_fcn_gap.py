"""Global-average-pooling heads → class activation maps (Zhou et al. 2016): the pooling dropped, the fc after it a
1×1 convolution. Oracle: the original PyTorch model — the mean of the map equals its logits (at the training size
and, since the pooling takes any size, on larger inputs too), and each cell is the fc at one position of the last
convolution's map."""
import pytest
import torch
from torch import nn

from cnncalc import build_model
from cnncalc.pytorch.bridge import from_module
from cnncalc.pytorch.fcn import (
    ClassActivationMap,
    ConversionError,
    cam_mean_difference,
    convolutionalize,
    geometry,
    max_difference,
    score_maps,
)

SHAPE = (3, 32, 32)
GAP_NET = "conv 8 k=3 p=1; relu; conv 16 k=3 p=1; relu; gap; fc 10"


def _net(spec: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(spec, SHAPE).eval()


def test_small_gap_net_mean_of_the_map_is_the_logits():
    model = _net(GAP_NET)
    fcn, steps = convolutionalize(model, SHAPE)
    assert isinstance(fcn, ClassActivationMap)
    assert not any(isinstance(m, (nn.Linear, nn.AdaptiveAvgPool2d)) for m in fcn.modules())
    assert [(s.name, s.weight_before, s.weight_after) for s in steps] == [
        ("avgpool2", None, None), ("fc3", (10, 16), (10, 16, 1, 1))]
    assert "mean" in steps[0].after and "every cell" in steps[1].after
    assert cam_mean_difference(model, fcn, SHAPE) < 1e-5
    x = torch.randn(2, *SHAPE)
    with torch.no_grad():
        cam, logits, features = fcn(x), model(x), model[:4](x)  # model[:4]: the convolutions before the pooling
    assert cam.shape == (2, 10, 32, 32)  # at the training size: one cell per position of the last conv's map
    assert (cam.mean((2, 3)) - logits).abs().max() < 1e-5
    assert (fcn.logits(x) - logits).abs().max() < 1e-5
    fc = model.fc3  # a cell is the fc applied to one position of the last conv's map
    assert (cam[:, :, 5, 7] - fc(features[:, :, 5, 7])).abs().max() < 1e-5
    with pytest.raises(ConversionError, match="cam_mean_difference"):
        max_difference(model, fcn, SHAPE)  # its cells are not windows' logits


def test_larger_input_map_is_the_last_convs_map_and_still_averages_to_the_logits():
    model = _net("conv 8 k=3 p=1; relu; maxpool k=2; conv 16 k=3 p=1; relu; adaptiveavgpool 1; flatten; fc 10")
    fcn, _ = convolutionalize(model, SHAPE)
    x = torch.randn(1, 3, 77, 50)
    with torch.no_grad():
        cam, last_conv = fcn(x), model[:5](x)
        logits = model(x)  # the original pools any size: the mean identity holds beyond the training size
    assert cam.shape[2:] == last_conv.shape[2:] == (38, 25)
    assert (cam.mean((2, 3)) - logits).abs().max() < 1e-5
    geo = geometry(fcn, SHAPE)
    assert geo.cam and geo.window is None
    assert (geo.stride, geo.rf, geo.start) == (2, 8, 0.5)  # 3 → pool 4 → + 2·2 = 8
    assert (geo.cells(77, 0), geo.cells(50, 1)) == (38, 25)
    assert geo.formula(77, 0).startswith("77 → 38") and "no window" in geo.formula(77, 0)
    with pytest.raises(ValueError, match="no window"):
        geo.window_box(0, 0)
    assert geo.field_box(1, 2) == (2.5 - 3.5, 4.5 - 3.5, 2.5 + 3.5, 4.5 + 3.5)
    assert geo.cell_box(1, 2) == (2.0, 4.0, 3.0, 5.0)  # the stride×stride square at the field's centre
    maps = score_maps(fcn, x[0], SHAPE, scales=(1.0, 0.5))
    assert maps[0].scores.shape == (10, 38, 25) and maps[1].geometry.scale == 0.5 and maps[1].geometry.cam
    # the walked field agrees with analyze()'s own arithmetic on this chain (no residual add in it)
    last = [r for r in from_module(fcn, SHAPE).layers if r.rf is not None][-1]
    assert (last.jump[0], last.rf[0], last.start[0]) == (geo.stride, geo.rf, geo.start)


def test_affine_layers_after_the_pooling_convert():
    """fc → fc, BatchNorm1d and Dropout (eval) are affine at each cell: they commute with the mean."""
    torch.manual_seed(3)
    bn = nn.BatchNorm1d(8)
    bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2), bn.weight.data.uniform_(0.5, 2)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), bn,
                          nn.Dropout(0.5), nn.Linear(8, 20), nn.Linear(20, 5)).eval()
    fcn, steps = convolutionalize(model, SHAPE)
    assert [s.after.split(" (")[0].split(",")[0] for s in steps[1:]] == [
        "BatchNorm2d", "Conv2d(8 → 20", "Conv2d(20 → 5"]
    assert cam_mean_difference(model, fcn, SHAPE) < 1e-5


def test_torchvision_resnet18_converts_to_a_class_activation_map():
    import torchvision
    torch.manual_seed(0)
    resnet = torchvision.models.resnet18(weights=None).eval()
    shape = (3, 64, 64)
    fcn, steps = convolutionalize(resnet, shape)
    assert isinstance(fcn, ClassActivationMap)
    assert [(s.name, s.weight_after) for s in steps] == [("avgpool", None), ("fc", (1000, 512, 1, 1))]
    assert cam_mean_difference(resnet, fcn, shape, samples=2) < 1e-5
    trunk = nn.Sequential(*[getattr(resnet, n) for n in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2",
                                                         "layer3", "layer4")])
    x = torch.randn(1, 3, 96, 130)
    with torch.no_grad():
        cam, last_conv, logits = fcn(x), trunk(x), resnet(x)
    assert cam.shape[2:] == last_conv.shape[2:] == (3, 5)
    assert (cam.mean((2, 3)) - logits).abs().max() < 1e-5
    geo = geometry(fcn, shape)
    # stride 2·2·2·2·2; the longest path's field (the residual blocks' main paths, skips inside them)
    assert (geo.stride, geo.rf, geo.start, geo.cam) == (32, 435, 0.0, True)
    assert (geo.cells(96, 0), geo.cells(130, 1)) == (3, 5)


def test_resnet_whose_trunk_reads_a_1x1_map_keeps_the_window_head():
    """At 32×32 resnet18's layer4 is 1×1: the pooling is the identity there, the fc a 1×1 conv, a cell a window."""
    import torchvision
    torch.manual_seed(0)
    resnet = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    fcn, _ = convolutionalize(resnet, SHAPE)
    assert not isinstance(fcn, ClassActivationMap)
    assert max_difference(resnet, fcn, SHAPE, samples=2) < 1e-5
    geo = geometry(fcn, SHAPE)
    assert (geo.window, geo.stride, geo.rf, geo.cam) == ((32, 32), 32, 435, False)


def test_a_resnet_with_its_own_forward_is_not_read_as_a_chain():
    import torchvision

    class Custom(torchvision.models.ResNet):
        def forward(self, x):
            return super().forward(x) * 2
    with pytest.raises(ConversionError, match="not a chain of layers"):
        convolutionalize(Custom(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1], num_classes=4), SHAPE)


@pytest.mark.parametrize("spec, match", [
    ("conv 8 k=3 p=1; relu; gap; fc 20; relu; fc 10",
     (r"relu2: ReLU after the global average pooling avgpool1 does not commute with the mean.*fc2 converts.*"
      r"relu2 needs the mean before it, so fc3 reads ReLU of the mean and cannot be moved before it.*"
      r"gap → fc → relu → fc")),
    ("conv 8 k=3 p=1; relu; gap; relu; fc 10",
     r"relu1_2: ReLU .*relu1_2 comes right after it.*so fc2 reads ReLU of the mean"),
    ("conv 8 k=3 p=1; relu; gap; fc 10; softmax", r"softmax2: Softmax after .*does not commute.*fc2 converts"),
    ("conv 8 k=3 p=1; relu; adaptiveavgpool 2; fc 10", r"changes 32×32 to 2×2.*neither the identity.*1×1"),
])
def test_heads_that_cannot_convert_are_refused_with_the_reason(spec, match):
    with pytest.raises(ConversionError, match=match):
        convolutionalize(_net(spec), SHAPE)


def test_a_pooling_that_is_the_identity_keeps_the_window_head():
    """The trunk already ends 1×1 at the training size: nothing to average, the cells stay windows."""
    model = _net("conv 8 k=4 s=4; relu; conv 16 k=8; relu; gap; fc 10")
    fcn, steps = convolutionalize(model, SHAPE)
    assert not isinstance(fcn, ClassActivationMap) and steps[0].after == "removed"
    assert max_difference(model, fcn, SHAPE) < 1e-5
    assert geometry(fcn, SHAPE).window == (32, 32)

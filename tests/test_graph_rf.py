"""Receptive fields through residual, concatenating and SE graphs (cnncalc.pytorch.graph), checked by gradient:
with positive weights and inputs, identity batch norm, ReLU on positive values and average pooling, the
gradient of one centre output unit is non-zero exactly on its field clipped to the image."""
import torch
import torchvision
from torch import nn
from torch.nn import functional as F
from torchvision.models.resnet import BasicBlock, ResNet
from torchvision.ops import SqueezeExcitation

from cnncalc.pytorch.graph import from_module
from cnncalc.receptive import field_box


def _positive(model: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.uniform_(0.1, 1.0).div_(m.weight[0].numel())   # outputs stay O(1): no saturated sigmoid
                if m.bias is not None:
                    m.bias.fill_(0.1)
    return model.double().eval()   # batch norm on its fresh running statistics: the identity (up to eps)


def _support(model: nn.Module, size: int) -> tuple[tuple[int, int, int, int], tuple[int, int]]:
    """(top, left, bottom, right) of the non-zero gradient of the centre output unit, and that unit."""
    x = torch.rand(1, 3, size, size, dtype=torch.float64).add_(0.5).requires_grad_()
    y = model(x)
    i, j = y.shape[-2] // 2, y.shape[-1] // 2
    y[0, :, i, j].sum().backward()
    g = x.grad.abs().sum((0, 1))
    rows, cols = g.sum(1).nonzero().flatten(), g.sum(0).nonzero().flatten()
    return (int(rows[0]), int(cols[0]), int(rows[-1]), int(cols[-1])), (i, j)


def _check(model: nn.Module, size: int, last: str):
    a = from_module(model, (3, size, size))
    report = [r for r in a.layers if r.name == last][-1]   # a reused ReLU: its last call, after the add
    assert report.rf is not None and not report.unavailable, report.message
    box, (i, j) = _support(model, size)
    assert box == field_box(report, i, j, (size, size)).clipped, (box, report.rf, report.start)
    return report


class _ThinResNet(ResNet):
    """resnet18's geometry with 1/16 of its channels (4 … 32): the field, at a small cost."""

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        if planes == 64:
            self.inplanes = 4
            self.conv1 = nn.Conv2d(3, 4, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(4)
        return super()._make_layer(block, planes // 16, blocks, stride, dilate)


def test_resnet18_last_stage_field_is_435_by_gradient():
    with torch.device("meta"):
        full = torchvision.models.resnet18()
    rf = [r for r in from_module(full, (3, 224, 224)).layers if r.name == "layer4.1.relu"][-1]
    assert (rf.rf, rf.jump, rf.start) == ((435, 435), (32, 32), (0, 0))
    thin = _ThinResNet(BasicBlock, [2, 2, 2, 2])
    body = _positive(nn.Sequential(thin.conv1, thin.bn1, thin.relu, nn.AvgPool2d(3, 2, 1),
                                   thin.layer1, thin.layer2, thin.layer3, thin.layer4))
    # 448²: layer4 is 14×14, unit (7, 7) is centred at 7·32 = 224 and sees 224 ± 217 = rows 7 … 441, all inside
    report = _check(body, 448, "7.1.relu")
    assert report.rf == (435, 435)
    assert field_box(report, 7, 7, (448, 448)).clipped == (7, 7, 441, 441)


class _Dense(nn.Module):
    """DenseNet-like: concatenations of paths with different fields, one of them off-centre (padded after)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.d1 = nn.Conv2d(4, 4, 3, padding=1)
        self.d2 = nn.Conv2d(8, 4, 5, padding=2)
        self.shifted = nn.Conv2d(12, 4, 3)                    # after F.pad(0, 2, 0, 2): centred 1 px right/down
        self.trans = nn.Sequential(nn.Conv2d(16, 8, 1), nn.AvgPool2d(2))
        self.d3 = nn.Conv2d(8, 4, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.stem(x)
        x = torch.cat([x, self.relu(self.d1(x))], 1)
        x = torch.cat([x, self.d2(x)], 1)
        x = torch.cat([x, self.shifted(F.pad(x, (0, 2, 0, 2)))], 1)
        x = self.trans(x)
        return self.relu(torch.cat([x, self.d3(x)], 1))


def test_dense_concat_field_is_the_union_of_the_paths():
    """stem 3 (±1) → d1 5 (±2) → d2 9 (±4; the union with the 5 is 9) → shifted: F.pad adds nothing before, so its
    conv is centred 1 px later: ±5 around 1, rows −4 … 6; union with −4 … 4: rf 11, start 1 → avg pool 2:
    rf 12, jump 2, start 1.5 → d3 (3×3 at jump 2): 16; union with the 12: 16, start 1.5."""
    report = _check(_positive(_Dense()), 32, "relu")
    assert (report.rf, report.jump) == ((16, 16), (2, 2)) and report.start == (1.5, 1.5)


def test_squeeze_excitation_sees_the_whole_image():
    model = _positive(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), SqueezeExcitation(8, 4),
                                    nn.Conv2d(8, 4, 3, padding=1)))
    # the SE scale's field: 3×3 then a global pool → 26 around 11.5 (rows −1 … 24), the same for every unit; the
    # product's field is the smallest interval centred on each unit that holds it: ±24 → 49; the last conv: 51
    report = _check(model, 24, "2")
    assert report.rf == (51, 51) and report.jump == (1, 1)
    assert field_box(report, 12, 12, (24, 24)).clipped == (0, 0, 23, 23)


def test_paths_with_different_jumps_are_unavailable():
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(3, 4, 3, 2, 1), nn.Conv2d(3, 4, 17)   # 32 → 16 both
            self.c = nn.Conv2d(4, 4, 3)

        def forward(self, x):
            return self.c(self.a(x) + self.b(x))

    c = from_module(Mixed(), (3, 32, 32))["c"]
    assert c.rf is None and "rf" in c.unavailable and c.macs == 14 * 14 * 4 * 36
    assert "add" in c.message and "(jump 2, start 0)" in c.message and "(jump 1, start 8)" in c.message

"""Fully-connected layers as convolutions, and dense per-class score maps (Long, Shelhamer & Darrell, "Fully
Convolutional Networks for Semantic Segmentation", 2015; Caffe's net-surgery recipe; cs231n notes).

A fully-connected layer reading a C×H×W map is the convolution with C·out filters of size H×W and no
padding: the same weights, reshaped (out, C·H·W) → (out, C, H, W). Later fc layers are 1×1 convolutions.
The converted network gives the same scores at the training size and, on a larger image, a grid of
scores — one per training-size window, ``jump`` pixels apart — in one pass instead of a sliding window.

Both passes estimate their memory first (:func:`pass_bytes`, from :func:`cnncalc.pytorch.bridge.from_module`
on the meta device) and refuse with :class:`~cnncalc.server.limits.TooLarge` above the server's ``memory_mb``:
the sliding window takes as many crops per batch as fit, the dense pass must fit whole.
"""
from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from ..server.limits import TooLarge, memory_limit


class ConversionError(ValueError):
    """The model holds a layer that has no convolutional equivalent here; the message names it."""


def _torchvision_resnet():
    """torchvision's (ResNet, BasicBlock, Bottleneck), or None without torchvision (imported only when asked)."""
    try:
        from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet
    except ImportError:
        return None
    return ResNet, BasicBlock, Bottleneck


def _is_resnet(model: nn.Module) -> bool:
    """torchvision's ResNet with its own forward: conv1 → bn1 → relu → maxpool → layer1…4 → avgpool → flatten →
    fc. A subclass with another forward() is not read as a chain."""
    tv = None if isinstance(model, nn.Sequential) else _torchvision_resnet()
    return tv is not None and isinstance(model, tv[0]) and type(model).forward is tv[0].forward \
        and type(model)._forward_impl is tv[0]._forward_impl


def _is_block(m: nn.Module) -> bool:
    """A torchvision residual block (BasicBlock, Bottleneck): convolutions and a skip, any input size."""
    tv = _torchvision_resnet() if type(m).__name__ in ("BasicBlock", "Bottleneck") else None
    return tv is not None and isinstance(m, tv[1:])


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model as an ordered chain of layers: an nn.Sequential, torchvision's VGG/AlexNet layout
    (features → avgpool → flatten → classifier), or torchvision's ResNet rebuilt as the chain its forward()
    runs (stem, the residual blocks of layer1…layer4 kept whole, avgpool, flatten, fc)."""
    if all(hasattr(model, a) for a in ("features", "avgpool", "classifier")):
        parts = [(f"features.{n}", m) for n, m in model.features.named_children()]
        parts += [("avgpool", model.avgpool), ("flatten", nn.Flatten())]
        return parts + [(f"classifier.{n}", m) for n, m in model.classifier.named_children()]
    if isinstance(model, nn.Sequential):
        out = []
        for name, module in model.named_children():
            out += [(f"{name}.{n}", m) for n, m in _leaves(module)] if isinstance(module, nn.Sequential) \
                else [(name, module)]
        return out
    if _is_resnet(model):
        parts = [(n, getattr(model, n)) for n in ("conv1", "bn1", "relu", "maxpool")]
        parts += [(f"{layer}.{n}", b) for layer in ("layer1", "layer2", "layer3", "layer4")
                  for n, b in getattr(model, layer).named_children()]
        return parts + [("avgpool", model.avgpool), ("flatten", nn.Flatten()), ("fc", model.fc)]
    raise ConversionError(f"{type(model).__name__} is not a chain of layers (an nn.Sequential, a torchvision "
                          "VGG/AlexNet or ResNet); its forward() may do more than stack layers")


ELEMENTWISE = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.LeakyReLU, nn.ELU, nn.SiLU, nn.Identity, nn.Dropout,
               nn.Dropout2d, nn.Softmax)
SPATIAL = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.BatchNorm2d, nn.ZeroPad2d, nn.LocalResponseNorm)
# layers that commute with a mean over the cells (affine at each cell, in eval mode): a CAM head may hold them
AFFINE = (nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.Dropout, nn.Dropout2d, nn.Identity, nn.Flatten)


@dataclass(frozen=True)
class Converted:
    """One conversion step, for the page's table."""
    name: str
    before: str
    after: str
    weight_before: tuple[int, ...] | None
    weight_after: tuple[int, ...] | None


class ClassActivationMap(nn.Sequential):
    """A converted global-average-pooling head (Zhou, Khosla, Lapedriza, Oliva & Torralba, "Learning Deep
    Features for Discriminative Localization", CVPR 2016): the pooling dropped, the fc layers after it as 1×1
    convolutions. ``forward`` gives (N, classes, h, w) with h×w the last convolution's map; a cell is the fc
    applied to one position of that map, not a window's logits. **The mean over the cells is the original
    network's logits** (:meth:`logits`, :func:`cam_mean_difference`): the mean the pooling took first is
    taken last, which is exact because every layer in between is affine at each cell."""

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self(x).mean((2, 3))


class _Conversion:
    """The state of one conversion pass: the tensor at the training size, the new layers, the steps."""

    def __init__(self, input_shape):
        self.x = torch.zeros(1, *input_shape)
        self.layers: list[tuple[str, nn.Module]] = []
        self.steps: list[Converted] = []
        self.fmap: tuple[int, int, int] | None = None  # the feature map the first fc reads
        self.gap: str | None = None                    # the global average pooling moved to the end (a CAM)
        self.after_gap: list[str] = []                 # the layers after it, converted to work per cell
        self.rest: list[str] = []                      # the layers after the one being converted

    def keep(self, name: str, module: nn.Module) -> None:
        self.layers.append((name.replace(".", "_"), module))
        self.x = module(self.x)


def convolutionalize(model: nn.Module, input_shape: tuple[int, int, int]) -> tuple[nn.Sequential, list[Converted]]:
    """The same network with every fully-connected layer replaced by its equivalent convolution (weights
    reshaped, not retrained). ``input_shape`` is the training size (C, H, W).

    Two kinds of head convert. **Flatten + fc** (VGG, the lab net): the first fc becomes a convolution the size
    of the map it reads; each cell of the output is one training-size window's logits (:func:`max_difference`).
    **Global average pooling + fc** (ResNet; ``gap`` / ``adaptiveavgpool 1`` in a spec): the pooling is
    dropped and the fc layers after it become 1×1 convolutions — a :class:`ClassActivationMap`, whose mean
    over the cells equals the logits (:func:`cam_mean_difference`). Only layers affine at each cell (Linear,
    BatchNorm, Dropout in eval mode) may follow the pooling: a non-linearity there (gap → fc → relu → fc) does
    not commute with the mean and is refused with :class:`ConversionError`, as is an adaptive pool to a size
    that is neither the map's own (the identity) nor 1×1."""
    was_training = model.training
    model.eval()
    c = _Conversion(input_shape)
    try:
        with torch.no_grad():
            chain = _leaves(model)
            for k, (name, m) in enumerate(chain):
                c.rest = [n for n, later in chain[k + 1:] if not isinstance(later, nn.Flatten)]
                _convert(c, name, m)
    finally:
        model.train(was_training)
    if not c.steps:
        raise ConversionError("the model has no fully-connected layer to convert")
    return (ClassActivationMap if c.gap else nn.Sequential)(OrderedDict(c.layers)).eval(), c.steps


def _convert(c: _Conversion, name: str, m: nn.Module) -> None:
    """One layer of the chain: kept, converted, dropped, or refused."""
    if isinstance(m, nn.Flatten):
        if c.x.dim() == 4 and not c.gap:
            c.fmap = tuple(c.x.shape[1:])
        c.x = m(c.x)
    elif isinstance(m, nn.AdaptiveAvgPool2d):
        _adaptive_pool(c, name, m)
    elif c.gap and not isinstance(m, AFFINE):
        raise ConversionError(_not_commuting(c, name, m))
    elif isinstance(m, nn.Linear):
        _linear(c, name, m)
    elif isinstance(m, nn.BatchNorm1d):
        bn = nn.BatchNorm2d(m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats)
        bn.load_state_dict(m.state_dict())
        c.steps.append(Converted(name, "BatchNorm1d", "BatchNorm2d (same statistics)", None, None))
        c.layers.append((name.replace(".", "_"), bn.eval()))
        c.x = m(c.x)
        c.after_gap += [name] if c.gap else []
    elif isinstance(m, ELEMENTWISE) or (isinstance(m, SPATIAL) or _is_block(m)) and c.x.dim() == 4:
        c.keep(name, m)
    else:
        raise ConversionError(f"{name}: {type(m).__name__} has no convolutional equivalent here")


def _adaptive_pool(c: _Conversion, name: str, m: nn.AdaptiveAvgPool2d) -> None:
    """The identity at the training size (VGG's 7×7 at 224×224): removed. To 1×1 from a larger map: global
    average pooling, moved to the end (a CAM). Anything else: refused."""
    y = m(c.x)
    (h, w), (oh, ow) = tuple(c.x.shape[2:]), tuple(y.shape[2:])
    if y.shape == c.x.shape:
        c.layers.append((name.replace(".", "_"), nn.Identity()))
        c.steps.append(Converted(name, "AdaptiveAvgPool2d (identity at the training size)", "removed", None, None))
    elif (oh, ow) == (1, 1) and not c.gap:
        c.gap = name
        c.steps.append(Converted(name, f"AdaptiveAvgPool2d(1): the mean over the {h}×{w} map",
                                 "removed: the mean is taken over the output map's cells instead (class "
                                 "activation map: mean of the map = the logits)", None, None))
    else:
        raise ConversionError(
            f"{name}: AdaptiveAvgPool2d changes {h}×{w} to {oh}×{ow} at the training size: neither the "
            "identity (a flatten + fc head, one window per cell) nor a global mean to 1×1 (a class activation "
            f"map); it would pool a larger image down to the same {oh}×{ow} and hide the dense map")
    c.x = y


def _linear(c: _Conversion, name: str, m: nn.Linear) -> None:
    """An fc → the convolution with the same weights: the size of the map it reads (the first fc of a
    flatten head), else 1×1 (later fcs, and every fc after a global average pooling)."""
    if c.x.dim() == 4:  # an fc reading a map directly: it flattens first (the lab's fc4; gap → fc)
        c.fmap = None if c.gap else tuple(c.x.shape[1:])
        c.x = c.x.flatten(1)
    if c.fmap is not None:
        ch, h, w = c.fmap
        conv = nn.Conv2d(ch, m.out_features, (h, w), bias=m.bias is not None)
        conv.weight.copy_(m.weight.view(m.out_features, ch, h, w))
        c.fmap = None
    else:
        conv = nn.Conv2d(m.in_features, m.out_features, 1, bias=m.bias is not None)
        conv.weight.copy_(m.weight.view(m.out_features, m.in_features, 1, 1))
    if m.bias is not None:
        conv.bias.copy_(m.bias)
    c.steps.append(Converted(name, f"Linear({m.in_features} → {m.out_features})",
                             f"Conv2d({conv.in_channels} → {conv.out_channels}, kernel "
                             f"{conv.kernel_size[0]}×{conv.kernel_size[1]})"
                             + (", applied at every cell before the mean" if c.gap else ""),
                             tuple(m.weight.shape), tuple(conv.weight.shape)))
    c.layers.append((name.replace(".", "_"), conv))
    c.after_gap += [name] if c.gap else []
    c.x = m(c.x)


def _not_commuting(c: _Conversion, name: str, m: nn.Module) -> str:
    """Why a layer after the global average pooling stops the conversion: which layers did convert, and
    which mean would be needed where."""
    kind = type(m).__name__
    done = (f"{', '.join(c.after_gap)} convert{'s' if len(c.after_gap) == 1 else ''} (1×1 convolutions at "
            f"every cell, the mean taken after them), but {name} needs the mean before it") if c.after_gap \
        else f"{name} comes right after it and needs the mean before it"
    if c.rest:
        done += f", so {', '.join(c.rest)} read{'s' if len(c.rest) == 1 else ''} {kind} of the mean and cannot " \
                "be moved before it"
    return (f"{name}: {kind} after the global average pooling {c.gap} does not commute with the mean: "
            f"{kind}(mean of the cells) ≠ mean of {kind}(each cell), so no map has the logits as its mean. "
            f"A class activation map takes the mean of {c.gap} at the end instead, which is exact only through "
            "layers affine at each cell (Linear, BatchNorm, Dropout in eval mode: mean(W·x + b) = "
            f"W·mean(x) + b). Here {done}. A head like gap → fc → relu → fc has no exact class activation map; "
            "one fc after the pooling (ResNet style) has.")


def _check(model: nn.Module, fcn: nn.Module, input_shape, samples: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, *input_shape, generator=g)
    model.eval()
    fcn.eval()
    with torch.no_grad():
        return model(x), fcn(x)


def max_difference(model: nn.Module, fcn: nn.Module, input_shape, samples: int = 4, seed: int = 0) -> float:
    """max |model(x) − fcn(x)| over random inputs of the training size (≈1e-6 in float32: the same sums in
    another order). Not for a :class:`ClassActivationMap`, whose cells are not windows: see
    :func:`cam_mean_difference`."""
    if isinstance(fcn, ClassActivationMap):
        raise ConversionError("a class activation map's cells are not windows' logits: compare the mean of its "
                              "map with the logits (cam_mean_difference)")
    logits, out = _check(model, fcn, input_shape, samples, seed)
    return (logits - out.flatten(1)).abs().max().item()


def cam_mean_difference(model: nn.Module, fcn: nn.Module, input_shape, samples: int = 4, seed: int = 0) -> float:
    """max |mean over the cells of fcn(x) − model(x)| over random inputs of the training size: a class
    activation map's check (≈1e-6 in float32). At the training size the map has the last convolution's
    h×w cells; their mean is what the global average pooling computed, carried through the 1×1 convolutions."""
    logits, out = _check(model, fcn, input_shape, samples, seed)
    return (logits - out.mean((2, 3))).abs().max().item()


@dataclass(frozen=True)
class Geometry:
    """Where the cells of a score map sit in the image (pixels of the image given, pixel centres 0, 1, …).

    For a class activation map (``cam``) a cell scores no window: ``window`` is None, a cell's field is the
    last convolution's field (``rf``, centred ``start + i·stride``), and the map's size is that convolution's
    map size (``sizing``: per axis the (extent, stride, padding before, after, ceil) of each layer)."""
    window: tuple[int, int] | None  # the training-size window one cell scores (H, W); None for a CAM
    stride: int               # pixels between neighbouring cells = the head's jump
    rf: int                   # receptive field of a cell (padding included: can exceed the window)
    start: float              # centre of cell (0, 0)'s field
    scale: float = 1.0        # the image was resized by this factor before the pass
    cam: bool = False         # a class activation map: the mean of the map is the logits
    sizing: tuple = ()        # for a CAM: ((axis-0 layers), (axis-1 layers)), see above

    def window_box(self, i: int, j: int) -> tuple[float, float, float, float]:
        """(top, left, bottom, right) in original-image pixels of the crop cell (i, j) corresponds to."""
        if self.window is None:
            raise ValueError("a class activation map's cell scores no window: its field is field_box(i, j)")
        s, (h, w) = self.stride / self.scale, self.window
        return i * s, j * s, i * s + (h - 1) / self.scale, j * s + (w - 1) / self.scale

    def cell_box(self, i: int, j: int) -> tuple[float, float, float, float]:
        """The part of the image cell (i, j) stands for: its window, or for a CAM the stride×stride square
        centred on its field's centre (neighbouring cells tile the image)."""
        if self.window is not None:
            return self.window_box(i, j)
        half = (self.stride - 1) / 2
        ci, cj = self.start + i * self.stride, self.start + j * self.stride
        return tuple(v / self.scale for v in (ci - half, cj - half, ci + half, cj + half))  # type: ignore

    def field_box(self, i: int, j: int) -> tuple[float, float, float, float]:
        half = (self.rf - 1) / 2
        ci, cj = self.start + i * self.stride, self.start + j * self.stride
        return tuple(v / self.scale for v in (ci - half, cj - half, ci + half, cj + half))  # type: ignore

    def cells(self, size: int, axis: int = 0) -> int:
        """Map size along an axis: ⌊(size − window)/stride⌋ + 1 (PyTorch floors); for a CAM the last
        convolution's map size."""
        return self._sizes(size, axis)[-1] if self.cam else (size - self.window[axis]) // self.stride + 1

    def _sizes(self, size: int, axis: int) -> list[int]:
        sizes = [size]
        for extent, s, before, after, ceil in self.sizing[axis]:
            span = sizes[-1] + before + after - extent
            n = (-(-span // s) if ceil else span // s) + 1
            sizes.append(n - 1 if ceil and (n - 1) * s >= sizes[-1] + before else n)
        return sizes

    def formula(self, size: int, axis: int = 0) -> str:
        if self.cam:
            every = self._sizes(size, axis)
            sizes = [n for k, n in enumerate(every) if k == 0 or n != every[k - 1]]
            return " → ".join(map(str, sizes)) + " (the last convolution's map; no window)"
        return f"⌊({size} − {self.window[axis]})/{self.stride}⌋ + 1 = {self.cells(size, axis)}"


def geometry(fcn: nn.Module, input_shape) -> Geometry:
    """Stride, field and start of the converted net's output cells, from the same arithmetic as analyze();
    walked layer by layer (:func:`_fields`) for a class activation map or a net with residual blocks, whose
    field :func:`~cnncalc.pytorch.bridge.from_module` leaves unavailable after the residual add."""
    window = (input_shape[1], input_shape[2])
    if isinstance(fcn, ClassActivationMap) or any(_is_block(m) for m in fcn.modules()):
        sizing: tuple[list, list] = ([], [])
        field = _fields(fcn, (_Field(), _Field()), sizing)[0]
        cam = isinstance(fcn, ClassActivationMap)
        return Geometry(None if cam else window, field.jump, field.rf, field.start, cam=cam,
                        sizing=tuple(map(tuple, sizing)) if cam else ())
    from .bridge import from_module
    reports = [r for r in from_module(fcn, input_shape).layers if r.rf is not None]
    last = reports[-1]
    return Geometry(window, last.jump[0], last.rf[0], last.start[0])


class _Field(NamedTuple):
    """One axis of a cell's field (cnncalc.receptive's convention: rf, jump, centre of unit 0's field)."""
    rf: int = 1
    jump: int = 1
    start: float = 0.0

    def step(self, k: int, s: int, before: int, d: int) -> _Field:
        return _Field(self.rf + d * (k - 1) * self.jump, self.jump * s,
                      self.start + (d * (k - 1) / 2 - before) * self.jump)


def _fields(module: nn.Module, fields: tuple, sizing: tuple | None) -> tuple:
    """(row field, column field) after ``module`` given those before it; appends each window layer's
    (extent, stride, before, after, ceil) to ``sizing`` (None: the skip path, which sizes nothing). A
    residual block's field is the hull of its main path's and its skip's (the same jump)."""
    if isinstance(module, nn.Sequential):
        for m in module:
            fields = _fields(m, fields, sizing)
        return fields
    if _is_block(module):
        main = [module.conv1, module.bn1, module.relu, module.conv2, module.bn2]
        main += [module.relu, module.conv3, module.bn3] if hasattr(module, "conv3") else []
        skip = _fields(module.downsample or nn.Sequential(), fields, None)
        return tuple(_hull(a, b) for a, b in zip(_fields(nn.Sequential(*main), fields, sizing), skip))
    windows = _windows(module)
    if windows is None:
        return fields
    out = []
    for axis, (k, s, before, after, d, ceil) in enumerate(windows):
        out.append(fields[axis].step(k, s, before, d))
        if sizing is not None:
            sizing[axis].append((d * (k - 1) + 1, s, before, after, ceil))
    return tuple(out)


def _windows(m: nn.Module):
    """Per axis (kernel, stride, padding before, after, dilation, ceil) of a window layer; None for a layer
    that acts at each position; ConversionError for one without field arithmetic here."""
    def pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)

    if isinstance(m, nn.Conv2d):
        k, s, d = pair(m.kernel_size), pair(m.stride), pair(m.dilation)
        if isinstance(m.padding, str):
            total = [0, 0] if m.padding == "valid" else [d[a] * (k[a] - 1) for a in (0, 1)]
            return [(k[a], s[a], total[a] // 2, total[a] - total[a] // 2, d[a], False) for a in (0, 1)]
        p = pair(m.padding)
        return [(k[a], s[a], p[a], p[a], d[a], False) for a in (0, 1)]
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        k, p = pair(m.kernel_size), pair(m.padding)
        s, d = pair(m.stride or m.kernel_size), pair(getattr(m, "dilation", 1))
        return [(k[a], s[a], p[a], p[a], d[a], m.ceil_mode) for a in (0, 1)]
    if isinstance(m, nn.ZeroPad2d):
        left, right, top, bottom = m.padding
        return [(1, 1, top, bottom, 1, False), (1, 1, left, right, 1, False)]
    if isinstance(m, ELEMENTWISE + (nn.BatchNorm2d, nn.LocalResponseNorm, nn.Flatten)):
        return None
    raise ConversionError(f"{type(m).__name__}: no receptive-field arithmetic for it here")


def _hull(a: _Field, b: _Field) -> _Field:
    """The smallest field holding both (a residual add sums the two paths' cells at the same jump)."""
    if a.jump != b.jump:
        raise ConversionError(f"a residual block adds paths of jumps {a.jump} and {b.jump}")
    lo = min(f.start - (f.rf - 1) / 2 for f in (a, b))
    hi = max(f.start + (f.rf - 1) / 2 for f in (a, b))
    return _Field(int(hi - lo) + 1, a.jump, (lo + hi) / 2)


@dataclass(frozen=True)
class ScoreMap:
    scores: torch.Tensor      # (classes, h, w) raw scores (logits)
    geometry: Geometry
    seconds: float

    @property
    def probabilities(self) -> torch.Tensor:
        return self.scores.softmax(0)


def pass_bytes(analysis, batch: int = 1) -> int:
    """Float32 bytes of a forward pass without gradients on ``batch`` inputs: the weights, the inputs, and
    per input its two largest activations (a layer's input and output are alive together; autograd keeps
    nothing). The lab net's dense pass on a 768×768 image peaks within 10 % of it
    (tests/test_dense_limits.py)."""
    largest = sorted((r.memory or 0 for r in analysis.layers), reverse=True)[:2]
    return 4 * analysis.params + batch * (4 * math.prod(analysis.input_shape) + sum(largest))


def dense_bytes(fcn: nn.Module, image_shape) -> int:
    """:func:`pass_bytes` of the converted net on one (C, H, W) image (shapes traced on the meta device); for
    an image beyond what the analyzer takes (a side over 10⁶), the weights and the image alone."""
    from ..parse import SpecError
    from .bridge import from_module
    try:
        return pass_bytes(from_module(fcn, tuple(image_shape)))
    except SpecError:
        return 4 * (sum(p.numel() for p in fcn.parameters()) + math.prod(image_shape))


def check_dense(fcn: nn.Module, image_shape, max_bytes: int | None = None) -> int:
    """The dense pass's estimated bytes on a (C, H, W) image, or :class:`TooLarge` above ``max_bytes``
    (default: the server's ``memory_mb``). Arithmetic only: call it before the pass."""
    need, limit = dense_bytes(fcn, image_shape), memory_limit(max_bytes)
    if need > limit:
        _, h, w = image_shape
        raise TooLarge(f"Scoring every window of a {h:,}×{w:,} image in one pass", need, limit,
                       "Make the image smaller (its longest side) or pick a smaller network.")
    return need


def score_maps(fcn: nn.Module, image: torch.Tensor, input_shape, scales=(1.0,),
               max_bytes: int | None = None) -> list[ScoreMap]:
    """Dense scores of ``image`` (C, H, W, already normalised as in training) at each scale. Refused
    (:class:`TooLarge`) before any pass when the largest scale would not fit in ``max_bytes`` (default:
    the server's ``memory_mb``); scales below 1 are smaller passes."""
    import torch.nn.functional as F
    check_dense(fcn, (image.shape[0], *(max(round(d * max(scales)), input_shape[1 + k])
                                         for k, d in enumerate(image.shape[1:]))), max_bytes)
    geo = geometry(fcn, input_shape)
    out = []
    for scale in scales:
        x = image[None]
        if scale != 1.0:
            size = [max(round(d * scale), input_shape[1 + k]) for k, d in enumerate(image.shape[1:])]
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        t0 = time.perf_counter()
        with torch.no_grad():
            scores = fcn(x)[0]
        out.append(ScoreMap(scores, replace(geo, scale=scale), time.perf_counter() - t0))
    return out


def crops_per_batch(model: nn.Module, channels: int, window: tuple[int, int], batch: int = 256,
                    max_bytes: int | None = None) -> int:
    """How many window-sized crops one batch of the sliding window may hold: at most ``batch``, and as many
    as fit in ``max_bytes`` (default: the server's ``memory_mb``; VGG16 at 224×224 needs 26 MB per crop
    beside its 553 MB of weights: 256 crops would take 7 GB). :class:`TooLarge` when not even one fits."""
    from .bridge import from_module
    one = from_module(model, (channels, *window))
    weights, per_crop = pass_bytes(one, 0), pass_bytes(one, 1) - pass_bytes(one, 0)
    limit = memory_limit(max_bytes)
    fits = (limit - weights) // per_crop
    if fits < 1:
        raise TooLarge(f"The sliding window of this {window[0]}×{window[1]} network", weights + per_crop, limit,
                       "Pick a smaller network.")
    return int(min(batch, fits))


def sliding_window(model: nn.Module, image: torch.Tensor, window: tuple[int, int], stride: int,
                   batch: int = 256, max_bytes: int | None = None) -> tuple[torch.Tensor, float]:
    """The reference: the original network on every window-sized crop, ``stride`` apart. (classes, h, w).

    The crops are copied out of the image one batch at a time (all of them at once would be h·w copies
    of the window: 1 GB for a 1×80,000 map of 32×32 crops), and a batch holds :func:`crops_per_batch`."""
    c, H, W = image.shape
    h, w = (H - window[0]) // stride + 1, (W - window[1]) // stride + 1
    batch = crops_per_batch(model, c, window, batch, max_bytes)
    crops = image.unfold(1, window[0], stride).unfold(2, window[1], stride)  # a view (C, h, w, wh, ww)
    crops = crops.permute(1, 2, 0, 3, 4).reshape(h * w, c, *window) if h * w <= batch else \
        crops.permute(1, 2, 0, 3, 4)  # (h, w, C, wh, ww), still a view
    model.eval()
    t0 = time.perf_counter()
    with torch.no_grad():
        scores = torch.cat([model(_crop_batch(crops, k, min(batch, h * w - k), w)) for k in range(0, h * w, batch)])
    return scores.T.reshape(-1, h, w), time.perf_counter() - t0


def _crop_batch(crops: torch.Tensor, start: int, n: int, w: int) -> torch.Tensor:
    """Crops ``start … start + n − 1`` in row-major order, copied: from (N, C, wh, ww) or the (h, w, C, wh, ww)
    view."""
    if crops.dim() == 4:
        return crops[start:start + n]
    return torch.stack([crops[k // w, k % w] for k in range(start, start + n)])


# --- reading the maps (numpy) ---------------------------------------------------------------------------

def top_k(scores, classes, k: int = 3) -> list[tuple[str, float]]:
    """The k highest values of a 1-D vector with their class names, highest first."""
    v = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-v, kind="stable")[:k]
    return [(classes[int(c)], float(v[c])) for c in order]


def agreement(dense, crops) -> tuple[float, float]:
    """(max |dense − crops|, fraction of cells whose argmax class is the same) for two (K, h, w) maps."""
    a, b = np.asarray(dense, dtype=np.float64), np.asarray(crops, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"maps differ in shape: {a.shape} vs {b.shape}")
    return float(np.abs(a - b).max()), float((a.argmax(0) == b.argmax(0)).mean())


def softmax(scores, axis: int = 0) -> np.ndarray:
    """Raw class scores (logits) → probabilities along ``axis`` (the class axis)."""
    s = np.asarray(scores, dtype=np.float64)
    e = np.exp(s - s.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def tile_table(tiles, dense_probs, crop_probs, classes, truth, truth_names) -> list[dict]:
    """One row per mosaic tile that is a cell: its true class, and the winning class (with its probability)
    at that cell of the dense map and of the isolated crops' map (both (K, h, w))."""
    rows = []
    for t in (t for t in tiles if t.cell is not None):
        true = truth_names[int(truth[t.index])]
        (d, pd), (c, pc) = (top_k(p[:, t.cell[0], t.cell[1]], classes, 1)[0] for p in (dense_probs, crop_probs))
        rows.append({"tile (r, c)": f"({t.row}, {t.col})", "cell (i, j)": str(t.cell), "true class": true,
                     "dense map": f"{d} {pd:.0%}", "dense right": d == true, "crop alone": f"{c} {pc:.0%}",
                     "crop right": c == true})
    return rows


__all__ = ["ConversionError", "convolutionalize", "ClassActivationMap", "max_difference", "cam_mean_difference",
           "Geometry", "geometry", "ScoreMap",
           "score_maps", "sliding_window", "pass_bytes", "dense_bytes", "check_dense", "crops_per_batch", "TooLarge",
           "top_k", "agreement", "softmax", "tile_table"]

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
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..server.limits import TooLarge, memory_limit


class ConversionError(ValueError):
    """The model holds a layer that has no convolutional equivalent here; the message names it."""


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model as an ordered chain of layers: an nn.Sequential, or torchvision's VGG/AlexNet layout
    (features → avgpool → flatten → classifier)."""
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
    raise ConversionError(f"{type(model).__name__} is not a chain of layers (an nn.Sequential or a "
                          "torchvision VGG/AlexNet); its forward() may do more than stack layers")


ELEMENTWISE = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.LeakyReLU, nn.ELU, nn.SiLU, nn.Identity, nn.Dropout,
               nn.Dropout2d, nn.Softmax)
SPATIAL = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.BatchNorm2d, nn.ZeroPad2d, nn.LocalResponseNorm)


@dataclass(frozen=True)
class Converted:
    """One conversion step, for the page's table."""
    name: str
    before: str
    after: str
    weight_before: tuple[int, ...] | None
    weight_after: tuple[int, ...] | None


def convolutionalize(model: nn.Module, input_shape: tuple[int, int, int]) -> tuple[nn.Sequential, list[Converted]]:
    """The same network with every fully-connected layer replaced by its equivalent convolution (weights
    reshaped, not retrained). ``input_shape`` is the training size (C, H, W)."""
    was_training = model.training
    model.eval()
    x = torch.zeros(1, *input_shape)
    layers: list[tuple[str, nn.Module]] = []
    steps: list[Converted] = []
    fmap: tuple[int, int, int] | None = None  # the feature map the first fc reads
    with torch.no_grad():
        for name, m in _leaves(model):
            safe = name.replace(".", "_")
            if isinstance(m, nn.Flatten):
                if x.dim() == 4:
                    fmap = tuple(x.shape[1:])
                x = m(x)
                continue
            if isinstance(m, nn.AdaptiveAvgPool2d):
                y = m(x)
                if y.shape != x.shape:
                    raise ConversionError(f"{name}: AdaptiveAvgPool2d changes {tuple(x.shape[2:])} to "
                                          f"{tuple(y.shape[2:])} at the training size; it would pool a larger "
                                          "image down to the same size and hide the dense map")
                layers.append((safe, nn.Identity()))
                steps.append(Converted(name, "AdaptiveAvgPool2d (identity at the training size)", "removed",
                                       None, None))
                continue
            if isinstance(m, nn.Linear):
                if x.dim() == 4:  # an fc reading a map directly: it flattens first (the lab's fc4)
                    fmap, x = tuple(x.shape[1:]), x.flatten(1)
                if fmap is not None:
                    c, h, w = fmap
                    conv = nn.Conv2d(c, m.out_features, (h, w), bias=m.bias is not None)
                    conv.weight.copy_(m.weight.view(m.out_features, c, h, w))
                    fmap = None
                else:
                    conv = nn.Conv2d(m.in_features, m.out_features, 1, bias=m.bias is not None)
                    conv.weight.copy_(m.weight.view(m.out_features, m.in_features, 1, 1))
                if m.bias is not None:
                    conv.bias.copy_(m.bias)
                steps.append(Converted(name, f"Linear({m.in_features} → {m.out_features})",
                                       f"Conv2d({conv.in_channels} → {conv.out_channels}, kernel "
                                       f"{conv.kernel_size[0]}×{conv.kernel_size[1]})",
                                       tuple(m.weight.shape), tuple(conv.weight.shape)))
                layers.append((safe, conv))
                x = m(x)
                continue
            if isinstance(m, nn.BatchNorm1d):
                bn = nn.BatchNorm2d(m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats)
                bn.load_state_dict(m.state_dict())
                layers.append((safe, bn.eval()))
                steps.append(Converted(name, "BatchNorm1d", "BatchNorm2d (same statistics)", None, None))
                x = m(x)
                continue
            if isinstance(m, ELEMENTWISE) or (isinstance(m, SPATIAL) and x.dim() == 4):
                layers.append((safe, m))
                x = m(x)
                continue
            raise ConversionError(f"{name}: {type(m).__name__} has no convolutional equivalent here")
    model.train(was_training)
    if not steps:
        raise ConversionError("the model has no fully-connected layer to convert")
    return nn.Sequential(OrderedDict(layers)).eval(), steps


def max_difference(model: nn.Module, fcn: nn.Module, input_shape, samples: int = 4, seed: int = 0) -> float:
    """max |model(x) − fcn(x)| over random inputs of the training size (≈1e-6 in float32: the same sums in
    another order)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, *input_shape, generator=g)
    model.eval()
    with torch.no_grad():
        return (model(x) - fcn(x).flatten(1)).abs().max().item()


@dataclass(frozen=True)
class Geometry:
    """Where the cells of a score map sit in the image (pixels of the image given, pixel centres 0, 1, …)."""
    window: tuple[int, int]   # the training-size window one cell scores (H, W)
    stride: int               # pixels between neighbouring cells = the head's jump
    rf: int                   # receptive field of a cell (padding included: can exceed the window)
    start: float              # centre of cell (0, 0)'s field
    scale: float = 1.0        # the image was resized by this factor before the pass

    def window_box(self, i: int, j: int) -> tuple[float, float, float, float]:
        """(top, left, bottom, right) in original-image pixels of the crop cell (i, j) corresponds to."""
        s, (h, w) = self.stride / self.scale, self.window
        return i * s, j * s, i * s + (h - 1) / self.scale, j * s + (w - 1) / self.scale

    def field_box(self, i: int, j: int) -> tuple[float, float, float, float]:
        half = (self.rf - 1) / 2
        ci, cj = self.start + i * self.stride, self.start + j * self.stride
        return tuple(v / self.scale for v in (ci - half, cj - half, ci + half, cj + half))  # type: ignore

    def cells(self, size: int, axis: int = 0) -> int:
        """Map size along an axis: ⌊(size − window)/stride⌋ + 1 (PyTorch floors)."""
        return (size - self.window[axis]) // self.stride + 1

    def formula(self, size: int, axis: int = 0) -> str:
        return f"⌊({size} − {self.window[axis]})/{self.stride}⌋ + 1 = {self.cells(size, axis)}"


def geometry(fcn: nn.Module, input_shape) -> Geometry:
    """Stride, field and start of the converted net's output cells, from the same arithmetic as analyze()."""
    from .bridge import from_module
    reports = [r for r in from_module(fcn, input_shape).layers if r.rf is not None]
    last = reports[-1]
    return Geometry((input_shape[1], input_shape[2]), last.jump[0], last.rf[0], last.start[0])


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
        out.append(ScoreMap(scores, Geometry(geo.window, geo.stride, geo.rf, geo.start, scale),
                            time.perf_counter() - t0))
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


__all__ = ["ConversionError", "convolutionalize", "max_difference", "Geometry", "geometry", "ScoreMap",
           "score_maps", "sliding_window", "pass_bytes", "dense_bytes", "check_dense", "crops_per_batch", "TooLarge",
           "top_k", "agreement", "softmax", "tile_table"]

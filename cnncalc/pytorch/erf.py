"""The gradient-measured ("effective") receptive field of one unit, next to the theoretical one.

For unit (i, j) of a layer, ``|∂y/∂x|`` — the output's gradient with respect to every input pixel, summed
over input channels — is non-zero only inside the unit's theoretical field (:func:`cnncalc.receptive.field_box`).
Averaged over a few random inputs and random initialisations, it is not flat over that field: it is
centre-weighted, roughly Gaussian, so most of the mass lies in a box much smaller than the theoretical
field (Luo, Li, Urtasun & Zemel, "Understanding the Effective Receptive Field in Deep Convolutional Neural
Networks", NeurIPS 2016). :func:`gradient_field` measures it and sums it up in two numbers: the share of the
gradient inside the central box (half the field's size per axis) against that box's share of the area.

Where the support (non-zero pixels) can be smaller than the theoretical box — never larger:

* **max pooling** passes the gradient to one input per window (the maximum), so a single input sees a
  sparse, input-dependent subset; averaging over several random inputs fills it back in;
* **ReLU** (or any activation with zero slope) cuts every path through a unit that is off;
* **gaps** — dilation, or a stride larger than the field of the layer below — leave holes in the field;
  when the field reaches into padding, its clipped edge pixel may be one of those holes;
* **unread rows**: when a layer's division floors (PyTorch drops the last rows a window never reaches),
  the part of a field beyond them is padding of a hidden layer although it lies inside the image.

With all weights and inputs positive, average pooling and no gaps (``weights="positive"``) the support
is exactly the theoretical box clipped to the image: that is the check in ``tests/test_erf.py``.

Memory: one measurement keeps every activation for the backward pass, so a page could ask for gigabytes
(two 64-channel convolutions on a 3×2000×2000 input: 5.6 GB). :func:`gradient_plan` estimates the memory
from :func:`cnncalc.analyze` alone, before any tensor exists, and :func:`gradient_field` refuses with
:class:`TooLarge` above the server's ``memory_mb`` (:mod:`cnncalc.server.limits`).

Torch is imported inside the functions; ``import cnncalc.pytorch.erf`` stays light.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

import numpy as np

from ..analyze import analyze
from ..layers import AdaptiveAvgPool, Conv, Pool
from ..parse import SpecError, as_layers, format_shape, parse_shape
from ..receptive import Box, FieldBox, field_box
from ..server.limits import TooLarge, memory_limit, mib

Weights = Literal["random", "positive"]
MASS_LEVEL = 0.95
FLOAT64_MACS = 2e8
"""``dtype="auto"`` measures in float64 up to this many MACs (the lab net: 2.3·10⁷), float32 above (VGG)."""


@dataclass(frozen=True)
class GradientField:
    """The measured field of one unit.

    ``values``: mean |∂y/∂x| over the samples, summed over input channels, shape (H, W) of the input.
    ``extent``: bounding box of the non-zero pixels (top, left, bottom, right), None when all zero.
    ``box``: the theoretical field (unclipped, clipped). ``central``: the central box (half the field's size
    per axis, centred on the unit), clipped to the image. ``central_mass``: share of the gradient inside it;
    ``central_area``: its share of the clipped field's pixels — equal to central_mass for a flat field.
    ``effective``: per axis, the width of the smallest window centred on the unit that holds
    ``MASS_LEVEL`` (95 %) of the gradient."""

    values: np.ndarray
    layer: str
    unit: tuple[int, int]
    channel: int | None
    box: FieldBox
    extent: Box | None
    central: Box | None
    central_mass: float
    central_area: float
    effective: tuple[int, int]
    samples: int
    weights: str
    input_kind: str
    notes: tuple[str, ...] = field(default=())

    @property
    def rf(self) -> tuple[int, int]:
        return self.box.size

    @property
    def matches_theory(self) -> bool:
        """True when the non-zero pixels span exactly the theoretical field clipped to the image."""
        return self.extent is not None and self.extent == self.box.clipped


def spatial_layers(spec, input_shape=(3, 32, 32)) -> list[str]:
    """Names of the layers whose units have a receptive field (C×H×W output, field available), in order."""
    analysis = analyze(spec, input_shape)
    return [r.name for r in analysis.layers if r.status != "error" and r.out_shape is not None
            and len(r.out_shape) == 3 and r.rf is not None]


def _prefix(spec, input_shape, layer: str | int):
    """(analysis, report, layers up to and including ``layer``) — the spatial part of the spec."""
    layers = as_layers(spec)
    shape = parse_shape(input_shape)
    if len(shape) != 3:
        raise SpecError(f"input shape {shape} is not C×H×W: a receptive field needs an image input")
    analysis = analyze(layers, shape)
    try:
        report = analysis[layer]
    except (StopIteration, IndexError):
        raise ValueError(f"no layer '{layer}'; spatial layers: {', '.join(spatial_layers(layers, shape))}") from None
    if report.status == "error":
        raise SpecError(f"{report.name} ('{report.spec}'): {report.message}")
    bad = next((r for r in analysis.layers[:report.index] if r.status == "error"), None)
    if bad is not None:
        raise SpecError(f"{bad.name} ('{bad.spec}'): {bad.message}")
    if report.out_shape is None or len(report.out_shape) != 3 or report.rf is None:
        raise ValueError(f"{report.name} has no receptive field (output {report.out_shape}"
                         + (f"; {report.message}" if report.message else "") + "): choose one of "
                         + ", ".join(spatial_layers(layers, shape)))
    return analysis, report, layers[:report.index + 1]


WORKSPACE = 64 * 2**20
"""Bytes PyTorch's CPU kernels take beside the tensors (oneDNN primitives and scratch pads), measured."""


def gradient_bytes(analysis, upto: int, dtype: str) -> int:
    """Estimated peak memory of one gradient pass through layers ``0 … upto`` of ``analysis``, in ``dtype``.

    Autograd keeps the input and every layer's output for the backward pass; the backward pass then holds
    the gradients of two neighbouring layers, and oneDNN (PyTorch's float32 CPU convolutions) copies
    activations and gradients into its blocked layout (channels padded to a multiple of 16): together
    about four buffers the size of the largest activation, so padded. Add the weights (built in float32,
    then converted), the input's float64 copies in numpy, :data:`WORKSPACE`, and — in float64, where the
    CPU convolution unfolds its input (im2col) instead — the largest unfolded input, C_in/groups·kH·kW
    values per output position (= the layer's MACs / its output channels). tests/test_erf_limits.py
    checks it against the peak memory of real passes (1.2 to 2 times above it on the nets tried: an
    estimate errs on the server's side)."""
    size = {"float64": 8, "float32": 4}[dtype]
    reports = analysis.layers[:upto + 1]
    values = [(r.memory or 0) // 4 for r in reports]
    blocked = [-(-r.out_shape[0] // 16) * 16 * math.prod(r.out_shape[1:]) if dtype == "float32" and r.out_shape
               and len(r.out_shape) == 3 else v for r, v in zip(reports, values)]
    image = math.prod(analysis.input_shape)
    rgb = max(analysis.input_shape[0], 3) * math.prod(analysis.input_shape[1:])  # an image is read as RGB
    params = sum(r.params or 0 for r in reports)
    unfold = max([(r.macs or 0) // r.out_shape[0] for r in reports if r.layer.kind == "conv" and r.out_shape]
                 + [0]) if dtype == "float64" else 0
    return (size * (image + sum(values) + 4 * max(blocked + [0]) + unfold) + 16 * rgb + (4 + size) * params
            + WORKSPACE)


def gradient_plan(spec, input_shape, layer: str | int = -1,
                  dtype: Literal["auto", "float64", "float32"] = "auto",
                  max_bytes: int | None = None) -> tuple[str, int]:
    """(dtype, estimated bytes) of measuring ``layer``'s field — float64 for small nets when it fits, else
    float32 — or :class:`TooLarge` when even that is above ``max_bytes`` (default: the server's
    ``memory_mb``). Arithmetic only: call it before building a full-size input image."""
    analysis, report, _ = _prefix(spec, parse_shape(input_shape), layer)
    return _plan(analysis, report, dtype, memory_limit(max_bytes))


def _plan(analysis, report, dtype: str, limit: int) -> tuple[str, int]:
    if dtype == "auto":
        small = sum(r.macs or 0 for r in analysis.layers[:report.index + 1]) <= FLOAT64_MACS
        dtype = "float64" if small and gradient_bytes(analysis, report.index, "float64") <= limit else "float32"
    need = gradient_bytes(analysis, report.index, dtype)
    if need > limit:
        raise TooLarge(f"Measuring the gradient of {report.name} on a {format_shape(analysis.input_shape)} input",
                       need, limit,
                       "Try a smaller input, fewer channels, or an earlier layer.")
    return dtype, need


def _input(image: np.ndarray | None, shape: tuple[int, int, int], rng: np.random.Generator,
           positive: bool) -> np.ndarray:
    """(C, H, W) float64: the image standardised per channel, or noise (N(0, 1); U(0.5, 1.5) if positive)."""
    c, h, w = shape
    if image is None:
        return rng.uniform(0.5, 1.5, (c, h, w)) if positive else rng.standard_normal((c, h, w))
    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.shape[:2] != (h, w):
        raise ValueError(f"image is {a.shape[0]}×{a.shape[1]}, the network input {h}×{w}: resize it first")
    a = a[:, :, :3] / 255.0
    if c == 3 and a.shape[2] == 3:
        x = np.moveaxis(a, 2, 0)
    else:  # one channel (LeNet) or an unusual count: the grey image in every channel
        x = np.repeat(a.mean(axis=2)[None], c, axis=0)
    if positive:
        return 0.5 + x
    mean = x.mean(axis=(1, 2), keepdims=True)
    std = x.std(axis=(1, 2), keepdims=True)
    return (x - mean) / np.where(std > 1e-8, std, 1.0)


def _positive_init(model, rng: np.random.Generator) -> None:
    """Every conv weight in U(0.5, 1.5)/fan_in, biases 0.1: activations stay positive and O(1), so every
    ReLU is on and every path carries a positive gradient."""
    import torch
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = module.weight[0].numel()
                w = rng.uniform(0.5, 1.5, tuple(module.weight.shape)) / fan_in
                module.weight.copy_(torch.from_numpy(w))
                if module.bias is not None:
                    module.bias.fill_(0.1)


def _central_box(box: FieldBox, size: tuple[int, int]) -> Box | None:
    """Pixels within a quarter of the field's size of the centre, per axis: a box half the field's side."""
    (ct, cl), (fh, fw) = box.centre, box.size
    out = []
    for c, f, n in ((ct, fh, size[0]), (cl, fw, size[1])):
        half = f / 4
        lo, hi = int(np.ceil(c - half - 1e-9)), int(np.floor(c + half + 1e-9))
        if hi < lo:  # a 1-pixel field: keep its centre
            lo = hi = int(round(c))
        out.append((max(lo, 0), min(hi, n - 1)))
    (t, b), (l, r) = out
    return (t, l, b, r) if t <= b and l <= r else None


def _effective(values: np.ndarray, centre: tuple[float, float], level: float) -> tuple[int, int]:
    """Per axis, the width of the smallest window centred on the unit holding ``level`` of the mass.

    The windows grow by distance from the centre, so one sort of the distances and one cumulative sum give
    every window's mass at once: O(n log n) per axis (a loop over the radii was O(n²): 27 s for a
    1×300,000 input). Ties (pixels at the same distance) enter together, as the definition says."""
    total = values.sum()
    if total <= 0:
        return (0, 0)
    sizes = []
    for axis, c in enumerate(centre):
        profile = values.sum(axis=1 - axis)
        dist = np.abs(np.arange(profile.size) - c)
        order = np.argsort(dist, kind="stable")
        mass = np.cumsum(profile[order])
        ends = np.flatnonzero(np.append(np.diff(dist[order]) != 0, True))  # last pixel of each distance
        enough = ends[mass[ends] >= level * total - 1e-12 * total]
        inside = order[:(enough[0] if enough.size else ends[-1]) + 1]
        sizes.append(int(inside.max() - inside.min() + 1))
    return sizes[0], sizes[1]


def _extent(values: np.ndarray) -> Box | None:
    rows = np.flatnonzero(values.any(axis=1))
    cols = np.flatnonzero(values.any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(cols[0]), int(rows[-1]), int(cols[-1])


def gradient_field(spec, input_shape=(3, 32, 32), layer: str | int = -1, unit: tuple[int, int] | None = None, *,
                   channel: int | None = None, image: np.ndarray | None = None, samples: int = 4, seed: int = 0,
                   weights: Weights = "random", state_dict: Mapping[str, Any] | None = None,
                   dtype: Literal["auto", "float64", "float32"] = "auto",
                   max_bytes: int | None = None) -> GradientField:
    """Measure |∂y/∂x| for output unit ``unit`` = (i, j) of ``layer`` (a name such as 'pool3', or an index).

    The network is :func:`cnncalc.build_model` of the spec's layers up to ``layer`` (the spatial part: never
    past a flatten or fc), in eval mode (batch norm uses its running statistics, dropout is the identity).
    ``y`` is the unit summed over its channels, or channel ``channel`` only.

    * ``image``: (H, W, 3) uint8 at the input size, standardised per channel; None → random noise.
    * ``weights``: ``"random"`` — PyTorch's default init, a new one per sample (seed + k); ``"positive"``
      — positive weights and inputs (every path on: the support is the whole field, the test oracle).
    * ``state_dict``: trained weights (keys as build_model names them, e.g. ``conv1.weight``; extra keys
      such as fc4's are ignored). With it, only the noise input changes between samples.
    * ``samples``: maps averaged (mean of |∂y/∂x|); more gives a smoother picture.
    * ``dtype``: float64 (exact zeros and tiny corner gradients stay visible) or float32; ``"auto"`` takes
      float64 up to 2·10⁸ MACs in the part that runs (the lab net: 2.3·10⁷) and float32 above (VGG), or
      when float64 would not fit in ``max_bytes``.
    * ``max_bytes``: the memory the pass may use (default: the server's ``memory_mb``); above it
      :class:`TooLarge` is raised before any tensor is built (:func:`gradient_plan`).

    ``unit`` defaults to the centre unit ((out_H − 1)//2, (out_W − 1)//2).
    """
    if samples < 1:
        raise ValueError("samples must be at least 1")
    if weights not in ("random", "positive"):
        raise ValueError(f"weights must be 'random' or 'positive', not {weights!r}")
    shape = parse_shape(input_shape)
    analysis, report, layers = _prefix(spec, shape, layer)
    c_out, oh, ow = report.out_shape
    i, j = unit if unit is not None else ((oh - 1) // 2, (ow - 1) // 2)
    box = field_box(report, i, j, shape)  # validates the unit
    if channel is not None and not 0 <= channel < c_out:
        raise ValueError(f"channel {channel} is outside {report.name}'s {c_out} channels (0…{c_out - 1})")
    if image is not None and state_dict is not None:
        samples = 1  # nothing random is left: one pass is exact
    dtype, _ = _plan(analysis, report, dtype, memory_limit(max_bytes))
    values = _mean_gradient(layers, shape, (i, j), channel, image, samples, seed, weights, state_dict, dtype)
    central = _central_box(box, shape[1:])
    central_mass, central_area = _central_share(values, box, central)
    return GradientField(values=values, layer=report.name, unit=(i, j), channel=channel, box=box,
                         extent=_extent(values), central=central, central_mass=central_mass,
                         central_area=central_area, effective=_effective(values, box.centre, MASS_LEVEL),
                         samples=samples, weights="trained" if state_dict is not None else weights,
                         input_kind="noise" if image is None else "image", notes=_notes(layers))


def _notes(layers) -> tuple[str, ...]:
    """What makes the measured map differ from a filled box, for the layers that ran."""
    notes = []
    if any(isinstance(x, Pool) and x.mode == "max" for x in layers):
        notes.append("max pooling sends each window's gradient to its maximum only: one input gives a sparse "
                     "map; the average over inputs fills the field")
    if any(isinstance(x, (Conv, Pool)) and max(x.dilation) > 1 for x in layers):
        notes.append("dilation leaves holes in the field")
    if any(isinstance(x, AdaptiveAvgPool) for x in layers):
        notes.append("adaptive pooling averages whole regions")
    return tuple(notes)


def _mean_gradient(layers, shape, unit, channel, image, samples: int, seed: int, weights: str, state_dict,
                   dtype: str) -> np.ndarray:
    """Mean over ``samples`` passes of |∂y/∂x| summed over the input channels: an (H, W) float64 map."""
    import torch

    from .bridge import build_model
    tdtype = {"float64": torch.float64, "float32": torch.float32}[dtype]
    i, j = unit
    total = np.zeros(shape[1:], dtype=np.float64)
    for k in range(samples):
        torch.manual_seed(seed + k)
        rng = np.random.default_rng(seed + k)
        model = build_model(layers, shape).to(tdtype)
        if state_dict is not None:
            _load_state(model, state_dict, tdtype)
        elif weights == "positive":
            _positive_init(model, rng)
        model.eval()
        x = torch.from_numpy(_input(image, shape, rng, weights == "positive" and state_dict is None)[None]).to(tdtype)
        x.requires_grad_(True)
        y = model(x)
        target = y[0, :, i, j].sum() if channel is None else y[0, channel, i, j]
        (grad,) = torch.autograd.grad(target, x)
        total += grad[0].abs().sum(dim=0).double().numpy()
    return total / samples


def _load_state(model, state_dict, tdtype) -> None:
    """Trained weights for the layers that run (extra keys, such as fc4's, are ignored; missing ones refused)."""
    import torch
    own = model.state_dict()
    usable = {key: value for key, value in state_dict.items() if key in own}
    missing = [key for key in own if key not in usable]
    if missing:
        raise ValueError(f"state_dict lacks {', '.join(missing[:4])}" + (" …" if len(missing) > 4 else ""))
    model.load_state_dict({key: torch.as_tensor(v).to(tdtype) for key, v in usable.items()})


def _central_share(values: np.ndarray, box: FieldBox, central: Box | None) -> tuple[float, float]:
    """(share of the gradient in the central box, share of the field's area the central box covers)."""
    field_mass = float(values.sum())
    if central is None or box.clipped is None:
        return 0.0, 0.0
    t, l, b, r = central
    ft, fl, fb, fr = box.clipped
    mass = float(values[t:b + 1, l:r + 1].sum() / field_mass) if field_mass > 0 else 0.0
    return mass, float((b - t + 1) * (r - l + 1) / ((fb - ft + 1) * (fr - fl + 1)))


CENTRE_WEIGHTED = 1.15
"""central_mass / central_area above which the page calls a field centre-weighted."""


def interpretation(result: GradientField) -> str:
    """One sentence for the page: how concentrated the measured field is (said only when it is)."""
    if result.box.clipped is None:
        return ("This unit's whole field lies in the zero padding: no input pixel affects it, so there is no "
                "gradient to measure. Pick a unit nearer the middle.")
    if result.extent is None:
        return ("No gradient reaches the input for this unit: every path to it is switched off (for example all "
                "the ReLUs before it output 0 on this input). Try another unit, channel or input.")
    fh, fw = result.box.size
    eh, ew = result.effective
    share = (f"{result.central_mass:.0%} of the gradient falls in the central box, which is "
             f"{result.central_area:.0%} of the field")
    if result.central_area > 0 and result.central_mass >= CENTRE_WEIGHTED * result.central_area:
        return (f"{share}, and 95 % of it lies within a {eh}×{ew} window of the {fh}×{fw} field: the effective "
                "field is smaller than the theoretical one and centre-weighted.")
    return (f"{share}: here the gradient is spread about evenly over the field, not centre-weighted — "
            "a field made by few layers (or one with holes from dilation or stride) is nearly flat; the "
            "centre weighting grows with depth.")


__all__ = ["GradientField", "gradient_field", "gradient_plan", "gradient_bytes", "TooLarge", "memory_limit", "mib",
           "spatial_layers", "interpretation", "MASS_LEVEL", "CENTRE_WEIGHTED"]

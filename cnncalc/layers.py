"""The layer model: one frozen dataclass per layer type, every spatial size per axis (H, W).

A spec is a tuple of these layers. They hold *settings* only; shapes and counts come from
:func:`cnncalc.analyze`. Defaults follow PyTorch (``nn.Conv2d``, ``nn.MaxPool2d`` …) so that a
layer written here and the module PyTorch builds from it agree.

Every layer checks its own settings in ``__post_init__`` with the text grammar's rules (whole numbers from
1 — padding from 0 — to :data:`MAX_SIZE`, a known mode or name, a probability for dropout) and raises
:class:`SpecError` naming the layer, the field, the value and the allowed range: ``Conv(-4)`` or
``Conv(8, stride=(0, 1))`` never reaches :func:`cnncalc.analyze`. An int where a pair is expected means both
axes (``Conv(8, kernel=3)`` holds ``kernel=(3, 3)``; an int padding is symmetric), so objects compare equal
to the parser's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

Pair = tuple[int, int]
"""(height, width)."""
Pad = tuple[Pair, Pair]
"""((top, bottom), (left, right)): padding before and after, per axis."""

MAX_SIZE = 1_000_000
"""The largest size, channel count or setting a layer may hold (the text grammar's bound too)."""
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
UPSAMPLE_MODES = ("nearest", "bilinear")
MIN_SCALE, MAX_SCALE = 0.0001, 1000.0

ACTIVATIONS = ("relu", "relu6", "tanh", "sigmoid", "gelu", "leakyrelu", "elu", "silu", "softmax", "identity")


def pair(value: int | Pair) -> Pair:
    """``5`` → ``(5, 5)``; a pair is returned as a tuple."""
    if isinstance(value, int):
        return (value, value)
    h, w = value
    return (int(h), int(w))


def sym_pad(value: int | Pair) -> Pad:
    """Symmetric padding per axis: ``2`` → ``((2, 2), (2, 2))``; ``(1, 2)`` → ``((1, 1), (2, 2))``."""
    h, w = pair(value)
    return ((h, h), (w, w))


def is_symmetric(pad: Pad) -> bool:
    return pad[0][0] == pad[0][1] and pad[1][0] == pad[1][1]


class SpecError(ValueError):
    """A spec or a layer that cannot be read; the message names the layer, the setting, its value and a fix.
    (Re-exported by :mod:`cnncalc.parse`; layer objects raise it from ``__post_init__``.)"""


def _whole(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def _check_int(layer: str, field: str, value, low: int = 1) -> int:
    if not _whole(value) or not low <= value <= MAX_SIZE:
        raise SpecError(f"{layer}: {field}={_shown(value)} must be a whole number from {low} to {MAX_SIZE:,}, "
                        f"e.g. {field}={max(low, 1)}")
    return value


def _check_pair(layer: str, field: str, value, low: int = 1) -> Pair:
    """An int or an (H, W) pair of whole numbers in [low, MAX_SIZE] → the pair (an int means both axes)."""
    given = value
    if _whole(value):
        value = (value, value)
    if not isinstance(value, (tuple, list)) or len(value) != 2 or not all(
            _whole(v) and low <= v <= MAX_SIZE for v in value):
        raise SpecError(f"{layer}: {field}={_shown(given)} must be N or (H, W), each a whole number from {low} to "
                        f"{MAX_SIZE:,}, e.g. {field}=({max(low, 1)}, {max(low, 1)})")
    return (value[0], value[1])


def _check_pad(layer: str, value) -> Pad | str:
    if value == "same":
        return "same"
    if _whole(value) or (isinstance(value, (tuple, list)) and len(value) == 2 and all(map(_whole, value))):
        return sym_pad(_check_pair(layer, "padding", value, 0))
    ok = isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(a, (tuple, list)) and len(a) == 2 and all(_whole(v) and 0 <= v <= MAX_SIZE for v in a)
        for a in value)
    if not ok:
        raise SpecError(f"{layer}: padding={_shown(value)} must be 'same', N, (H, W) or ((top, bottom), (left, "
                        f"right)), each a whole number from 0 to {MAX_SIZE:,}, e.g. padding=1")
    return ((value[0][0], value[0][1]), (value[1][0], value[1][1]))


def _check_choice(layer: str, field: str, value, allowed: tuple) -> None:
    if not isinstance(value, str) or value not in allowed:
        raise SpecError(f"{layer}: {field}={_shown(value)} must be one of {', '.join(allowed)}")


def _check_bool(layer: str, field: str, value) -> None:
    if not isinstance(value, bool):
        raise SpecError(f"{layer}: {field}={_shown(value)} must be True or False")


def _set(obj, **values) -> None:
    for key, value in values.items():
        object.__setattr__(obj, key, value)


@dataclass(frozen=True)
class Conv:
    """2-D convolution (``nn.Conv2d``). ``padding`` is explicit per side, or ``"same"`` (PyTorch's rule:
    total d·(k−1) per axis, the extra pixel of an odd total after the input, stride 1 only)."""

    out_channels: int
    kernel: Pair = (3, 3)
    stride: Pair = (1, 1)
    padding: Pad | Literal["same"] = ((0, 0), (0, 0))
    dilation: Pair = (1, 1)
    groups: int = 1
    bias: bool = True
    padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = "zeros"
    kind: Literal["conv"] = "conv"

    def __post_init__(self):
        _set(self, out_channels=_check_int("Conv", "out_channels", self.out_channels),
             kernel=_check_pair("Conv", "kernel", self.kernel), stride=_check_pair("Conv", "stride", self.stride),
             padding=_check_pad("Conv", self.padding), dilation=_check_pair("Conv", "dilation", self.dilation),
             groups=_check_int("Conv", "groups", self.groups))
        _check_bool("Conv", "bias", self.bias)
        _check_choice("Conv", "padding_mode", self.padding_mode, PADDING_MODES)


@dataclass(frozen=True)
class ConvTranspose:
    """Transposed convolution (``nn.ConvTranspose2d``): H_out = (H − 1)·s − 2p + d·(k − 1) + op + 1.

    Dumoulin & Visin's picture: the input dilated by s − 1 zeros between its values, padded by d·(k − 1) − p
    on each side (plus ``output_padding`` after), then a stride-1 convolution. Padding is symmetric per axis
    and *removes* output rows; ``output_padding`` (< stride or < dilation) adds them after."""

    out_channels: int
    kernel: Pair = (3, 3)
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)
    output_padding: Pair = (0, 0)
    dilation: Pair = (1, 1)
    groups: int = 1
    bias: bool = True
    kind: Literal["convT"] = "convT"

    def __post_init__(self):
        _set(self, out_channels=_check_int("ConvTranspose", "out_channels", self.out_channels),
             kernel=_check_pair("ConvTranspose", "kernel", self.kernel),
             stride=_check_pair("ConvTranspose", "stride", self.stride),
             padding=_check_pair("ConvTranspose", "padding", self.padding, 0),
             output_padding=_check_pair("ConvTranspose", "output_padding", self.output_padding, 0),
             dilation=_check_pair("ConvTranspose", "dilation", self.dilation),
             groups=_check_int("ConvTranspose", "groups", self.groups))
        _check_bool("ConvTranspose", "bias", self.bias)


@dataclass(frozen=True)
class Upsample:
    """``nn.Upsample``: by a ``scale`` factor (H_out = ⌊H·scale⌋, PyTorch's double arithmetic) or to a fixed
    ``size``; ``mode`` nearest or bilinear (``align_corners=False``). No weights."""

    scale: float | None = 2.0
    size: Pair | None = None
    mode: Literal["nearest", "bilinear"] = "nearest"
    kind: Literal["upsample"] = "upsample"

    def __post_init__(self):
        if (self.scale is None) == (self.size is None):
            raise SpecError(f"Upsample: give exactly one of scale and size (got scale={_shown(self.scale)}, "
                            f"size={_shown(self.size)}), e.g. Upsample(2) or Upsample(size=(64, 64))")
        if self.size is not None:
            _set(self, size=_check_pair("Upsample", "size", self.size))
        elif (isinstance(self.scale, bool) or not isinstance(self.scale, (int, float))
              or not MIN_SCALE <= self.scale <= MAX_SCALE):
            raise SpecError(f"Upsample: scale={_shown(self.scale)} must be a number from {MIN_SCALE:g} to "
                            f"{MAX_SCALE:g}, e.g. scale=2")
        else:
            _set(self, scale=float(self.scale))
        _check_choice("Upsample", "mode", self.mode, UPSAMPLE_MODES)


@dataclass(frozen=True)
class Pool:
    """Max or average pooling (``nn.MaxPool2d`` / ``nn.AvgPool2d``). ``stride=None`` means stride = kernel,
    as in PyTorch. Padding is symmetric per axis and at most kernel/2 (PyTorch's check). Average pooling
    counts padded zeros in the mean (``count_include_pad=True``, PyTorch's default) and has no dilation."""

    mode: Literal["max", "avg"] = "max"
    kernel: Pair = (2, 2)
    stride: Pair | None = None
    padding: Pair = (0, 0)
    dilation: Pair = (1, 1)
    ceil_mode: bool = False
    kind: Literal["pool"] = "pool"

    def __post_init__(self):
        _check_choice("Pool", "mode", self.mode, ("max", "avg"))
        _set(self, kernel=_check_pair("Pool", "kernel", self.kernel),
             stride=None if self.stride is None else _check_pair("Pool", "stride", self.stride),
             padding=_check_pair("Pool", "padding", self.padding, 0),
             dilation=_check_pair("Pool", "dilation", self.dilation))
        _check_bool("Pool", "ceil_mode", self.ceil_mode)

    @property
    def strides(self) -> Pair:
        return self.kernel if self.stride is None else self.stride


@dataclass(frozen=True)
class AdaptiveAvgPool:
    """``nn.AdaptiveAvgPool2d(output)``; ``output=(1, 1)`` is global average pooling."""

    output: Pair = (1, 1)
    kind: Literal["adaptiveavgpool"] = "adaptiveavgpool"

    def __post_init__(self):
        _set(self, output=_check_pair("AdaptiveAvgPool", "output", self.output))


@dataclass(frozen=True)
class Flatten:
    """(C, H, W) → (C·H·W,), as ``nn.Flatten()`` or the lab's ``x.view(-1, 1024)``."""

    kind: Literal["flatten"] = "flatten"


@dataclass(frozen=True)
class Linear:
    """Fully-connected layer (``nn.Linear``). A (C, H, W) input is flattened first, as the lab's fc4 does."""

    out_features: int
    bias: bool = True
    kind: Literal["fc"] = "fc"

    def __post_init__(self):
        _check_int("Linear", "out_features", self.out_features)
        _check_bool("Linear", "bias", self.bias)


@dataclass(frozen=True)
class BatchNorm:
    """Batch normalization after a conv (``BatchNorm2d``) or an fc (``BatchNorm1d``): γ and β per channel
    are learnable; the running mean and variance are buffers, not parameters."""

    kind: Literal["bn"] = "bn"


@dataclass(frozen=True)
class Dropout:
    """Zeroes each unit with probability ``p`` during training; the identity at test time."""

    p: float = 0.5
    kind: Literal["dropout"] = "dropout"

    def __post_init__(self):
        if isinstance(self.p, bool) or not isinstance(self.p, (int, float)) or not 0 <= self.p <= 1:
            raise SpecError(f"Dropout: p={_shown(self.p)} must be a probability from 0 to 1, e.g. p=0.5")
        _set(self, p=float(self.p))


@dataclass(frozen=True)
class Activation:
    """An element-wise non-linearity (softmax acts over the channel/feature axis)."""

    name: str = "relu"
    kind: Literal["act"] = "act"

    def __post_init__(self):
        _check_choice("Activation", "name", self.name, ACTIVATIONS)


Layer = Union[Conv, ConvTranspose, Upsample, Pool, AdaptiveAvgPool, Flatten, Linear, BatchNorm, Dropout, Activation]
WEIGHTED = (Conv, ConvTranspose, Linear)


def layer_names(layers: tuple[Layer, ...] | list[Layer]) -> list[str]:
    """Names in the lab's style: weighted layers are numbered together (conv1 … conv3, fc4, fc5); other
    layers take the number of the weighted layer before them (relu1, pool1, dropout4)."""
    names, index, seen = [], 0, {}
    for layer in layers:
        if isinstance(layer, WEIGHTED):
            index += 1
            base = f"{layer.kind}{index}"
        else:
            short = {"adaptiveavgpool": "avgpool", "act": getattr(layer, "name", "act")}.get(
                layer.kind, layer.kind)
            sep = "_" if short[-1].isdigit() else ""  # relu6 after conv1: relu6_1, not relu61
            base = f"{short}{sep}{index}" if index else short
        count = seen.get(base, 0)
        seen[base] = count + 1
        names.append(base if count == 0 else f"{base}_{count + 1}")
    return names

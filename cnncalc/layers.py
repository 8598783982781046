"""The layer model: one frozen dataclass per layer type, every spatial size per axis (H, W).

A spec is a tuple of these layers. They hold *settings* only; shapes and counts come from
:func:`cnncalc.analyze`. Defaults follow PyTorch (``nn.Conv2d``, ``nn.MaxPool2d`` …) so that a
layer written here and the module PyTorch builds from it agree.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

Pair = tuple[int, int]
"""(height, width)."""
Pad = tuple[Pair, Pair]
"""((top, bottom), (left, right)): padding before and after, per axis."""

ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "leakyrelu", "elu", "silu", "softmax", "identity")


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
    kind: Literal["conv"] = "conv"


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

    @property
    def strides(self) -> Pair:
        return self.kernel if self.stride is None else self.stride


@dataclass(frozen=True)
class AdaptiveAvgPool:
    """``nn.AdaptiveAvgPool2d(output)``; ``output=(1, 1)`` is global average pooling."""

    output: Pair = (1, 1)
    kind: Literal["adaptiveavgpool"] = "adaptiveavgpool"


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


@dataclass(frozen=True)
class Activation:
    """An element-wise non-linearity (softmax acts over the channel/feature axis)."""

    name: str = "relu"
    kind: Literal["act"] = "act"


Layer = Union[Conv, Pool, AdaptiveAvgPool, Flatten, Linear, BatchNorm, Dropout, Activation]
WEIGHTED = (Conv, Linear)


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
            base = f"{short}{index}" if index else short
        count = seen.get(base, 0)
        seen[base] = count + 1
        names.append(base if count == 0 else f"{base}_{count + 1}")
    return names

"""What each layer sees: every spatial layer's activation maps on one image, collected with forward hooks.

:func:`layer_activations` runs one forward pass without gradients and returns, per hooked leaf module with a
C×H×W output (conv, activation and pooling layers by default), a frozen :class:`LayerMaps`: the maps as a
float32 numpy array and the channel order by mean activation, strongest first. :func:`activations` also
returns the class scores of the same pass.

The pass estimates its memory first (:func:`activation_bytes`, shapes traced on the meta device by
:func:`cnncalc.pytorch.bridge.from_module`) and raises :class:`~cnncalc.server.limits.TooLarge` above the
server's ``memory_mb`` before any tensor is built.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..server.limits import TooLarge, memory_limit

SKIPPED = (nn.BatchNorm2d, nn.Dropout, nn.Dropout2d, nn.Identity, nn.Flatten)
"""Leaf modules whose outputs are not shown by default (a normalisation, a no-op at evaluation)."""


@dataclass(frozen=True, eq=False)
class LayerMaps:
    """One layer's output on one image. ``shape`` is the full C×H×W; ``maps`` holds the channels of
    ``order`` (all of them, or the strongest ``keep``), in that order: ``maps[k]`` is channel ``order[k]``.
    ``means`` holds every channel's mean activation in channel order; ``order`` sorts them, largest first."""

    name: str
    kind: str                       # the module's class name: Conv2d, ReLU, MaxPool2d…
    shape: tuple[int, int, int]
    maps: np.ndarray                # float32 (len(order), H, W)
    order: tuple[int, ...]          # channel indices, strongest mean first
    means: np.ndarray               # float32 (C,), per channel

    @property
    def channels(self) -> int:
        return self.shape[0]

    def channel(self, c: int) -> np.ndarray:
        """The (H, W) map of channel ``c`` (one of ``order``)."""
        return self.maps[self.order.index(c)]


@dataclass(frozen=True, eq=False)
class Activations:
    layers: tuple[LayerMaps, ...]
    scores: np.ndarray              # the model's output for the image, float32 (classes,) — logits

    def top(self, classes, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most probable classes with their softmax probabilities."""
        z = self.scores.astype(np.float64).ravel()
        p = np.exp(z - z.max())
        p /= p.sum()
        idx = np.argsort(-p, kind="stable")[:k]
        return [(classes[i] if i < len(classes) else f"class {i}", float(p[i])) for i in idx]


def _shape(x: torch.Tensor) -> tuple[int, int, int]:
    if x.dim() == 3:
        return tuple(x.shape)
    if x.dim() == 4 and x.shape[0] == 1:
        return tuple(x.shape[1:])
    raise ValueError(f"expected one C×H×W image (or 1×C×H×W), got shape {tuple(x.shape)}")


def activation_bytes(model: nn.Module, input_shape, keep: int | None = None) -> int:
    """Float32 bytes of :func:`activations` on one ``input_shape`` image: the weights, the input, the two
    largest activations alive together during the pass, and every spatial output kept (at most ``keep``
    channels of each). Arithmetic on the meta device: call it before the pass."""
    from .bridge import from_module
    analysis = from_module(model, tuple(input_shape))
    kept = 0
    for r in analysis.layers:
        if r.out_shape and len(r.out_shape) == 3 and r.memory:
            c = r.out_shape[0]
            kept += r.memory * (min(c, keep) / c if keep else 1)
    largest = sorted((r.memory or 0 for r in analysis.layers), reverse=True)[:2]
    params = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())
    return int(4 * params + 4 * math.prod(input_shape) + sum(largest) + kept)


def check_memory(model: nn.Module, input_shape, keep: int | None = None, max_bytes: int | None = None) -> int:
    """:func:`activation_bytes`, or :class:`TooLarge` above ``max_bytes`` (default: the server's
    ``memory_mb``)."""
    need, limit = activation_bytes(model, input_shape, keep), memory_limit(max_bytes)
    if need > limit:
        c, h, w = input_shape
        raise TooLarge(f"Keeping every layer's activation maps of a {c}×{h:,}×{w:,} image", need, limit,
                       "Pick a smaller network or a smaller input.")
    return need


def _hooked(model: nn.Module, skip) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in model.named_modules()
            if name and not any(True for _ in m.children()) and not isinstance(m, skip)]


def activations(model: nn.Module, image_tensor: torch.Tensor, *, keep: int | None = None, skip=SKIPPED,
                max_bytes: int | None = None) -> Activations:
    """Every hooked layer's maps (leaf modules with a C×H×W output, ``skip`` excepted) and the model's
    scores, from one forward pass of ``image_tensor`` (C×H×W or 1×C×H×W, normalised as in training) in
    evaluation mode. ``keep``: store only the strongest ``keep`` channels of each layer. Raises
    :class:`TooLarge` before the pass when :func:`activation_bytes` is above ``max_bytes``."""
    shape = _shape(image_tensor)
    check_memory(model, shape, keep, max_bytes)
    found: list[LayerMaps] = []

    def hook_for(name: str):
        def hook(module, inputs, output):
            if not isinstance(output, torch.Tensor) or output.dim() != 4:
                return
            out = output[0].detach().to(torch.float32)  # copied below: an in-place ReLU may change it later
            means = out.mean(dim=(1, 2)).cpu().numpy()
            order = np.argsort(-means, kind="stable")[:keep]
            maps = out[torch.as_tensor(order.copy())].cpu().numpy().astype(np.float32, copy=True)
            found.append(LayerMaps(name, type(module).__name__, tuple(out.shape), maps,
                                   tuple(int(c) for c in order), means.astype(np.float32)))
        return hook

    handles = [m.register_forward_hook(hook_for(name)) for name, m in _hooked(model, skip)]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            x = image_tensor if image_tensor.dim() == 4 else image_tensor.unsqueeze(0)
            scores = model(x.to(torch.float32))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return Activations(tuple(found), scores[0].detach().to(torch.float32).cpu().numpy().ravel())


def layer_activations(model: nn.Module, image_tensor: torch.Tensor, **kwargs) -> list[LayerMaps]:
    """The layers of :func:`activations` (same arguments), in the order the pass ran them."""
    return list(activations(model, image_tensor, **kwargs).layers)


__all__ = [
    "SKIPPED",
    "Activations",
    "LayerMaps",
    "TooLarge",
    "activation_bytes",
    "activations",
    "check_memory",
    "layer_activations",
]

"""The cross-check against a real PyTorch forward pass (torch imported only when called):
:func:`cross_check` builds the spec as ``nn.Sequential``, runs one forward pass and torchinfo, and compares
every layer's output shape and parameter count with :func:`cnncalc.analyze`.

It estimates the float32 memory of the pass first (:func:`run_bytes`, shared with :mod:`.larger`). Above the server's ``memory_mb`` (:func:`cnncalc.server.limits.memory_limit`) they run
on PyTorch's meta device instead — real shape inference and parameter counts, no memory, no values — so a
student's 20,000×20,000 input cannot take the server down.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ..analyze import analyze
from ..parse import parse_shape
from ..report import Analysis
from ..server.limits import memory_limit




def _pass_bytes(weights: int, run: Analysis) -> int:
    """Float32 weights + the input + the two largest activations of ``run`` (a layer's input and output
    are alive together). Layers that cannot be computed count 0: PyTorch stops there too."""
    activations = sorted((r.memory or 0 for r in run.layers), reverse=True)[:2]
    return 4 * (weights + math.prod(run.input_shape)) + sum(activations)


def run_bytes(spec, built_for, run_on=None) -> int:
    """Float32 bytes of one forward pass of one image of ``run_on`` through the net built for ``built_for``."""
    built = analyze(spec, built_for)
    return _pass_bytes(built.params, built if run_on is None else analyze(spec, run_on))


def run_device(weights: int, run: Analysis, max_bytes: int) -> str:
    """Where to run a pass: 'cpu' when it fits in ``max_bytes`` of float32 (weights + input + the two largest
    activations), else 'meta', PyTorch's shape-only device, which allocates nothing."""
    return "cpu" if _pass_bytes(weights, run) <= max_bytes else "meta"


@dataclass(frozen=True)
class CheckRow:
    name: str
    ours_shape: tuple[int, ...] | None
    torch_shape: tuple[int, ...] | None
    ours_params: int | None
    torch_params: int

    @property
    def agree(self) -> bool:
        return self.ours_shape == self.torch_shape and self.ours_params == self.torch_params


@dataclass(frozen=True)
class CrossCheck:
    rows: tuple[CheckRow, ...]
    ours_params: int
    torch_params: int
    torchinfo_params: int | None      # None on the meta device: torchinfo needs real tensors
    ours_mult_adds: int       # our MACs + bias adds + batch-norm parameters: torchinfo's convention
    torchinfo_mult_adds: int | None
    seconds: float
    device: str = "cpu"               # "meta": too large to run here, shapes and counts from PyTorch's meta device

    @property
    def all_agree(self) -> bool:
        same_info = self.device == "meta" or (self.ours_params == self.torchinfo_params
                                              and self.ours_mult_adds == self.torchinfo_mult_adds)
        return all(r.agree for r in self.rows) and self.ours_params == self.torch_params and same_info


def torchinfo_mult_adds(analysis) -> int:
    """torchinfo counts a conv's bias once per output position, a linear's bias once, and batch-norm's γ, β
    once each (``LayerInfo.calculate_macs``): add those to our weight-only MACs to compare."""
    extra = 0
    for r in analysis.layers:
        if r.layer.kind == "conv" and r.biases:
            extra += r.biases * math.prod(r.out_shape[1:])
        elif r.layer.kind in ("fc", "bn"):
            extra += r.biases if r.layer.kind == "fc" else r.params
    return analysis.macs + extra


def cross_check(spec, input_shape=(3, 32, 32), max_bytes: int | None = None) -> CrossCheck:
    import torch
    import torchinfo

    from .bridge import build_model

    t0 = time.perf_counter()
    shape = parse_shape(input_shape)
    analysis = analyze(spec, shape)
    device = run_device(analysis.params, analysis, memory_limit(max_bytes))   # the analysis above, not a second one
    with torch.device(device):
        model = build_model(spec, shape).eval()
        seen: dict[str, tuple[int, ...]] = {}
        handles = [m.register_forward_hook(lambda mod, a, out, n=n: seen.__setitem__(n, tuple(out.shape[1:])))
                   for n, m in model.named_children()]
        with torch.no_grad():
            model(torch.zeros(1, *shape))
    for h in handles:
        h.remove()
    modules = dict(model.named_children())
    rows = tuple(CheckRow(r.name, r.out_shape, seen.get(r.name), r.params,
                          sum(p.numel() for p in modules[r.name].parameters())) for r in analysis.layers)
    info = torchinfo.summary(model, input_size=(1, *shape), verbose=0) if device == "cpu" else None
    return CrossCheck(rows, analysis.params, sum(p.numel() for p in model.parameters()),
                      info and info.total_params, torchinfo_mult_adds(analysis), info and info.total_mult_adds,
                      time.perf_counter() - t0, device)

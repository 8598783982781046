"""A network built for one input size, run on a larger one (torch imported only when called): the real error
PyTorch raises at the first fully-connected layer, and why. Like the cross-check it estimates the pass's memory
first and runs on the meta device above the server's ``memory_mb``."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..analyze import analyze
from ..parse import format_shape, parse_shape
from ..server.limits import memory_limit
from .crosscheck import run_device


@dataclass(frozen=True)
class LargerInput:
    shapes: tuple[tuple[str, tuple[int, ...]], ...]   # layers that ran, with their output shape
    failed_at: str | None                              # the layer PyTorch stopped at
    error: str                                         # PyTorch's own message
    explanation: str
    device: str = "cpu"                                # "meta": too large to run, the meta device's message


def larger_input(spec, built_for=(3, 32, 32), run_on=(3, 64, 64), max_bytes: int | None = None) -> LargerInput:
    import torch

    from .bridge import build_model

    built_for, run_on = parse_shape(built_for), parse_shape(run_on)
    device = run_device(analyze(spec, built_for).params, analyze(spec, run_on), memory_limit(max_bytes))
    with torch.device(device):
        model = build_model(spec, built_for).eval()
    done: list[tuple[str, tuple[int, ...]]] = []
    handles = [m.register_forward_hook(lambda mod, a, out, n=n: done.append((n, tuple(out.shape[1:]))))
               for n, m in model.named_children()]
    names = [n for n, _ in model.named_children()]
    try:
        with torch.no_grad(), torch.device(device):
            model(torch.zeros(1, *run_on))
        failed, error = None, ""
    except RuntimeError as err:
        failed, error = names[len(done)], str(err).strip().splitlines()[0]
    finally:
        for h in handles:
            h.remove()
    if failed is None:
        text = ("every layer accepts the larger input: there is no fully-connected layer whose input size is "
                "fixed (or the feature map reaching it has the same size)")
    else:
        module = dict(model.named_children())[failed]
        maps = [shape for _, shape in done if len(shape) == 3]  # the last feature map before flattening
        got = maps[-1] if maps else done[-1][1] if done else run_on
        expected = getattr(module, "in_features", None)
        base = failed.removesuffix("_flatten")
        text = (f"{base} was built for {expected:,} inputs (its input when the image is {format_shape(built_for)}); "
                f"at {format_shape(run_on)} the feature map is {format_shape(got)} = {math.prod(got):,} values. "
                "Convolutions and pools slide over any size, but a fully-connected layer has one weight per input, "
                "so its input size is fixed." if expected else f"PyTorch stopped at {failed}.")
    return LargerInput(tuple(done), failed, error, text, device)

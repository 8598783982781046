"""The PyTorch side: build a real ``nn.Sequential`` from a spec, write its source, and analyze any
``nn.Module`` by tracing its leaf layers on the meta device (no real compute, even for VGG16).

Importing this module imports torch; ``import cnncalc`` does not.
"""
from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from ..analyze import State, analyze, analyze_layer
from ..layers import (
    Activation,
    AdaptiveAvgPool,
    BatchNorm,
    Conv,
    ConvTranspose,
    Dropout,
    Flatten,
    Layer,
    Linear,
    Pool,
    Upsample,
    is_symmetric,
)
from ..parse import SpecError, as_layers, format_shape, format_spec, parse_shape
from ..receptive import Field
from ..report import BYTES_PER_VALUE, Analysis, LayerReport

ACT_MODULES = {"relu": "ReLU", "relu6": "ReLU6", "tanh": "Tanh", "sigmoid": "Sigmoid", "gelu": "GELU", "leakyrelu": "LeakyReLU",
               "elu": "ELU", "silu": "SiLU", "softmax": "Softmax", "identity": "Identity"}

Recipe = tuple[str, str, tuple, dict]  # (module name, nn class name, args, kwargs)
PAD_MODULES = {"zeros": "ZeroPad2d", "reflect": "ReflectionPad2d", "replicate": "ReplicationPad2d",
               "circular": "CircularPad2d"}  # asymmetric padding in front of the conv, in its padding_mode


def _one(p: tuple[int, int]) -> int | tuple[int, int]:
    return p[0] if p[0] == p[1] else p


def recipes(spec, input_shape=(3, 32, 32)) -> list[Recipe]:
    """The modules a spec becomes, as data: both :func:`build_model` and :func:`to_pytorch_code` use it."""
    analysis = analyze(spec, input_shape)
    if not analysis.ok:
        bad = analysis.first_error
        raise SpecError(f"{bad.name} ('{bad.spec}'): {bad.message}" + (f"; try '{bad.fix}'" if bad.fix else ""))
    out: list[Recipe] = []
    for r in analysis.layers:
        layer, shape = r.layer, r.in_shape
        if isinstance(layer, Conv):
            out += _conv_recipes(r.name, layer, shape)
        elif isinstance(layer, ConvTranspose):
            out.append(_convT_recipe(r.name, layer, shape))
        elif isinstance(layer, Upsample):
            kw = {"size": _one(layer.size)} if layer.size is not None else {"scale_factor": layer.scale}
            out.append((r.name, "Upsample", (), dict(kw, mode=layer.mode)))
        elif isinstance(layer, Pool):
            kw = {"kernel_size": _one(layer.kernel)}
            if layer.stride is not None and layer.stride != layer.kernel:
                kw["stride"] = _one(layer.stride)
            if layer.padding != (0, 0):
                kw["padding"] = _one(layer.padding)
            if layer.dilation != (1, 1):
                kw["dilation"] = _one(layer.dilation)
            if layer.ceil_mode:
                kw["ceil_mode"] = True
            out.append((r.name, "MaxPool2d" if layer.mode == "max" else "AvgPool2d", (), kw))
        elif isinstance(layer, AdaptiveAvgPool):
            out.append((r.name, "AdaptiveAvgPool2d", (_one(layer.output),), {}))
        elif isinstance(layer, Flatten):
            out.append((r.name, "Flatten", (), {}))
        elif isinstance(layer, Linear):
            if len(shape) == 3:
                out.append((f"{r.name}_flatten", "Flatten", (), {}))
            n_in = shape[0] * (shape[1] * shape[2] if len(shape) == 3 else 1)
            out.append((r.name, "Linear", (n_in, layer.out_features), {} if layer.bias else {"bias": False}))
        elif isinstance(layer, BatchNorm):
            out.append((r.name, "BatchNorm2d" if len(shape) == 3 else "BatchNorm1d", (shape[0],), {}))
        elif isinstance(layer, Dropout):
            out.append((r.name, "Dropout", (), {"p": layer.p}))
        else:
            out.append((r.name, ACT_MODULES[layer.name], (), {"dim": 1} if layer.name == "softmax" else {}))
    return out


def _conv_recipes(name: str, layer: Conv, shape) -> list[Recipe]:
    out: list[Recipe] = []
    kw: dict[str, Any] = {"kernel_size": _one(layer.kernel)}
    for key, value, default in (("stride", layer.stride, (1, 1)), ("dilation", layer.dilation, (1, 1))):
        if value != default:
            kw[key] = _one(value)
    if layer.padding == "same":
        kw["padding"] = "same"
    elif is_symmetric(layer.padding):
        if layer.padding != ((0, 0), (0, 0)):
            kw["padding"] = _one((layer.padding[0][0], layer.padding[1][0]))
    else:
        (t, b), (l, rr) = layer.padding
        out.append((f"{name}_pad", PAD_MODULES[layer.padding_mode], ((l, rr, t, b),), {}))
    if layer.groups != 1:
        kw["groups"] = layer.groups
    if not layer.bias:
        kw["bias"] = False
    if layer.padding_mode != "zeros" and "padding" in kw:
        kw["padding_mode"] = layer.padding_mode
    out.append((name, "Conv2d", (shape[0], layer.out_channels), kw))
    return out


def _convT_recipe(name: str, layer: ConvTranspose, shape) -> Recipe:
    kw: dict[str, Any] = {"kernel_size": _one(layer.kernel)}
    for key, value, default in (("stride", layer.stride, (1, 1)), ("padding", layer.padding, (0, 0)),
                                ("output_padding", layer.output_padding, (0, 0))):
        if value != default:
            kw[key] = _one(value)
    if layer.groups != 1:
        kw["groups"] = layer.groups
    if not layer.bias:
        kw["bias"] = False
    if layer.dilation != (1, 1):
        kw["dilation"] = _one(layer.dilation)
    return (name, "ConvTranspose2d", (shape[0], layer.out_channels), kw)


def build_model(spec, input_shape=(3, 32, 32)) -> nn.Sequential:
    """A real ``nn.Sequential`` whose modules carry the spec's layer names (conv1, pool1, fc4 …)."""
    return nn.Sequential(OrderedDict((name, getattr(nn, cls)(*args, **kw)) for name, cls, args, kw in
                                     recipes(spec, input_shape)))


def to_pytorch_code(spec, input_shape=(3, 32, 32)) -> str:
    """Readable Python source that builds the same network as :func:`build_model`."""
    shape = parse_shape(input_shape)
    lines = [f'"""Built by cnncalc from: {format_spec(as_layers(spec))}',
             f'Input: {format_shape(shape)} (one image without the batch axis)."""',
             "from collections import OrderedDict", "", "import torch", "from torch import nn", "",
             "model = nn.Sequential(OrderedDict(["]
    for name, cls, args, kw in recipes(spec, shape):
        params = [repr(a) for a in args] + [f"{k}={repr(v)}" for k, v in kw.items()]
        lines.append(f'    ("{name}", nn.{cls}({", ".join(params)})),')
    lines += ["]))", "", 'if __name__ == "__main__":',
              "    model.eval()  # dropout off, batch norm on its running statistics (one image is a batch of 1)",
              f"    x = torch.zeros(1, {', '.join(map(str, shape))})",
              "    print(model(x).shape)",
              "    print(sum(p.numel() for p in model.parameters()), 'parameters')", ""]
    return "\n".join(lines)


# --- any nn.Module -------------------------------------------------------------------------------

def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def layer_of(module: nn.Module, in_shape: tuple[int, ...]) -> Layer | None:
    """The cnncalc layer equivalent to a PyTorch leaf module, or None when there is no formula for it (or its
    settings are outside what cnncalc's layers hold, e.g. a kernel past 1,000,000)."""
    try:
        return _layer_of(module, in_shape)
    except SpecError:
        return None


def _upsample_of(module: nn.Upsample) -> Upsample | None:
    if module.mode not in ("nearest", "bilinear") or module.align_corners:
        return None
    if module.size is not None:
        return Upsample(None, _pair(module.size), module.mode)
    scale = module.scale_factor
    if isinstance(scale, (tuple, list)):
        if len(set(scale)) != 1:
            return None
        scale = scale[0]
    return Upsample(float(scale), None, module.mode)


def _layer_of(module: nn.Module, in_shape: tuple[int, ...]) -> Layer | None:
    if isinstance(module, nn.Conv2d):
        if isinstance(module.padding, str):
            pad = "same" if module.padding == "same" else ((0, 0), (0, 0))
        else:
            ph, pw = _pair(module.padding)
            pad = ((ph, ph), (pw, pw))
        return Conv(module.out_channels, _pair(module.kernel_size), _pair(module.stride), pad,
                    _pair(module.dilation), module.groups, module.bias is not None, module.padding_mode)
    if isinstance(module, nn.ConvTranspose2d):
        if module.padding_mode != "zeros":
            return None
        return ConvTranspose(module.out_channels, _pair(module.kernel_size), _pair(module.stride),
                             _pair(module.padding), _pair(module.output_padding), _pair(module.dilation),
                             module.groups, module.bias is not None)
    if isinstance(module, nn.Upsample):
        return _upsample_of(module)
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        if isinstance(module, nn.AvgPool2d) and (not module.count_include_pad or module.divisor_override):
            return None
        return Pool("max" if isinstance(module, nn.MaxPool2d) else "avg", _pair(module.kernel_size),
                    _pair(module.stride if module.stride is not None else module.kernel_size), _pair(module.padding),
                    _pair(getattr(module, "dilation", 1)), bool(module.ceil_mode))
    if isinstance(module, nn.AdaptiveAvgPool2d) and len(in_shape) == 3:
        o = module.output_size
        o = (o, o) if isinstance(o, int) else o
        return AdaptiveAvgPool(tuple(in_shape[1 + i] if v is None else int(v) for i, v in enumerate(o)))
    if isinstance(module, nn.Flatten) and module.start_dim == 1 and module.end_dim == -1:
        return Flatten()
    if isinstance(module, nn.Linear):  # over a C×H×W map nn.Linear acts on the last axis, not a flatten
        return Linear(module.out_features, module.bias is not None) if len(in_shape) == 1 else None
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)) and module.affine:
        return BatchNorm()
    if isinstance(module, (nn.Dropout, nn.Dropout2d)):
        return Dropout(float(module.p))
    name = {v.lower(): k for k, v in ACT_MODULES.items()}.get(type(module).__name__.lower())
    return Activation(name) if name else None


def _unsupported(index: int, name: str, module: nn.Module, in_shape, out_shape, params: int) -> LayerReport:
    return LayerReport(index=index, name=name, layer=Activation("identity"), spec=type(module).__name__,
                       in_shape=in_shape, out_shape=out_shape, params=params,
                       memory=int(torch.Size(out_shape).numel()) * BYTES_PER_VALUE,
                       message=f"no formula for {type(module).__name__}: shapes and parameters are PyTorch's; "
                               "weights/biases, MACs, FLOPs and receptive field unavailable",
                       unavailable=("weights", "biases", "macs", "flops", "rf", "jump", "start"))


def _linear_last_axis(index: int, name: str, module: nn.Linear, in_shape, out_shape, params: int) -> LayerReport:
    """nn.Linear on a C×H×W map: one in→out product per position of the leading axes (PyTorch's rule)."""
    positions = math.prod(in_shape[:-1])
    weights, biases = module.weight.numel(), module.bias.numel() if module.bias is not None else 0
    macs = positions * weights
    return LayerReport(index=index, name=name, layer=Linear(module.out_features, biases > 0),
                       spec=f"Linear({module.in_features} → {module.out_features}) on the last axis",
                       in_shape=in_shape, out_shape=out_shape, weights=weights, biases=biases,
                       params=params, macs=macs, flops=2 * macs + (math.prod(out_shape) if biases else 0),
                       memory=math.prod(out_shape) * BYTES_PER_VALUE, unavailable=("rf", "jump", "start"),
                       message=f"acts on the last axis at each of {positions:,} positions (no flatten); "
                               "receptive field unavailable",
                       formulas={"macs": f"{positions:,}·{module.in_features}·{module.out_features} = {macs:,}"})


def pytorch_differences(report: LayerReport, out_shape: tuple, params: int) -> dict[str, Any]:
    """What a traced module's report must change where PyTorch says otherwise: its output shape (a warning
    naming both) and its parameter count (a module called twice counts its parameters at its first use)."""
    changes: dict[str, Any] = {}
    if report.out_shape != out_shape:
        changes.update(status="warning", out_shape=out_shape,
                       message=f"cnncalc computes {report.out_shape} but PyTorch gives {out_shape}")
    if params != report.params:
        changes.update(params=params, message="; ".join(filter(None, [
            changes.get("message", report.message),
            "shared module: parameters counted at its first use" if params == 0 else
            f"PyTorch counts {params} parameters"])))
    return changes


def _trace(model: nn.Module, shape: tuple[int, ...]) -> list[tuple[str, nn.Module, Any, int, Any, int]]:
    """(name, module, input, its version, output, its version) for every leaf call, in order."""
    calls: list[tuple[str, nn.Module, Any, int, Any, int]] = []
    names = {m: n for n, m in model.named_modules()}
    leaves = [m for m in model.modules() if not list(m.children())]

    before: dict[nn.Module, int] = {}

    def pre_hook(module, args):  # versions before the call: an in-place ReLU bumps its own input
        before[module] = getattr(args[0], "_version", 0) if args else 0

    def hook(module, args, output):
        first = output[0] if isinstance(output, (tuple, list)) else output
        calls.append((names[module], module, args[0] if args else None, before.pop(module), first, first._version))

    handles = [m.register_forward_pre_hook(pre_hook) for m in leaves] + [m.register_forward_hook(hook) for m in leaves]
    modes = {m: m.training for m in model.modules()}
    meta = {n: torch.empty_like(t, device="meta") for n, t in [*model.named_parameters(), *model.named_buffers()]}
    try:
        model.eval()
        with torch.no_grad():
            torch.func.functional_call(model, meta, (torch.empty((1, *shape), device="meta"),))
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    return calls


def from_module(model: nn.Module, input_shape=(3, 224, 224)) -> Analysis:
    """Analyze any PyTorch model on one input: shapes and parameter counts are PyTorch's own (traced on the
    meta device, no real compute); MACs/FLOPs/fields come from cnncalc's formulas for layers it knows.

    Receptive fields follow each tensor from leaf layer to leaf layer; a feature map made outside the
    leaves (a residual add, a concatenation) gets an explicit "unavailable", never a guess.

    Delegates to :func:`cnncalc.pytorch.graph.from_module`, which also follows the functional operations between
    leaves (residual adds, concatenations, SE products: the fields merge when the paths align; attention's
    projections and matmuls counted). The leaf-only version below stays as its reference for plain chains.
    """
    from .graph import from_module as graph_from_module  # lazy: graph imports this module
    return graph_from_module(model, input_shape)


def from_module_leaves(model: nn.Module, input_shape=(3, 224, 224)) -> Analysis:
    """The leaf-to-leaf analysis (see :func:`from_module`): a map made outside the leaves is "unavailable"."""
    shape = parse_shape(input_shape)
    x_fields: dict[int, tuple[int, tuple[Field, Field] | None]] = {}  # id → (version, fields)
    keep: list[Any] = []  # hold traced tensors so their ids stay unique
    reports, seen = [], set()
    calls = _trace(model, shape)
    for index, (name, module, x, x_version, y, y_version) in enumerate(calls):
        keep += [x, y]
        in_shape, out_shape = tuple(x.shape[1:]), tuple(y.shape[1:])
        params = 0 if module in seen else sum(p.numel() for p in module.parameters(recurse=False))
        seen.add(module)
        layer = layer_of(module, in_shape)
        # a leaf's output is trusted only while unmodified: an in-place `out += identity` bumps _version
        known = index == 0 or x_fields.get(id(x), (-1, None))[0] == x_version
        if index == 0:
            fields = (Field(), Field()) if len(shape) == 3 else None
        else:
            fields = x_fields[id(x)][1] if known else None
        if layer is None and isinstance(module, nn.Linear):
            reports.append(_linear_last_axis(index, name, module, in_shape, out_shape, params))
            x_fields[id(y)] = (y_version, None)
            continue
        if layer is None:
            reports.append(_unsupported(index, name, module, in_shape, out_shape, params))
            x_fields[id(y)] = (y_version, None)
            continue
        report, state = analyze_layer(layer, State(in_shape, fields), index, name)
        changes = pytorch_differences(report, out_shape, params)
        if not known and len(in_shape) == 3 and report.status != "error":
            changes.update(rf=None, jump=None, start=None, unavailable=("rf", "jump", "start"),
                           message="receptive field unavailable: this input is made outside nn layers "
                                   "(e.g. a residual add or a concatenation)")
        reports.append(dataclasses.replace(report, **changes) if changes else report)
        usable = state is not None and "rf" not in changes.get("unavailable", ())
        x_fields[id(y)] = (y_version, state.fields if usable else None)
    traced = sum(r.params or 0 for r in reports)
    total = sum(p.numel() for p in model.parameters())
    if traced != total:
        reports.append(LayerReport(index=len(reports), name="(other parameters)", layer=Activation("identity"),
                                   spec="parameters outside leaf layers", in_shape=None, out_shape=None,
                                   params=total - traced, status="warning",
                                   message=f"{total - traced:,} parameters belong to no traced leaf layer"))
    return Analysis(shape, tuple(reports))

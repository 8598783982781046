"""``from_module`` over the whole graph: leaf modules give the rows, a ``TorchFunctionMode`` sees every
functional op between them (residual adds, concatenations, SE products, attention's F.linear and
scaled_dot_product_attention), and each tensor carries its own receptive field.

Multi-path graphs (Araujo, Norris & Sim, Distill 2019, "Computing Receptive Fields of CNNs"): where paths
meet (add, mul, cat over channels, any element-wise op) the field is the union of the paths' intervals,
valid when their jumps are equal; different jumps make the field "unavailable", naming the merge and both
(jump, start) pairs. An input broadcast over H×W (spatial size 1: SE's per-channel scale, a pooled vector)
covers a fixed interval — its own field, or the whole image — for every unit; the merged field is then the
smallest interval centred on each unit that holds both (so clipped to the image it is the whole image).

MACs: leaf modules by cnncalc's formulas; outside leaves F.linear (in·out per token), the two attention
matmuls of scaled_dot_product_attention (L·S·d per head each), matmul/bmm/baddbmm/einsum, F.conv2d — one
row each, named after the module that makes the call. An op with no rule gets a row whose MACs are
unavailable, so the total is shown as "≥" and names it. Parameters used outside leaf modules (ViT's class
token, positional embedding) get one row per owning module.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ..analyze import State, analyze_layer
from ..layers import Activation, BatchNorm, Linear
from ..parse import parse_shape
from ..receptive import Field, number_text, step

try:  # exact fields (fractions) where cnncalc.receptive has them
    from ..receptive import exact, whole_or_exact
except ImportError:  # pragma: no cover - older receptive.py with float starts
    def exact(x):
        return x

    def whole_or_exact(x):
        return int(x) if float(x).is_integer() else x
from ..report import BYTES_PER_VALUE, Analysis, LayerReport
from .bridge import _linear_last_axis, _unsupported, layer_of, pytorch_differences

Fields = tuple[Field, Field]


@dataclass(frozen=True)
class Geo:
    """What one traced tensor (derived from the input) knows about its geometry. ``fields`` per spatial axis
    at dims ``axes`` (negative: (-2, -1) for N×C×H×W, (-3, -2) for N×H×W×C); ``fields=None`` with ``why=''``
    is a non-spatial tensor (tokens, a flattened vector); ``why`` says why a spatial field is unknown."""

    fields: Fields | None = None
    axes: tuple[int, int] = (-2, -1)
    why: str = ""


NON_SPATIAL = Geo()

# --- op names ------------------------------------------------------------------------------------

POINTWISE = set("""add sub mul div truediv true_divide floordiv floor_divide rsub where maximum minimum addcmul addcdiv
lerp pow fmod remainder eq ne lt gt le ge logical_and logical_or logical_not bitwise_and bitwise_or masked_fill
relu relu6 hardtanh hardswish hardsigmoid sigmoid tanh silu gelu mish elu selu celu leaky_relu softplus softsign
clamp clip clamp_min clamp_max threshold dropout dropout1d dropout2d dropout3d feature_dropout alpha_dropout
feature_alpha_dropout neg exp log log1p sqrt rsqrt abs sign reciprocal square erf sin cos contiguous clone detach
to float half double bfloat16 type type_as copy fill zero zeros_like ones_like empty_like full_like rand_like
batch_norm requires_grad expand expand_as abs_ sigmoid_ mul_ nan_to_num""".split())
SHAPE_OPS = set("view reshape flatten unflatten squeeze unsqueeze view_as reshape_as".split())
REDUCE_OPS = set("mean sum amax amin max min std var logsumexp norm".split())
MAC_OPS = set("linear matmul mm bmm baddbmm addmm einsum scaled_dot_product_attention conv2d".split())
SPATIAL_POOLS = {"avg_pool2d", "max_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d",
                 "max_pool2d_with_indices", "adaptive_max_pool2d_with_indices", "_max_pool2d"}
SILENT = set("""size dim numel __get__ __len__ __bool__ __format__ __repr__ __index__ __int__ __float__ item tolist
is_floating_point is_contiguous element_size stride storage_offset data_ptr _assert has_torch_function
get_device is_complex __contains__ __iter__ __eq__ __hash__ __setstate__ __reduce_ex__ __deepcopy__""".split())

ACTIVATION_LEAVES = {"ReLU", "ReLU6", "Hardswish", "Hardsigmoid", "Hardtanh", "SiLU", "GELU", "Sigmoid", "Tanh",
                     "LeakyReLU", "ELU", "Mish", "Softplus", "SELU", "CELU", "GLU"}
IDENTITY_LEAVES = {"Identity", "StochasticDepth", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d",
                   "AlphaDropout"}


def _name(func) -> str:
    n = getattr(func, "__name__", str(func))
    if n.startswith("__") and n.endswith("__") and n not in SILENT:
        n = n[2:-2]
        if n[:1] in "ir" and n[1:] in {"add", "sub", "mul", "truediv", "floordiv", "pow", "matmul", "and", "or"}:
            n = n[1:]
    if n.endswith("_") and not n.startswith("_"):
        n = n[:-1]
    return {"getitem": "getitem", "and": "logical_and", "or": "logical_or"}.get(n, n)


def _tensors(obj) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors(o)]
    return []


def _interval(f: Field):
    half = exact(f.rf - 1) / 2
    return f.start - half, f.start + half


def _pos(axes: tuple[int, int], ndim: int) -> tuple[int, int]:
    return axes[0] + ndim, axes[1] + ndim


# --- merging the fields of several paths -----------------------------------------------------------

def merge(op: str, out: torch.Tensor, inputs: list[tuple[torch.Tensor, Geo]], image: tuple[int, int]) -> Geo:
    """The field of ``out`` = op(inputs...) for an element-wise op or a channel concatenation."""
    bad = next((g for _, g in inputs if g.why), None)
    if bad is not None:
        return bad
    spatial = [(t, g) for t, g in inputs if g.fields is not None]
    if not spatial:
        return NON_SPATIAL
    axes = spatial[0][1].axes
    if out.dim() < 2 or min(-axes[0], -axes[1]) > out.dim():
        return NON_SPATIAL
    ph, pw = _pos(axes, out.dim())
    size = (out.shape[ph], out.shape[pw])
    full, fixed = [], []   # full-size paths: their fields; broadcast ones: a fixed interval per axis
    for t, g in inputs:
        nd = t.dim()
        sizes = tuple(t.shape[a + nd] if -a <= nd else 1 for a in axes)
        if g.fields is not None and g.axes == axes and sizes == size:
            full.append(g.fields)
        elif sizes == (1, 1):
            fixed.append(tuple(_interval(f) for f in g.fields) if g.fields is not None and g.axes == axes
                         else tuple((0, n - 1) for n in image))
        elif g.fields is not None and g.axes == axes and size == (1, 1):
            fixed.append(tuple(_interval(f) for f in g.fields))   # never reached for broadcast outputs
        else:
            return Geo(None, axes, f"{op} combines maps of different layout {tuple(t.shape)} → {tuple(out.shape)}")
    if not full:  # every input is broadcast (1×1 maps): the output is 1×1 and covers their union
        lo = [min(iv[a][0] for iv in fixed) for a in (0, 1)]
        hi = [max(iv[a][1] for iv in fixed) for a in (0, 1)]
        return Geo(tuple(Field(h - l + 1, 1, exact(l + h) / 2) for l, h in zip(lo, hi)), axes)
    new = []
    for a in (0, 1):
        fs = [f[a] for f in full]
        if any(f.jump != fs[0].jump for f in fs):
            other = next(f for f in fs if f.jump != fs[0].jump)
            return Geo(None, axes, f"{op} merges paths whose fields do not align: (jump "
                                   f"{number_text(fs[0].jump)}, start {number_text(fs[0].start)}) and (jump "
                                   f"{number_text(other.jump)}, start {number_text(other.start)}) along {'HW'[a]}")
        lo = min(_interval(f)[0] for f in fs)
        hi = max(_interval(f)[1] for f in fs)
        jump, start, half = fs[0].jump, exact(lo + hi) / 2, exact(hi - lo) / 2
        for l, h in (iv[a] for iv in fixed):   # the smallest centred interval holding both, for every unit
            for centre in (start, start + (size[a] - 1) * jump):
                half = max(half, centre - l, h - centre)
        new.append(Field(2 * half + 1, jump, start))
    return Geo(tuple(new), axes)


# --- geometry of the ops between leaves ------------------------------------------------------------

def _reshape(op: str, x: torch.Tensor, g: Geo, out: torch.Tensor) -> Geo:
    if g.why:
        return g
    if g.fields is None:
        return NON_SPATIAL
    s, o = tuple(x.shape), tuple(out.shape)
    ih, iw = _pos(g.axes, len(s))
    if iw == ih + 1:
        pre, post = math.prod(s[:ih]), math.prod(s[iw + 1:])
        for k in range(len(o) - 1):
            if (o[k], o[k + 1]) == (s[ih], s[iw]) and math.prod(o[:k]) == pre and math.prod(o[k + 2:]) == post:
                return Geo(g.fields, (k - len(o), k + 1 - len(o)))
    return NON_SPATIAL   # tokens or a flattened vector: later spatial layers say the field was lost


def _permute(x: torch.Tensor, g: Geo, dims: list[int]) -> Geo:
    if g.fields is None:
        return g
    n = x.dim()
    dims = [d % n for d in dims]
    ph, pw = _pos(g.axes, n)
    return Geo(g.fields, (dims.index(ph) - n, dims.index(pw) - n))


def _permute_op(op: str, x: torch.Tensor, g: Geo, args, kwargs) -> Geo:
    if g.fields is None:
        return g
    n, rest = x.dim(), [a for a in args[1:] if not isinstance(a, torch.Tensor)]
    if op == "permute":
        dims = list(rest[0]) if len(rest) == 1 and not isinstance(rest[0], int) else list(rest)
        dims = dims or list(kwargs.get("dims"))
    elif op == "movedim":
        dims = [d % n for d in range(n)]
        dims.insert(rest[1] % n, dims.pop(rest[0] % n))
    else:
        a, b = (rest + [0, 1])[:2] if op != "t" else (0, 1)
        dims = list(range(n))
        dims[a % n], dims[b % n] = dims[b % n], dims[a % n]
    return _permute(x, g, dims)


def _dims_arg(args, kwargs, index: int, key: str = "dim"):
    v = kwargs.get(key, args[index] if len(args) > index else None)
    return v


def _reduce(op: str, x: torch.Tensor, g: Geo, out: torch.Tensor, args, kwargs) -> Geo:
    if g.why or g.fields is None:
        return g if g.why else NON_SPATIAL
    dim = _dims_arg(args, kwargs, 1)
    n = x.dim()
    dims = set(range(n)) if dim is None else {d % n for d in ([dim] if isinstance(dim, int) else dim)}
    ph, pw = _pos(g.axes, n)
    hit = {ph, pw} & dims
    if not hit:
        keep = bool(kwargs.get("keepdim", args[2] if len(args) > 2 and isinstance(args[2], bool) else False))
        if keep:
            return g
        shift = [sum(1 for d in dims if d > p) for p in (ph, pw)]
        return Geo(g.fields, (g.axes[0] + shift[0], g.axes[1] + shift[1]))
    if hit != {ph, pw}:
        return Geo(None, g.axes, f"{op} over one spatial axis")
    glob = tuple(step(f, x.shape[p], x.shape[p], 0) for f, p in zip(g.fields, (ph, pw)))
    return Geo(glob, g.axes) if out.dim() == n else NON_SPATIAL


def _window_fields(g: Geo, x: torch.Tensor, k, s, p, d=1) -> Geo:
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    k, s, p, d = pair(k), pair(s if s not in (None, []) else k), pair(p), pair(d)
    return Geo(tuple(step(f, *a) for f, a in zip(g.fields, zip(k, s, p, d))), g.axes)


def _spatial_op(op: str, x: torch.Tensor, g: Geo, out: torch.Tensor, args, kwargs) -> Geo:
    if g.why:
        return g
    if g.fields is None or g.axes != (-2, -1):
        return Geo(None, (-2, -1), f"{op} outside nn layers on a map whose H, W axes are not the last two")
    if op in {"adaptive_avg_pool2d", "adaptive_max_pool2d", "adaptive_max_pool2d_with_indices"}:
        (h, w), (oh, ow) = x.shape[-2:], out.shape[-2:]
        if h % oh or w % ow:
            return Geo(None, g.axes, f"{op} {h}×{w} → {oh}×{ow} uses windows of unequal size")
        return _window_fields(g, x, (h // oh, w // ow), (h // oh, w // ow), 0)
    if op == "avg_pool2d" and not _dims_arg(args, kwargs, 5, "count_include_pad") in (None, True):
        return Geo(None, g.axes, "avg_pool2d without count_include_pad")
    k = _dims_arg(args, kwargs, 1, "kernel_size")
    s = _dims_arg(args, kwargs, 2, "stride")
    p = _dims_arg(args, kwargs, 3, "padding") or 0
    d = (_dims_arg(args, kwargs, 4, "dilation") or 1) if "max" in op else 1
    return _window_fields(g, x, k, s, p, d)


def _pad(x: torch.Tensor, g: Geo, args, kwargs) -> Geo:
    pads = list(_dims_arg(args, kwargs, 1, "pad"))
    mode = _dims_arg(args, kwargs, 2, "mode") or "constant"
    if g.why or g.fields is None:
        return g
    if g.axes != (-2, -1) or mode != "constant" or len(pads) > 4:
        return Geo(None, g.axes, f"pad (mode {mode}) outside nn layers")
    left, top = pads[0], pads[2] if len(pads) > 2 else 0
    fh, fw = g.fields
    return Geo((Field(fh.rf, fh.jump, fh.start - top * fh.jump), Field(fw.rf, fw.jump, fw.start - left * fw.jump)),
               g.axes)


# --- MACs of the functional ops ----------------------------------------------------------------------

def _einsum_macs(eq: str, ops: list[torch.Tensor]) -> int | None:
    lhs = eq.replace(" ", "").split("->")[0].split(",")
    if len(lhs) != 2 or "." in "".join(lhs):
        return None
    sizes = {}
    for term, t in zip(lhs, ops):
        sizes.update(zip(term, t.shape))
    return math.prod(sizes.values())


def macs_of(op: str, args, kwargs, out: torch.Tensor) -> int | None:
    """Multiply–accumulates of one functional call (batch included: the trace runs one image)."""
    a = list(args)
    if op == "linear":
        x, w = a[0], a[1] if len(a) > 1 else kwargs["weight"]
        return math.prod(x.shape[:-1]) * w.numel()
    if op in {"matmul", "mm", "bmm"}:
        return out.numel() * a[0].shape[-1]
    if op in {"baddbmm", "addmm"}:
        return out.numel() * a[1].shape[-1]
    if op == "einsum":
        eq, ops = a[0], _tensors(a[1:])
        return _einsum_macs(eq, ops)
    if op == "scaled_dot_product_attention":
        q, k, v = a[:3] if len(a) >= 3 else (a + [kwargs.get(n) for n in ("query", "key", "value")])[:3]
        rows = math.prod(q.shape[:-1])
        return rows * k.shape[-2] * q.shape[-1] + rows * k.shape[-2] * v.shape[-1]
    if op == "conv2d":
        w = a[1] if len(a) > 1 else kwargs["weight"]
        return out.numel() * math.prod(w.shape[1:])
    return None


# --- the trace -----------------------------------------------------------------------------------------

SELECT_OPS = set("""getitem narrow select split chunk unbind split_with_sizes tensor_split slice expand expand_as
repeat index_select roll flip""".split())
PERMUTE_OPS = {"permute", "transpose", "swapaxes", "swapdims", "movedim", "t"}
CAT_OPS = {"cat", "concat", "concatenate"}
COMPOSITE = {"multi_head_attention_forward"}


class _Tracer(TorchFunctionMode):
    """Rows in call order: leaf modules (hooks) and functional ops outside them (this mode)."""

    def __init__(self, model: nn.Module, image: tuple[int, int]):
        super().__init__()
        self.names = {m: n for n, m in model.named_modules()}
        self.image = image
        self.geo: dict[int, tuple[torch.Tensor, Geo]] = {}
        self.stack: list[nn.Module] = []
        self.leaf_depth = 0
        self.busy = False
        self.rows: list[LayerReport] = []
        self.counted: set[int] = set()
        self.param_names: dict[int, str] = {}
        self.unknown = False

    # --- bookkeeping
    def set_geo(self, out, geo: Geo) -> None:
        for t in _tensors(out):
            self.geo[id(t)] = (t, geo)

    def get_geo(self, t) -> Geo | None:
        hit = self.geo.get(id(t)) if isinstance(t, torch.Tensor) else None
        return hit[1] if hit is not None and hit[0] is t else None

    def take_params(self, tensors) -> tuple[int, list[torch.Tensor]]:
        fresh = [p for p in tensors if id(p) in self.param_names and id(p) not in self.counted]
        self.counted.update(id(p) for p in fresh)
        return sum(p.numel() for p in fresh), fresh

    def owner(self) -> str:
        name = self.names.get(self.stack[-1], "") if self.stack else ""
        return name or "model"

    # --- the functional ops
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        op = _name(func)
        if op in COMPOSITE and not (self.busy or self.leaf_depth):
            return self.inside(func, args, kwargs)
        out = func(*args, **kwargs)
        if self.busy or self.leaf_depth:
            return out
        if op in SILENT:
            return out
        ins = [(t, g) for t in _tensors(args) + _tensors(kwargs) if (g := self.get_geo(t)) is not None]
        outs = _tensors(out)
        if not ins or not outs:
            return out
        self.busy = True
        try:
            self.unknown = False
            geo = self.geometry(op, args, kwargs, ins, out)
            self.set_geo(out, geo)
            if op in MAC_OPS or self.unknown:
                self.rows.append(self.op_row(op, args, kwargs, ins, outs[0], geo))
        finally:
            self.busy = False
        return out

    def geometry(self, op: str, args, kwargs, ins, out) -> Geo:
        x, g = ins[0]
        first = _tensors(out)[0]
        if op in POINTWISE or (op in {"max", "min"} and len(_tensors(args)) > 1):
            return merge(op, first, ins, self.image)
        if op in {"softmax", "log_softmax"}:
            dim = _dims_arg(args, kwargs, 1)
            if g.fields is not None and dim is not None and dim % x.dim() in _pos(g.axes, x.dim()):
                return Geo(None, g.axes, f"{op} over a spatial axis")
            return merge(op, first, ins, self.image)
        if op == "layer_norm":
            k = len(_dims_arg(args, kwargs, 1, "normalized_shape"))
            if g.fields is not None and set(range(x.dim() - k, x.dim())) & set(_pos(g.axes, x.dim())):
                return Geo(None, g.axes, "layer_norm over a spatial axis")
            return g
        if op in CAT_OPS or op == "stack":
            dim = _dims_arg(args, kwargs, 1) or 0
            spatial = [gg for _, gg in ins if gg.fields is not None]
            if spatial and (op == "stack" or dim % x.dim() in _pos(spatial[0].axes, x.dim())):
                return Geo(None, spatial[0].axes, f"{op} along a spatial axis")
            return merge(op, first, ins, self.image)
        if op in SHAPE_OPS:
            return _reshape(op, x, g, first)
        if op in PERMUTE_OPS:
            return _permute_op(op, x, g, args, kwargs)
        if op in SELECT_OPS:
            if g.why or g.fields is None:
                return g
            pos = _pos(g.axes, x.dim())
            same = first.dim() == x.dim() and all(first.shape[p] == x.shape[p] for p in pos)
            return g if same and op not in {"roll", "flip"} else Geo(None, g.axes, f"{op} selects, crops or moves along H/W")
        if op in REDUCE_OPS:
            return _reduce(op, x, g, first, args, kwargs)
        if op in SPATIAL_POOLS:
            return _spatial_op(op, x, g, first, args, kwargs)
        if op == "pad":
            return _pad(x, g, args, kwargs)
        if op == "conv2d":
            if g.why or g.fields is None or g.axes != (-2, -1):
                return g if g.why else Geo(None, (-2, -1), "conv2d on a map made without a known field")
            w = args[1] if len(args) > 1 else kwargs["weight"]
            s, p, d = (_dims_arg(args, kwargs, i, k) for i, k in ((3, "stride"), (4, "padding"), (5, "dilation")))
            if isinstance(p, str):
                if p == "same" and s in (None, 1, (1, 1)):
                    p = tuple((dd if isinstance(dd, int) else 1) * (kk - 1) // 2 for kk, dd in zip(w.shape[-2:], (d or 1,) * 2))
                else:
                    p = 0
            return _window_fields(g, x, tuple(w.shape[-2:]), s or 1, p or 0, d or 1)
        if op == "linear":
            if g.why:
                return g
            if g.fields is not None and x.dim() + g.axes[1] == x.dim() - 1:
                return Geo(None, g.axes, "linear over the W axis")
            return g
        if op in MAC_OPS:
            if any(gg.fields is not None for _, gg in ins):
                return Geo(None, g.axes, f"{op} mixes positions")
            return next((gg for _, gg in ins if gg.why), NON_SPATIAL)
        self.unknown = True
        return Geo(None, g.axes, f"no rule for {op} (outside nn layers)")

    def inside(self, func, args, kwargs):
        """Run a Python-level functional (F.multi_head_attention_forward) with this mode on, so that its
        F.linear / scaled_dot_product_attention / bmm calls are seen: its own torch-function check is
        answered 'no' once, so it runs its body instead of coming back here."""
        original = F.has_torch_function

        def once(*a, **k):
            F.has_torch_function = original
            return False

        F.has_torch_function = once
        try:
            with self:
                return func(*args, **kwargs)
        finally:
            F.has_torch_function = original

    def op_row(self, op: str, args, kwargs, ins, out: torch.Tensor, geo: Geo) -> LayerReport:
        x = ins[0][0]
        in_shape, out_shape = tuple(x.shape[1:]), tuple(out.shape[1:])
        params, fresh = self.take_params(_tensors(args) + _tensors(kwargs))
        owner, memory = self.owner(), out.numel() * BYTES_PER_VALUE
        fields = _field_kw(geo)
        macs = macs_of(op, args, kwargs, out) if op in MAC_OPS else None
        if macs is None:
            return LayerReport(index=len(self.rows), name=f"{owner} ({op})", layer=Activation("identity"),
                               spec=f"{op} (functional)", in_shape=in_shape, out_shape=out_shape, params=params,
                               memory=memory, message=f"no formula for the functional op {op}: its MACs and "
                               "FLOPs are unavailable" + (f"; {geo.why}" if geo.why else ""),
                               unavailable=("weights", "biases", "macs", "flops", "rf", "jump", "start"), **fields)
        label = op
        weights = biases = 0
        if op == "linear":
            w = args[1] if len(args) > 1 else kwargs["weight"]
            b = args[2] if len(args) > 2 else kwargs.get("bias")
            weights = w.numel() if any(p is w for p in fresh) else 0
            biases = b.numel() if b is not None and any(p is b for p in fresh) else 0
            full, prefix = self.param_names.get(id(w), "linear"), self.names.get(self.stack[-1], "") if self.stack else ""
            label = full[len(prefix) + 1:] if prefix and full.startswith(prefix + ".") else full
            label = label.removesuffix(".weight").removesuffix("_weight") or "linear"
            bias_adds = out.numel() if b is not None else 0
            formula = f"{math.prod(x.shape[:-1]):,}·{w.shape[1]}·{w.shape[0]} = {macs:,}"
        elif op == "scaled_dot_product_attention":
            label, bias_adds = "attention matmuls", 0
            q = x
            formula = (f"2 matmuls · {math.prod(q.shape[:-2])} heads · {q.shape[-2]}·{ins[1][0].shape[-2] if len(ins) > 1 else '?'}"
                       f"·{q.shape[-1]} = {macs:,}")
        else:
            bias_adds = (args[0].numel() and out.numel()) if op in {"baddbmm", "addmm"} else 0
            formula = f"{macs:,}"
        flops = 2 * macs + bias_adds
        return LayerReport(index=len(self.rows), name=f"{owner} ({label})",
                           layer=Linear(out.shape[-1], biases > 0) if op == "linear" else Activation("identity"),
                           spec=f"F.{op}" + (f"({x.shape[-1]} → {out.shape[-1]})" if op == "linear" else ""),
                           in_shape=in_shape, out_shape=out_shape, weights=weights, biases=biases, params=params,
                           macs=macs, flops=flops, memory=memory, formulas={"macs": formula},
                           message="outside nn layers, seen as a functional call" +
                                   ("" if geo.fields is not None or not geo.why else f"; {geo.why}"),
                           unavailable=() if geo.fields is not None else ("rf", "jump", "start"), **fields)

    # --- the leaf modules
    def pre_hook(self, module, args):
        self.stack.append(module)
        if not list(module.children()):
            self.leaf_depth += 1

    def hook(self, module, args, output):
        self.stack.pop()
        if list(module.children()):
            return
        self.leaf_depth -= 1
        self.busy = True
        try:
            x, y = (_tensors(args) or [None])[0], (_tensors(output) or [None])[0]
            if x is None or y is None:
                return
            row, geo = self.leaf_row(module, x, y)
            self.rows.append(row)
            self.set_geo(y, geo)
        finally:
            self.busy = False

    def leaf_row(self, module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[LayerReport, Geo]:
        index, name = len(self.rows), self.names[module]
        in_shape, out_shape = tuple(x.shape[1:]), tuple(y.shape[1:])
        params, _ = self.take_params(list(module.parameters(recurse=False)))
        g = self.get_geo(x) or Geo(None, (-2, -1), "its input is not computed from the image")
        kind = type(module).__name__
        layer = layer_of(module, in_shape)
        pointwise = kind in ACTIVATION_LEAVES | IDENTITY_LEAVES and kind != "GLU"
        if pointwise and (layer is None or (g.fields is not None and g.axes != (-2, -1))):
            return _pointwise_row(index, name, module, in_shape, out_shape, g, params,
                                  0 if kind in IDENTITY_LEAVES else math.prod(out_shape)), g
        if kind == "Permute" and hasattr(module, "dims"):   # torchvision.ops.misc.Permute (ConvNeXt)
            pg = _permute(x, g, list(module.dims))
            return _pointwise_row(index, name, module, in_shape, out_shape, pg, params, 0), pg
        if isinstance(module, nn.LayerNorm):
            return _norm_row(index, name, module, in_shape, out_shape, g, params)
        if layer is None and isinstance(module, nn.Linear):
            r = _linear_last_axis(index, name, module, in_shape, out_shape, params)
            if g.fields is not None and g.axes != (-2, -1) and len(in_shape) == 3 and g.axes[1] != -1:
                r = dataclasses.replace(r, unavailable=(), message=r.message.replace(
                    "; receptive field unavailable", " (channels last: the field passes)"), **_field_kw(g))
                return r, g
            return r, (g if g.why else NON_SPATIAL) if len(out_shape) != 3 else \
                Geo(None, (-2, -1), g.why or "nn.Linear over the W axis")
        if layer is None:
            return (_unsupported(index, name, module, in_shape, out_shape, params),
                    Geo(None, (-2, -1), f"no formula for {kind} ({name})"))
        return _analyzed_row(index, name, layer, in_shape, out_shape, g, params)


def _field_kw(g: Geo) -> dict:
    if g.fields is None:
        return dict(rf=None, jump=None, start=None)
    return dict(rf=tuple(whole_or_exact(f.rf) for f in g.fields),
                jump=tuple(whole_or_exact(f.jump) for f in g.fields), start=tuple(exact(f.start) for f in g.fields))


def _lost(g: Geo) -> str:
    return "receptive field unavailable: " + (g.why or "its input is made without a known field (a flatten or "
                                                         "reshape outside nn layers)")


def _pointwise_row(index, name, module, in_shape, out_shape, g: Geo, params: int, flops: int):
    spatial = len(out_shape) == 3
    known = g.fields is not None
    return LayerReport(index=index, name=name, layer=Activation("identity"), spec=type(module).__name__,
                       in_shape=in_shape, out_shape=out_shape, weights=0, biases=0, params=params, macs=0,
                       flops=flops, memory=math.prod(out_shape) * BYTES_PER_VALUE,
                       message="" if known or not spatial else _lost(g),
                       unavailable=("rf", "jump", "start") if spatial and not known else (), **_field_kw(g))


def _norm_row(index, name, module: nn.LayerNorm, in_shape, out_shape, g: Geo, params: int):
    """LayerNorm over the last axes, or LayerNorm2d (torchvision's, over channels): γ, β; 0 MACs, 2 FLOPs/value."""
    k = len(module.normalized_shape)
    over_channels = type(module).__name__ == "LayerNorm2d"
    n = len(in_shape) + 1
    if g.fields is not None and not over_channels and set(range(n - k, n)) & set(_pos(g.axes, n)):
        g = Geo(None, g.axes, f"{name} normalizes over a spatial axis")
    numel = math.prod(out_shape)
    w = module.weight.numel() if module.weight is not None else 0
    b = module.bias.numel() if getattr(module, "bias", None) is not None else 0
    spatial, known = len(out_shape) == 3, g.fields is not None
    r = LayerReport(index=index, name=name, layer=BatchNorm(), spec=f"{type(module).__name__}"
                    f"({', '.join(map(str, module.normalized_shape))})", in_shape=in_shape, out_shape=out_shape,
                    weights=w, biases=b, params=params, macs=0, flops=2 * numel, memory=numel * BYTES_PER_VALUE,
                    message="" if known or not spatial else _lost(g),
                    unavailable=("rf", "jump", "start") if spatial and not known else (), **_field_kw(g),
                    formulas={"weights": f"{w} (γ)", "biases": f"{b} (β)"})
    if params != w + b:
        r = dataclasses.replace(r, params=params, message="shared module: parameters counted at its first use")
    return r, g


def _analyzed_row(index, name, layer, in_shape, out_shape, g: Geo, params: int):
    fields = g.fields if g.fields is not None and g.axes == (-2, -1) and len(in_shape) == 3 else None
    report, state = analyze_layer(layer, State(in_shape, fields), index, name)
    changes = pytorch_differences(report, out_shape, params)
    if fields is None and len(in_shape) == 3 and report.status != "error":
        changes.update(rf=None, jump=None, start=None, unavailable=tuple(
            dict.fromkeys((*report.unavailable, "rf", "jump", "start"))),
            message="; ".join(filter(None, [changes.get("message", report.message), _lost(g)])))
    report = dataclasses.replace(report, **changes) if changes else report
    if state is None:
        return report, Geo(None, (-2, -1), f"{name} is in error")
    if len(out_shape) == 3:
        if state.fields is not None and "rf" not in report.unavailable:
            return report, Geo(state.fields, (-2, -1))
        return report, Geo(None, (-2, -1), g.why or report.message or f"{name}: receptive field unavailable")
    return report, (g if g.why else NON_SPATIAL)


def _trace(model: nn.Module, shape: tuple[int, ...]) -> _Tracer:
    image = shape[1:] if len(shape) == 3 else (1, 1)
    tracer = _Tracer(model, image)
    meta = {n: torch.empty_like(t, device="meta") for n, t in [*model.named_parameters(), *model.named_buffers()]}
    for n, _ in model.named_parameters():
        tracer.param_names[id(meta[n])] = n
    handles = [m.register_forward_pre_hook(tracer.pre_hook) for m in model.modules()]
    handles += [m.register_forward_hook(tracer.hook) for m in model.modules()]
    modes = {m: m.training for m in model.modules()}
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.get_default_dtype())
    x = torch.empty((1, *shape), device="meta", dtype=dtype)
    tracer.set_geo(x, Geo((Field(), Field())) if len(shape) == 3 else NON_SPATIAL)
    try:
        model.eval()
        with torch.no_grad(), tracer:
            torch.func.functional_call(model, meta, (x,))
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    tracer.meta = meta
    return tracer


def _is_leaf(m: nn.Module) -> bool:
    return not list(m.children())


def _other_params(model: nn.Module, tracer: _Tracer) -> list[LayerReport]:
    """One row per module whose own parameters no traced row used (ViT's class token, positional embedding)."""
    groups: dict[str, list[tuple[str, int]]] = {}
    for n, t in tracer.meta.items():
        if id(t) in tracer.param_names and id(t) not in tracer.counted:
            mod, _, local = n.rpartition(".")
            groups.setdefault(mod, []).append((local, t.numel()))
    rows = []
    for mod, items in groups.items():
        n = sum(c for _, c in items)
        rows.append(LayerReport(
            index=len(tracer.rows) + len(rows), name=mod or "model", layer=Activation("identity"),
            spec="parameters outside nn layers", in_shape=None, out_shape=None, weights=n, biases=0, params=n,
            macs=0, flops=0, message=", ".join(f"{k} ({c:,})" for k, c in items) + ": used by functional ops "
            "(their rows hold the MACs) or not used in this forward pass"))
    return rows


def from_module(model: nn.Module, input_shape=(3, 224, 224)) -> Analysis:
    """Analyze any PyTorch model on one input, traced on the meta device (no real compute): a row per leaf
    module call, per MAC-bearing functional call outside leaves (attention) and per op without a rule;
    receptive fields follow every tensor through residual adds, concatenations and broadcast products."""
    shape = parse_shape(input_shape)
    tracer = _trace(model, shape)
    return Analysis(shape, tuple(tracer.rows) + tuple(_other_params(model, tracer)))

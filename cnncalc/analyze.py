"""``analyze(spec, input_shape)``: every number for every layer, from arithmetic alone (no torch).

Shapes follow PyTorch's formulas (:mod:`cnncalc.shapes`), receptive fields the Distill convention
(:mod:`cnncalc.receptive`), counting conventions :data:`cnncalc.report.CONVENTIONS`.

Layer objects validate their own settings (``__post_init__``, :mod:`cnncalc.layers`), so a rule here sees only
values in range; what depends on the input (groups that do not divide C, a window larger than the padded
input, reflect padding as large as the input, an output padding not below stride or dilation) is a layer
``status='error'`` with its reason and, where one exists, a fix.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable

from .fixes import nearest_layer
from .layers import (Activation, AdaptiveAvgPool, BatchNorm, Conv, ConvTranspose, Dropout, Flatten, Layer, Linear,
                     Pool, Upsample, layer_names)
from .parse import SpecError, as_layers, format_layer, format_shape, parse_shape
from .receptive import (Field, exact, formulas as rf_formulas, formulas_transposed, number_text, step,
                        step_transposed, upsample_kernel, whole_or_exact)
from .report import BYTES_PER_VALUE, Analysis, LayerReport
from .shapes import Axis, conv_axis, describe_unread, pool_axis


@dataclass(frozen=True)
class State:
    """What flows from one layer to the next: the shape and, while the data is spatial, the field."""

    shape: tuple[int, ...]
    fields: tuple[Field, Field] | None


class Invalid(Exception):
    def __init__(self, message: str, fix: str | None = None):
        super().__init__(message)
        self.fix = fix


def _numel(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def _need_spatial(state: State, name: str) -> tuple[int, int, int]:
    if len(state.shape) != 3:
        raise Invalid(f"{name} needs a C×H×W input but gets {state.shape[0]} features (after flatten/fc); "
                      "move it before the flatten or the first fc")
    return state.shape  # type: ignore[return-value]


def _minus(n: int) -> str:
    """A typographic minus, as in the formulas: "−1", not "-1"."""
    return str(n).replace("-", "−")


def _window(layer: Conv | Pool, state: State, axes: list[Axis], pads: tuple[int, int], name: str,
            padded: tuple[int, int]) -> dict:
    """Shared by conv and pool: output-size check, unread rows, receptive field."""
    c, h, w = state.shape
    if any(ax.size <= 0 for ax in axes):
        fixed = nearest_layer(layer, (h, w))
        spans = [d * (k - 1) + 1 for k, d in zip(layer.kernel, layer.dilation)]
        raise Invalid(f"output size {_minus(axes[0].size)}×{_minus(axes[1].size)} ≤ 0: the window spans {spans[0]}×{spans[1]} "
                      f"pixels (kernel {layer.kernel[0]}×{layer.kernel[1]}, dilation "
                      f"{layer.dilation[0]}×{layer.dilation[1]}) but the padded input is only {padded[0]}×{padded[1]}",
                      None if fixed is None else format_layer(fixed))
    strides = layer.strides if isinstance(layer, Pool) else layer.stride
    notes = [describe_unread(ax, a, n, k, s, d)
             for ax, a, n, k, s, d in zip(axes, "HW", (h, w), layer.kernel, strides, layer.dilation)]
    notes = [n for n in notes if n]
    extra: dict = {"formulas": {"out_H": axes[0].formula, "out_W": axes[1].formula}}
    if notes:
        fixed = nearest_layer(layer, (h, w))
        extra.update(status="warning", message="valid, but " + "; ".join(notes),
                     fix=None if fixed is None else format_layer(fixed))
    if state.fields is not None:
        new = tuple(step(f, k, s, p, d) for f, k, s, p, d in zip(state.fields, layer.kernel, strides, pads, layer.dilation))
        for axis, f, k, s, p, d, nf in zip("HW", state.fields, layer.kernel, strides, pads, layer.dilation, new):
            for key, text in rf_formulas(f, k, s, p, d, nf).items():
                extra["formulas"][f"{key}_{axis}"] = text
        extra["fields"] = new
    return extra


def _conv(layer: Conv, state: State, name: str) -> dict:
    c, h, w = _need_spatial(state, name)
    _groups_ok(layer, c)
    if layer.padding == "same":
        if layer.stride != (1, 1):
            fixed = nearest_layer(layer, (h, w))
            raise Invalid("padding='same' needs stride 1 in PyTorch; give the padding explicitly",
                          None if fixed is None else format_layer(fixed))
        totals = [d * (k - 1) for k, d in zip(layer.kernel, layer.dilation)]
        pad = tuple((t // 2, t - t // 2) for t in totals)
    else:
        pad = layer.padding
    _check_padding_mode(layer, pad, (h, w))
    axes = [conv_axis(n, k, s, b, a, d) for n, k, s, (b, a), d in zip((h, w), layer.kernel, layer.stride, pad, layer.dilation)]
    extra = _window(layer, state, axes, (pad[0][0], pad[1][0]), name, (h + sum(pad[0]), w + sum(pad[1])))
    note = _padding_mode_note(layer, pad)
    if note:
        extra["formulas"]["rf_note"] = note
        extra["message"] = "; ".join(filter(None, [extra.get("message", ""), note]))
    oc, oh, ow = layer.out_channels, axes[0].size, axes[1].size
    per_filter = (c // layer.groups) * layer.kernel[0] * layer.kernel[1]
    weights, biases = oc * per_filter, oc if layer.bias else 0
    out_numel, in_numel = oc * oh * ow, c * h * w
    macs = oh * ow * weights
    f = extra["formulas"]
    cin = f"({c}/{layer.groups})" if layer.groups > 1 else f"{c}"
    kk = f"{layer.kernel[0]}·{layer.kernel[1]}"
    f["weights"] = f"{oc}·{cin}·{kk} = {weights:,}"
    f["biases"] = f"{oc} (one per filter)" if biases else "0 (bias=0)"
    f["fc_equivalent"] = f"({c}·{h}·{w})·({oc}·{oh}·{ow}) = {in_numel * out_numel:,}"
    lc = macs + (out_numel if biases else 0)
    f["locally_connected"] = f"{oh}·{ow}·{weights:,}" + (f" + {out_numel:,}" if biases else "") + f" = {lc:,}"
    f["macs"] = f"{oh}·{ow}·{oc}·{cin}·{kk} = {macs:,}"
    return dict(extra, shape=(oc, oh, ow), weights=weights, biases=biases, fc_equivalent=in_numel * out_numel,
                locally_connected=lc, macs=macs, flops=2 * macs + (out_numel if biases else 0))


def _check_padding_mode(layer: Conv, pad, hw: tuple[int, int]) -> None:
    """PyTorch's limits: reflect pads less than the input on each side, circular at most the input."""
    for axis, n, sides in zip("HW", hw, pad):
        p = max(sides)
        if layer.padding_mode == "reflect" and p >= n:
            raise Invalid(f"padding_mode=reflect needs padding < the input along {axis}: {p} ≥ {n} (PyTorch's rule)",
                          format_layer(Conv(layer.out_channels, layer.kernel, layer.stride, layer.padding,
                                            layer.dilation, layer.groups, layer.bias)))
        if layer.padding_mode == "circular" and p > n:
            raise Invalid(f"padding_mode=circular needs padding ≤ the input along {axis}: {p} > {n} (it would "
                          "wrap around more than once)", format_layer(Conv(
                              layer.out_channels, layer.kernel, layer.stride, layer.padding, layer.dilation,
                              layer.groups, layer.bias)))


PADDING_NOTES = {
    "circular": "padding_mode=circular: the padded positions hold the rows and columns of the opposite edge, so a "
                "unit's field wraps to the far side of the input",
    "reflect": "padding_mode=reflect: the padded positions mirror the rows next to the edge (not the edge itself), "
               "so a unit near the edge reads some input rows twice",
    "replicate": "padding_mode=replicate: the padded positions repeat the edge row and column, so a unit near the "
                 "edge reads the edge pixel several times",
}


def _padding_mode_note(layer: Conv, pad) -> str:
    if layer.padding_mode == "zeros" or not any(v for sides in pad for v in sides):
        return ""
    return (PADDING_NOTES[layer.padding_mode] + "; the shape is unchanged, and the receptive field's size counts "
            "positions in the padded tensor")


def _pool(layer: Pool, state: State, name: str) -> dict:
    c, h, w = _need_spatial(state, name)
    if layer.mode == "avg" and layer.dilation != (1, 1):
        raise Invalid("average pooling has no dilation in PyTorch", format_layer(Pool("avg", layer.kernel, layer.stride,
                                                                                      layer.padding, (1, 1), layer.ceil_mode)))
    for p, k in zip(layer.padding, layer.kernel):
        if p > k // 2:
            fixed = nearest_layer(layer, (h, w))
            raise Invalid(f"pooling padding {p} is more than half the kernel {k} (PyTorch allows at most {k // 2})",
                          None if fixed is None else format_layer(fixed))
    axes = [pool_axis(n, k, s, p, d, layer.ceil_mode)
            for n, k, s, p, d in zip((h, w), layer.kernel, layer.strides, layer.padding, layer.dilation)]
    extra = _window(layer, state, axes, layer.padding, name, (h + 2 * layer.padding[0], w + 2 * layer.padding[1]))
    out_numel = c * axes[0].size * axes[1].size
    window = layer.kernel[0] * layer.kernel[1]
    per_out = window - 1 if layer.mode == "max" else window
    extra["formulas"]["flops"] = f"{out_numel:,}·{per_out} = {out_numel * per_out:,}"
    return dict(extra, shape=(c, axes[0].size, axes[1].size), weights=0, biases=0, macs=0, flops=out_numel * per_out)


def _adaptive_windows(n: int, o: int) -> list[int]:
    """PyTorch's window sizes: output i averages rows ⌊i·n/o⌋ … ⌈(i+1)·n/o⌉ − 1."""
    return [-(-(i + 1) * n // o) - (i * n // o) for i in range(o)]


def _adaptive_regular(n: int, o: int) -> tuple[int, int] | str:
    """(k, s) when PyTorch's windows (start ⌊i·n/o⌋, end ⌈(i+1)·n/o⌉) are equal-sized and evenly spaced — then
    the layer is a pool k, s for the field (7 → 3: windows 0–2, 2–4, 4–6, k = 3, s = 2) — else why not."""
    starts = [i * n // o for i in range(o)]
    sizes = set(_adaptive_windows(n, o))
    if len(sizes) > 1:
        return (f"{n} → {o} uses windows of unequal size ({', '.join(map(str, sorted(sizes)))} rows), so units "
                "see fields of different sizes")
    gaps = {b - a for a, b in zip(starts, starts[1:])}
    if len(gaps) > 1:
        return (f"{n} → {o} uses windows of {sizes.pop()} rows whose starts are {min(gaps)} or {max(gaps)} apart, so "
                "units are not evenly spaced")
    k = sizes.pop()
    return k, gaps.pop() if gaps else k


def _adaptive(layer: AdaptiveAvgPool, state: State, name: str) -> dict:
    c, h, w = _need_spatial(state, name)
    wins = [_adaptive_windows(n, o) for n, o in zip((h, w), layer.output)]
    flops = c * sum(wins[0]) * sum(wins[1])
    extra: dict = {"formulas": {"out_H": f"{layer.output[0]} (fixed)", "out_W": f"{layer.output[1]} (fixed)"}}
    if state.fields is not None:
        regular = [_adaptive_regular(n, o) for n, o in zip((h, w), layer.output)]
        if all(isinstance(x, tuple) for x in regular):
            extra["fields"] = tuple(step(f, k, s, 0) for f, (k, s) in zip(state.fields, regular))
            for axis, (k, s) in zip("HW", regular):
                extra["formulas"][f"window_{axis}"] = f"every window {k} rows, starting every {s}: as a pool k={k} s={s}"
        else:
            why = "; ".join(f"along {axis} {x}" for axis, x in zip("HW", regular) if isinstance(x, str))
            extra.update(unavailable=("rf", "jump", "start"),
                         message=f"receptive field unavailable: {h}×{w} → {layer.output[0]}×{layer.output[1]}: {why}")
    return dict(extra, shape=(c, *layer.output), weights=0, biases=0, macs=0, flops=flops)


def _groups_ok(layer: Conv | ConvTranspose, c: int) -> None:
    for what, value in (("input channels", c), ("output channels", layer.out_channels)):
        if value % layer.groups:
            ok = [g for g in range(1, layer.groups + 1) if c % g == 0 and layer.out_channels % g == 0]
            raise Invalid(f"{what} {value} not divisible by groups {layer.groups}",
                          format_layer(dataclasses.replace(layer, groups=ok[-1])))


def convT_size(n: int, k: int, s: int, p: int, op: int, d: int = 1) -> int:
    """Transposed convolution: (n − 1)·s − 2p + d·(k − 1) + op + 1 (PyTorch's ConvTranspose2d)."""
    return (n - 1) * s - 2 * p + d * (k - 1) + op + 1


def _convT(layer: ConvTranspose, state: State, name: str) -> dict:
    c, h, w = _need_spatial(state, name)
    _groups_ok(layer, c)
    for axis, s, d, op in zip("HW", layer.stride, layer.dilation, layer.output_padding):
        if op >= max(s, d):
            raise Invalid(f"output padding {op} along {axis} must be smaller than the stride {s} or the dilation {d} "
                          "(PyTorch's rule)", format_layer(dataclasses.replace(
                              layer, output_padding=tuple(min(o, max(s2, d2) - 1) for o, s2, d2 in zip(
                                  layer.output_padding, layer.stride, layer.dilation)))))
    args = list(zip((h, w), layer.kernel, layer.stride, layer.padding, layer.output_padding, layer.dilation))
    sizes = [convT_size(*a) for a in args]
    f = {f"out_{axis}": f"({n} − 1)·{s} − 2·{p} + {_dk(k, d)} + {op} + 1 = {o}"
         for axis, (n, k, s, p, op, d), o in zip("HW", args, sizes)}
    if any(o <= 0 for o in sizes):
        raise Invalid(f"output size {_minus(sizes[0])}×{_minus(sizes[1])} ≤ 0: the padding 2p removes more rows than "
                      f"(n − 1)·s + d·(k − 1) + op + 1 gives ({f['out_H']}; {f['out_W']})",
                      format_layer(dataclasses.replace(layer, padding=(0, 0))))
    oc, (oh, ow), g = layer.out_channels, sizes, layer.groups
    kk = f"{layer.kernel[0]}·{layer.kernel[1]}"
    weights, biases = oc * (c // g) * layer.kernel[0] * layer.kernel[1], oc if layer.bias else 0
    macs = c * h * w * (oc // g) * layer.kernel[0] * layer.kernel[1]
    out_numel = oc * oh * ow
    cin, nout = (f"({c}/{g})", f"({oc}/{g})") if g > 1 else (f"{c}", f"{oc}")
    f.update(weights=f"{oc}·{cin}·{kk} = {weights:,}", biases=f"{oc} (one per filter)" if biases else "0 (bias=0)",
             macs=f"{c}·{h}·{w}·{nout}·{kk} = {macs:,}",
             fc_equivalent=f"({c}·{h}·{w})·({oc}·{oh}·{ow}) = {c * h * w * out_numel:,}",
             rf_note=f"output unit o reads input i when o = i·s − p + j·d for a tap j (Dumoulin & Visin: the input "
                     f"dilated by s − 1 zeros, padded by d·(k − 1) − p, then a stride-1 convolution); jump divides by s")
    extra: dict = dict(formulas=f, shape=(oc, oh, ow), weights=weights, biases=biases, macs=macs,
                       fc_equivalent=c * h * w * out_numel, flops=2 * macs + (out_numel if biases else 0))
    if state.fields is not None:
        new = tuple(step_transposed(fl, k, s, p, d) for fl, (_, k, s, p, _, d) in zip(state.fields, args))
        for axis, fl, (_, k, s, p, _, d), nf in zip("HW", state.fields, args, new):
            for key, text in formulas_transposed(fl, k, s, p, d, nf).items():
                f[f"{key}_{axis}"] = text
        extra["fields"] = new
    return extra


def _dk(k: int, d: int) -> str:
    return f"({k} − 1)" if d == 1 else f"{d}·({k} − 1)"


BILINEAR_FLOPS = 7  # per output value: 4 neighbours weighted (4 multiplies) and summed (3 adds)


def _upsample(layer: Upsample, state: State, name: str) -> dict:
    c, h, w = _need_spatial(state, name)
    if layer.size is not None:
        sizes = layer.size
        f = {f"out_{a}": f"{o} (fixed)" for a, o in zip("HW", sizes)}
    else:
        sizes = tuple(math.floor(n * layer.scale) for n in (h, w))   # PyTorch: ⌊n·scale⌋ in double precision
        f = {f"out_{a}": f"⌊{n}·{number_text(layer.scale)}⌋ = {o}" for a, n, o in zip("HW", (h, w), sizes)}
    if any(o <= 0 for o in sizes):
        raise Invalid(f"output size {sizes[0]}×{sizes[1]} ≤ 0: {f['out_H']}, {f['out_W']}", "upsample 2")
    numel = c * sizes[0] * sizes[1]
    flops = numel * BILINEAR_FLOPS if layer.mode == "bilinear" else 0
    if flops:
        f["flops"] = f"{numel:,}·{BILINEAR_FLOPS} = {flops:,} (4 multiplies + 3 adds per output value)"
    extra: dict = dict(formulas=f, shape=(c, *sizes), weights=0, biases=0, macs=0, flops=flops)
    if state.fields is not None:
        factors = [o // n if o % n == 0 and (layer.size is not None or float(layer.scale).is_integer()) else None
                   for n, o in zip((h, w), sizes)]
        if None in factors:
            extra.update(unavailable=("rf", "jump", "start"), message=(
                f"receptive field unavailable: {h}×{w} → {sizes[0]}×{sizes[1]} is not an integer scale factor per "
                "axis, so neighbouring units are not evenly spaced over the input"))
        else:
            kinds = [upsample_kernel(F, layer.mode) for F in factors]
            new = tuple(step_transposed(fl, k, s, p) for fl, (k, s, p) in zip(state.fields, kinds))
            for axis, fl, (k, s, p), nf in zip("HW", state.fields, kinds, new):
                for key, text in formulas_transposed(fl, k, s, p, 1, nf).items():
                    f[f"{key}_{axis}"] = text
            f["rf_note"] = ("nearest: unit o reads input ⌊o/F⌋, the field of a transposed conv k = F, s = F, p = 0"
                            if layer.mode == "nearest" else "bilinear: unit o reads the two neighbours of (o + ½)/F − ½, "
                            "the field of a transposed conv k = 2F − F mod 2, s = F, p = ⌈(F − 1)/2⌉")
            extra["fields"] = new
    return extra


def _linear(layer: Linear, state: State, name: str) -> dict:
    n_in, n_out = _numel(state.shape), layer.out_features
    weights, biases = n_in * n_out, n_out if layer.bias else 0
    shown = "·".join(map(str, state.shape))
    f = {"weights": f"{shown}·{n_out} = {weights:,}" if len(state.shape) == 3 else f"{n_in}·{n_out} = {weights:,}",
         "biases": f"{n_out} (one per output)" if biases else "0 (bias=0)",
         "fc_equivalent": f"{n_in:,}·{n_out:,} = {weights:,} (it is one)",
         "macs": f"{n_in:,}·{n_out:,} = {weights:,}", "rf": "every unit sees the whole input"}
    message = f"flattens the {format_shape(state.shape)} input to {n_in:,} features first" \
        if len(state.shape) == 3 else ""
    return dict(shape=(n_out,), weights=weights, biases=biases, fc_equivalent=weights,
                locally_connected=weights + biases, macs=weights, flops=2 * weights + biases, formulas=f,
                message=message, fields=None)


def _batchnorm(layer: BatchNorm, state: State, name: str) -> dict:
    c, numel = state.shape[0], _numel(state.shape)
    return dict(shape=state.shape, weights=c, biases=c, macs=0, flops=2 * numel,
                formulas={"weights": f"{c} (γ, one per channel)", "biases": f"{c} (β, one per channel)"})


def _dropout(layer: Dropout, state: State, name: str) -> dict:
    if not 0 <= layer.p <= 1:
        raise Invalid(f"dropout probability {layer.p} is outside 0…1", "dropout p=0.5")
    return dict(shape=state.shape, weights=0, biases=0, macs=0, flops=0)


def _flatten(layer: Flatten, state: State, name: str) -> dict:
    n = _numel(state.shape)
    return dict(shape=(n,), weights=0, biases=0, macs=0, flops=0, fields=None,
                formulas={"out": "·".join(map(str, state.shape)) + f" = {n:,}"})


def _activation(layer: Activation, state: State, name: str) -> dict:
    return dict(shape=state.shape, weights=0, biases=0, macs=0, flops=_numel(state.shape))


RULES: dict[type, Callable[..., dict]] = {Conv: _conv, ConvTranspose: _convT, Upsample: _upsample, Pool: _pool, AdaptiveAvgPool: _adaptive, Linear: _linear,
                                          BatchNorm: _batchnorm, Dropout: _dropout, Flatten: _flatten,
                                          Activation: _activation}


def _generic_formulas(r: dict, shape: tuple[int, ...]) -> None:
    """params, memory and (for conv/fc) FLOPs, with values substituted."""
    f = r.setdefault("formulas", {})
    numel = _numel(shape)
    f.setdefault("params", f"{r['weights']:,} + {r['biases']:,} = {r['weights'] + r['biases']:,}")
    f.setdefault("memory", f"{'·'.join(map(str, shape))}·{BYTES_PER_VALUE} B = {numel * BYTES_PER_VALUE:,} B")
    if r["macs"]:
        bias_adds = r["flops"] - 2 * r["macs"]
        f.setdefault("flops", f"2·{r['macs']:,}" + (f" + {bias_adds:,}" if bias_adds else "") + f" = {r['flops']:,}")


def _checked_fix(fix: str | None, state: State, name: str, depth: int = 3) -> str | None:
    """A suggested layer only if it is itself valid and reads every row: one fix may uncover another
    problem (groups fixed, output still ≤ 0), so follow the chain a few steps, else suggest nothing. A fix
    the grammar cannot write (``p=same`` with a huge dilation needs padding past MAX_SIZE) is no fix."""
    from .parse import parse_layer
    for _ in range(depth):
        if fix is None:
            return None
        try:
            r = RULES[type(layer := parse_layer(fix))](layer, state, name)
        except SpecError:
            return None
        except Invalid as err:
            fix = err.fix
            continue
        if r.get("status", "ok") == "ok":
            return fix
        fix = r.get("fix")
    return None


BOUND_NOTE = ("receptive field: a cover, not exact — after a transposed convolution or an upsampling fed by more "
              "than single pixels, neighbouring units read the same inputs, so start + o·jump ± (rf − 1)/2 may hold "
              "pixels a unit does not read (every pixel it reads is inside)")


def analyze_layer(layer: Layer, state: State, index: int, name: str) -> tuple[LayerReport, State | None]:
    base = dict(index=index, name=name, layer=layer, spec=format_layer(layer), in_shape=state.shape)
    try:
        r = RULES[type(layer)](layer, state, name)
    except Invalid as err:
        return LayerReport(**base, out_shape=None, status="error", message=str(err),
                           fix=_checked_fix(err.fix, state, name)), None
    if r.get("fix"):
        r["fix"] = _checked_fix(r["fix"], state, name)
    fields = r.get("fields", state.fields) if "unavailable" not in r else None
    if fields is not None and any(f.bound for f in fields):
        r["message"] = "; ".join(filter(None, [r.get("message", ""), BOUND_NOTE]))
    shape = r["shape"]
    _generic_formulas(r, shape)
    if len(state.shape) == 3 and len(shape) == 3 and state.fields is None and "unavailable" not in r:
        r["unavailable"] = ("rf", "jump", "start")  # the field was lost upstream (see that layer's message)
    report = LayerReport(
        **base, out_shape=shape, weights=r["weights"], biases=r["biases"], params=r["weights"] + r["biases"],
        fc_equivalent=r.get("fc_equivalent"), locally_connected=r.get("locally_connected"), macs=r["macs"],
        flops=r["flops"], memory=_numel(shape) * BYTES_PER_VALUE,
        rf=None if fields is None else (whole_or_exact(fields[0].rf), whole_or_exact(fields[1].rf)),
        jump=None if fields is None else (whole_or_exact(fields[0].jump), whole_or_exact(fields[1].jump)),
        start=None if fields is None else (exact(fields[0].start), exact(fields[1].start)),
        status=r.get("status", "ok"), message=r.get("message", ""),
        fix=r.get("fix"), formulas=r.get("formulas", {}), unavailable=r.get("unavailable", ()))
    return report, State(shape, fields)


def analyze(spec, input_shape=(3, 32, 32)) -> Analysis:
    """Analyze ``spec`` (text or layers) on one input of ``input_shape`` ((C, H, W), (N,) or '3x32x32').

    Raises :class:`cnncalc.SpecError` for unreadable text; invalid *settings* do not raise — the layer
    reports ``status='error'`` with the reason and a fix, and the layers after it are not computed.
    """
    layers = as_layers(spec)
    shape = parse_shape(input_shape)
    state: State | None = State(shape, (Field(), Field()) if len(shape) == 3 else None)
    reports = []
    for index, (layer, name) in enumerate(zip(layers, layer_names(layers))):
        if state is None:
            reports.append(LayerReport(index=index, name=name, layer=layer, spec=format_layer(layer), in_shape=None,
                                       out_shape=None, status="error",
                                       message="not computed: a layer above is invalid"))
            continue
        report, state = analyze_layer(layer, state, index, name)
        reports.append(report)
    return Analysis(shape, tuple(reports))

"""The Layer calculator's view-model (no streamlit here: all of it is unit-tested; its sliding-window figure is
:mod:`cnncalc.draw.sliding`).

* The calculator form ↔ layer glue: the form's fields are the keys of :data:`DEFAULTS`;
  :func:`layer_from_fields` builds the layer, :func:`fields_from_layer` turns a layer (a suggested fix, a
  solver's answer) back into values for those fields, and :func:`result_groups` lists what the page shows,
  each number with its formula (symbols, then the values substituted by the core).
* Transposed mode (``transposed`` on, with Convolution): an ``nn.ConvTranspose2d`` — padding symmetric (it crops
  the output), ``op`` its output padding — with o = (n − 1)·s − 2p + d·(k − 1) + op + 1 shown substituted.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Mapping

from ..layers import Conv, ConvTranspose, Pad, Pair, Pool
from ..report import LayerReport
from ..solve import divide_settings, same_padding

# ---- the calculator form ↔ a layer -----------------------------------------------------------------------

MODES = {"Convolution": None, "Max pooling": "max", "Average pooling": "avg"}
AXIS_KEYS = ("k", "s", "p", "pa", "d", "op")  # kernel, stride, padding before (top/left), after, dilation,
# and a transposed convolution's output padding
DEFAULTS: dict = {"mode": "Convolution", "in_h": 32, "in_w": 32, "in_c": 3, "per_axis": False, "asym": False,
                  "k_h": 5, "k_w": 5, "s_h": 1, "s_w": 1, "p_h": 2, "p_w": 2, "pa_h": 2, "pa_w": 2,
                  "d_h": 1, "d_w": 1, "n": 32, "bias": True, "ceil": False, "transposed": False, "op_h": 0, "op_w": 0}

LIMITS = {"in_h": (1, 2048), "in_w": (1, 2048), "in_c": (1, 100_000), "n": (1, 100_000), "k": (1, 32),
          "s": (1, 16), "p": (0, 256), "pa": (0, 256), "d": (1, 8), "op": (0, 15)}
"""(min, max) of each input: wide enough for any textbook layer (padding up to d·(k − 1)), small enough that
the core's search for a suggested fix stays well under two seconds."""


def normalize(f: Mapping) -> dict:
    """Updates that keep hidden fields in step: W = H unless per-axis, padding after = before unless
    asymmetric (so turning a toggle on starts from the values in use)."""
    upd = {} if f["per_axis"] else {f"{key}_w": f[f"{key}_h"] for key in AXIS_KEYS}
    merged = {**f, **upd}
    if not merged["asym"]:
        upd.update(pa_h=merged["p_h"], pa_w=merged["p_w"])
    return upd


def _hw(f: Mapping, key: str) -> Pair:
    return (f[f"{key}_h"], f[f"{key}_w"] if f["per_axis"] else f[f"{key}_h"])


def is_pool(f: Mapping) -> bool:
    return MODES[f["mode"]] is not None


def is_transposed(f: Mapping) -> bool:
    return not is_pool(f) and bool(f.get("transposed"))


def layer_from_fields(f: Mapping) -> Conv | ConvTranspose | Pool:
    k, s, p, d = (_hw(f, key) for key in "kspd")
    if is_transposed(f):
        return ConvTranspose(f["n"], k, s, p, _hw(f, "op"), d, bias=bool(f["bias"]))
    if is_pool(f):
        return Pool(MODES[f["mode"]], k, s, p, d, ceil_mode=bool(f["ceil"]))
    after = _hw(f, "pa") if f["asym"] else p
    return Conv(f["n"], k, s, ((p[0], after[0]), (p[1], after[1])), d, bias=bool(f["bias"]))


def padding_of(layer: Conv | ConvTranspose | Pool) -> Pad:
    if isinstance(layer, (Pool, ConvTranspose)):
        return ((layer.padding[0],) * 2, (layer.padding[1],) * 2)
    if layer.padding == "same":
        sp = [same_padding(k, d) for k, d in zip(layer.kernel, layer.dilation)]
        return ((sp[0].before, sp[0].after), (sp[1].before, sp[1].after))
    return layer.padding


def fields_from_layer(layer: Conv | Pool) -> dict:
    """Values for the form's keys that reproduce ``layer`` (a fix or a solver's answer)."""
    stride = layer.strides if isinstance(layer, Pool) else layer.stride
    (t, b), (l, r) = padding_of(layer)
    upd = {"k_h": layer.kernel[0], "k_w": layer.kernel[1], "s_h": stride[0], "s_w": stride[1], "p_h": t,
           "p_w": l, "pa_h": b, "pa_w": r, "d_h": layer.dilation[0], "d_w": layer.dilation[1]}
    op = layer.output_padding if isinstance(layer, ConvTranspose) else (0, 0)
    upd.update(op_h=op[0], op_w=op[1])
    upd["asym"] = (t, l) != (b, r)
    upd["per_axis"] = any(upd[f"{key}_h"] != upd[f"{key}_w"] for key in AXIS_KEYS)
    if isinstance(layer, (Conv, ConvTranspose)):
        upd.update(n=layer.out_channels, bias=layer.bias, transposed=isinstance(layer, ConvTranspose))
    return upd


def keep_size(f: Mapping) -> tuple[dict | None, list[str]]:
    """Stride 1 and the padding d·(k − 1) (split before/after) that keeps H and W: (updates, explanation
    per axis). Pooling pads both sides equally and at most k/2, so for it some kernels cannot keep the size."""
    if is_transposed(f):
        return _keep_size_transposed(f)
    upd: dict = {"s_h": 1, "s_w": 1}
    notes = []
    for axis, k, d in zip("HW", _hw(f, "k"), _hw(f, "d")):
        sp = same_padding(k, d)
        if is_pool(f) and (not sp.symmetric or sp.before > k // 2):
            return None, [f"{axis}: pooling pads both sides equally and at most k/2 = {k // 2}, but keeping the "
                          f"size needs d·(k − 1) = {sp.total} in all: use an odd kernel (k = {k + 1})"]
        upd[f"p_{axis.lower()}"], upd[f"pa_{axis.lower()}"] = sp.before, sp.after
        notes.append(f"{axis} (k = {k}, d = {d}): {sp.explanation}")
    upd["asym"] = upd["p_h"] != upd["pa_h"] or upd["p_w"] != upd["pa_w"]
    upd["per_axis"] = bool(f["per_axis"]) or upd["p_h"] != upd["p_w"] or upd["pa_h"] != upd["pa_w"]
    return upd, notes


def _keep_size_transposed(f: Mapping) -> tuple[dict | None, list[str]]:
    """Stride 1: o = n − 2p + d·(k − 1) + op, so 2p − op = d·(k − 1) (op < max(s, d) = d)."""
    upd: dict = {"s_h": 1, "s_w": 1}
    notes = []
    for axis, k, d in zip("HW", _hw(f, "k"), _hw(f, "d")):
        total = d * (k - 1)
        p, op = -(-total // 2), total % 2
        if op >= d:
            return None, [f"{axis}: d·(k − 1) = {total} is odd and output padding must stay below the dilation {d}: "
                          f"use an odd kernel (k = {k + 1})"]
        upd.update({f"p_{axis.lower()}": p, f"pa_{axis.lower()}": p, f"op_{axis.lower()}": op})
        notes.append(f"{axis} (k = {k}, d = {d}): 2p − op = d·(k − 1) = {total}, so p = {p}" + (", op = 1" if op else ""))
    upd["asym"] = False
    upd["per_axis"] = bool(f["per_axis"]) or upd["p_h"] != upd["p_w"] or upd["op_h"] != upd["op_w"]
    return upd, notes


DOUBLE = ((2, 0, 0), (4, 1, 0), (3, 1, 1))  # (k, p, op) at s = 2: (n − 1)·2 − 2p + (k − 1) + op + 1 = 2n


def double_options(f: Mapping) -> list[tuple[str, dict]]:
    """Transposed settings with stride 2 that double H and W exactly (d = 1), as (label, updates)."""
    out = []
    for k, p, op in DOUBLE:
        label = f"k={k} s=2 p={p}" + (f" op={op}" if op else "") + f" → {2 * f['in_h']}×{2 * f['in_w']}"
        out.append((label, {"k_h": k, "k_w": k, "s_h": 2, "s_w": 2, "p_h": p, "p_w": p, "pa_h": p, "pa_w": p,
                            "op_h": op, "op_w": op, "d_h": 1, "d_w": 1, "asym": False}))
    return out


def halve_options(f: Mapping, count: int = 3) -> list[tuple[str, dict]]:
    """The first few (k, s=2, p) per axis that give ⌈n/2⌉ and read every row, as (label, updates)."""
    n_h, n_w = f["in_h"], f["in_w"]
    by_w = {}
    for st in divide_settings(n_w, 2, 7, pool=is_pool(f)):
        by_w.setdefault(st.kernel, st)
    found = []
    for sh in divide_settings(n_h, 2, 7, pool=is_pool(f)):
        sw = by_w.get(sh.kernel)
        if sw is None or any(o.kernel == sh.kernel for o, _ in found):
            continue
        found.append((sh, sw))
    out = []
    for sh, sw in found[:count]:
        pads = f"p={sh.padding}" if sh.padding == sw.padding else f"p={sh.padding}×{sw.padding}"
        label = f"k={sh.kernel} s=2 {pads} → {sh.out}×{sw.out}"
        upd = {"k_h": sh.kernel, "k_w": sw.kernel, "s_h": 2, "s_w": 2, "p_h": sh.padding, "p_w": sw.padding,
               "pa_h": sh.padding, "pa_w": sw.padding, "d_h": 1, "d_w": 1, "asym": False}
        upd["per_axis"] = bool(f["per_axis"]) or sh.padding != sw.padding
        out.append((label, upd))
    return out


# ---- what the page shows -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    """One number: a card (label, value, help) and its formula lines, (left side, symbols = values)."""

    label: str
    value: str
    lines: tuple[tuple[str, str], ...]
    note: str = ""


@dataclass(frozen=True)
class Group:
    title: str
    rows: tuple[Row, ...]
    caption: str = ""


def _out_symbols(axis: str, sub: str, layer: Conv | ConvTranspose | Pool) -> str:
    i = 0 if axis == "H" else 1
    if isinstance(layer, ConvTranspose):
        win = f"(k{sub} − 1)" if layer.dilation[i] == 1 else f"d{sub}·(k{sub} − 1)"
        return f"(n{sub} − 1)·s{sub} − 2p{sub} + {win} + op{sub} + 1"
    (b, a) = padding_of(layer)[i]
    names = ("t", "b") if axis == "H" else ("l", "r")
    pads = f"2p{sub}" if b == a else f"p_{names[0]} + p_{names[1]}"
    win = f"k{sub}" if layer.dilation[i] == 1 else f"d{sub}·(k{sub} − 1) − 1"
    lo, hi = ("⌈", "⌉") if isinstance(layer, Pool) and layer.ceil_mode else ("⌊", "⌋")
    return f"{lo}(n{sub} + {pads} − {win})/s{sub}{hi} + 1"


def _size_lines(r: LayerReport) -> tuple[tuple[tuple[str, str], ...], str]:
    """'o_H = o_W = symbols = values' when both axes agree, else one line per axis; and ceil_mode's note."""
    fh, fw = r.formulas.get("out_H", ""), r.formulas.get("out_W", "")
    notes = list(dict.fromkeys(part for text in (fh, fw) for part in text.split("; ")[1:]))
    fh, fw = fh.split("; ")[0], fw.split("; ")[0]
    # ceil_mode may drop a last window that would start in the padding: show the size that remains
    fh, fw = (f if f.endswith(f"= {o}") else f"{f} \\;\\to\\; {o}" for f, o in zip((fh, fw), r.out_shape[1:]))
    if fh == fw and _out_symbols("H", "", r.layer) == _out_symbols("W", "", r.layer):
        return (("o_H = o_W", f"{_out_symbols('H', '', r.layer)} = {fh}"),), "; ".join(notes)
    return tuple((f"o_{a}", f"{_out_symbols(a, '_' + a, r.layer)} = {text}")
                 for a, text in (("H", fh), ("W", fw))), "; ".join(notes)


def _t(text: str) -> str:
    return "\\text{" + text + "}"


RATIO_DIGITS = 3
APPROX = "\\approx"  # LaTeX ≈ in a formula line
"""A ratio card shows at least this many significant digits (all of its integer part), never 0 for a non-zero
ratio, and its exact value when that is short (1,024×, 0.5×)."""


def ratio_text(num: int | None, den: int | None, digits: int = RATIO_DIGITS) -> tuple[str, bool]:
    """``num / den`` for a card, without the '×': (text, exact). 'n/a' when undefined (no numerator, zero
    denominator). Exact integer arithmetic (an FC-equivalent passes 2⁵³), rounded half up."""
    if num is None or not den:
        return "n/a", False
    q = Fraction(num, den)
    if q.denominator == 1 or q == 0:
        return f"{q.numerator:,}", True
    whole = q.numerator // q.denominator
    if whole >= 10 ** (digits - 1):
        return f"{(q + Fraction(1, 2)).__floor__():,}", False
    decimals = digits - len(str(whole)) if whole else digits
    while not whole and q * 10 ** (decimals - digits + 1) < 1:  # 0.0031: leading zeros are not significant
        decimals += 1
    scaled = (q * 10 ** decimals + Fraction(1, 2)).__floor__()
    if scaled >= 10 ** digits:  # rounded up to the next power of ten (9.996 → 10.0): one decimal less
        decimals -= 1
        scaled = (q * 10 ** decimals + Fraction(1, 2)).__floor__()
    text = f"{scaled // 10 ** decimals:,}" + (f".{scaled % 10 ** decimals:0{decimals}d}" if decimals else "")
    exact = Fraction(scaled, 10 ** decimals) == q
    return (text.rstrip("0").rstrip(".") if exact and decimals else text), exact


def _ratio_row(label: str, lhs: str, num: int | None, den: int | None, symbols: str, help_: str,
               why_na: str, values: str = "") -> Row:
    """A ratio card: its text from :func:`ratio_text`, '=' or '≈' in its formula, 'n/a' and why when undefined."""
    text, exact = ratio_text(num, den)
    if text == "n/a":
        return Row(label, "n/a", (), f"{help_} — n/a: {why_na}")
    values = values or f"{num:,} / {den:,} {'=' if exact else APPROX} {text}"
    return Row(label, f"{text}×", ((_t(lhs), f"{symbols} = {values}"),), help_)


RATIO_HELP = "{what} ÷ this layer's weights (N·C·k_H·k_W; biases counted in neither)"


def _no_output(r: LayerReport) -> list[Group]:
    """No output (the window is larger than the padded input): the size and the ratios are n/a, with why."""
    why = f"no output: {error_text(r) or r.message or 'no valid output for these settings'}"
    fc = _ratio_row("FC / shared", "FC / shared", None, r.weights, "", RATIO_HELP.format(what="FC-equivalent weights"),
                    why)
    lc = _ratio_row("Locally conn. / shared", "locally connected / shared", None, r.weights, "",
                    RATIO_HELP.format(what="Locally-connected weights"), why)
    return [Group("Size and parameters", (Row("Output size C×H×W", "n/a", (), why),), ""),
            Group("What weight sharing saves", (fc, lc), "")]


def _size_row(r: LayerReport) -> Row:
    oc, oh, ow = r.out_shape
    size_lines, size_note = _size_lines(r)
    chans = "C, kept by pooling" if isinstance(r.layer, Pool) else "N filters"
    return Row("Output size C×H×W", f"{oc}×{oh}×{ow}", size_lines,
               f"Channels ({chans}) × height × width, PyTorch's order" + (f" — {size_note}" if size_note else ""))


def _sharing_group(r: LayerReport) -> Group:
    """The FC-equivalent and locally-connected layers, and both ratios over one denominator: this layer's
    weights without biases (the locally-connected count shown includes its biases, as the core counts it)."""
    _, oh, ow = r.out_shape
    bias_part = " + N·o_H·o_W" if r.biases else ""
    lc_weights = oh * ow * r.weights if r.weights is not None else None
    zero = "this layer has no weights to divide by"
    fc = _ratio_row("FC / shared", "FC / shared", r.fc_equivalent, r.weights, "(C·H·W)·(N·o_H·o_W) / (N·C·k_H·k_W)",
                    RATIO_HELP.format(what="FC-equivalent weights"), zero)
    lc = _ratio_row("Locally conn. / shared", "locally connected / shared", lc_weights, r.weights,
                    f"o_H·o_W·{_t('weights')} / {_t('weights')}",
                    RATIO_HELP.format(what="Locally-connected weights") + ": o_H·o_W, one filter set per position",
                    zero, f"o_H·o_W = {oh}·{ow} = {oh * ow:,}")
    fc_text, lc_text = fc.value, lc.value
    if fc_text == "n/a":
        fc_words = "the fully-connected comparison is n/a"
    elif Fraction(r.fc_equivalent, r.weights) >= 1:
        fc_words = f"a fully-connected layer would need {fc_text} as many"
    else:
        kh, kw = r.layer.kernel
        fc_words = (f"a fully-connected layer would need only {fc_text} as many (here the kernel has more taps, "
                    f"k_H·k_W = {kh * kw:,}, than the input has pixels, H·W = {r.in_shape[1] * r.in_shape[2]:,}, "
                    f"so sharing saves nothing)")
    caption = (f"A convolution reuses its {r.weights:,} weights at all {oh}·{ow} positions and looks at a "
               f"{r.layer.kernel[0]}×{r.layer.kernel[1]} window only: without sharing it would need {lc_text} as "
               f"many weights, {fc_words}. Both ratios divide by the weights without biases."
               if r.weights else "")
    return Group("What weight sharing saves", (
        Row("FC-equivalent weights", f"{r.fc_equivalent:,}",
            ((_t("FC-equivalent"), f"(C·H·W)·(N·o_H·o_W) = {r.formula('fc_equivalent')}"),),
            "One fully-connected layer from the whole input to the whole output (biases not counted)"),
        fc,
        Row("Locally connected", f"{r.locally_connected:,}",
            ((_t("locally connected"), f"o_H·o_W·{_t('weights')}{bias_part} = {r.formula('locally_connected')}"),),
            "The same windows without sharing: its own filters at every output position (weights"
            + (" + biases)" if r.biases else ", no biases)")),
        lc), caption)


def _transposed_groups(r: LayerReport) -> list[Group]:
    """A transposed convolution: size, parameters (as a conv's) and its cost, each input value times each weight."""
    oc, oh, ow = r.out_shape
    bias_part = " + N·o_H·o_W" if r.biases else ""
    flops_values = f"2·{r.macs:,}" + (f" + {oc * oh * ow:,}" if r.biases else "") + f" = {r.flops:,}"
    s, p, d = r.layer.stride, r.layer.padding, r.layer.dilation
    caption = (f"A transposed convolution is the stride-1 convolution over the input dilated by s − 1 = {s[0] - 1} "
               f"zeros between its values and padded by d·(k − 1) − p = {d[0] * (r.layer.kernel[0] - 1) - p[0]} on each "
               "side (Dumoulin & Visin); its padding p crops the output. Weights are counted as for a convolution.")
    return [
        Group("Size and parameters", (
            _size_row(r),
            Row("Weights (no biases)", f"{r.weights:,}", ((_t("weights"), f"N·C·k_H·k_W = {r.formula('weights')}"),),
                "nn.ConvTranspose2d's weight is C×N×k_H×k_W: the same count as a convolution's"),
            *_bias_rows(r)), caption),
        Group("Cost for one image", (
            Row("MACs", f"{r.macs:,}", ((_t("MACs"), f"C·H·W·N·k_H·k_W = {r.formula('macs')}"),),
                "Each input value times each kernel weight (the zeros of the dilated input are not counted)"),
            Row("FLOPs", f"{r.flops:,}", ((_t("FLOPs"), f"2·{_t('MACs')}{bias_part} = {flops_values}"),),
                "A multiply and an add per MAC" + (", plus one bias add per output value" if r.biases else ""))), ""),
    ]


def _bias_rows(r: LayerReport) -> tuple[Row, Row]:
    """The biases and the parameter total: the same cards for a convolution and a transposed one."""
    return (Row("Biases", f"{r.biases:,}",
                ((_t("biases"), f"N = {r.biases:,}" if r.biases else f"0 {_t('(bias off)')}"),), "One per filter"),
            Row("Weights + biases", f"{r.params:,}",
                ((_t("weights + biases"), f"{r.weights:,} + {r.biases:,} = {r.params:,}"),),
                "What sum(p.numel() for p in model.parameters()) gives"))


def result_groups(r: LayerReport) -> list[Group]:
    """The numbers of one conv, transposed conv or pool layer, in groups of cards, each number with its formula;
    with no output, the size and the ratios are 'n/a' and say why."""
    if r.out_shape is None or len(r.out_shape) != 3:
        return _no_output(r)
    if isinstance(r.layer, ConvTranspose):
        return _transposed_groups(r)
    oc, oh, ow = r.out_shape
    size = _size_row(r)
    size_note = _size_lines(r)[1]
    if isinstance(r.layer, Pool):
        ops, sym = (("k_H·k_W − 1 comparisons", "C·o_H·o_W·(k_H·k_W − 1)") if r.layer.mode == "max" else
                    ("k_H·k_W adds and a division", "C·o_H·o_W·k_H·k_W"))
        return [Group("Size and cost", (
            size, Row("Weights + biases", "0", (), "Pooling has no parameters: nothing to learn."),
            Row("MACs", "0", (), "No multiplications by weights."),
            Row("FLOPs", f"{r.flops:,}", ((_t("FLOPs"), f"{sym} = {r.formula('flops')}"),),
                f"{ops} per output value")), "Pooling keeps the channels (C in = C out) and learns nothing."
            + (f" ceil_mode: {size_note}." if size_note else ""))]
    n_out = oc * oh * ow
    bias_part = " + N·o_H·o_W" if r.biases else ""
    flops_values = f"2·{r.macs:,}" + (f" + {n_out:,}" if r.biases else "") + f" = {r.flops:,}"
    return [
        Group("Size and parameters", (
            size,
            Row("Weights (no biases)", f"{r.weights:,}", ((_t("weights"), f"N·C·k_H·k_W = {r.formula('weights')}"),),
                "N filters, each C×k_H×k_W"),
            *_bias_rows(r)),
            ""),
        _sharing_group(r),
        Group("Cost for one image", (
            Row("MACs", f"{r.macs:,}", ((_t("MACs"), f"o_H·o_W·N·C·k_H·k_W = {r.formula('macs')}"),),
                "Multiply–accumulates with weights"),
            Row("FLOPs", f"{r.flops:,}", ((_t("FLOPs"), f"2·{_t('MACs')}{bias_part} = {flops_values}"),),
                "A multiply and an add per MAC" + (", plus one bias add per output value" if r.biases else ""))),
            ""),
    ]


def sheet_lines(group: Group, limit: int = 50) -> list[tuple[str, str]]:
    """The group's formulas as (left side, right side) lines for an aligned block; a long one is broken after
    its symbols ('= symbols' then '= values') so that it fits a projector's width."""
    out = []
    for row in group.rows:
        for lhs, rhs in row.lines:
            head, _, tail = rhs.partition(" = ")
            out += [(lhs, rhs)] if len(rhs) <= limit or not tail else [(lhs, head), ("", tail)]
    return out


def window_too_big(layer: Conv | Pool, hw: Pair) -> str:
    """Why there is no output, in pixels: the window's span against the padded input, per axis."""
    parts = []
    for axis, n, k, d, (b, a) in zip("HW", hw, layer.kernel, layer.dilation, padding_of(layer)):
        span = d * (k - 1) + 1
        if span > n + b + a:
            spans = f"d·(k − 1) + 1 = {span}" if d > 1 else f"{span}"
            parts.append(f"along {axis} the window spans {spans} pixels but the padded input has only "
                         f"{n} + {b} + {a} = {n + b + a}")
    return "; ".join(parts)


def error_text(r: LayerReport) -> str:
    """The core's reason; for an output ≤ 0, with the sizes that clash spelled out per axis."""
    if isinstance(r.layer, ConvTranspose):
        return r.message  # its message already spells out both sizes
    why = window_too_big(r.layer, r.in_shape[1:]) if r.in_shape and len(r.in_shape) == 3 else ""
    if why and r.message.startswith("output size"):
        return f"{r.message.split(':')[0]}: {why}"
    return r.message


def never_read(r: LayerReport) -> str:
    """The warning's text, for the page."""
    return r.message.removeprefix("valid, but ")


__all__ = ["DEFAULTS", "LIMITS", "MODES", "normalize", "layer_from_fields", "fields_from_layer", "padding_of",
           "keep_size", "halve_options", "double_options", "is_transposed", "result_groups", "Row", "Group", "is_pool", "never_read", "window_too_big",
           "error_text", "sheet_lines", "ratio_text"]

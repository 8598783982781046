"""Predict, then reveal: questions about one layer, and a forgiving reader of the student's guess.

A guess is read as whole numbers only ("2,432", "2 432", "32x32x32", "32 × 32 × 32", "(16, 32, 32)"). Shapes
are written C×H×W (PyTorch's order); an H×W×C guess (the lab's order, channels last) is accepted with a note.
Nothing is evaluated. A wrong guess is matched against the likely mistakes of its question (per-neuron
FC-equivalent, forgotten biases, rounding up, padding left out, …), each explained with its arithmetic.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..layers import Conv, Pool
from ..report import LayerReport
from .calculator import ratio_text


@dataclass(frozen=True)
class Mistake:
    """A likely wrong answer to a question and why it is wrong, with the arithmetic."""

    value: tuple[int, ...]
    why: str


@dataclass(frozen=True)
class Question:
    key: str
    prompt: str
    truth: tuple[int, ...]        # one number, or a shape (C, H, W) / (N,)
    answer: str                   # the truth as shown
    formula: str                  # substituted formula, '' if none
    mistakes: tuple[Mistake, ...] = ()  # likely wrong answers, first match wins


@dataclass(frozen=True)
class Verdict:
    correct: bool
    message: str


ORDER_NOTE = "this app writes C×H×W (channels first), as PyTorch does"


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape))


# ---- the likely mistakes of one conv or pool layer -----------------------------------------------------------

@dataclass(frozen=True)
class _Axis:
    n: int
    k: int
    s: int
    before: int
    after: int
    d: int


def _axes(r: LayerReport) -> list[_Axis] | None:
    """Per axis (H, W): input size, kernel, stride, padding before/after, dilation; None if not conv/pool."""
    layer = r.layer
    if not isinstance(layer, (Conv, Pool)) or not r.in_shape or len(r.in_shape) != 3 or not r.out_shape:
        return None
    if isinstance(layer, Pool):
        pads = tuple((p, p) for p in layer.padding)
        strides = layer.strides
    elif layer.padding == "same":
        pads = tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(layer.kernel, layer.dilation))
        strides = layer.stride
    else:
        pads, strides = layer.padding, layer.stride
    return [_Axis(n, k, s, b, a, d) for n, k, s, (b, a), d in
            zip(r.in_shape[1:], layer.kernel, strides, pads, layer.dilation)]


def _size(ax: _Axis, before: int, after: int, ceil: bool) -> int:
    span = ax.n + before + after - ax.d * (ax.k - 1) - 1
    return (-(-span // ax.s) if ceil else span // ax.s) + 1


def _expr(ax: _Axis, before: int, after: int, ceil: bool) -> str:
    pad = "" if before == after == 0 else f" + 2·{before}" if before == after else f" + {before} + {after}"
    win = str(ax.k) if ax.d == 1 else f"{ax.d}·({ax.k} − 1) − 1"
    lo, hi = ("⌈", "⌉") if ceil else ("⌊", "⌋")
    return f"{lo}({ax.n}{pad} − {win})/{ax.s}{hi} + 1 = {_size(ax, before, after, ceil)}"


def _per_axis(texts: list[str]) -> str:
    return texts[0] if texts[0] == texts[1] else f"H: {texts[0]}; W: {texts[1]}"


def _spatial_mistakes(r: LayerReport, axes: list[_Axis]) -> list[tuple[tuple[int, int], str]]:
    """(o_H, o_W) a student gets by rounding the wrong way or leaving the padding out, and why."""
    truth, out = tuple(r.out_shape[1:]), []
    ceil = isinstance(r.layer, Pool) and r.layer.ceil_mode
    right = _per_axis([_expr(a, a.before, a.after, ceil) for a in axes])
    flipped = tuple(_size(a, a.before, a.after, not ceil) for a in axes)
    wrong = _per_axis([_expr(a, a.before, a.after, not ceil) for a in axes])
    if ceil and tuple(_size(a, a.before, a.after, True) for a in axes) != truth:
        pass  # ceil_mode dropped a last window that would start in the padding: the formula alone is not the answer
    elif ceil:
        out.append((flipped, (f"You rounded down: {wrong}. This pooling has ceil_mode=True, which rounds up: "
                              f"{right}.")))
    else:
        out.append((flipped, f"You rounded up: {wrong}. PyTorch rounds the division down (floor): {right}."))
    if any(a.before or a.after for a in axes):
        bare = tuple(_size(a, 0, 0, ceil) for a in axes)
        out.append((bare, (f"You left the padding out: {_per_axis([_expr(a, 0, 0, ceil) for a in axes])}. The "
                           f"padding adds rows and columns on both sides: {right}.")))
    return [(v, why) for v, why in out if v != truth and min(v) >= 1]


def _shape_mistakes(r: LayerReport, axes: list[_Axis]) -> list[Mistake]:
    oc = r.out_shape[0]
    out = [Mistake((oc, *hw), why) for hw, why in _spatial_mistakes(r, axes)]
    c_in = r.in_shape[0]
    if isinstance(r.layer, Conv) and c_in != oc:
        out.append(Mistake((c_in, *r.out_shape[1:]), f"The output has one channel per filter: N = {oc}, not the "
                                                      f"input's C = {c_in}."))
    return out


def _count_mistakes(r: LayerReport, axes: list[_Axis] | None) -> dict[str, list[Mistake]]:
    """The likely wrong counts of a conv layer: weights, params, FC-equivalent, MACs."""
    if not isinstance(r.layer, Conv) or axes is None or r.weights is None:
        return {}
    n, (_, oh, ow) = r.out_shape[0], r.out_shape
    w, b, p = r.weights, r.biases or 0, r.params
    per_filter, in_numel, out_numel = w // n, math.prod(r.in_shape), math.prod(r.out_shape)
    weights = [Mistake((per_filter,), f"That is one filter: C·k_H·k_W = {per_filter:,} weights. There are N = {n} "
                                      f"filters: {n}·{per_filter:,} = {w:,}.")] if n > 1 else []
    params = [Mistake((w + n,), f"This layer has no biases (bias=False): its parameters are the weights "
                                f"alone, {w:,}.")] if not b else []
    if b:
        weights.append(Mistake((p,), f"Off by the bias terms: that includes the {b:,} biases (one per filter). "
                                     f"The weights alone: N·C·k_H·k_W = {r.formula('weights')} (= {p:,} − {b:,})."))
        weights.append(Mistake((w - b,), f"That is off by exactly N = {b:,}, the bias count: biases are not weights, "
                                         f"and no weight is left out: N·C·k_H·k_W = {r.formula('weights')}."))
        params.append(Mistake((w,), f"Off by the bias terms: that is the weights alone; add one bias per filter: "
                                    f"{w:,} + {b:,} = {p:,}."))
        params.append(Mistake((per_filter + 1,), f"That is one filter with its bias: {per_filter:,} + 1. There are "
                                                 f"N = {n}: {n}·{per_filter + 1:,} = {p:,}."))
        params.append(Mistake((p + b,), f"That is off by exactly N = {b:,}, the bias count: one bias per filter, "
                                        f"counted once: {w:,} + {b:,} = {p:,}."))
    outputs = f"N·o_H·o_W = {n}·{oh}·{ow} = {out_numel:,}"
    fc = [Mistake((in_numel,), f"That is the weights of one output neuron, which reads the whole input: C·H·W = "
                               f"{in_numel:,}. A fully-connected layer has one for each of the {outputs} outputs: "
                               f"{in_numel:,} × {out_numel:,} = {in_numel * out_numel:,}."),
          Mistake((in_numel + 1,), f"That is one output neuron with its bias: C·H·W + 1 = {in_numel + 1:,}. The "
                                   f"FC-equivalent counts weights only, for each of the {outputs} outputs: "
                                   f"{in_numel:,} × {out_numel:,} = {in_numel * out_numel:,}."),
          Mistake((in_numel * out_numel + out_numel,), f"The FC-equivalent counts weights only: leave out the "
                                                       f"{out_numel:,} biases of its outputs."),
          Mistake((out_numel,), f"That is the number of outputs, {outputs}; each is connected to all C·H·W = "
                                f"{in_numel:,} inputs: {in_numel:,} × {out_numel:,} = {in_numel * out_numel:,}.")]
    macs = [Mistake((w,), f"That is the weights: each is used once at every one of the o_H·o_W = {oh}·{ow} = "
                          f"{oh * ow:,} positions: {w:,}·{oh * ow:,} = {r.macs:,}."),
            Mistake((2 * r.macs,), f"That is the FLOPs (a multiply and an add per MAC): MACs = "
                                   f"o_H·o_W·N·C·k_H·k_W = {r.formula('macs')}.")]
    if b:
        macs.append(Mistake((r.macs + out_numel,), f"MACs count multiplications by weights only: the "
                                                   f"{out_numel:,} bias adds are not MACs (FLOPs count them)."))
    for m in _shape_mistakes(r, axes):
        c, h2, w2 = m.value
        fc.append(Mistake((in_numel * c * h2 * w2,), f"That is C·H·W × N·o_H·o_W for a {_shape_text(m.value)} "
                                                     f"output. {m.why}"))
        if c == n:
            macs.append(Mistake((h2 * w2 * w,), f"That is o_H·o_W·(weights) for a {h2}×{w2} output. {m.why}"))
    return {"weights": weights, "params": params, "fc_equivalent": fc, "macs": macs}


def layer_questions(r: LayerReport) -> list[Question]:
    """What a student can predict for this layer: output shape, then the counts that apply to it."""
    if r.out_shape is None:
        return []
    f = r.formulas
    axes = _axes(r)
    shape_mistakes = tuple(_shape_mistakes(r, axes)) if axes else ()
    qs = [Question("out", "Output size (C×H×W)" if len(r.out_shape) == 3 else "Output size (features)",
                   r.out_shape, _shape_text(r.out_shape),
                   "; ".join(f[k] for k in ("out_H", "out_W") if k in f) or f.get("out", ""), shape_mistakes)]
    counts = [("weights", "Weights (without biases)"), ("params", "Parameters (weights + biases)"),
              ("fc_equivalent", "Weights of a fully-connected layer giving the same output"),
              ("macs", "Multiply–accumulates (MACs) for one image")]
    mistakes = _count_mistakes(r, axes)
    for key, prompt in counts:
        value = getattr(r, key)
        if value and (key != "fc_equivalent" or r.layer.kind == "conv"):
            wrong = tuple(m for m in mistakes.get(key, ()) if m.value != (value,))  # N = 1: one filter is all
            qs.append(Question(key, prompt, (value,), f"{value:,}", f.get(key, ""), wrong))
    if r.rf is not None:
        qs.append(Question("rf", "Receptive field (height, in input pixels)", (r.rf[0],), str(r.rf[0]),
                           f.get("rf_H", "")))
    return qs


# ---- reading a guess ---------------------------------------------------------------------------------------

MAX_CHARS = 200
MAX_DIGITS = 40  # an FC-equivalent of a large input passes 10¹⁸
SEPARATORS = ",_'\u2019\u202f\u2009\u00a0 "  # thousands separators: 2,432 · 2 432 · 1_000_000 · 2'432
TIMES = "×x*✕⨯"
_DIGITS = re.compile(r"\d{1," + str(MAX_DIGITS) + "}")
_GROUPED = re.compile(r"(?<=\d)[" + re.escape(SEPARATORS) + r"](?=\d{3}(\D|$))")


def _number(part: str) -> int | None:
    digits = _GROUPED.sub("", part.strip())
    return int(digits) if _DIGITS.fullmatch(digits) else None


def _unwrap(text: str) -> tuple[str, bool]:
    """'torch.Size([16, 32, 32])', '(16, 32, 32)' or '[16, 32, 32]' → '16, 32, 32' and True (commas separate)."""
    text = text.removeprefix("torch.size").strip()
    wrapped = False
    for lo, hi in ("()", "[]", "()"):
        if len(text) >= 2 and text[0] == lo and text[-1] == hi:
            text, wrapped = text[1:-1].strip(), True
    return text, wrapped


def parse_guess(text: str) -> tuple[int, ...] | None:
    """Whole numbers in the guess: a shape is written with ×, x or * between its numbers (or as a bracketed
    list, PyTorch's torch.Size([16, 32, 32])); inside a number, thousands separators (',' '_' ' ' thin and
    no-break spaces "'") are allowed. Anything else → None. At most :data:`MAX_CHARS` characters; linear time."""
    if not isinstance(text, str) or len(text) > MAX_CHARS or not text.strip():
        return None
    body, wrapped = _unwrap(text.strip().lower())
    parts = re.split("[" + TIMES + ("," if wrapped else "") + "]", body)
    numbers = [_number(p) for p in parts]
    return None if None in numbers else tuple(numbers)  # type: ignore[arg-type]


# ---- the verdict -------------------------------------------------------------------------------------------

def _far(value: int, truth: int) -> str:
    if value == 0:
        return "yours is 0"
    if abs(value - truth) * 200 < truth:  # within 0.5 %: a ratio would read 1.00×; the difference says more
        return f"yours is {abs(value - truth):,} {'too many' if value > truth else 'too few'}"
    if value > truth:
        return f"yours is about {ratio_text(value, truth)[0]}× the answer"
    return f"yours is about 1/{ratio_text(truth, value)[0]} of the answer"


def _shape_verdict(q: Question, value: tuple[int, ...]) -> Verdict:
    truth, answer = q.truth, q.answer
    c, h, w = truth
    if value == (h, w, c):
        return Verdict(True, f"Right numbers; {ORDER_NOTE}: {answer}.")
    if value == (w, h, c):
        return Verdict(False, f"Right numbers, but height and width are swapped: {ORDER_NOTE}, height before "
                              f"width: {answer} ({h} rows, {w} columns).")
    for m in q.mistakes:
        if value == m.value:
            return Verdict(False, f"Not quite. {m.why} The answer is C×H×W = {answer}.")
        if value == (m.value[1], m.value[2], m.value[0]):
            return Verdict(False, f"Not quite. {m.why} The answer is {answer}; {ORDER_NOTE}.")
    wrong = [name for name, a, b in zip(("channels", "height", "width"), value, truth) if a != b]
    names = wrong[0] if len(wrong) == 1 else ", ".join(wrong[:-1]) + " and " + wrong[-1]
    return Verdict(False, f"Not quite: the {names} differ{'s' if len(wrong) == 1 else ''}; the answer is "
                          f"C×H×W = {answer}.")


def check(q: Question, guess: str) -> Verdict:
    """The verdict on a guess: right (an H×W×C shape with a note on the order), a likely mistake explained with
    its arithmetic, or how far off it is. Never raises."""
    value = parse_guess(guess)
    if value is None:
        return Verdict(False, "Type whole numbers, e.g. 2432, or a shape C×H×W such as 32x32x32.")
    truth = q.truth
    if value == truth:
        return Verdict(True, f"Right: {q.answer}.")
    if len(value) != len(truth):
        if len(truth) == 3 and value == truth[1:]:
            return Verdict(False, f"Right height and width; give the channels too, first: C×H×W = {q.answer}.")
        return Verdict(False, f"Give {len(truth)} number{'s' if len(truth) > 1 else ''}; the answer is {q.answer}.")
    if len(truth) == 3:
        return _shape_verdict(q, value)
    for m in q.mistakes:
        if value == m.value:
            return Verdict(False, f"Not quite. {m.why} The answer is {q.answer}.")
    if len(truth) == 1 and truth[0]:
        return Verdict(False, f"Not quite: the answer is {q.answer} ({_far(value[0], truth[0])}).")
    return Verdict(False, f"Not quite: the answer is {q.answer}.")

"""Predict, then reveal, for the lab companion: its numeric questions, each with the truth computed by the core
and a diagnosis of a wrong prediction by the mistake it most likely comes from.

A question's mistakes are built by small named functions (:func:`forgot_biases`, :func:`per_neuron_fc`, …):
each returns the wrong answer that mistake produces, computed from the same core numbers, and the sentence
that explains it. :meth:`Prediction.diagnose` reads the student's text (whole numbers with
:func:`cnncalc.classroom.quiz.parse_guess`; decimals with "." or ","; percentages; simple fractions; "ln 10")
and matches it against the truth, then the mistakes, then a power of ten. Nothing is evaluated, every text
of up to :data:`MAX_CHARS` characters is read in linear time, and no text raises.

Shapes are written C×H×W (PyTorch's order); the lab's x′×y′×z′ (width × height × channels) is accepted too.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from ..analyze import analyze
from .companion import arithmetic as ca
from .quiz import parse_guess

MAX_CHARS = 200
TOLERANCE = 0.01  # relative, for decimal answers: 2.3 is ln 10 to the precision a student writes


@dataclass(frozen=True)
class Mistake:
    name: str        # short label: the class quiz groups answers by it
    value: object    # the answer this mistake gives: an int, a float or a shape tuple
    explain: str


@dataclass(frozen=True)
class Diagnosis:
    correct: bool
    mistake: str     # "right", a Mistake's name, "off by a power of ten", "unreadable" or "other"
    message: str


RIGHT, UNREADABLE, OTHER, POWER = "right", "unreadable", "other", "off by a power of ten"
HWC = "H×W×C order"  # right numbers in the lab's order: correct, but counted apart in the class quiz


@dataclass(frozen=True)
class Prediction:
    key: str                  # stable id (the class quiz stores it)
    number: int               # the companion question it belongs to
    prompt: str
    truth: object             # int, float or shape (C, H, W)
    shown: str                # the truth as written in the answer
    answer: str               # the worked answer, formula substituted
    kind: str                 # "int", "decimal", "percent" or "shape"
    mistakes: tuple[Mistake, ...] = ()

    def diagnose(self, text: str) -> Diagnosis:
        """The verdict on ``text``: right, a named mistake, a power of ten away, unreadable or just wrong."""
        value = read(text, self.kind)
        if value is None:
            return Diagnosis(False, UNREADABLE, _unreadable_hint(text, self.kind))
        if _same(value, self.truth):
            return Diagnosis(True, RIGHT, f"Right: {self.shown}.")
        if self.kind == "shape" and isinstance(value, tuple) and len(value) == 3 and \
                value == (self.truth[1], self.truth[2], self.truth[0]):
            return Diagnosis(True, HWC, f"Right, written H×W×C (the lab's x′×y′×z′); PyTorch writes C×H×W: "
                                          f"{self.shown}.")
        for m in self.mistakes:
            if _same(value, m.value):
                return Diagnosis(False, m.name, f"{m.explain} The answer is {self.shown}.")
        if (hint := off_by_power_of_ten(value, self.truth)) is not None:
            return Diagnosis(False, POWER, f"{hint} The answer is {self.shown}.")
        return Diagnosis(False, OTHER, f"Not quite: the answer is {self.shown}.")


# --- reading a prediction ----------------------------------------------------------------------------

_DECIMAL = re.compile(r"[+-]?(\d{1,15}(?:\.\d{0,15})?|\.\d{1,15})(?:e[+-]?\d{1,3})?")
_LN = re.compile(r"ln\s?\(?\s?(\d{1,6})\s?\)?")


def _decimal(text: str) -> float | None:
    """One decimal number: "2.303", "2,303" (a decimal comma), ".5", "1e-3"; also "1/10" and "ln 10"."""
    t = text.replace(" ", "").replace("\u202f", "").replace("\u2009", "")
    if t.count(",") == 1 and "." not in t:
        t = t.replace(",", ".")
    if m := _LN.fullmatch(t):
        return math.log(int(m.group(1))) if int(m.group(1)) > 0 else None
    if t.count("/") == 1:
        a, b = (_decimal(part) for part in t.split("/"))
        if a is None or not b:
            return None
        return a / b if math.isfinite(a / b) else None
    if not _DECIMAL.fullmatch(t):
        return None
    v = float(t)
    return v if math.isfinite(v) else None


def read(text, kind: str):
    """The student's text as a number (or a shape for kind "shape"); None when it cannot be read.
    Percent questions take "10%", "10 %", "0.1" and "10" (a number above 1 is read as percent)."""
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_CHARS:
        return None
    t = text.strip().lower()
    if kind in ("int", "shape"):
        value = parse_guess(t)
        if value is None:
            return None
        if len(value) == 1:
            return value[0]
        return value if kind == "shape" else None
    t = re.sub(r"^(?:×|x)\s?|\s?(?:×|x)$", "", t)  # "10x", "×10": a factor
    percent = t.endswith("%")
    v = _decimal(t.rstrip("%").strip())
    if v is None:
        return None
    if percent:
        return v / 100
    return v / 100 if kind == "percent" and v > 1 else v


def _unreadable_hint(text, kind: str) -> str:
    if isinstance(text, str) and len(text) > MAX_CHARS:
        return f"Keep it short: at most {MAX_CHARS} characters."
    return {"int": "Type a whole number, e.g. 2,432 or 2432.",
            "shape": "Type a shape C×H×W, e.g. 32x32x32.",
            "percent": "Type a percentage, e.g. 10 % or 0.1."}.get(kind, "Type a number, e.g. 2.3 or 2,3.")


def _same(value, target) -> bool:
    if isinstance(target, tuple) or isinstance(value, tuple):
        return value == target
    if isinstance(target, int) and isinstance(value, int):
        return value == target
    return abs(value - target) <= TOLERANCE * abs(target) + 1e-12


def off_by_power_of_ten(value, truth) -> str | None:
    """×10, ×100, ×1000 or their inverses away from the truth: a misplaced separator or unit."""
    if isinstance(value, tuple) or isinstance(truth, tuple) or not value or not truth:
        return None
    ratio = abs(value / truth)
    for n in (1, 2, 3, 6):
        for r, word in ((10 ** n, "too large"), (10 ** -n, "too small")):
            if abs(ratio - r) <= TOLERANCE * r:
                return f"Off by a factor of {10 ** n:,}: {word} — a slipped separator, unit or percent?"
    return None


# --- the mistakes, one small function each -----------------------------------------------------------

def forgot_biases(params: int, biases: int) -> Mistake:
    return Mistake("forgot the biases", params - biases,
                   f"That counts the weights only: add one bias per filter or neuron ({biases:,}).")


def per_neuron_fc(total: int, outputs: int) -> Mistake:
    """The weights of one output neuron: the answer × x′·y′·N = the truth."""
    return Mistake("per-neuron FC", total // outputs,
                   f"That is the weights of one output value; a fully-connected layer has one such set for each "
                   f"of the x′·y′·N = {outputs:,} outputs: answer × {outputs:,} = {total:,}.")


def one_filter(weights: int, filters: int, with_bias: bool = False) -> Mistake:
    """One filter's weights (z·k·k), with or without its bias: the answer is N filters of them, plus N biases."""
    each = weights // filters
    return Mistake("counted one filter", each + with_bias,
                   f"That is one filter ({each:,} weights{' + its bias' if with_bias else ''}); the layer has "
                   f"N = {filters} filters, each with its own bias: {filters}·{each:,} + {filters} = "
                   f"{weights + filters:,}.")


def no_weight_sharing(weights: int, positions: int) -> Mistake:
    return Mistake("no weight sharing", weights * positions,
                   f"That is a separate filter at each of the {positions:,} positions; a convolution shares one "
                   "set of weights across the image.")


def forgot_channels(weights: int, biases: int, channels: int) -> Mistake:
    return Mistake("forgot the input channels", weights // channels + biases,
                   f"Each filter spans all {channels} input channels: k·k·z weights, not k·k.")


def hwc_flattened(shape: tuple[int, ...]) -> Mistake:
    return Mistake("gave the flattened size", math.prod(shape),
                   f"That is the number of values ({'·'.join(map(str, shape))}); give the shape C×H×W.")


def floor_vs_ceil(x: int, k: int, s: int, p: int) -> Mistake:
    return Mistake("ceil instead of floor", math.ceil((x + 2 * p - k) / s) + 1,
                   "The division is rounded down: a window that would run past the border is not placed.")


def forgot_plus_one(x: int, k: int, s: int, p: int) -> Mistake:
    return Mistake("forgot the +1", (x + 2 * p - k) // s,
                   "Count the first position too: ⌊(x + 2p − k)/s⌋ + 1.")


def halved(x: int) -> Mistake:
    return Mistake("just halved", x // 2, "Stride 2 halves the size only when the padding makes up for the kernel.")


def chance_accuracy_as_loss(classes: int) -> Mistake:
    return Mistake("ln 10 vs 10 %", 1 / classes,
                   f"1/{classes} is the chance accuracy; the loss is the cross-entropy −ln(1/{classes}) = ln {classes}.")


def log10_for_ln(classes: int) -> Mistake:
    return Mistake("log base 10", math.log10(classes), "Cross-entropy uses the natural logarithm ln, not log₁₀.")


def loss_as_accuracy(classes: int) -> Mistake:
    return Mistake("ln 10 vs 10 %", math.log(classes) / 100,
                   f"That is the chance loss ln {classes} ≈ {math.log(classes):.3f}, read as a percentage; the "
                   f"accuracy of a uniform guess is 1/{classes}.")


def top5_for_top1(classes: int) -> Mistake:
    return Mistake("top-5 for top-1", 5 / classes, "That is the chance top-5 accuracy; top-1 is one guess in ten.")


def momentum_m(m: float) -> Mistake:
    return Mistake("m vs 1/(1−m)", m, f"m = {m:g} is the weight of the past velocity, not the gain: the steps add up "
                                      f"to 1 + m + m² + … = 1/(1 − m).")


def momentum_one_minus_m(m: float) -> Mistake:
    return Mistake("m vs 1/(1−m)", 1 - m, f"1 − m is inverted: the gain is 1/(1 − m) = 1/{1 - m:g}.")


def momentum_one_step(m: float) -> Mistake:
    return Mistake("one past step only", 1 + m, "1 + m counts one past step; they all add up: 1 + m + m² + ….")


def dropout_p(p: float) -> Mistake:
    return Mistake("p vs 1/(1−p)", p, f"p = {p:g} is the probability of dropping a unit; the kept ones are scaled "
                                      f"by 1/(1 − p) so the expected value is unchanged.")


def dropout_keep(p: float) -> Mistake:
    return Mistake("p vs 1/(1−p)", 1 - p, "1 − p is the fraction kept (the old test-time scaling); PyTorch scales "
                                          "the kept units in training by its inverse, 1/(1 − p).")


def dropout_none() -> Mistake:
    return Mistake("eval mode", 1.0, "1 is eval mode (dropout is the identity); in training the kept units are scaled.")


def rf_without_pooling(spec: str, input_shape, layer: str) -> Mistake:
    rf = analyze(spec, input_shape)[layer].rf[0]
    return Mistake("forgot the pooling's jump", rf,
                   "After a 2×2 pool one step of the next layer moves 2 input pixels: its k − 1 extra rows count twice.")


def added_kernels(kernels: tuple[int, ...]) -> Mistake:
    return Mistake("added the kernel sizes", sum(kernels), "Fields grow by (k − 1)·jump per layer, not by k.")


def rf_area(rf: int) -> Mistake:
    return Mistake("gave the area", rf * rf, f"That is the area {rf}×{rf}; give its side.")


def flops_for_macs(macs: int) -> Mistake:
    return Mistake("FLOPs for MACs", 2 * macs, "That counts a multiply and an add separately (FLOPs); a MAC is both.")


def weights_for_macs(weights: int) -> Mistake:
    return Mistake("weights for MACs", weights, "That is the weights; each one is used at every output position.")


def only_conv_layers(conv_params: int) -> Mistake:
    return Mistake("only the conv layers", conv_params, "The fully-connected layers hold most of the parameters.")


# --- the questions ------------------------------------------------------------------------------------

CLASSES = 10
MOMENTUM = 0.9
DROPOUT = 0.5
STRIDE_EXAMPLE = {"x": 32, "k": 5, "s": 2, "p": 0}  # question 8: a stride that does not divide evenly


def _arithmetic(a) -> list[Prediction]:
    c1, pool3 = a["conv1"], a["pool3"]
    outputs = math.prod(c1.out_shape)
    shape = "×".join(map(str, pool3.out_shape))
    hwc = "×".join(map(str, (pool3.out_shape[1], pool3.out_shape[2], pool3.out_shape[0])))
    return [
        Prediction("conv1_params", 1, "Parameters (weights + biases) of the lab's conv1: 32 filters 5×5 on a "
                   "3×32×32 image", c1.params, f"{c1.params:,}",
                   f"Weights {c1.formula('weights')}; plus one bias per filter: {c1.formula('params')}.", "int",
                   (forgot_biases(c1.params, c1.biases), forgot_channels(c1.weights, c1.biases, ca.LAB.input_shape[0]),
                    one_filter(c1.weights, c1.out_shape[0]), one_filter(c1.weights, c1.out_shape[0], with_bias=True),
                    no_weight_sharing(c1.weights, outputs // c1.out_shape[0]))),
        Prediction("conv1_fc", 1, "Weights of a fully-connected layer giving conv1's output (3×32×32 → 32×32×32)",
                   c1.fc_equivalent, f"{c1.fc_equivalent:,}",
                   f"Every input value to every output value: {c1.formula('fc_equivalent')}.", "int",
                   (per_neuron_fc(c1.fc_equivalent, outputs),
                    Mistake("added the biases", c1.fc_equivalent + outputs,
                            "Weights only: the biases (one per output value) are not asked."))),
        Prediction("pool3_shape", 10, "Output shape of the lab net's pool3 (C×H×W)", pool3.out_shape,
                   shape, f"Three 2×2 pools halve 32 three times: 32/2³ = {pool3.out_shape[1]}, with conv3's "
                   f"{pool3.out_shape[0]} channels: {shape} (H×W×C: {hwc}).", "shape",
                   (hwc_flattened(pool3.out_shape),)),
        Prediction("lab_total", 10, "Total parameters (weights + biases) of the lab's network", a.params,
                   f"{a.params:,}", "Sum over the layers: " + " + ".join(f"{r.name} {r.params:,}" for r in a.layers
                                                                         if r.params) + f" = {a.params:,}.", "int",
                   (forgot_biases(a.params, sum(r.biases for r in a.layers)),
                    only_conv_layers(sum(r.params for r in a.layers if r.layer.kind == "conv")))),
        Prediction("conv1_macs", 10, "Multiply–accumulates (MACs) of conv1 for one image", c1.macs, f"{c1.macs:,}",
                   f"Each output value costs z·k·k MACs: {c1.formula('macs')}.", "int",
                   (flops_for_macs(c1.macs), weights_for_macs(c1.weights))),
    ]


def _fields(a) -> list[Prediction]:
    c2 = a["conv2"]
    x, k, s, p = (STRIDE_EXAMPLE[n] for n in "xksp")
    r = ca.one_conv(x, x, 3, k, p, s, 1)
    no_pool = "; ".join(part for part in ca.LAB.spec.split("; ") if not part.startswith("maxpool"))
    return [
        Prediction("conv2_rf", 7, "Receptive field of the lab's conv2 (side, in input pixels)", c2.rf[0], str(c2.rf[0]),
                   f"conv1 sees 5 pixels; pool1 (2×2) makes it 6 and doubles the jump to 2; conv2 adds (5 − 1)·2: "
                   f"6 + 8 = {c2.rf[0]} ({c2.formula('rf_H')}).", "int",
                   (rf_without_pooling(no_pool, ca.LAB.input_shape, "conv2"), added_kernels((5, 5)), rf_area(c2.rf[0]))),
        Prediction("stride_out", 8, f"Output width of a {k}×{k} convolution, stride {s}, padding {p}, on a "
                   f"{x}×{x} image", r.out_shape[2], str(r.out_shape[2]), f"x′ = {r.formula('out_W')}.", "int",
                   (floor_vs_ceil(x, k, s, p), forgot_plus_one(x, k, s, p), halved(x))),
    ]


def _training() -> list[Prediction]:
    from .companion import improvements as ci
    loss, gain, scale = math.log(CLASSES), ci.momentum_gain(MOMENTUM), 1 / (1 - DROPOUT)
    return [
        Prediction("chance_loss", 17, "Cross-entropy loss at the start of training (10 classes, uniform guess)",
                   loss, f"ln 10 ≈ {loss:.3f}", f"A uniform guess gives every class 1/10: −ln(1/10) = ln 10 ≈ {loss:.4f}.",
                   "decimal", (chance_accuracy_as_loss(CLASSES), log10_for_ln(CLASSES),
                               Mistake("ln 10 vs 10 %", float(CLASSES), "10 is the number of classes; the loss is "
                                                                        "ln 10."))),
        Prediction("chance_top1", 17, "Test top-1 accuracy at the start of training (10 classes)", 1 / CLASSES,
                   f"{100 / CLASSES:g} %", f"One guess in {CLASSES} is right: 1/{CLASSES} = {100 / CLASSES:g} %.",
                   "percent", (loss_as_accuracy(CLASSES), top5_for_top1(CLASSES))),
        Prediction("momentum_gain", 26, f"SGD with momentum m = {MOMENTUM:g}: with a steady gradient, the step grows "
                   "to how many times lr × gradient?", gain, f"{gain:g}× (1/(1 − m))",
                   f"v ← m·v + g converges to g/(1 − m): the effective step is lr/(1 − {MOMENTUM:g}) = {gain:g}× lr.",
                   "decimal", (momentum_m(MOMENTUM), momentum_one_minus_m(MOMENTUM), momentum_one_step(MOMENTUM))),
        Prediction("dropout_scale", 33, f"nn.Dropout(p = {DROPOUT:g}) in training mode: by how much is a kept value "
                   "multiplied?", scale, f"{scale:g} (1/(1 − p))",
                   f"Units are dropped with probability p and the kept ones scaled by 1/(1 − p) = 1/{1 - DROPOUT:g} = "
                   f"{scale:g}, so the expected value is unchanged; eval mode is the identity.", "decimal",
                   (dropout_p(DROPOUT), dropout_keep(DROPOUT), dropout_none())),
    ]


@lru_cache(maxsize=1)
def questions() -> tuple[Prediction, ...]:
    """Every numeric question of the companion, in the companion's order (computed once per process)."""
    a = ca.lab_analysis()
    return tuple(sorted(_arithmetic(a) + _fields(a) + _training(), key=lambda q: q.number))


def by_key(key: str) -> Prediction | None:
    return next((q for q in questions() if q.key == key), None)


def for_question(number: int) -> list[Prediction]:
    """The predictions of companion question ``number`` (none for a question without a number to predict)."""
    return [q for q in questions() if q.number == number]

"""Predict, then reveal: questions about one layer, and a forgiving reader of the student's guess.

A guess is read as whole numbers only ("2,432", "2 432", "32x32x32", "32 × 32 × 32"); a shape may be
given as H×W×C (the lab's x×y×z) or C×H×W. Nothing is evaluated.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..report import LayerReport


@dataclass(frozen=True)
class Question:
    key: str
    prompt: str
    truth: tuple[int, ...]        # one number, or a shape (C, H, W) / (N,)
    answer: str                   # the truth as shown
    formula: str                  # substituted formula, '' if none


@dataclass(frozen=True)
class Verdict:
    correct: bool
    message: str


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, (shape[1], shape[2], shape[0]) if len(shape) == 3 else shape))


def layer_questions(r: LayerReport) -> list[Question]:
    """What a student can predict for this layer: output shape, then the counts that apply to it."""
    if r.out_shape is None:
        return []
    f = r.formulas
    qs = [Question("out", "Output size (H×W×C)" if len(r.out_shape) == 3 else "Output size (features)",
                   r.out_shape, _shape_text(r.out_shape),
                   "; ".join(f[k] for k in ("out_H", "out_W") if k in f) or f.get("out", ""))]
    counts = [("weights", "Weights (without biases)"), ("params", "Parameters (weights + biases)"),
              ("fc_equivalent", "Weights of a fully-connected layer giving the same output"),
              ("macs", "Multiply–accumulates (MACs) for one image")]
    for key, prompt in counts:
        value = getattr(r, key)
        if value and (key != "fc_equivalent" or r.layer.kind == "conv"):
            qs.append(Question(key, prompt, (value,), f"{value:,}", f.get(key, "")))
    if r.rf is not None:
        qs.append(Question("rf", "Receptive field (height, in input pixels)", (r.rf[0],), str(r.rf[0]),
                           f.get("rf_H", "")))
    return qs


SEPARATORS = ",_'\u202f\u2009 "  # thousands separators: 2,432 · 2 432 · 1_000_000 · 2'432


def _number(part: str) -> int | None:
    digits = re.sub(r"(?<=\d)[" + re.escape(SEPARATORS) + r"](?=\d{3}(\D|$))", "", part.strip())
    return int(digits) if re.fullmatch(r"\d{1,15}", digits) else None


def parse_guess(text: str) -> tuple[int, ...] | None:
    """Whole numbers in the guess: a shape is written with ×, x or * between its numbers; inside a number,
    thousands separators (',' '_' ' ' thin spaces "'") are allowed. Anything else → None."""
    if not isinstance(text, str) or not text.strip() or len(text) > 200:
        return None
    parts = re.split(r"[×x*]", text.strip().lower())
    numbers = [_number(p) for p in parts]
    return None if None in numbers else tuple(numbers)  # type: ignore[arg-type]


def check(q: Question, guess: str) -> Verdict:
    value = parse_guess(guess)
    if value is None:
        return Verdict(False, "Type whole numbers, e.g. 2432 or 32x32x32.")
    truth = q.truth
    accepted = {truth}
    if len(truth) == 3:
        accepted.add((truth[1], truth[2], truth[0]))  # H×W×C as well as C×H×W
    if value in accepted:
        return Verdict(True, f"Right: {q.answer}.")
    if len(value) != len(truth):
        return Verdict(False, f"Give {len(truth)} number{'s' if len(truth) > 1 else ''}; the answer is {q.answer}.")
    if len(truth) == 1 and truth[0]:
        ratio = value[0] / truth[0]
        hint = " (off by the bias terms?)" if q.key in ("weights", "params") and 0.9 < ratio < 1.1 else \
            f" ({ratio:.3g}× the answer)"
        return Verdict(False, f"Not quite{hint}: the answer is {q.answer}.")
    return Verdict(False, f"Not quite: the answer is {q.answer}.")

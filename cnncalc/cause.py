"""The cause of a warning or error: single-layer changes, upstream of it, after which the *whole* network is clean.

:func:`cnncalc.fixes.nearest_layer` repairs a layer where it stands, which can move the problem downstream
(pool2 k=2 p=1 on 17 rows gives 9, and pool3 then drops a row). :func:`find_cause` looks upstream instead:
it edits one window layer at a time (padding p−2…p+2, kernel k−2…k+2, stride 1, 2 or as it is) and keeps the
edits after which :func:`cnncalc.analyze` reports no warning and no error on any layer.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

from .analyze import State, analyze, analyze_layer
from .layers import Conv, Layer, Pool, layer_names
from .parse import SpecError, as_layers, format_layer, format_spec, parse_layer, parse_shape

MAX_ANALYSES = 400   # whole-network analyses per search (≈ 0.5 ms each for the lab net)
MAX_SECONDS = 2.0    # wall-clock cap per search
DELTAS = (0, -1, 1, -2, 2)


@dataclass(frozen=True)
class Cause:
    """One upstream edit that makes the whole network analyze clean."""

    index: int      # the edited layer's position in the spec
    name: str       # its name (conv1, pool2…)
    before: str     # its text now
    after: str      # its text after the edit
    cost: int       # |Δkernel| + |Δstride| + |Δpadding|, per axis
    spec: str       # the whole edited spec, canonical


@dataclass(frozen=True)
class CauseSearch:
    causes: tuple[Cause, ...]   # best first
    analyses: int               # whole-network analyses run (≤ the budget)
    complete: bool              # False when the budget or the time cap stopped the search


def _pads(layer: Conv | Pool) -> tuple[tuple[int, int], tuple[int, int]]:
    """(before, after) per axis; padding='same' as PyTorch applies it at stride 1."""
    if isinstance(layer, Pool):
        return tuple((p, p) for p in layer.padding)  # type: ignore[return-value]
    if layer.padding == "same":
        totals = [d * (k - 1) for k, d in zip(layer.kernel, layer.dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)  # type: ignore[return-value]
    return layer.padding


def _edit(layer: Conv | Pool, dk: int, stride, dp: int) -> Conv | Pool | None:
    """The layer with kernel + dk and padding + dp on both axes and ``stride`` ((s, s) or None: unchanged)."""
    kernel = tuple(k + dk for k in layer.kernel)
    pads = tuple((b + dp, a + dp) for b, a in _pads(layer))
    if min(kernel) < 1 or min(min(p) for p in pads) < 0:
        return None
    if isinstance(layer, Pool):
        if stride is None:
            stride = layer.stride          # None stays None: the stride follows the kernel
        elif stride == kernel:
            stride = None
        return replace(layer, kernel=kernel, stride=stride, padding=tuple(b for b, _ in pads))
    padding = layer.padding if layer.padding == "same" and dp == 0 else pads
    return replace(layer, kernel=kernel, stride=layer.stride if stride is None else stride, padding=padding)


def _cost(old: Conv | Pool, new: Conv | Pool) -> tuple[int, int]:
    """(|Δk| + |Δs| + |Δp| on the axis that moved most, then padding before stride before kernel as in fixes.py)."""
    def strides(x):
        return x.strides if isinstance(x, Pool) else x.stride
    dk = max(abs(a - b) for a, b in zip(old.kernel, new.kernel))
    ds = max(abs(a - b) for a, b in zip(strides(old), strides(new)))
    dp = max(abs(a[0] - b[0]) for a, b in zip(_pads(old), _pads(new)))
    return dk + ds + dp, 100 * dk + 10 * ds + dp


def candidates(layer: Layer) -> list[Layer]:
    """Every edit of one window layer in the neighbourhood, smallest change first (at most 74)."""
    if not isinstance(layer, (Conv, Pool)):
        return []
    found = {}
    for dk in DELTAS:
        for stride in (None, (1, 1), (2, 2)):
            for dp in DELTAS:
                new = _edit(layer, dk, stride, dp)
                if new is not None and new != layer:
                    found.setdefault(format_layer(new), new)
    return sorted(found.values(), key=lambda new: (*_cost(layer, new), format_layer(new)))


def _writable(layer: Layer) -> bool:
    """The grammar reads the edited layer back as it is (a padding past the largest size it reads is no edit)."""
    try:
        return parse_layer(format_layer(layer)) == layer
    except SpecError:
        return False


def find_cause(spec, input_shape, at_layer: int | str, limit: int = 3, budget: int = MAX_ANALYSES,
               seconds: float = MAX_SECONDS) -> CauseSearch:
    """Up to ``limit`` single-layer edits at or before ``at_layer`` (an index or a name such as 'pool2') after
    which the whole network analyzes with no warning and no error, ranked by the earliest layer, then the
    smallest change to its kernel, stride and padding (:func:`_cost`).

    Bounded: at most ``budget`` whole-network analyses (default 400) and ``seconds`` of wall time (default 2 s);
    each layer has at most 74 edits, so the work is linear in the network's length. An edit is first checked on
    its own layer (one layer's arithmetic); an edit whose layer is not clean, or whose output shape is the old one
    or one already found to leave a problem downstream (the layers after see only that shape), costs no analysis.
    Every returned edit was re-checked by running :func:`cnncalc.analyze` on the whole edited network.
    Raises :class:`cnncalc.SpecError` for an unreadable spec and IndexError/ValueError for an unknown layer.
    """
    deadline = time.perf_counter() + seconds  # from entry: the first whole-network analysis counts too
    layers = as_layers(spec)
    shape = parse_shape(input_shape)
    names = layer_names(layers)
    at = names.index(at_layer) if isinstance(at_layer, str) else at_layer
    if not 0 <= at < len(layers):
        raise IndexError(f"layer {at_layer} is not in this {len(layers)}-layer network")
    t0 = time.perf_counter()
    base = analyze(layers, shape)
    one = time.perf_counter() - t0  # what one more analysis costs: none starts that would end past the deadline
    first_bad = next((r.index for r in base.layers if r.status != "ok"), None)
    if first_bad is None:
        return CauseSearch((), 1, True)
    stop = min(at, first_bad)  # an edit after the first problem cannot clear it
    causes: list[Cause] = []
    analyses = 1
    for i in range(stop + 1):
        old = base.layers[i]
        state = State(old.in_shape, None)  # the field does not decide any status
        dead = {old.out_shape} if i < first_bad else set()
        for new in candidates(layers[i]):
            if analyses >= budget or time.perf_counter() + one > deadline:
                return CauseSearch(tuple(causes), analyses, False)
            report, _ = analyze_layer(new, state, i, names[i])
            if report.status != "ok" or report.out_shape in dead:
                continue
            edited = layers[:i] + (new,) + layers[i + 1:]
            analyses += 1
            if any(r.status != "ok" for r in analyze(edited, shape).layers):
                dead.add(report.out_shape)
                continue
            if not _writable(new):
                continue
            causes.append(Cause(i, names[i], old.spec, format_layer(new), _cost(layers[i], new)[0],
                                format_spec(edited)))
            if len(causes) >= limit:
                return CauseSearch(tuple(causes), analyses, True)
    return CauseSearch(tuple(causes), analyses, True)

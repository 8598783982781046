"""cnncalc.cause.find_cause: single-layer edits upstream of a warning after which the whole network is clean.

Sizes are worked by hand with o = ⌊(n + 2p − k)/s⌋ + 1 (pool: stride = kernel unless given)."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnncalc import PRESETS, analyze, format_layer, parse_spec
from cnncalc import cause as cause_mod
from cnncalc.cause import MAX_ANALYSES, candidates, find_cause

TEACHER = ("conv 32 k=3 p=2; relu; maxpool k=2; conv 32 k=3 p=1; relu; maxpool k=2; "
           "conv 64 k=3 p=1; relu; maxpool k=2; flatten; fc 10")


def _clean(spec, shape) -> bool:
    return all(r.status == "ok" for r in analyze(spec, shape).layers)


def _count_analyses(monkeypatch) -> list[int]:
    calls = [0]
    real = cause_mod.analyze

    def counting(*args, **kwargs):
        calls[0] += 1
        return real(*args, **kwargs)
    monkeypatch.setattr(cause_mod, "analyze", counting)
    return calls


def test_the_teachers_example_and_why_the_local_fix_is_not_enough():
    # conv1: ⌊(32 + 4 − 3)/1⌋ + 1 = 34; pool1: ⌊34/2⌋ = 17; conv2 (p=1): 17; pool2: ⌊17/2⌋ = 8, row 16 unread
    before = analyze(TEACHER, "3x32x32")
    assert before["conv1"].out_shape == (32, 34, 34) and before["pool2"].in_shape == (32, 17, 17)
    assert before["pool2"].status == "warning" and before["pool2"].fix == "maxpool k=2 p=1"
    # the local fix: pool2 ⌊(17 + 2 − 2)/2⌋ + 1 = 9, conv3 9, pool3 ⌊9/2⌋ = 4 with row 8 unread — moved, not gone
    moved = analyze(TEACHER.replace("maxpool k=2; conv 64", "maxpool k=2 p=1; conv 64"), "3x32x32")
    assert moved["pool2"].status == "ok" and moved["pool3"].in_shape == (64, 9, 9)
    assert moved["pool3"].status == "warning"
    search = find_cause(TEACHER, "3x32x32", "pool2")
    first = search.causes[0]
    assert (first.name, first.before, first.after, first.cost) == ("conv1", "conv 32 k=3 p=2", "conv 32 k=3 p=1", 1)
    assert "maxpool k=2 p=1" not in [c.after for c in search.causes]
    # conv1 p=1: 32 + 2 − 3 + 1 = 32 → 16 → 16 → 8 → 8 → 4: fc reads 64·4·4 = 1,024
    fixed = analyze(first.spec, "3x32x32")
    assert [fixed[n].out_shape for n in ("conv1", "pool1", "pool2", "pool3")] == \
        [(32, 32, 32), (32, 16, 16), (32, 8, 8), (64, 4, 4)]
    assert fixed["fc4"].in_shape == (1024,) and fixed["fc4"].params == 1024 * 10 + 10
    assert search.complete and search.analyses <= MAX_ANALYSES


def test_the_lab_net_with_conv1_changed_to_k3_p2():
    spec = PRESETS["lab"].spec.replace("conv 32 k=5 p=2", "conv 32 k=3 p=2", 1)
    search = find_cause(spec, "3x32x32", "pool2")
    assert (search.causes[0].name, search.causes[0].after) == ("conv1", "conv 32 k=3 p=1")
    # index and name name the same layer
    assert find_cause(spec, (3, 32, 32), 5) == search


def test_every_candidate_re_analyzes_clean_and_is_ranked():
    search = find_cause(TEACHER, "3x32x32", "pool2", limit=10)
    assert len(search.causes) == 10
    for c in search.causes:
        assert _clean(c.spec, "3x32x32"), c
        assert c.index <= 5                                 # pool2 or above
    keys = [(c.index, c.cost) for c in search.causes]
    assert keys == sorted(keys)
    # conv1 s=2 p=1: ⌊(32 + 2 − 3)/2⌋ + 1 = 16 → 8 → 8 → 4 → 4 → 2, all even: clean, cost |Δs| + |Δp| = 2
    assert ("conv 32 k=3 s=2 p=1", 2) in [(c.after, c.cost) for c in search.causes]


def test_a_clean_network_and_an_unfixable_one():
    assert find_cause(PRESETS["lab"].spec, "3x32x32", "pool1").causes == ()
    # k=40 on 32 pixels: k−2 = 38 > 32 + 2·2, nothing within reach; the local fix stays the answer
    search = find_cause("conv 8 k=40; relu; fc 10", "3x32x32", "conv1")
    assert search.causes == () and search.complete
    with pytest.raises(ValueError):
        find_cause(TEACHER, "3x32x32", "pool9")
    with pytest.raises(IndexError):
        find_cause(TEACHER, "3x32x32", 99)


def test_the_bound_holds(monkeypatch):
    """60 convs (16 → 16) then a 40×40 kernel: one edit grows the map to at most 16 + 2·3 − 1 + 1 = 22 < 40,
    so nothing is found, and each conv has about a dozen new output sizes to analyze (700+ in all): the
    400-analysis budget stops the search."""
    spec = "; ".join(["conv 4 k=3 p=1"] * 60 + ["conv 4 k=40"])
    calls = _count_analyses(monkeypatch)
    search = find_cause(spec, "1x16x16", "conv61")
    assert search.causes == () and not search.complete
    assert calls[0] == search.analyses <= MAX_ANALYSES
    calls[0] = 0
    small = find_cause(TEACHER, "3x32x32", "pool2", limit=50, budget=5)
    assert calls[0] == small.analyses <= 5 and not small.complete
    calls[0] = 0
    assert not find_cause(spec, "1x16x16", "conv61", seconds=0).complete and calls[0] <= 2
    calls[0] = 0
    full = find_cause(spec, "1x16x16", "conv61", budget=10_000, seconds=60)  # unbounded: linear in length
    assert full.complete and full.causes == () and MAX_ANALYSES < calls[0] == full.analyses <= 1 + 61 * 74


def test_neighbourhood_is_bounded_and_smallest_first():
    conv = parse_spec("conv 8 k=3 p=1")[0]
    edits = candidates(conv)
    assert 0 < len(edits) <= 74 and conv not in edits
    assert format_layer(edits[0]) == "conv 8 k=3"                     # padding first: p 1 → 0
    assert candidates(parse_spec("relu")[0]) == []


@st.composite
def networks(draw):
    layers = []
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            k = draw(st.integers(1, 5))
            layers.append(f"conv 4 k={k} s={draw(st.integers(1, 2))} p={draw(st.integers(0, 3))}")
        else:
            k = draw(st.integers(1, 3))
            layers.append(f"maxpool k={k} s={draw(st.integers(1, 3))} p={draw(st.integers(0, k // 2))}")
        layers.append("relu")
    return "; ".join(layers + ["flatten", "fc 3"]), (2, draw(st.integers(3, 40)), draw(st.integers(3, 40)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_property_candidates_are_valid_single_layer_edits(net):
    spec, shape = net
    base = analyze(spec, shape)
    bad = [r.index for r in base.layers if r.status != "ok"]
    at = bad[0] if bad else len(base.layers) - 1
    search = find_cause(spec, shape, at, limit=5)
    assert search.analyses <= MAX_ANALYSES
    original = parse_spec(spec)
    for c in search.causes:
        edited = parse_spec(c.spec)
        assert _clean(edited, shape)
        changed = [i for i, (a, b) in enumerate(zip(original, edited)) if a != b]
        assert len(edited) == len(original) and changed == [c.index] and c.index <= at
        assert c.after == format_layer(edited[c.index]) and c.before == format_layer(original[c.index])
    if not bad:
        assert search.causes == ()


def test_the_time_cap_counts_the_first_analysis_and_never_starts_one_it_cannot_finish(monkeypatch):
    """Each analysis made to take 0.3 s: with a 1 s cap the search starts no analysis that would end past the
    cap — the first (0.3 s) and at most two more — and returns within it."""
    import time as _time
    import cnncalc.cause as cause_mod
    real = cause_mod.analyze

    def slow(*args, **kwargs):
        _time.sleep(0.3)
        return real(*args, **kwargs)
    monkeypatch.setattr(cause_mod, "analyze", slow)
    t0 = _time.perf_counter()
    search = find_cause(TEACHER, "3x32x32", "pool2", limit=50, budget=400, seconds=1.0)
    took = _time.perf_counter() - t0
    assert not search.complete and search.analyses <= 3
    assert took < 1.0 + 0.2  # the cap, with slack for the layer checks between analyses

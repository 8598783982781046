"""Predict-then-reveal: guesses are read forgivingly, judged against analyze's numbers, never crash, and a wrong
guess that a likely mistake explains gets that explanation. Oracles: the arithmetic written out here, and
PyTorch's own output shapes."""
import re
import time

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cnncalc import Conv, Pool, analyze, preset
from cnncalc.classroom.quiz import MAX_CHARS, check, layer_questions, parse_guess

# ---- parse_guess ---------------------------------------------------------------------------------------------

THOUSANDS = [",", " ", "_", "\u202f", "\u2009", "'", ""]
TIMES = ["x", "X", "×", " x ", " × ", "*", "\u2009×\u2009", "\u202f×\u202f", "\u00a0x\u00a0"]


def grouped(n: int, sep: str) -> str:
    return f"{n:,}".replace(",", sep)


@given(st.integers(0, 10**18), st.sampled_from(THOUSANDS))
def test_numbers_with_any_thousands_separator(n, sep):
    assert parse_guess(grouped(n, sep)) == (n,)
    assert parse_guess(f"  {grouped(n, sep)} ") == (n,)


@given(st.tuples(st.integers(1, 99_999), st.integers(1, 99_999), st.integers(1, 99_999)),
       st.sampled_from(TIMES), st.sampled_from(THOUSANDS))
def test_shapes_with_x_or_times_and_any_separators(shape, times, sep):
    assert parse_guess(times.join(grouped(v, sep) for v in shape)) == shape


@given(st.tuples(st.integers(1, 4096), st.integers(1, 4096), st.integers(1, 4096)))
def test_shapes_as_pytorch_prints_them(shape):
    c, h, w = shape
    for text in (f"({c}, {h}, {w})", f"[{c},{h},{w}]", f"torch.Size([{c}, {h}, {w}])"):
        assert parse_guess(text) == shape


@pytest.mark.parametrize("text", ["", "   ", "lots", "2.5", "-3", "32x", "x32", "32xx32", "1,23", "12,3456",
                                  "1e5", "2**10", "3+4", "=2432", "32 32 32", "1" * 41])
def test_what_is_not_a_whole_number_is_refused(text):
    assert parse_guess(text) is None


@given(st.text(max_size=MAX_CHARS + 20))
@example("1," * 100)
@example("x" * MAX_CHARS)
def test_any_text_is_read_or_refused_never_raises(text):
    value = parse_guess(text)
    assert value is None or all(isinstance(v, int) and v >= 0 for v in value)
    if len(text) > MAX_CHARS:
        assert value is None


def test_length_cap_and_linear_time():
    huge = "1" + "\u2009000" * 300_000                  # a valid-looking number, 1.2 million characters
    start = time.perf_counter()
    assert parse_guess(huge) is None                    # refused by length before any regular expression runs
    assert time.perf_counter() - start < 0.05
    worst = ["1," * 100, "1 000 " * 33, "9" * 40 + "x" * 160, "(" * 100 + ")" * 100, "1\u2009" * 100,
             "1" + ",000" * 49, "x".join(["1"] * 100)]
    for text in worst:
        assert len(text) <= MAX_CHARS
        start = time.perf_counter()
        for _ in range(100):
            parse_guess(text)
        assert (time.perf_counter() - start) / 100 < 0.005, text   # a quadratic pattern would take far longer


# ---- questions and verdicts ----------------------------------------------------------------------------------

def lab_conv1():
    return {q.key: q for q in layer_questions(analyze(preset("lab").spec, (3, 32, 32))["conv1"])}


def test_lab_conv1_questions_and_verdicts():
    qs = lab_conv1()
    # 3×32×32, k=5, p=2, s=1, 32 filters: ⌊(32 + 4 − 5)/1⌋ + 1 = 32; 32·3·5·5 = 2,400 weights + 32 biases
    assert qs["out"].prompt == "Output size (C×H×W)" and qs["out"].answer == "32×32×32"
    assert check(qs["out"], "32x32x32").correct
    assert check(qs["weights"], "2 400").correct and check(qs["params"], "2,432").correct
    assert check(qs["fc_equivalent"], "100663296").correct        # 3,072 · 32,768
    assert check(qs["macs"], "2,457,600").correct                 # 32·32 · 2,400
    wrong = check(qs["params"], "2400")
    assert not wrong.correct and "bias" in wrong.message and "2,432" in wrong.message
    assert not check(qs["out"], "32x32x3x1").correct and "3 numbers" in check(qs["out"], "32x32x3x1").message
    assert not check(qs["weights"], "lots").correct


def test_shape_in_c_h_w_order_with_a_gentle_note_for_h_w_c():
    r = analyze("conv 8 k=3", (3, 10, 12)).layers[0]   # out C×H×W = 8×8×10; H×W×C = 8×10×8; W×H×C = 10×8×8
    assert tuple(torch.nn.Conv2d(3, 8, 3)(torch.zeros(1, 3, 10, 12)).shape[1:]) == (8, 8, 10)
    q = layer_questions(r)[0]
    assert q.answer == "8×8×10"
    right = check(q, "8x8x10")
    assert right.correct and right.message == "Right: 8×8×10."
    hwc = check(q, "8x10x8")
    assert hwc.correct and hwc.message.startswith("Right numbers; this app writes C×H×W (channels first), as "
                                                  "PyTorch does")
    swapped = check(q, "10x8x8")
    assert not swapped.correct and "height and width are swapped" in swapped.message


def test_wrong_order_guess_from_the_issue():
    """16 filters on a 3×32×32 input, k=3, p=1: C×H×W = 16×32×32; the H×W×C guess 32×32×16 is right numbers."""
    q = layer_questions(analyze("conv 16 k=3 p=1", (3, 32, 32)).layers[0])[0]
    assert tuple(torch.nn.Conv2d(3, 16, 3, padding=1)(torch.zeros(1, 3, 32, 32)).shape[1:]) == (16, 32, 32)
    v = check(q, "32×32×16")
    assert v.correct and "this app writes C×H×W (channels first), as PyTorch does" in v.message
    assert "16×32×32" in v.message


# Each case: layer spec, input C×H×W, question, guess, words the explanation must contain, with the arithmetic.
DIAGNOSES = [
    # per-neuron FC: one output neuron reads C·H·W = 3·32·32 = 3,072 inputs; the FC layer has N·o_H·o_W =
    # 32·32·32 = 32,768 of them: 3,072 · 32,768 = 100,663,296 (the guess × x′·y′·N is the answer)
    ("conv 32 k=5 p=2", (3, 32, 32), "fc_equivalent", "3,072", ["one output neuron", "32,768", "100,663,296"]),
    ("conv 32 k=5 p=2", (3, 32, 32), "fc_equivalent", "3073", ["with its bias", "3,072"]),    # C·H·W + 1
    ("conv 32 k=5 p=2", (3, 32, 32), "fc_equivalent", "32768", ["number of outputs", "3,072"]),
    # FC biases counted: 100,663,296 + 32,768 = 100,696,064
    ("conv 32 k=5 p=2", (3, 32, 32), "fc_equivalent", "100,696,064", ["weights only", "32,768 biases"]),
    # forgot biases: params = 2,400 + 32 = 2,432, the guess is the weights alone
    ("conv 32 k=5 p=2", (3, 32, 32), "params", "2400", ["weights alone", "2,400 + 32 = 2,432"]),
    # biases counted twice: 2,432 + 32 = 2,464, off by exactly N
    ("conv 32 k=5 p=2", (3, 32, 32), "params", "2464", ["off by exactly N = 32"]),
    # one filter with its bias: 3·5·5 + 1 = 76; 32·76 = 2,432
    ("conv 32 k=5 p=2", (3, 32, 32), "params", "76", ["one filter with its bias", "32·76 = 2,432"]),
    # biases counted as weights: 2,432 asked 2,400
    ("conv 32 k=5 p=2", (3, 32, 32), "weights", "2432", ["includes the 32 biases", "2,400"]),
    # one filter: 3·5·5 = 75; 32·75 = 2,400
    ("conv 32 k=5 p=2", (3, 32, 32), "weights", "75", ["one filter", "32·75 = 2,400"]),
    # bias=False: 2,400 weights are all the parameters; 2,432 adds biases that are not there
    ("conv 32 k=5 p=2 bias=0", (3, 32, 32), "params", "2432", ["no biases"]),
    # floor vs ceil: ⌊(64 + 2 − 3)/2⌋ + 1 = 31 + 1 = 32, the ceil formula gives ⌈31.5⌉ + 1 = 33
    ("conv 16 k=3 s=2 p=1", (3, 64, 64), "out", "16x33x33", ["rounded up", "⌈(64 + 2·1 − 3)/2⌉ + 1 = 33",
                                                             "⌊(64 + 2·1 − 3)/2⌋ + 1 = 32"]),
    # … written H×W×C: still diagnosed, with the order note
    ("conv 16 k=3 s=2 p=1", (3, 64, 64), "out", "33x33x16", ["rounded up", "this app writes C×H×W"]),
    # padding forgotten: ⌊(32 − 5)/1⌋ + 1 = 28 instead of ⌊(32 + 4 − 5)/1⌋ + 1 = 32
    ("conv 32 k=5 p=2", (3, 32, 32), "out", "32×28×28", ["left the padding out", "⌊(32 − 5)/1⌋ + 1 = 28"]),
    ("conv 32 k=5 p=2", (3, 32, 32), "out", "28×28×32", ["left the padding out", "this app writes C×H×W"]),
    # MACs with the 28×28 output: 28·28·2,400 = 1,881,600
    ("conv 32 k=5 p=2", (3, 32, 32), "macs", "1,881,600", ["28×28 output", "left the padding out"]),
    # channels of the input instead of N filters: 3×32×32
    ("conv 32 k=5 p=2", (3, 32, 32), "out", "3x32x32", ["one channel per filter", "N = 32"]),
    # MACs: the FLOPs 2·2,457,600 = 4,915,200; the bias adds 2,457,600 + 32,768 = 2,490,368; the weights 2,400
    ("conv 32 k=5 p=2", (3, 32, 32), "macs", "4915200", ["FLOPs"]),
    ("conv 32 k=5 p=2", (3, 32, 32), "macs", "2490368", ["bias adds are not MACs"]),
    ("conv 32 k=5 p=2", (3, 32, 32), "macs", "2400", ["1,024 positions", "2,400·1,024 = 2,457,600"]),
]


@pytest.mark.parametrize("spec, shape, key, guess, words", DIAGNOSES)
def test_each_likely_mistake_is_explained(spec, shape, key, guess, words):
    q = {q.key: q for q in layer_questions(analyze(spec, shape).layers[0])}[key]
    v = check(q, guess)
    assert not v.correct
    for word in words:
        assert word in v.message, (word, v.message)
    assert v.message.endswith(f"{q.answer}.") or "this app writes C×H×W" in v.message


def test_pooling_ceil_mode_rounding_mistake_against_torch():
    """MaxPool2d(3, 2, ceil_mode=True) on 32: ⌈(32 − 3)/2⌉ + 1 = 15 + 1 = 16; rounding down gives 14 + 1 = 15."""
    out = torch.nn.MaxPool2d(3, 2, ceil_mode=True)(torch.zeros(1, 3, 32, 32)).shape
    q = layer_questions(analyze([Pool("max", (3, 3), (2, 2), (0, 0), ceil_mode=True)], (3, 32, 32)).layers[0])[0]
    assert q.truth == tuple(out[1:]) == (3, 16, 16)
    v = check(q, "3x15x15")
    assert not v.correct and "rounded down" in v.message and "ceil_mode=True" in v.message


def test_a_far_guess_says_how_far_in_plain_numbers():
    qs = lab_conv1()
    v = check(qs["fc_equivalent"], "1")   # 100,663,296 / 1
    assert "1/100,663,296 of the answer" in v.message and not re.search(r"\de[-+]\d", v.message)
    v = check(qs["weights"], "4,800")     # 4,800 / 2,400 = 2
    assert "2× the answer" in v.message


LAYERS = st.builds(lambda n, k, s, p, c, h, w: (Conv(n, (k, k), (s, s), ((p, p), (p, p))), (c, h, w)),
                   st.integers(1, 64), st.integers(1, 11), st.integers(1, 4), st.integers(0, 5),
                   st.integers(1, 8), st.integers(1, 40), st.integers(1, 40))


@settings(max_examples=150, deadline=None)
@given(LAYERS, st.text(max_size=30) | st.from_regex(r"\d{1,6}(x\d{1,4}){0,2}", fullmatch=True))
def test_any_guess_on_any_layer_gets_a_verdict(layer_shape, guess):
    layer, shape = layer_shape
    r = analyze([layer], shape).layers[0]
    for q in layer_questions(r):
        v = check(q, guess)
        assert isinstance(v.message, str) and v.message
        assert check(q, "×".join(map(str, q.truth))).correct
        if len(q.truth) == 3:   # H×W×C is right numbers too
            assert check(q, "x".join(map(str, (q.truth[1], q.truth[2], q.truth[0])))).correct
        for m in q.mistakes:    # no likely mistake is the answer itself
            assert m.value != q.truth


def test_a_guess_within_half_a_percent_is_told_its_difference_not_a_ratio():
    from cnncalc.classroom.quiz import _far
    assert _far(1_191_000, 1_191_170) == "yours is 170 too few"     # 1,191,170 − 1,191,000
    assert _far(1_191_200, 1_191_170) == "yours is 30 too many"
    assert _far(2_000, 1_000) == "yours is about 2× the answer"

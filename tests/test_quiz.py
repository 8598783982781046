"""Predict-then-reveal: guesses are read forgivingly, judged against analyze's numbers, never crash."""
from hypothesis import given, strategies as st

from cnncalc import analyze, preset
from cnncalc.classroom.quiz import check, layer_questions, parse_guess


@given(st.integers(0, 10**12))
def test_numbers_with_any_thousands_separator(n):
    for sep in (",", " ", "_", "\u202f", "'"):
        assert parse_guess(f"{n:,}".replace(",", sep)) == (n,)


@given(st.tuples(st.integers(1, 4096), st.integers(1, 4096), st.integers(1, 4096)),
       st.sampled_from(["x", "×", " x ", " × ", "*"]))
def test_shapes(shape, sep):
    assert parse_guess(sep.join(map(str, shape))) == shape


@given(st.text(max_size=60))
def test_any_text_is_read_or_refused_never_raises(text):
    value = parse_guess(text)
    assert value is None or all(isinstance(v, int) and v >= 0 for v in value)


def test_lab_conv1_questions_and_verdicts():
    r = analyze(preset("lab").spec, (3, 32, 32))["conv1"]
    qs = {q.key: q for q in layer_questions(r)}
    # 32×32×3, k=5, p=2, s=1, 32 filters: ⌊(32 + 4 − 5)/1⌋ + 1 = 32; 32·3·5·5 = 2,400 weights + 32 biases
    assert check(qs["out"], "32x32x32").correct
    assert check(qs["weights"], "2 400").correct and check(qs["params"], "2,432").correct
    assert check(qs["fc_equivalent"], "100663296").correct        # 3,072 · 32,768
    wrong = check(qs["params"], "2400")
    assert not wrong.correct and "bias" in wrong.message and "2,432" in wrong.message
    assert not check(qs["out"], "32x32").correct and "3 numbers" in check(qs["out"], "32x32").message
    assert not check(qs["weights"], "lots").correct


def test_shape_accepted_as_hwc_or_chw():
    r = analyze("conv 8 k=3", (3, 10, 12)).layers[0]   # out 8×8×10 (C×H×W) = 8×10×8 as H×W×C
    q = layer_questions(r)[0]
    assert check(q, "8x10x8").correct and check(q, "8x8x10").correct and not check(q, "10x8x8").correct

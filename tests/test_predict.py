"""Predict, then reveal (cnncalc.classroom.predict): every truth checked against an independent computation
(PyTorch, math), every diagnosis against the arithmetic of the mistake, and the reader of a prediction against
any text."""
import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnncalc.classroom import predict
from cnncalc.classroom.quiz import parse_guess

Q = {q.key: q for q in predict.questions()}


def _lab_torch():
    """The lab's network written out in PyTorch by hand (not through cnncalc's bridge)."""
    from torch import nn
    return nn.Sequential(nn.Conv2d(3, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(64, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(1024, 1000), nn.ReLU(), nn.Linear(1000, 10))


def test_at_least_eight_questions_with_the_four_of_the_issue():
    assert len(Q) >= 8
    assert {"lab_total", "chance_loss", "momentum_gain", "dropout_scale"} <= set(Q)
    from cnncalc.classroom.companion import questions as cq
    numbers = {q.number for q in cq.QUESTIONS}
    assert all(q.number in numbers and q.prompt and q.answer and q.shown for q in Q.values())


def test_parameter_counts_are_pytorch_numel():
    net = _lab_torch()
    assert Q["lab_total"].truth == sum(p.numel() for p in net.parameters()) == 1_191_170
    assert Q["conv1_params"].truth == sum(p.numel() for p in net[0].parameters()) == 32 * 3 * 5 * 5 + 32


def test_shapes_and_sizes_are_pytorch_outputs():
    import torch
    net = _lab_torch()
    with torch.no_grad():
        assert Q["pool3_shape"].truth == tuple(net[:9](torch.zeros(1, 3, 32, 32)).shape[1:]) == (64, 4, 4)
        out = torch.nn.Conv2d(3, 1, 5, stride=2)(torch.zeros(1, 3, 32, 32))
    assert Q["stride_out"].truth == out.shape[-1] == (32 - 5) // 2 + 1 == 14


def test_counts_written_out():
    assert Q["conv1_fc"].truth == (3 * 32 * 32) * (32 * 32 * 32) == 100_663_296
    assert Q["conv1_macs"].truth == 32 * 32 * 32 * 3 * 5 * 5 == 2_457_600
    assert Q["conv2_rf"].truth == 5 + (2 - 1) * 1 + (5 - 1) * 2 == 14  # conv1, pool1 (jump → 2), conv2


def test_chance_momentum_and_dropout_against_torch():
    import torch
    assert Q["chance_loss"].truth == pytest.approx(math.log(10))
    uniform = torch.nn.functional.cross_entropy(torch.zeros(1, 10), torch.tensor([3]))
    assert Q["chance_loss"].truth == pytest.approx(uniform.item(), rel=1e-6)
    assert Q["chance_top1"].truth == pytest.approx(0.1)
    w = torch.zeros(1, requires_grad=True)  # loss = w: a steady gradient of 1
    sgd = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    for _ in range(300):
        sgd.zero_grad()
        before = w.item()
        w.sum().backward()
        sgd.step()
    assert (before - w.item()) / 0.1 == pytest.approx(Q["momentum_gain"].truth, rel=1e-4)  # lr/(1−m) = 10·lr
    kept = torch.nn.Dropout(0.5).train()(torch.ones(1000))
    assert set(kept[kept != 0].tolist()) == {Q["dropout_scale"].truth} == {2.0}


@pytest.mark.parametrize("key, text, mistake", [
    ("lab_total", "1191170", "right"),
    ("lab_total", "1,191,170", "right"),
    ("lab_total", "1 191 170", "right"),
    ("lab_total", "1190000", "forgot the biases"),            # 1,191,170 − (32 + 64 + 64 + 1000 + 10)
    ("lab_total", "156160", "only the conv layers"),          # 2,432 + 51,264 + 102,464
    ("lab_total", "119117", "off by a power of ten"),         # 1,191,170 / 10
    ("lab_total", "1191170000", "off by a power of ten"),     # × 1000
    ("lab_total", "1234", "other"),
    ("conv1_params", "2400", "forgot the biases"),            # 32·3·5·5
    ("conv1_params", "832", "forgot the input channels"),     # 32·5·5 + 32
    ("conv1_params", "75", "counted one filter"),             # 3·5·5: one filter's weights
    ("conv1_params", "76", "counted one filter"),             # 3·5·5 + 1: one filter with its bias
    ("conv1_params", "2457600", "no weight sharing"),         # 2,400 · 32·32
    ("conv1_fc", "3072", "per-neuron FC"),                    # 3,072 × 32·32·32 = 100,663,296
    ("conv1_fc", "100696064", "added the biases"),            # 100,663,296 + 32,768
    ("conv1_macs", "4915200", "FLOPs for MACs"),              # 2 × 2,457,600
    ("pool3_shape", "64x4x4", "right"),
    ("pool3_shape", "4×4×64", "H×W×C order"),
    ("pool3_shape", "1024", "gave the flattened size"),       # 64·4·4
    ("stride_out", "15", "ceil instead of floor"),            # ⌈27/2⌉ + 1
    ("stride_out", "13", "forgot the +1"),                    # ⌊27/2⌋
    ("stride_out", "16", "just halved"),                      # 32/2
    ("conv2_rf", "9", "forgot the pooling's jump"),           # 5 + (5 − 1)·1
    ("conv2_rf", "10", "added the kernel sizes"),             # 5 + 5
    ("conv2_rf", "196", "gave the area"),                     # 14²
    ("chance_loss", "2.3", "right"),
    ("chance_loss", "2,303", "right"),                        # a decimal comma here
    ("chance_loss", "ln 10", "right"),
    ("chance_loss", "0.1", "ln 10 vs 10 %"),
    ("chance_loss", "10%", "ln 10 vs 10 %"),
    ("chance_loss", "1", "log base 10"),                      # log₁₀ 10
    ("chance_top1", "10 %", "right"),
    ("chance_top1", "0.1", "right"),
    ("chance_top1", "1/10", "right"),
    ("chance_top1", "2.303", "ln 10 vs 10 %"),
    ("chance_top1", "50%", "top-5 for top-1"),
    ("momentum_gain", "10", "right"),                         # 1/(1 − 0.9)
    ("momentum_gain", "10x", "right"),
    ("momentum_gain", "0.9", "m vs 1/(1−m)"),
    ("momentum_gain", "0,1", "m vs 1/(1−m)"),                 # 1 − m
    ("momentum_gain", "1.9", "one past step only"),           # 1 + m
    ("momentum_gain", "100", "off by a power of ten"),
    ("dropout_scale", "2", "right"),                          # 1/(1 − 0.5)
    ("dropout_scale", "0.5", "p vs 1/(1−p)"),
    ("dropout_scale", "1", "eval mode"),
    ("dropout_scale", "two", "unreadable"),
])
def test_diagnosis(key, text, mistake):
    d = Q[key].diagnose(text)
    assert d.mistake == mistake, d
    assert d.correct == (mistake in ("right", "H×W×C order"))
    assert d.message


def test_integers_use_the_quiz_reader():
    assert predict.read("2,303", "int") == parse_guess("2,303")[0] == 2303  # a thousands separator here
    assert predict.read("2.303", "int") is None
    assert predict.read("2,303", "decimal") == pytest.approx(2.303)
    assert predict.read("10 %", "percent") == predict.read("10", "percent") == pytest.approx(0.1)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=predict.MAX_CHARS + 20), st.sampled_from(sorted(Q)))
def test_diagnose_never_raises(text, key):
    d = Q[key].diagnose(text)
    assert isinstance(d, predict.Diagnosis) and d.message


PIECES = st.sampled_from(["1", "0", "9", ",", ".", " ", "x", "×", "/", "%", "e", "ln", "(", ")", "-", "_", "'"])


@settings(max_examples=200, deadline=None)
@given(st.lists(PIECES, max_size=100), st.sampled_from(sorted(Q)))
def test_diagnose_is_fast_on_any_text_up_to_the_cap(pieces, key):
    """Digits, separators and operators in any order: no pattern backtracks (linear in the text)."""
    text = "".join(pieces)[:predict.MAX_CHARS]
    start = time.perf_counter()
    Q[key].diagnose(text)
    assert time.perf_counter() - start < 0.05


@pytest.mark.parametrize("unit", ["1,", "9", "1 ", "ln(", "1/", "1.", "x1", "1e"])
def test_time_grows_linearly_at_worst(unit):
    def cost(n):
        text = (unit * n)[:n]
        start = time.perf_counter()
        for q in Q.values():
            for _ in range(5):
                q.diagnose(text)
        return time.perf_counter() - start
    assert cost(predict.MAX_CHARS) < 40 * cost(20) + 0.01  # 10× the text: about 10× the time, never 100×

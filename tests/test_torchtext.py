"""cnncalc.torchtext: PyTorch constructor text read as data. The oracle is PyTorch's own model, built here by
``eval``/``exec`` of the same trusted literal text (tests only), and compared with the analysis of the spec."""
from __future__ import annotations

import time

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from cnncalc import analyze
from cnncalc.parse import SpecError, parse_spec
from cnncalc.pytorch.bridge import to_pytorch_code
from cnncalc.torchtext import MAX_DEPTH, looks_like_pytorch, to_spec, to_spec_with_notes

ENV = {"nn": nn, "torch": torch, **{k: getattr(nn, k) for k in dir(nn) if k[:1].isupper()}}


def oracle(model: nn.Module, shape) -> tuple[tuple, int]:
    model.eval()
    with torch.no_grad():
        y = model(torch.zeros(1, *shape))
    return tuple(y.shape[1:]), sum(p.numel() for p in model.parameters())


def check(text: str, shape=(3, 32, 32), model: nn.Module | None = None) -> str:
    spec = to_spec(text)
    result = analyze(spec, shape)
    assert result.ok, (spec, result.first_error)
    want_shape, want_params = oracle(model if model is not None else eval(text, ENV), shape)
    assert result.output_shape == want_shape and result.total("params") == want_params, spec
    return spec


FORMS = [
    "nn.Sequential(nn.Conv2d(3, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8192, 10))",
    ("torch.nn.Sequential(torch.nn.Conv2d(in_channels=3, out_channels=8, kernel_size=(3, 5), stride=(2, 1), "
     "padding=(1, 2), dilation=1, groups=1, bias=False, padding_mode='zeros'), torch.nn.BatchNorm2d(8), "
     "torch.nn.LeakyReLU(0.1, inplace=True), torch.nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True))"),
    ("[Conv2d(3, 8, 3, padding='same'), GELU(approximate='tanh'), Conv2d(8, 16, 3, 1, 'valid', 2, 8), SiLU(), "
     "MaxPool2d(3, 2, 1, 1, False, True), AdaptiveAvgPool2d((2, 3)), Flatten(), Linear(96, 10, False), "
     "Dropout(p=0.25), ELU(), Tanh(), Sigmoid(), Softmax(dim=1), Identity()]"),
    ("(nn.Conv2d(3, 6, 5), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 16 * 2), "
     "nn.BatchNorm1d(32), nn.Dropout())"),
]


@pytest.mark.parametrize("text", FORMS)
def test_sequential_and_list_forms_match_pytorch(text):
    assert looks_like_pytorch(text)
    spec = to_spec(text)
    model = nn.Sequential(*eval(text, ENV)) if text.startswith(("[", "(")) else eval(text, ENV)
    assert check(text, model=model) == spec


def test_ordered_dict_and_one_layer_per_line():
    text = ('nn.Sequential(OrderedDict([("conv1", nn.Conv2d(3, 8, 3)), ("relu1", nn.ReLU()), '
            '("pool1", nn.MaxPool2d(2))]))')
    from collections import OrderedDict
    assert to_spec(text) == "conv 8 k=3; relu; maxpool k=2"
    check(text, model=eval(text, {**ENV, "OrderedDict": OrderedDict}))
    lines = "nn.Conv2d(3, 8, 3, padding=1),\nnn.ReLU()\n  \nnn.MaxPool2d(kernel_size=2, stride=2)\n"
    assert to_spec(lines) == "conv 8 k=3 p=1; relu; maxpool k=2 s=2"
    check(lines, model=nn.Sequential(*eval("[" + lines.replace("\n\n", "\n").replace(")\n", "),\n") + "]", ENV)))


def test_bridge_source_round_trips():
    spec = "conv 32 k=5 p=2; relu; maxpool k=2; conv 64 k=3 s=2 p=1 bias=0; bn; relu; gap; fc 10; softmax"
    text = to_pytorch_code(spec, (3, 32, 32))
    back, notes = to_spec_with_notes(text)
    assert back == spec.replace("gap; fc", "gap; flatten; fc")  # the bridge writes the flatten out
    assert any("__main__" in n for n in notes)


LENET = '''
import torch.nn as nn
import torch.nn.functional as F

class Net(nn.Module):
    """The PyTorch tutorial's network."""
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.pool2 = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool1(self.conv1(x))
        x = self.pool2(self.conv2(x))
        x = torch.flatten(x, 1)
        return self.fc3(self.fc2(self.fc1(x)))

net = Net()
'''


def test_class_read_from_init_with_note():
    spec, notes = to_spec_with_notes(LENET)
    assert spec == "conv 6 k=5; maxpool k=2 s=2; conv 16 k=5; maxpool k=2 s=2; fc 120; fc 84; fc 10"
    assert any("forward is not read" in n and "torch.flatten" in n for n in notes)
    scope = dict(ENV)
    exec(LENET, scope)  # noqa: S102 — trusted test text: the oracle
    check(LENET, model=scope["Net"]())


@pytest.mark.parametrize("body, token", [
    ("self.conv1 = nn.Conv2d(3, 6, 5)\n        self.conv1 = nn.Conv2d(3, 8, 5)", "assigned twice"),
    ("self.layers = nn.ModuleList([nn.Conv2d(3, 3, 3) for _ in range(3)])", "comprehension"),
    ("for i in range(3):\n            setattr(self, f'c{i}', nn.Conv2d(3, 3, 3))", "loop"),
    ("self.layers = nn.ModuleList()\n        self.layers.append(nn.Conv2d(3, 3, 3))", "added by a call"),
    ("self.layers = nn.ModuleList(make())", "written-out list"),
    ("if True:\n            self.c = nn.Conv2d(3, 3, 3)", "assignments"),
    ("conv = nn.Conv2d(3, 3, 3)", "assignments"),
])
def test_class_refused_when_order_cannot_be_trusted(body, token):
    text = f"class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        {body}\n"
    with pytest.raises(SpecError, match=token):
        to_spec(text)


def test_channels_checked():
    with pytest.raises(SpecError, match=r"'4' at line 1, column 45: in_channels=4 but the layer before gives 8"):
        to_spec("nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(4, 8, 3))")
    with pytest.raises(SpecError, match="num_features=16 but the layer before gives 8"):
        to_spec("[nn.Conv2d(3, 8, 3), nn.BatchNorm2d(16)]")
    with pytest.raises(SpecError, match="in_features=5 but the layer before gives 10"):
        to_spec("[nn.Flatten(), nn.Linear(100, 10), nn.Linear(5, 2)]")
    with pytest.raises(SpecError, match="last axis"):
        to_spec("nn.Sequential(nn.Conv2d(3, 8, 3), nn.Linear(8, 2))")


def test_transposed_and_upsample_text():
    text = ("nn.Sequential(nn.ConvTranspose2d(3, 8, 4, 2, 1, 1, dilation=2), nn.Upsample(scale_factor=2.0, "
            "mode='bilinear'), nn.Upsample(size=(7, 9)), nn.Upsample(scale_factor=1.5))")
    spec = to_spec(text)
    assert spec == ("convT 8 k=4 s=2 p=1 op=1 d=2; upsample 2 mode=bilinear; upsample size=7x9 mode=nearest; "
                    "upsample 1.5 mode=nearest")
    try:
        parse_spec(spec)
    except SpecError:
        pytest.skip("the grammar does not read convT / upsample yet")
    check(text.replace(", nn.Upsample(scale_factor=1.5)", ""), (3, 8, 8))


HOSTILE = [
    ("__import__('os').system('id')", "'__import__('os').system' at line 1, column 1"),
    ("__import__('os')", "'__import__' at line 1, column 1: unknown layer"),
    ("nn.Conv2d(*x)", "'*x' at line 1, column 11"),
    ("nn.Conv2d(**kw)", "'kw' at line 1, column 13"),
    ("open('/etc/passwd')", "'open' at line 1"),
    ("nn.Conv2d(3, c, 3)", "'c' at line 1, column 14"),
    ("nn.Conv2d(3, 8, (lambda: 3)())", "lambda"),
    ("nn.Conv2d(3, 8, f'{x}')", "f'{x}'"),
    ("[nn.Conv2d(3, 8, k) for k in (1, 3)]", "not a layer"),
    ("nn.Sequential(nn.Conv2d(3, 8, 3), nn.Frobnicate(2))", "unknown layer 'Frobnicate'"),
    ("os.system('id')", "'os.system'"),
    ("torch.load('x.pt')", "'torch.load'"),
    ("nn.Conv2d(3, 8, 3).__class__", "not a layer"),
    ("nn.Conv2d(3, 8, 3, foo=1)", "no argument 'foo'"),
    ("nn.Conv2d(3, 8, 3, 1, 0, 1, 1, True, 'zeros', None, None, 5)", "at most 11"),
    ("nn.Conv2d(3, 8)", "needs kernel_size"),
    ("nn.Conv2d(3, 8, 10**100)", "literal"),
    ("nn.Conv2d(3, 8, 99999999)", "larger than"),
    ("nn.Sequential(" * 3_000 + ")" * 3_000, f"nested more than {MAX_DEPTH}"),
    ("(" * 60_000, f"nested more than {MAX_DEPTH}"),
    ("-" * 60_000 + "1", "operators in a row"),
    ("1+" * 30_000 + "1", "operators in a row"),
    ("1+(1)" * 12_000, "operators in a row"),
    ("x" + "[0]" * 20_000, "operators in a row"),
    ("a." * 30_000 + "a", "operators in a row"),
    ("not " * 15_000 + "x", "operators in a row"),
    ("nn.ReLU()," * 6_000, "tokens"),
    ("'" + "a" * 65_000, "not"),
    ("nn.ReLU()\n" * 3_000 + "nn.ReLU(", "not complete"),
    ("x" * (1 << 20), "limit of"),
    ("nn.ReLU()\x00", "NUL"),
]


@pytest.mark.parametrize("text, token", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_text_refused_quickly(text, token):
    start = time.perf_counter()
    with pytest.raises(SpecError) as err:
        to_spec(text)
    assert time.perf_counter() - start < 1.0
    assert token in str(err.value), str(err.value)
    assert len(str(err.value)) < 400


def test_large_valid_text_is_linear():
    text = "nn.Sequential(" + "nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), " * 600 + ")"
    start = time.perf_counter()
    spec = to_spec(text.replace("nn.Conv2d(8, 8", "nn.Conv2d(8, 8", 1))
    assert time.perf_counter() - start < 2.0 and spec.count("conv 8") == 600


@pytest.mark.parametrize("text, expected", [
    ("conv 32 k=5 p=2; relu; maxpool k=2; fc 10", False), ("conv 8 # like nn.Conv2d(3, 8, 3)\nrelu", False),
    ("nn.Conv2d(3, 8, 3)", True), ("[ReLU()]", True), ("class Net(nn.Module):\n    pass", True),
    ("Conv2d(" + "A" * 70_000, False), ("A" * 60_000, False), (None, False),
])
def test_looks_like_pytorch(text, expected):
    start = time.perf_counter()
    assert looks_like_pytorch(text) is expected
    assert time.perf_counter() - start < 0.5


@st.composite
def sequentials(draw):
    """A valid nn.Sequential text for a 3×16×16 input (channels and sizes followed as it is drawn)."""
    c, size, parts = 3, 16, []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["conv", "relu", "pool", "bn", "drop", "act"]))
        if kind == "conv":
            out, k, s = draw(st.integers(1, 12)), draw(st.sampled_from([1, 3, 5])), draw(st.integers(1, 2))
            bias = draw(st.booleans())
            parts.append(f"nn.Conv2d({c}, {out}, {k}, stride={s}, padding={k // 2}, bias={bias})")
            c, size = out, (size - 1) // s + 1
        elif kind == "pool" and size >= 2:
            parts.append(draw(st.sampled_from(["nn.MaxPool2d(2)", "nn.AvgPool2d(2, 2)", "nn.MaxPool2d(3, 2, 1)"])))
            size = (size + (1 if parts[-1].endswith("1)") else 0) - 2) // 2 + 1 if "3, 2, 1" in parts[-1] else size // 2
        elif kind == "bn":
            parts.append(f"nn.BatchNorm2d({c})")
        elif kind == "drop":
            parts.append(f"nn.Dropout(p={draw(st.sampled_from(['0.5', '0.1', '0']))})")
        else:
            parts.append(draw(st.sampled_from(["nn.ReLU()", "nn.Tanh()", "nn.GELU()", "nn.SiLU(inplace=True)"])))
    if draw(st.booleans()):
        parts += ["nn.Flatten()", f"nn.Linear({c * size * size}, {draw(st.integers(1, 20))})"]
    return "nn.Sequential(" + ", ".join(parts) + ")"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequentials())
def test_random_sequentials_round_trip(text):
    spec = check(text, (3, 16, 16))
    assert to_spec(text) == spec and parse_spec(spec)


def test_relu6_reads_builds_and_names_itself_apart_from_its_number():
    """MobileNet's activation: no weights, shape kept; the lab-style name after conv1 is relu6_1."""
    import torch
    from torch import nn
    from cnncalc import analyze, build_model
    a = analyze("nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU6(), nn.Flatten(), nn.Linear(8 * 30 * 30, 10))", "3x32x32")
    oracle = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU6(), nn.Flatten(), nn.Linear(8 * 30 * 30, 10))
    assert a.params == sum(p.numel() for p in oracle.parameters()) == 8 * 3 * 9 + 8 + 7200 * 10 + 10
    assert [r.name for r in a.layers] == ["conv1", "relu6_1", "flatten1", "fc2"]
    built = build_model("conv 8 k=3; relu6; fc 10", "3x32x32")
    assert any(isinstance(m, nn.ReLU6) for m in built.modules())
    assert built(torch.full((1, 3, 32, 32), 100.0)).shape == (1, 10)

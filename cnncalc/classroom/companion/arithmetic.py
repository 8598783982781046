"""Part 1 of the lab companion: the arithmetic of a convolutional network, answered by calls into cnncalc.

torch is imported inside the functions that need it."""
from __future__ import annotations

from dataclasses import dataclass

from ...analyze import analyze
from ...presets import PRESETS
from ...report import Analysis, LayerReport
from ...solve import same_padding

LAB = PRESETS["lab"]


def lab_analysis() -> Analysis:
    return analyze(LAB.spec, LAB.input_shape)


def one_conv(x: int, y: int, z: int, k: int, p: int, s: int, n: int) -> LayerReport:
    """One convolution of ``n`` k×k filters, stride s, padding p, on an x×y×z input (width × height ×
    channels); its output is x'×y'×n."""
    return analyze(f"conv {n} k={k} s={s} p={p}", (z, y, x))[0]


@dataclass(frozen=True)
class Sharing:
    shared: int              # conv1's parameters (weights + biases): one 5×5×3 filter per output channel
    locally_connected: int   # the same connections, a separate filter at every position
    fully_connected: int     # every input value to every output value (weights only)
    conv: LayerReport

    @property
    def lc_ratio(self) -> float:
        return self.locally_connected / self.shared

    @property
    def fc_ratio(self) -> float:
        return self.fully_connected / self.conv.weights


def sharing(analysis: Analysis | None = None, layer: str = "conv1") -> Sharing:
    r = (analysis or lab_analysis())[layer]
    return Sharing(r.params, r.locally_connected, r.fc_equivalent, r)


@dataclass(frozen=True)
class Equivariance1d:
    signal: tuple[int, ...]
    kernel: tuple[int, ...]
    shift: int
    out: tuple[int, ...]              # conv(signal)
    out_of_shifted: tuple[int, ...]   # conv(shift(signal))
    shifted_out: tuple[int, ...]      # shift(conv(signal))

    @property
    def equivariant(self) -> bool:
        return self.out_of_shifted == self.shifted_out


def equivariance_1d(signal=(0, 0, 1, 3, 1, 0, 0, 0, 0, 0), kernel=(-1, 0, 1), shift: int = 3) -> Equivariance1d:
    """A 1-D convolution (cross-correlation, zero padding, as in PyTorch) commutes with a shift of its input."""
    def conv(v):
        k, half = list(kernel), len(kernel) // 2
        padded = [0] * half + list(v) + [0] * half
        return tuple(int(sum(a * b for a, b in zip(k, padded[i:i + len(k)]))) for i in range(len(v)))
    moved = tuple(shifted(signal, shift))
    return Equivariance1d(tuple(signal), tuple(kernel), shift, conv(signal), conv(moved),
                          tuple(shifted(conv(signal), shift)))


def maxpool1d(values, k: int = 2) -> list:
    """Non-overlapping max pooling of a list (the toy example of question 3)."""
    return [max(values[i:i + k]) for i in range(0, len(values) - k + 1, k)]


def shifted(values, by: int = 1) -> list:
    """``values`` moved ``by`` places to the right, zeros entering on the left."""
    return [0] * by + list(values[:len(values) - by])


def lab_larger_input(size: int):
    """The lab net (built for 32×32) run by PyTorch on a size×size image: the layers that ran and the real error."""
    from ...pytorch.larger import larger_input
    return larger_input(LAB.spec, LAB.input_shape, (3, size, size))


@dataclass(frozen=True)
class Conversion:
    steps: tuple                # fcn.Converted rows (fc4, fc5)
    max_difference: float       # |original − converted| on random 32×32 inputs
    geometry: object            # fcn.Geometry of the converted net's score map


def lab_conversion(seed: int = 0) -> Conversion:
    """Convolutionalize the lab net (PyTorch default initialisation after ``seed``: the shapes do not depend
    on training) and check it gives the same scores at 32×32."""
    import torch

    from ...pytorch.fcn import convolutionalize, geometry, max_difference
    from ...pytorch.bridge import build_model
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(LAB.spec, LAB.input_shape).eval()
    fcn, steps = convolutionalize(model, LAB.input_shape)
    return Conversion(tuple(steps), max_difference(model, fcn, LAB.input_shape), geometry(fcn, LAB.input_shape))


@dataclass(frozen=True)
class SameCheck:
    k: int
    d: int
    padding: object        # solve.SamePadding
    report: LayerReport    # analyze of that convolution on an n×n input: the size kept, with its formula


def same_check(k: int, d: int = 1, n: int = 32) -> SameCheck:
    sp = same_padding(k, d)
    return SameCheck(k, d, sp, analyze(f"conv 1 k={k} d={d} p={sp.before}:{sp.after}", (1, n, n))[0])


def receptive_fields(layers=("conv1", "conv2", "conv3", "pool3"),
                     analysis: Analysis | None = None) -> list[LayerReport]:
    a = analysis or lab_analysis()
    return [a[name] for name in layers]


@dataclass(frozen=True)
class ShareRow:
    name: str
    spec: str
    out_shape: tuple[int, ...]
    weights: int
    biases: int
    params: int
    share: float   # fraction of the network's parameters
    memory: int


def parameter_table(analysis: Analysis | None = None) -> list[ShareRow]:
    a = analysis or lab_analysis()
    total = a.params
    return [ShareRow(r.name, r.spec, r.out_shape, r.weights, r.biases, r.params, r.params / total, r.memory)
            for r in a.layers]


# --- counts written in words, and the slips the answers warn about ----------------------------------------

_WORDS = ((10 ** 12, "trillion"), (10 ** 9, "billion"), (10 ** 6, "million"), (10 ** 3, "thousand"))
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def in_words(n: int) -> str:
    """A count in words, three significant digits: 1,191,170 → '1.19 million', 100,663,296 → '101 million'."""
    for unit, word in _WORDS:
        if n >= unit:
            return f"{n / unit:.3g} {word}"
    return f"{n:,}"


def power_of_ten(n: int) -> str:
    """A count as m·10ᵉ with one decimal (1,191,170 → '1.2·10⁶'); exact powers of ten as 10ᵉ."""
    if n < 10:
        return str(n)
    e = len(str(int(n))) - 1
    m = n / 10 ** e
    return f"10{str(e).translate(_SUPERSCRIPT)}" if m == 1 else f"{m:.1f}·10{str(e).translate(_SUPERSCRIPT)}"


def magnitude(n: int) -> str:
    """'1,191,170 ≈ 1.19 million ≈ 1.2·10⁶': the digits, the words and the power of ten, which must agree."""
    return f"{n:,} ≈ {in_words(n)} ≈ {power_of_ten(n)}"


@dataclass(frozen=True)
class Totals:
    """The lab net's weights and biases, layer by layer (question 10's slip: weights ≠ parameters)."""
    weights: tuple[tuple[str, int], ...]   # (layer, weights) of the layers that have any
    biases: tuple[tuple[str, int], ...]
    params: int                            # analyze()'s total

    @property
    def weight_total(self) -> int:
        return sum(n for _, n in self.weights)

    @property
    def bias_total(self) -> int:
        return sum(n for _, n in self.biases)

    def formula(self, which: str) -> str:
        """'2,400 + 51,200 + … = 1,190,000' for ``which`` = 'weights' or 'biases'."""
        parts = self.weights if which == "weights" else self.biases
        return " + ".join(f"{n:,}" for _, n in parts) + f" = {sum(n for _, n in parts):,}"


def totals(analysis: Analysis | None = None) -> Totals:
    a = analysis or lab_analysis()
    learned = [r for r in a.layers if r.params]
    return Totals(tuple((r.name, r.weights) for r in learned), tuple((r.name, r.biases) for r in learned), a.params)


@dataclass(frozen=True)
class PerNeuron:
    """Question 1's slip: the weights of *one* output value against the layer's total, for the convolution and
    its fully-connected equivalent."""
    conv_per_output: int      # k·k·z: one output value reads one filter
    fc_per_output: int        # x·y·z: one output of the FC equivalent reads the whole input
    outputs: int              # x′·y′·N output values
    conv_total: int           # N·z·k·k: shared, not multiplied by the outputs
    fc_total: int             # (x·y·z)·(x′·y′·N)


def per_neuron(r: LayerReport) -> PerNeuron:
    z = r.in_shape[0]
    kh, kw = r.layer.kernel
    outputs = r.out_shape[0] * r.out_shape[1] * r.out_shape[2]
    inputs = z * r.in_shape[1] * r.in_shape[2]
    return PerNeuron(z * kh * kw, inputs, outputs, r.weights, r.fc_equivalent)


@dataclass(frozen=True)
class FieldGrowth:
    """Question 7's interpretation: how much of the image one unit of each layer integrates."""
    image: int                              # the input's width in pixels
    fields: tuple[tuple[str, int], ...]     # (layer, receptive field width) of the layers asked about
    covers: str | None                      # the first layer whose field is at least the image's width
    exceeds: str | None                     # the first layer whose field is wider than the image

    def fraction(self, rf: int) -> float:
        """Share of the image's area inside one field (capped at the whole image)."""
        return min(rf, self.image) ** 2 / self.image ** 2


def field_growth(analysis: Analysis | None = None, layers=("conv1", "conv2", "conv3", "pool3")) -> FieldGrowth:
    a = analysis or lab_analysis()
    image = a.input_shape[-1]
    rows = [(r.name, r.rf[0]) for r in a.layers if r.rf is not None]
    covers = next((name for name, rf in rows if rf >= image), None)
    exceeds = next((name for name, rf in rows if rf > image), None)
    return FieldGrowth(image, tuple((n, rf) for n, rf in rows if n in layers), covers, exceeds)


def fully_convolutional_spec(spec: str = LAB.spec, input_shape=LAB.input_shape) -> str:
    """The spec with its fc layers written as convolutions: the first fc after the flatten becomes a
    convolution as large as the map it reads (no padding), the next ones 1×1 convolutions."""
    a = analyze(spec, input_shape)
    parts, h, w = [], 1, 1
    for r in a.layers:
        if r.layer.kind == "flatten":
            h, w = r.in_shape[1:]
            continue
        if r.layer.kind == "fc":
            k = f"{h}" if h == w else f"{h}x{w}"
            parts.append(f"conv {r.out_shape[0]} k={k}")
            h = w = 1
        else:
            parts.append(r.spec)
    return "; ".join(parts)


@dataclass(frozen=True)
class DenseCost:
    """Question 6: scoring every window of an n×n image in one pass of the converted net, against running the
    original net once per window (multiply-accumulates, from analyze)."""
    size: int
    cells: int              # score-map side
    one_pass: int           # MACs of the converted net on the n×n image
    per_window: int         # MACs of the original net on one 32×32 window

    @property
    def windows(self) -> int:
        return self.cells ** 2

    @property
    def separately(self) -> int:
        return self.windows * self.per_window

    @property
    def saving(self) -> float:
        return self.separately / self.one_pass


def dense_cost(size: int) -> DenseCost:
    dense = analyze(fully_convolutional_spec(), (LAB.input_shape[0], size, size))
    return DenseCost(size, dense.output_shape[-1], dense.macs, lab_analysis().macs)

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

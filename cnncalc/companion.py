"""The lab companion: the CIFAR-10 lab's questions, each answered by a call into cnncalc or by a run in the store.

No Streamlit here; torch is imported inside the functions that need it. Every number an answer shows comes
from a function call. The one exception is :data:`REFERENCE`: results obtained elsewhere (the lab students'
published logs and a measurement on the shared JPEG copy of CIFAR-10), kept as data with their source and
always shown as such — never as computed by the app.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .analyze import analyze
from .lab import bag_of_words_svm, per_training_image, training_values  # noqa: F401  (re-exported for the page)
from .presets import PRESETS
from .report import Analysis, LayerReport
from .solve import divide_settings, same_padding  # noqa: F401
from .train.config import LADDER, LAB_MEAN, LAB_STD, SWEEPS, TrainConfig  # noqa: F401

LAB = PRESETS["lab"]
ROOT = Path(__file__).resolve().parents[1]

# --- the questions ----------------------------------------------------------------------------------

PARTS = {1: "Part 1 — the arithmetic of a convolutional network",
         2: "Part 2 — training the lab's network on CIFAR-10",
         3: "Part 3 — improving the results"}

PAGES = {"calculator": ("app_pages/calculator.py", "Layer calculator", "🧮"),
         "analyzer": ("app_pages/analyzer.py", "Network analyzer", "📋"),
         "receptive_field": ("app_pages/receptive_field.py", "Receptive fields", "🎯"),
         "training": ("app_pages/training.py", "Training", "📈"),
         "dense_maps": ("app_pages/dense_maps.py", "Dense score maps", "🗺️"),
         "demos": ("app_pages/demos.py", "Why convolutions (demos)", "🧪")}


@dataclass(frozen=True)
class Question:
    number: int
    part: int
    title: str
    pages: tuple[str, ...]  # keys of PAGES: where to go deeper

    @property
    def label(self) -> str:
        return f"{self.number}. {self.title}"


_Q = [
    (1, "What are the output size, the number of weights and the fully-connected equivalent of a convolution?",
     ("calculator",)),
    (1, "What are the advantages of convolution over a fully-connected layer, and its main limit?",
     ("demos", "analyzer")),
    (1, "What is pooling for?", ("demos", "calculator")),
    (1, "What happens when the input image is larger than the one the network was designed for?",
     ("dense_maps", "analyzer")),
    (1, "How can a fully-connected layer be written as a convolution?", ("dense_maps",)),
    (1, "What does the converted (fully convolutional) network output on a larger image?", ("dense_maps",)),
    (1, "What is the receptive field of the first layer, of the second, and of deeper layers?",
     ("receptive_field",)),
    (1, "Which padding and stride keep the size of a convolution's output?", ("calculator",)),
    (1, "Which pooling settings halve the size?", ("calculator",)),
    (1, "What are the output size and the number of weights of each layer, and how are the weights distributed?",
     ("analyzer",)),
    (1, "How does the total number of weights compare with the number of training examples?", ("analyzer",)),
    (1, "How does it compare with a bag-of-words + SVM classifier?", ("analyzer",)),
    (2, "How do you run the training with a given batch size, learning rate, number of epochs and device?",
     ("training",)),
    (2, "How are the training and test metrics computed, and why do they differ?", ("training",)),
    (2, "What accuracy does the lab's network reach on CIFAR-10 at convergence?", ("training",)),
    (2, "What are the effects of the learning rate and of the batch size?", ("training",)),
    (2, "What is the error at the start of the first epoch, and why?", ("training",)),
    (2, "Is there overfitting, and how do you see it?", ("training",)),
    (3, "What does standardizing the inputs change?", ("training",)),
    (3, "Why are the standardization statistics computed on the training set only?", ("training",)),
    (3, "What is ZCA whitening?", ("training",)),
    (3, "What are the results with data augmentation (random crop + horizontal flip)?", ("training",)),
    (3, "Is a horizontal flip a valid augmentation for every kind of image?", ("training",)),
    (3, "What are the limits of data augmentation?", ("training",)),
    (3, "What other augmentations could be used?", ("training",)),
    (3, "What do momentum and a learning-rate schedule change, and is training more stable?", ("training",)),
    (3, "Why do momentum and a decaying learning rate help?", ("training",)),
    (3, "What other optimizers and learning-rate schedules exist?", ("training",)),
    (3, "What are the results with dropout?", ("training",)),
    (3, "What other regularization methods are there?", ("training",)),
    (3, "How can dropout be interpreted?", ("training",)),
    (3, "How does the dropout rate influence the results?", ("training",)),
    (3, "What does dropout do in training mode and in test (eval) mode?", ("training",)),
    (3, "What are the results with batch normalization?", ("training", "analyzer")),
]
QUESTIONS: tuple[Question, ...] = tuple(Question(i, part, title, pages) for i, (part, title, pages) in
                                        enumerate(_Q, start=1))


def matching(query: str, questions=QUESTIONS) -> list[Question]:
    """The questions whose label ('7. What is the receptive field …') holds every word of ``query``
    (case-insensitive); all of them for an empty query."""
    words = query.lower().split()
    return [q for q in questions if all(w in q.label.lower() for w in words)]


# --- reference results: quoted, never computed ----------------------------------------------------------

@dataclass(frozen=True)
class Reference:
    students: float                     # test top-1 (%) in the lab students' published logs
    measured: float                     # test top-1 (%) measured on the shared JPEG copy of CIFAR-10
    students_loss: float | None = None  # test loss, when quoted
    measured_loss: float | None = None
    note: str = ""


REFERENCE_SOURCE = ("Reference results — not computed by this app: test top-1 of the lab's network on CIFAR-10 "
                    "(batch 128, lr 0.1) from the lab students' published logs, and as measured on the shared JPEG "
                    "copy of CIFAR-10 on one H200 (project notes: shared/ANCHORS.md, shared/data/README.md).")
REFERENCE: dict[str, Reference] = {  # keyed by the ladder's steps (cnncalc.train.config.LADDER)
    "1 baseline": Reference(72.6, 72.9, note="the test loss is U-shaped, lowest near epoch 10"),
    "2 + standardization": Reference(74.3, 75.5),
    "3 + random crop 28 + flip": Reference(80.1, 78.7, note="measured: 78.7 % at the end, best 80.1 %"),
    "4 + momentum 0.9 + ExponentialLR 0.95": Reference(
        79.5, 77.0, note="momentum 0.9 at lr 0.1 without a schedule or batch norm stalls near 45–50 %"),
    "5 + dropout 0.5 + batch norm": Reference(84.3, 83.7, 0.49, 0.54, note="measured over 100 epochs"),
}


# --- Part 1: arithmetic ----------------------------------------------------------------------------------

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
    from .crosscheck import larger_input
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

    from .fcn import convolutionalize, geometry, max_difference
    from .torch_bridge import build_model
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


# --- Part 2: training ------------------------------------------------------------------------------------

CLI_FLAGS = {"preset": "--preset", "data": "--data", "epochs": "--epochs", "batch_size": "--batch-size",
             "lr": "--lr", "device": "--device"}


def cli_command(cfg: TrainConfig | None = None, keys=tuple(CLI_FLAGS)) -> str:
    """``python -m cnncalc train …`` with ``cfg``'s values (the lab's main(batch, lr, epochs, device))."""
    cfg = cfg or TrainConfig(device="cuda")
    parts = ["python -m cnncalc train"]
    for key in keys:
        value = getattr(cfg, key)
        parts.append(f"{CLI_FLAGS[key]} {value:g}" if isinstance(value, float) else f"{CLI_FLAGS[key]} {value}")
    return " ".join(parts)


def train_choices() -> dict[str, tuple[str, ...]]:
    """The choices the training CLI offers (read from its argument parser): optimizer, schedule, augment, …"""
    import argparse

    from .train.cli import add_parsers
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"))
    train = parser._subparsers._group_actions[0].choices["train"]  # noqa: SLF001  (argparse has no public API)
    return {a.dest: tuple(a.choices) for a in train._actions if a.choices}  # noqa: SLF001


def train_flags() -> set[str]:
    """Every option of ``python -m cnncalc train`` (e.g. '--zca')."""
    import argparse

    from .train.cli import add_parsers
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"))
    train = parser._subparsers._group_actions[0].choices["train"]  # noqa: SLF001
    return {s for a in train._actions for s in a.option_strings}  # noqa: SLF001


@dataclass(frozen=True)
class DropoutDemo:
    p: float
    seed: int
    x: tuple[float, ...]
    train: tuple[float, ...]   # nn.Dropout(p) in training mode
    eval: tuple[float, ...]    # the same module after .eval()

    @property
    def scale(self) -> float:
        return 1 / (1 - self.p)

    @property
    def kept(self) -> int:
        return sum(v != 0 for v in self.train)


def dropout_demo(p: float = 0.5, n: int = 10, seed: int = 0) -> DropoutDemo:
    """nn.Dropout(p) on torch.ones(n): train mode zeroes each value with probability p and scales the others by
    1/(1 − p) (so the expected value is unchanged); eval mode is the identity. The global RNG is left as it was."""
    import torch
    from torch import nn
    x = torch.ones(n)
    drop = nn.Dropout(p)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        train = drop.train()(x)
    out = drop.eval()(x)
    return DropoutDemo(p, seed, tuple(x.tolist()), tuple(train.tolist()), tuple(out.tolist()))


@dataclass(frozen=True)
class BatchNormDemo:
    x: tuple[float, ...]
    train: tuple[float, ...]          # normalised with the batch's own mean and variance
    batch_mean: float
    batch_var: float                  # unbiased, what updates the running variance
    running_mean: float
    running_var: float
    eval: tuple[float, ...]           # normalised with the running statistics


def batchnorm_demo(values=(1.0, 2.0, 3.0, 4.0)) -> BatchNormDemo:
    """nn.BatchNorm1d(1) on one small batch: in train mode it uses the batch's statistics (and updates its
    running averages, momentum 0.1); in eval mode it uses the running averages."""
    import torch
    from torch import nn
    x = torch.tensor(values).view(-1, 1)
    bn = nn.BatchNorm1d(1)
    with torch.no_grad():
        train = bn.train()(x)
        out = bn.eval()(x)
    return BatchNormDemo(tuple(values), tuple(train.flatten().tolist()), float(x.mean()), float(x.var()),
                         float(bn.running_mean), float(bn.running_var), tuple(out.flatten().tolist()))


def chance() -> dict[str, float]:
    """Loss ln 10, top-1 10 %, top-5 50 % for a uniform guess over CIFAR-10's 10 classes."""
    from .train_charts import chance_levels
    return chance_levels(10)


# --- runs in the store -------------------------------------------------------------------------------------

EXPERIMENT = ("preset", "spec", "standardize", "augment", "zca", "optimizer", "momentum", "nesterov",
              "weight_decay", "schedule", "gamma", "dropout", "batchnorm", "lr", "batch_size")


def is_cifar10(cfg: TrainConfig) -> bool:
    return cfg.data == "cifar10" or "cifar10" in Path(cfg.data).name.lower().replace("-", "")


def _canon(cfg: TrainConfig, without=()) -> tuple:
    """The experiment's settings, with the lab's variants merged: standardization with the sheet's constants
    or with computed statistics; the lab's crop-28 or pad-crop augmentation; gamma only with an exponential
    schedule."""
    d = {k: getattr(cfg, k) for k in EXPERIMENT if k not in without}
    if "standardize" in d:
        d["standardize"] = d["standardize"] != "none"
    if "augment" in d:
        d["augment"] = d["augment"] != "none"
    if "gamma" in d and cfg.schedule != "exponential":
        d["gamma"] = None
    return tuple(sorted(d.items()))


def ladder_step(cfg: TrainConfig) -> str | None:
    """The step of the lab's ladder a config is (epochs, data and where it ran aside), or None."""
    for key, changes in LADDER.items():
        if _canon(cfg) == _canon(TrainConfig(**{k: v for k, v in changes.items() if k != "epochs"})):
            return key
    return None


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


@dataclass(frozen=True)
class RunResult:
    id: int
    name: str
    status: str
    config: TrainConfig
    epochs: tuple[dict, ...] = field(repr=False)

    @property
    def done_epochs(self) -> int:
        return len(self.epochs)

    @property
    def ok(self) -> list[dict]:
        return [e for e in self.epochs if _finite(e.get("test_top1"))]

    @property
    def best(self) -> dict | None:
        ok = self.ok
        return max(ok, key=lambda e: e["test_top1"]) if ok else None

    @property
    def best_top1(self) -> float | None:
        return self.best["test_top1"] if self.best else None

    @property
    def last(self) -> dict | None:
        return self.epochs[-1] if self.epochs else None

    @property
    def data(self) -> str:
        d = self.config.data
        name = d if d in ("cifar10", "mnist", "synthetic") else Path(d).name
        return name + (f" ({self.config.limit:,} per split)" if self.config.limit else "")

    def row(self, **extra) -> dict:
        """One line of a results table (accuracies in %)."""
        best, last = self.best, self.last
        pct = lambda v: round(100 * v, 1) if _finite(v) else None  # noqa: E731
        return {"run": self.id, **extra, "data": self.data, "status": self.status,
                "epochs": f"{self.done_epochs}/{self.config.epochs}",
                "best test top-1 (%)": pct(best["test_top1"]) if best else None,
                "at epoch": best["epoch"] if best else None,
                "final test loss": round(last["test_loss"], 3) if last and _finite(last.get("test_loss")) else None,
                "final train top-1 (%)": pct(last.get("train_top1")) if last else None}


def run_results(store) -> list[RunResult]:
    """Every run of ``store`` (a RunStore) that has at least one epoch, newest first."""
    out = []
    for run in store.list():
        epochs = store.epochs(run.id)
        if epochs:
            out.append(RunResult(run.id, run.name, run.status, run.config, tuple(epochs)))
    return out


def by_step(results: list[RunResult], step: str, cifar_only: bool = True) -> list[RunResult]:
    """The runs that are ``step`` of the ladder, best test top-1 first."""
    found = [r for r in results
             if ladder_step(r.config) == step and r.best and (is_cifar10(r.config) or not cifar_only)]
    return sorted(found, key=lambda r: -r.best_top1)


def best_cifar10(results: list[RunResult], step: str = "1 baseline") -> RunResult | None:
    """The best CIFAR-10 run of a ladder step (the baseline: the lab net at its defaults)."""
    found = by_step(results, step)
    return found[0] if found else None


def latest_finished(results: list[RunResult]) -> RunResult | None:
    done = [r for r in results if r.status in ("done", "diverged", "cancelled", "interrupted", "failed")]
    return done[0] if done else None


@dataclass(frozen=True)
class Sweep:
    key: str                        # the setting that varies
    common: str                     # what the runs share (a description)
    runs: tuple[RunResult, ...]     # sorted by the value of ``key``

    @property
    def values(self) -> list:
        return [getattr(r.config, self.key) for r in self.runs]


def sweeps(results: list[RunResult], key: str) -> list[Sweep]:
    """Groups of runs that differ only in ``key`` (same data, subset, epochs and every other setting), with at
    least two different values — a sweep over ``key`` found in the store."""
    groups: dict[tuple, list[RunResult]] = {}
    for r in results:
        if r.best is None and r.status != "diverged":
            continue
        c = r.config
        groups.setdefault((_canon(c, without=(key,)), c.data, c.limit, c.epochs), []).append(r)
    out = []
    for (_, data, limit, epochs), runs in groups.items():
        values = {getattr(r.config, key) for r in runs}
        if len(values) >= 2:
            runs = sorted(runs, key=lambda r: (getattr(r.config, key), -(r.best_top1 or 0)))
            common = f"{runs[0].data}, {epochs} epochs"
            out.append(Sweep(key, common, tuple(runs)))
    return out


# --- Part 3: improvements ------------------------------------------------------------------------------------

def cifar10_dir() -> Path | None:
    """The local CIFAR-10 copy (ImageFolder tree): $CNNCALC_CIFAR10_DIR, else ../shared/data/cifar10-jpeg."""
    for p in (os.environ.get("CNNCALC_CIFAR10_DIR"), ROOT.parent / "shared" / "data" / "cifar10-jpeg"):
        if p and (Path(p) / "train").is_dir() and (Path(p) / "test").is_dir():
            return Path(p)
    return None


@dataclass(frozen=True)
class Sample:
    source: str          # what the images are (real CIFAR-10 or synthetic), in words
    real: bool
    train_x: np.ndarray  # uint8 (N, 3, 32, 32)
    test_x: np.ndarray

    @property
    def kind(self) -> str:
        return "CIFAR-10 images" if self.real else "synthetic images"


_AUTO = object()


def sample_images(n: int = 500, seed: int = 0, folder=_AUTO) -> Sample:
    """``n`` training and ``n`` test images: a seeded random subset of the local CIFAR-10 copy when there is
    one, else the synthetic data set (concentric rings, cnncalc.train.data.synthetic)."""
    from .train import data as datasets
    folder = cifar10_dir() if folder is _AUTO else folder
    if folder is not None:
        d = datasets.image_folder(Path(folder), limit=n, seed=seed)
        return Sample(f"{n:,} training and {n:,} test images drawn at random (seed {seed}) from the local "
                      f"CIFAR-10 copy ({Path(folder).name})", True, d.train_x, d.test_x)
    d = datasets.synthetic(n_train=n, n_test=n, seed=seed)
    return Sample(f"{n:,} + {n:,} synthetic images (coloured rings — no CIFAR-10 copy here): the statistics "
                  "are those of the synthetic data, not CIFAR-10's", False, d.train_x, d.test_x)


@dataclass(frozen=True)
class Standardization:
    sample: Sample
    train_mean: tuple[float, ...]
    train_std: tuple[float, ...]
    test_mean: tuple[float, ...]
    test_std: tuple[float, ...]
    after_mean: tuple[float, ...]   # training sample standardized with its own statistics
    after_std: tuple[float, ...]
    lab_after_mean: tuple[float, ...]  # … with the lab sheet's constants
    lab_after_std: tuple[float, ...]
    per_image_std: tuple[float, ...]   # the average over images of each image's own per-channel std


def standardization(sample: Sample) -> Standardization:
    from .train.engine import channel_stats
    tm, ts = channel_stats(sample.train_x)
    vm, vs = channel_stats(sample.test_x)
    xf = sample.train_x.astype(np.float64) / 255

    def stats(mean, std):
        z = (xf - np.array(mean).reshape(1, -1, 1, 1)) / np.array(std).reshape(1, -1, 1, 1)
        return tuple(z.mean(axis=(0, 2, 3)).tolist()), tuple(z.std(axis=(0, 2, 3)).tolist())
    per_image = tuple(xf.reshape(len(xf), xf.shape[1], -1).std(axis=2).mean(axis=0).tolist())
    return Standardization(sample, tm, ts, vm, vs, *stats(tm, ts), *stats(LAB_MEAN, LAB_STD), per_image)


@dataclass(frozen=True)
class Zca:
    patch: int
    n: int
    eps: float
    neighbour_before: float   # correlation of horizontally adjacent pixel values
    neighbour_after: float
    diag_after: float         # mean variance after whitening (1 at ε = 0)
    offdiag_after: float      # largest |covariance| between two different dimensions after whitening


def zca_demo(sample: Sample, patch: int = 8, eps: float = 1e-2) -> Zca:
    """Fit the engine's ZCA (fit_zca) on the central patch×patch crop of the standardized training sample and
    measure how correlated neighbouring pixels are before and after."""
    import torch

    from .train.engine import channel_stats, fit_zca
    mean, std = channel_stats(sample.train_x)
    lo = (sample.train_x.shape[-1] - patch) // 2
    x = torch.from_numpy(sample.train_x[..., lo:lo + patch, lo:lo + patch].astype(np.float32) / 255)
    x = (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
    w = fit_zca(x, eps)
    flat = x.reshape(len(x), -1).double()
    flat = flat - flat.mean(0)
    white = (flat @ w.double()).reshape(x.shape)

    def neighbours(t):
        a, b = t[..., :, :-1].flatten(), t[..., :, 1:].flatten()
        return float(torch.corrcoef(torch.stack([a, b]))[0, 1])
    cov = white.reshape(len(x), -1).T @ white.reshape(len(x), -1) / len(x)
    off = cov - torch.diag(torch.diag(cov))
    return Zca(patch, len(x), eps, neighbours(flat.reshape(x.shape)), neighbours(white),
               float(torch.diag(cov).mean()), float(off.abs().max()))


@dataclass(frozen=True)
class Crops:
    crop: int
    pad: int
    size: int
    cropflip: int      # distinct (crop position, flip) variants of one image, lab's augmentation
    padcrop: int
    unseen: float      # fraction of a test image's pixels the centre crop leaves out


def crop_variants(size: int = 32) -> Crops:
    from .train.engine import CROP, PAD
    return Crops(CROP, PAD, size, (size - CROP + 1) ** 2 * 2, (size + 2 * PAD - size + 1) ** 2 * 2,
                 1 - CROP ** 2 / size ** 2)


# Segments of a seven-segment digit: a top, b top right, c bottom right, d bottom, e bottom left, f top left,
# g middle. The layout is symmetric about the vertical axis, so a mirror swaps b↔f and c↔e exactly.
SEGMENTS = {"0": "abcdef", "1": "bc", "2": "abged", "3": "abgcd", "4": "fgbc", "5": "afgcd", "6": "afgedc",
            "7": "abc", "8": "abcdefg", "9": "abcdfg"}


def seven_segment(digit: str, width: int = 48, height: int = 80, thickness: int = 8, margin: int = 8) -> np.ndarray:
    """A seven-segment digit as a uint8 image (white on black), drawn with PIL."""
    from PIL import Image, ImageDraw
    im = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(im)
    x0, x1 = margin, width - 1 - margin
    y0, y1, ym = margin, height - 1 - margin, (height - 1) // 2
    t, h = thickness, thickness // 2
    boxes = {"a": (x0, y0, x1, y0 + t - 1), "d": (x0, y1 - t + 1, x1, y1), "g": (x0, ym - h, x1, ym - h + t - 1),
             "f": (x0, y0, x0 + t - 1, ym), "b": (x1 - t + 1, y0, x1, ym),
             "e": (x0, ym, x0 + t - 1, y1), "c": (x1 - t + 1, ym, x1, y1)}
    for s in SEGMENTS[digit]:
        draw.rectangle(boxes[s], fill=255)
    return np.asarray(im)


def letter(text: str = "R", size: int = 80) -> np.ndarray:
    """A letter drawn with PIL's built-in font, black on white."""
    from PIL import Image, ImageDraw, ImageFont
    im = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(im)
    try:
        font = ImageFont.load_default(size=int(size * 0.8))
    except TypeError:  # old Pillow: a small bitmap font
        font = ImageFont.load_default()
    draw.text((size / 2, size / 2), text, fill=0, font=font, anchor="mm")
    return np.asarray(im)


def turn_sign(size: int = 80) -> np.ndarray:
    """A 'turn left' road sign (white arrow on a blue disc), RGB."""
    from PIL import Image, ImageDraw
    im = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(im)
    draw.ellipse((2, 2, size - 3, size - 3), fill=(30, 90, 200))
    s = size / 80
    shaft = [(46, 62), (46, 38), (30, 38), (30, 46), (16, 32), (30, 18), (30, 26), (58, 26), (58, 62)]
    draw.polygon([(x * s, y * s) for x, y in shaft], fill=(255, 255, 255))
    return np.asarray(im)


@dataclass(frozen=True)
class Flip:
    name: str
    image: np.ndarray
    flipped: np.ndarray
    verdict: str


def flip_examples() -> list[Flip]:
    """Images whose meaning changes under a horizontal flip (each flipped with numpy's [:, ::-1])."""
    two, five = seven_segment("2"), seven_segment("5")
    r, sign = letter("R"), turn_sign()
    flipped_two = two[:, ::-1]
    same = bool(np.array_equal(flipped_two, five))
    return [
        Flip("digit 2 (seven segments)", two, flipped_two,
             "the flipped 2 is " + ("exactly the 5 drawn the same way: a label-changing flip" if same else
                                    "a different digit")),
        Flip("letter R", r, r[:, ::-1], "the mirror image 'Я' is not an R: text is not flip-invariant"),
        Flip("'turn left' road sign", sign, sign[:, ::-1], "it now says 'turn right': the meaning is reversed"),
    ]


def lr_after(epochs: int, lr: float = 0.1, gamma: float = 0.95) -> float:
    """ExponentialLR: the learning rate after ``epochs`` scheduler steps (one per epoch) = lr·γ^epochs."""
    return lr * gamma ** epochs


def lr_formula(epochs: int, lr: float = 0.1, gamma: float = 0.95) -> str:
    return f"{lr:g}·{gamma:g}^{epochs} = {lr_after(epochs, lr, gamma):.4g}"


def half_life(gamma: float = 0.95) -> float:
    """Epochs for ExponentialLR to halve the learning rate: ln 0.5 / ln γ."""
    return math.log(0.5) / math.log(gamma)


def momentum_gain(momentum: float = 0.9) -> float:
    """With a steady gradient, SGD momentum's step grows to lr/(1 − m): the effective learning rate factor."""
    return 1 / (1 - momentum)


def schedule_curves(epochs: int = 50, lr: float = 0.1, gamma: float = 0.95, steps_per_epoch: int = 10,
                    schedules=None) -> dict[str, list[float]]:
    """The learning rate at the start of each epoch for each schedule the engine offers, obtained by stepping
    the engine's own optimizer and scheduler (make_optimizer) on a dummy parameter."""
    import warnings

    import torch

    from .train.engine import make_optimizer
    schedules = schedules or train_choices()["schedule"]
    curves = {}
    for schedule in schedules:
        cfg = TrainConfig(epochs=epochs, lr=lr, gamma=gamma, schedule=schedule, momentum=0.9)
        opt, sched = make_optimizer(cfg, torch.nn.Linear(1, 1), steps_per_epoch)
        lrs = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(epochs):
                lrs.append(opt.param_groups[0]["lr"])
                for _ in range(steps_per_epoch):
                    opt.step()
                    if schedule == "onecycle":
                        sched.step()
                if sched is not None and schedule != "onecycle":
                    sched.step()
        curves[schedule] = lrs
    return curves


@dataclass(frozen=True)
class Subnetworks:
    units: int        # units dropout acts on (fc4's outputs)
    p: float
    digits: int       # number of decimal digits of 2^units
    kept: float       # expected units kept per example


def subnetworks(p: float = 0.5, analysis: Analysis | None = None) -> Subnetworks:
    """Dropout on fc4's outputs samples one of 2^units thinned networks per example (which all share weights)."""
    units = (analysis or lab_analysis())["fc4"].out_shape[0]
    return Subnetworks(units, p, len(str(2 ** units)), (1 - p) * units)


@dataclass(frozen=True)
class BatchNormCost:
    with_bn: int
    without: int
    per_layer: tuple[tuple[str, int], ...]

    @property
    def extra(self) -> int:
        return self.with_bn - self.without


def batchnorm_cost() -> BatchNormCost:
    """Parameters of the lab-bn preset vs the same net without batch norm (lab28, both on 28×28 crops)."""
    bn, plain = analyze(PRESETS["lab-bn"].spec, PRESETS["lab-bn"].input_shape), \
        analyze(PRESETS["lab28"].spec, PRESETS["lab28"].input_shape)
    return BatchNormCost(bn.params, plain.params, tuple((r.name, r.params) for r in bn.layers if r.layer.kind == "bn"))


DROPOUT_SWEEP = (0.0, 0.25, 0.5, 0.75)  # what to launch for question 32 (on the ladder's last step)


# The Training page's form (app_pages/training.py keeps each field in st.session_state["tr_<field>"]): the values
# that fill it with one experiment, everything else at the default — the same as its ladder buttons.
TRAINING_FORM_FIELDS = ("epochs", "batch_size", "lr", "optimizer", "momentum", "nesterov", "weight_decay",
                        "schedule", "gamma", "standardize", "augment", "dropout", "batchnorm")


def form_values(changes: dict) -> dict:
    cfg = TrainConfig().replace(**changes)  # validates the values
    return {f"tr_{f}": getattr(cfg, f) for f in TRAINING_FORM_FIELDS}

"""Part 3 of the lab companion: improving the results — standardization, ZCA, augmentation (and when a flip is
wrong), momentum and learning-rate schedules, dropout, batch norm.

torch and PIL are imported inside the functions that need them."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...analyze import analyze
from ...presets import PRESETS
from ...report import Analysis
from ...train.config import LAB_MEAN, LAB_STD, TrainConfig
from .arithmetic import lab_analysis
from .training import train_choices

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
    from ...train import data as datasets
    folder = datasets.local_cifar10() if folder is _AUTO else folder
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
    from ...train.engine import channel_stats
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
    lambda_min: float         # smallest eigenvalue of the covariance (a noise direction)
    lambda_max: float

    @property
    def gain_exact(self) -> float:
        """How much exact whitening (ε = 0) multiplies the smallest-variance direction: 1/√λ_min."""
        return 1 / math.sqrt(self.lambda_min) if self.lambda_min > 0 else math.inf

    @property
    def gain(self) -> float:
        """… and with ε: 1/√(λ_min + ε)."""
        return 1 / math.sqrt(self.lambda_min + self.eps)


def zca_demo(sample: Sample, patch: int = 8, eps: float = 1e-2) -> Zca:
    """Fit the engine's ZCA (fit_zca) on the central patch×patch crop of the standardized training sample and
    measure how correlated neighbouring pixels are before and after."""
    import torch

    from ...train.engine import channel_stats, fit_zca
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
    eig = torch.linalg.eigvalsh(flat.T @ flat / len(x)).clamp_min(0)   # fit_zca's covariance
    return Zca(patch, len(x), eps, neighbours(flat.reshape(x.shape)), neighbours(white),
               float(torch.diag(cov).mean()), float(off.abs().max()), float(eig[0]), float(eig[-1]))


@dataclass(frozen=True)
class Crops:
    crop: int
    pad: int
    size: int
    cropflip: int      # distinct (crop position, flip) variants of one image, lab's augmentation
    padcrop: int
    unseen: float      # fraction of a test image's pixels the centre crop leaves out


def crop_variants(size: int = 32) -> Crops:
    from ...train.engine import CROP, PAD
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

    from ...train.engine import make_optimizer
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


@dataclass(frozen=True)
class MomentumEffect:
    """Question 26: step 4 (momentum + ExponentialLR) against step 3, from the quoted references and the
    schedule's arithmetic."""
    epochs: int
    measured: tuple[float, float]    # test top-1 (%) of steps 3 and 4 at ``epochs``, quoted
    students: tuple[float, float]    # the students' logs, quoted
    lr: float                        # step 3's constant learning rate
    lr_last: float                   # step 4's learning rate during the last epoch: lr·γ^(epochs − 1)

    @property
    def factor(self) -> float:
        return self.lr / self.lr_last


def momentum_effect(lr: float = 0.1) -> MomentumEffect:
    """The quoted results of ladder steps 3 and 4 at the ladder's 50 epochs and how far the schedule has
    brought the learning rate down by then (cnncalc.train.config.LADDER, references.RESULTS)."""
    from ...train.config import LADDER
    from ...train import references as refs
    crop, momentum = list(LADDER)[2:4]
    epochs, gamma = LADDER[momentum]["epochs"], LADDER[momentum]["gamma"]
    (sa,), (sb,) = refs.results(crop, "students"), refs.results(momentum, "students")
    return MomentumEffect(epochs, (refs.at(crop, epochs).top1, refs.at(momentum, epochs).top1),
                          (sa.top1, sb.top1), lr, lr_after(epochs - 1, lr, gamma))


# --- question 30: what regularization is, and where the lab uses it ---------------------------------------

REGULARIZATION = ("**Regularization** is any change to training meant to lower the *test* error — to close the "
                  "generalization gap between training and test — without lowering the *training* error (it "
                  "usually raises it a little), typically by constraining the model or adding noise to training.")


@dataclass(frozen=True)
class Regularizer:
    name: str
    how: str        # how it constrains the model
    in_lab: str     # one sentence: how the lab (or cnncalc's training) uses it
    flag: str       # the training CLI's option that turns it on ('' when there is none)


REGULARIZERS: tuple[Regularizer, ...] = (
    Regularizer("Weight decay / L2", "penalises large weights (adds λ‖w‖² to the loss), pulling them towards 0",
                "not in the lab sheet's ladder; cnncalc's training offers it as `--weight-decay`",
                "--weight-decay"),
    Regularizer("Dropout", "zeroes random units during training, so no unit can rely on another",
                "ladder step 5 (§3.4) puts dropout 0.5 before fc5; questions 29–33", "--dropout"),
    Regularizer("Data augmentation", "shows transformed copies of the training images (more, varied data)",
                "ladder step 3 trains on random 28×28 crops + horizontal flips; questions 22–25", "--augment"),
    Regularizer("Early stopping", "keeps the weights of the epoch with the lowest validation loss",
                "the Training page's curves show where the test loss is lowest (question 18); the run keeps "
                "every epoch's metrics, so you read the best epoch off them", ""),
    Regularizer("Batch norm (as a side effect)", "normalises with each batch's statistics: noise that depends "
                "on the other images of the batch", "ladder step 6 (§3.5) adds it after every convolution; "
                "question 34", "--batchnorm"),
)


# --- question 29's slip: dropout removes no parameter ------------------------------------------------------

LAB_INPUT = PRESETS["lab"].input_shape


@dataclass(frozen=True)
class DropoutCost:
    p: float
    spec: str                # the lab net with dropout inserted (cnncalc.train.config.model_spec)
    params_with: int
    params_without: int
    macs_with: int
    macs_without: int


def dropout_cost(p: float = 0.5) -> DropoutCost:
    """The network training builds with ``--dropout p`` against the same one without (analyze of both): the
    parameters and the multiply-accumulates per image are the same."""
    from ...train.config import model_spec
    hw = tuple(LAB_INPUT[1:])
    with_, without = model_spec(TrainConfig(dropout=p), hw), model_spec(TrainConfig(), hw)
    a, b = analyze(with_, LAB_INPUT), analyze(without, LAB_INPUT)
    return DropoutCost(p, with_, a.params, b.params, a.macs, b.macs)


# --- question 27's slip: momentum 0.9 and γ 0.95 are two different numbers -------------------------------

@dataclass(frozen=True)
class MomentumVsGamma:
    momentum: float          # SGD momentum: applied at every optimizer step
    gamma: float             # ExponentialLR: applied once per epoch
    steps: int               # optimizer steps per epoch
    batch_size: int

    @property
    def momentum_after_epoch(self) -> float:
        """Weight left to a gradient one epoch (``steps`` steps) later: momentum^steps."""
        return self.momentum ** self.steps

    @property
    def memory_steps(self) -> float:
        """Momentum's memory, 1/(1 − m) steps."""
        return 1 / (1 - self.momentum)


def momentum_vs_gamma(step: str = "4 + momentum 0.9 + ExponentialLR 0.95") -> MomentumVsGamma:
    """Ladder step 4's momentum and γ, with the steps per epoch at its batch size."""
    from ...train.config import LADDER
    from .training import steps_per_epoch
    cfg = TrainConfig(**LADDER[step])
    return MomentumVsGamma(cfg.momentum, cfg.gamma, steps_per_epoch(cfg.batch_size), cfg.batch_size)

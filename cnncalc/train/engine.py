"""The training loop: the lab's ``main(batch_size, lr, epochs, cuda)`` with its ladder, on any device.

Two input pipelines share one loop:

* ``fast`` — the whole dataset on the device as uint8; crop, flip and normalisation done there on whole
  batches; no DataLoader, no per-step host sync (metrics accumulate on the device and are read every
  ``progress_every`` steps); channels_last on CUDA and CPUs, bf16 autocast on CUDA and on CPUs with AMX
  (airbench; :func:`use_bf16`, :func:`use_channels_last`).
* ``lab`` — the lab's own pipeline: torchvision transforms on PIL images through a DataLoader.

On CUDA the fast pipeline's training step is one CUDA graph (:mod:`.graphed`: forward, loss, backward and the
optimiser step replayed as one launch; full batches only), unless ``graph="off"``; eager steps are the
reference and the fallback.

Train metrics are averaged over the epoch's batches (as the lab computes them); test metrics over the
whole test set. Seeded: the same config on the same device gives the same numbers.

A run can stop and continue: :func:`capture` takes its resume state after an epoch (weights, optimiser and
schedule state, RNG states, the pipelines' positions — tensors and plain values only, so that
``torch.load(weights_only=True)`` reads it back), ``train(cfg, resume=state)`` continues at the next epoch
and reaches the same weights as a run that never stopped (same device).
"""
from __future__ import annotations

import copy
import hashlib
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..pytorch.bridge import build_model
from ..train import data as datasets
from . import graphed as graph_step
from .config import LAB_MEAN, LAB_STD, TrainConfig, cpu_has_amx, cpu_has_bf16, model_spec  # noqa: F401

CROP = 28  # RandomCrop / CenterCrop size of the lab's augmentation step
PAD = 4    # zero padding of the "padcrop" augmentation (pad 4, random 32×32 crop: the common CIFAR recipe)
CHECKPOINT_SECONDS = 10.0  # at most one checkpoint per this many seconds (fast GPU epochs are not slowed)
STATE_FORMAT = 1           # version of the resume state's layout
EVAL_BATCH = 1000          # test images per forward pass of the evaluation

# The phases of a run, in the order they come (``on_phase``); "training" and "evaluating" alternate per epoch.
LOADING, BUILDING, WARMING_UP, TRAINING, EVALUATING = (
    "loading data", "building the network", "first epoch: warming up", "training", "evaluating")
PHASES = (LOADING, BUILDING, WARMING_UP, TRAINING, EVALUATING)
BUILT_IN = ("cifar10", "mnist", "synthetic")  # data sources that are names, not folders


class Diverged(RuntimeError):
    """The loss became NaN or infinite."""


class Cancelled(RuntimeError):
    """should_stop() answered True."""


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    train_loss: float
    train_top1: float   # fractions in [0, 1]
    train_top5: float
    test_loss: float
    test_top1: float
    test_top5: float
    lr: float           # learning rate at the start of the epoch
    seconds: float      # wall time of the epoch, evaluation included
    batch_losses: tuple[float, ...] = ()


@dataclass
class TrainResult:
    model: torch.nn.Module
    records: list[EpochRecord]
    spec: str
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    device: str
    classes: tuple[str, ...]
    notes: list[str] = field(default_factory=list)


def pick_device(name: str = "auto") -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def channel_stats(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images scaled to [0, 1] — of the training set only, so that no
    information from the test set leaks into training. Computed exactly from each channel's histogram of the 256
    values (two-pass formula over the bins): 10 ms for 5,000 CIFAR images, where float64 arrays took 2 s."""
    means, stds = [], []
    for c in range(x.shape[1]):
        counts = np.bincount(np.ascontiguousarray(x[:, c]).reshape(-1), minlength=256).astype(np.float64)
        values = np.arange(256, dtype=np.float64) / 255
        n = counts.sum()
        mean = float(counts @ values / n)
        means.append(mean)
        stds.append(float(np.sqrt(counts @ (values - mean) ** 2 / n)))
    return tuple(means), tuple(stds)


def fit_zca(x: torch.Tensor, eps: float = 1e-2) -> torch.Tensor:
    """ZCA whitening matrix W = U·diag(1/√(λ + ε))·Uᵀ of the training images' covariance (flattened)."""
    flat = x.reshape(x.shape[0], -1).double()
    flat = flat - flat.mean(0)
    cov = flat.T @ flat / flat.shape[0]
    eigval, eigvec = torch.linalg.eigh(cov)
    return (eigvec @ torch.diag(1 / torch.sqrt(eigval.clamp_min(0) + eps)) @ eigvec.T).float()


def top_k_correct(logits: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
    k = min(k, logits.shape[1])
    return (logits.topk(k, dim=1).indices == y[:, None]).any(dim=1).sum()


class Batches:
    """The fast pipeline: uint8 tensors on the device; augmentation and normalisation per batch there."""

    def __init__(self, x: np.ndarray, y: np.ndarray, device, mean, std, augment: str, zca: torch.Tensor | None,
                 gen: torch.Generator, channels_last: bool = False):
        self.device, self.augment, self.gen = device, augment, gen
        self.x = torch.from_numpy(x).to(device)
        self.y = torch.from_numpy(y).to(device)
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1)
        self.zca = zca
        self.channels_last = channels_last

    def prepare(self, xb: torch.Tensor, train: bool) -> torch.Tensor:
        xf = (xb.float() / 255 - self.mean) / self.std
        if self.zca is not None:
            xf = (xf.reshape(xf.shape[0], -1) @ self.zca).reshape(xf.shape)
        if self.augment == "cropflip":
            xf = self.crop_flip(xf, CROP) if train else xf[..., 2:2 + CROP, 2:2 + CROP]
        elif self.augment == "padcrop" and train:
            xf = self.crop_flip(F.pad(xf, (PAD,) * 4), xf.shape[-1])
        return xf.contiguous(memory_format=torch.channels_last) if self.channels_last else xf

    def crop_flip(self, xb: torch.Tensor, size: int = CROP) -> torch.Tensor:
        """A random size×size crop of each image, then a horizontal flip with probability 1/2."""
        b, c, h, w = xb.shape
        d = self.device
        oy = torch.randint(0, h - size + 1, (b,), device=d, generator=self.gen)
        ox = torch.randint(0, w - size + 1, (b,), device=d, generator=self.gen)
        span = torch.arange(size, device=d)
        rows, cols = (oy[:, None] + span)[:, None, :, None], (ox[:, None] + span)[:, None, None, :]
        out = xb[torch.arange(b, device=d)[:, None, None, None], torch.arange(c, device=d)[None, :, None, None],
                 rows, cols]
        flip = torch.rand(b, device=d, generator=self.gen) < 0.5
        return torch.where(flip[:, None, None, None], out.flip(3), out)

    def epoch(self, batch_size: int, train: bool, drop_last: bool = False):
        """The epoch's batches: shuffled in training; with ``drop_last`` full batches only (a CUDA graph's one
        shape), the order's last ``n % batch_size`` images left out."""
        n = len(self.y)
        order = torch.randperm(n, device=self.device, generator=self.gen) if train else torch.arange(n, device=self.device)
        for i in range(0, n - n % batch_size if drop_last else n, batch_size):
            idx = order[i:i + batch_size]
            yield self.prepare(self.x[idx], train), self.y[idx]

    def steps(self, batch_size: int) -> int:
        return math.ceil(len(self.y) / batch_size)

    def get_state(self) -> dict:
        """The position of the random stream (crops, flips, data order)."""
        return {"gen": self.gen.get_state()}

    def set_state(self, state: dict) -> None:
        self.gen.set_state(state["gen"])


class LabLoader:
    """The lab's pipeline: PIL images → torchvision transforms → DataLoader (the reference to beat)."""

    def __init__(self, x, y, device, mean, std, augment: str, workers: int, seed: int, standardize: bool):
        from PIL import Image
        from torchvision import transforms as T

        self.device, self.x, self.y = device, x, y
        tail = [T.ToTensor()] + ([T.Normalize(mean, std)] if standardize else [])
        crop = {"cropflip": [T.RandomCrop(CROP), T.RandomHorizontalFlip()],
                "padcrop": [T.RandomCrop(x.shape[-1], padding=PAD), T.RandomHorizontalFlip()]}.get(augment, [])
        self.train_tf = T.Compose(crop + tail)
        self.test_tf = T.Compose(([T.CenterCrop(CROP)] if augment == "cropflip" else []) + tail)
        self.workers, self.seed, self.Image, self._epoch = workers, seed, Image, 0

    def _dataset(self, tf):
        x, y, image = self.x, self.y, self.Image

        class _Set(torch.utils.data.Dataset):
            def __len__(self):
                return len(y)

            def __getitem__(self, i):
                arr = x[i].transpose(1, 2, 0)
                return tf(image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)), int(y[i])
        return _Set()

    def epoch(self, batch_size: int, train: bool):
        self._epoch += 1
        loader = torch.utils.data.DataLoader(
            self._dataset(self.train_tf if train else self.test_tf), batch_size=batch_size, shuffle=train,
            num_workers=self.workers, generator=torch.Generator().manual_seed(self.seed + self._epoch),
            pin_memory=self.device.type == "cuda")
        for xb, yb in loader:
            yield xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)

    def steps(self, batch_size: int) -> int:
        return math.ceil(len(self.y) / batch_size)

    def get_state(self) -> dict:
        """The epochs served so far: each epoch's shuffle is seeded with seed + that count."""
        return {"epoch": self._epoch}

    def set_state(self, state: dict) -> None:
        self._epoch = int(state["epoch"])


def make_optimizer(cfg: TrainConfig, model: torch.nn.Module, steps_per_epoch: int, graphed: bool = False,
                   device: torch.device | None = None):
    """The optimiser and schedule of ``cfg``. ``graphed``: the optimiser in the form a CUDA graph holds
    (:func:`graphed.graph_optimizer`: rate as a tensor on ``device``, fused SGD / capturable Adam); the schedules
    write that tensor in place."""
    params = model.parameters()
    if graphed:
        opt = graph_step.graph_optimizer(cfg, model, device)
    elif cfg.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0,
                              weight_decay=cfg.weight_decay)
    else:
        cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
        opt = cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = {
        "none": None,
        "exponential": lambda: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=cfg.gamma),
        "step": lambda: torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, cfg.epochs // 3), gamma=0.1),
        "cosine": lambda: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs),
        "onecycle": lambda: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr,
                                                                total_steps=cfg.epochs * steps_per_epoch),
    }[cfg.schedule]
    return opt, (sched() if sched else None)


def _check_finite(value: float, cfg: TrainConfig, epoch: int, step: int, classes: int = 10) -> None:
    """Diverged: the loss is NaN/inf, or beyond 100·ln K — a cross-entropy that large means the logits have
    blown up (with bf16 autocast an exploded net may stay finite, its ReLUs dead, instead of reaching NaN)."""
    limit = 100 * math.log(max(classes, 2))
    if not math.isfinite(value) or value > limit:
        raise Diverged(f"the training loss became {value:.3g} at epoch {epoch}, step {step} (chance level is "
                       f"ln {classes} ≈ {math.log(max(classes, 2)):.2f}): the learning rate {cfg.lr:g} is too "
                       f"high for this network and setup (try {cfg.lr / 10:g}, or add batch norm / a schedule)")


def evaluate(model, batches, batch_size: int = 1000, bf16: bool = False) -> tuple[float, float, float]:
    """Loss, top-1, top-5 over the whole test set (sums over examples, divided by their number)."""
    model.eval()
    device = next(model.parameters()).device  # (a compiled module forwards parameters() to the original)
    loss = torch.zeros((), device=device)
    c1 = torch.zeros((), device=device, dtype=torch.long)
    c5 = torch.zeros((), device=device, dtype=torch.long)
    n = 0
    with torch.no_grad(), _autocast(device, bf16):
        for xb, yb in batches.epoch(batch_size, train=False):
            logits = model(xb).float()
            loss += F.cross_entropy(logits, yb, reduction="sum")
            c1 += top_k_correct(logits, yb, 1)
            c5 += top_k_correct(logits, yb, 5)
            n += len(yb)
    return loss.item() / n, c1.item() / n, c5.item() / n


def use_bf16(cfg: TrainConfig, device: torch.device) -> bool:
    """bf16 autocast: as asked, or with ``precision="auto"`` in the fast pipeline on CUDA and on CPUs with AMX
    (:func:`config.cpu_has_amx`: where it was measured to pay; not with AVX512-BF16 alone)."""
    if cfg.precision != "auto":
        return cfg.precision == "bf16"
    return cfg.pipeline == "fast" and (device.type == "cuda" or (device.type == "cpu" and cpu_has_amx()))


def use_channels_last(cfg: TrainConfig, device: torch.device, bf16: bool) -> bool:
    """channels_last in the fast pipeline on CUDA and on CPUs, whatever the precision. Measured on the CPUs of
    docs/BENCHMARKS.md: with bf16 it halves the step on the AMX Xeon; in fp32 an epoch of the lab net is 1.2–1.3×
    faster on the AVX512-BF16 Xeon (NCHW max pooling is slow there) and unchanged on the AMD EPYC. (``bf16`` is
    kept for callers that choose by it: the rule no longer needs it.)"""
    return cfg.pipeline == "fast" and device.type in ("cuda", "cpu")


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device.type if device.type in ("cuda", "cpu") else "cpu", dtype=torch.bfloat16,
                          enabled=enabled and device.type in ("cuda", "cpu"))


@dataclass
class Session:
    """Everything one run needs, prepared once by :func:`prepare`: data on its way to the device, the network,
    the optimiser and schedule, and the run's normalisation."""
    cfg: TrainConfig
    device: torch.device
    data: datasets.ImageData
    spec: str
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    model: torch.nn.Module          # plain module: its state_dict keys are the checkpoint's
    net: torch.nn.Module            # what runs: the model, or torch.compile of it
    train_batches: Batches | LabLoader
    test_batches: Batches | LabLoader
    steps: int                      # optimisation steps per epoch
    bf16: bool
    optimizer: torch.optim.Optimizer
    schedule: object | None
    notes: list[str]
    graphed: bool = False           # the training step is one CUDA graph (built at the first batch)
    graph: graph_step.GraphedStep | None = None


def cached_folder(root: Path) -> Path | None:
    """The folder where :func:`data.image_folder` keeps the full decode of the ImageFolder tree ``root``, when all
    four arrays are there; None otherwise. The same key as data.image_folder (the tree's resolved path and its
    per-class file counts; tests/test_quick_recipe.py checks the two agree): directory entries only, no decode."""
    classes = sorted(d.name for d in (root / "train").iterdir() if d.is_dir())
    listing = "|".join(f"{s}/{c}:{len(os.listdir(root / s / c))}" for s in ("train", "test") for c in classes
                       if (root / s / c).is_dir())
    key = hashlib.sha256(f"{root.resolve()}|{listing}".encode()).hexdigest()[:16]
    folder = datasets.cache_dir() / f"folder-{key}"
    names = ("train_x", "train_y", "test_x", "test_y")
    return folder if all((folder / f"{n}.npy").is_file() for n in names) else None


def _split(x: np.ndarray, y: np.ndarray, limit: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """data.load's seeded subset, of arrays that may be memory-mapped: only the chosen rows are read (a memory
    map is copied into memory: the tensors made from it must be writable)."""
    if limit is None or limit >= len(y):
        return tuple(a if type(a) is np.ndarray else np.array(a) for a in (x, y))
    idx = np.sort(np.random.default_rng(seed).permutation(len(y))[:limit])
    return x[idx], y[idx]


def load_data(cfg: TrainConfig) -> datasets.ImageData:
    """The run's images: ``limit`` training examples (seed) and ``test_limit`` test examples (seed + 1), else
    ``limit`` of them — the seeded subsets of :func:`data.load`, whose images they are.

    An ImageFolder tree whose full decode is cached is read from the cache, memory-mapped, and only the chosen
    rows are copied (the same images as decoding the chosen files: same listing, same draw) — 10,000 CIFAR-10
    images in ~0.1 s instead of ~3 s of JPEG decoding; without the cache only the chosen files of each split are
    decoded (a limit never decodes the whole tree)."""
    test_limit = cfg.test_limit or cfg.limit
    root = Path(cfg.data)
    if cfg.data in BUILT_IN or not root.is_dir() or not (root / "train").is_dir():
        data = datasets.load(cfg.data, cfg.limit, cfg.seed)  # names, and data.load's own messages
        if cfg.test_limit and cfg.test_limit < len(data.test_y):  # (fewer test images than training ones)
            data = datasets.ImageData(data.name, data.classes, data.train_x, data.train_y,
                                      *_split(data.test_x, data.test_y, cfg.test_limit, cfg.seed + 1))
        return data
    classes = tuple(sorted(d.name for d in (root / "train").iterdir() if d.is_dir()))
    name = "cifar10" if classes == datasets.CIFAR10_CLASSES else root.name
    cached = cached_folder(root)
    if cached is not None:
        arrays = [np.load(cached / f"{n}.npy", mmap_mode="r", allow_pickle=False)
                  for n in ("train_x", "train_y", "test_x", "test_y")]
    elif cfg.limit is None or test_limit is None:  # a whole split: decode the tree once, and cache it
        full = datasets.load(cfg.data)
        arrays = [full.train_x, full.train_y, full.test_x, full.test_y]
    else:  # both splits limited: decode the chosen files only
        return datasets.ImageData(name, classes, *datasets._decode_folder(root / "train", list(classes), cfg.limit,
                                                                          cfg.seed),
                                  *datasets._decode_folder(root / "test", list(classes), test_limit, cfg.seed + 1))
    return datasets.ImageData(name, classes, *_split(*arrays[:2], cfg.limit, cfg.seed),
                              *_split(*arrays[2:], test_limit, cfg.seed + 1))


def _normalization(cfg: TrainConfig, data: datasets.ImageData, notes: list[str]):
    """(mean, std) per channel for the run's standardization (the training images' own when asked)."""
    c = data.shape[0]
    if cfg.standardize == "lab" and c == 3:
        return LAB_MEAN, LAB_STD
    if cfg.standardize in ("lab", "train"):
        if cfg.standardize == "lab":
            notes.append("the lab's constants are for 3-channel CIFAR-10: statistics computed on train instead")
        return channel_stats(data.train_x)
    return (0.0,) * c, (1.0,) * c


def _batches(cfg: TrainConfig, data: datasets.ImageData, device, mean, std, channels_last: bool):
    """(training batches, test batches) of the run's pipeline: fast (tensors on the device) or the lab's."""
    if cfg.pipeline == "fast":
        zca = None
        if cfg.zca:
            xf = (torch.from_numpy(data.train_x).float() / 255 - torch.tensor(mean).view(1, -1, 1, 1)) / \
                torch.tensor(std).view(1, -1, 1, 1)
            zca = fit_zca(xf).to(device)
        gen = torch.Generator(device=device).manual_seed(cfg.seed)
        return (Batches(data.train_x, data.train_y, device, mean, std, cfg.augment, zca, gen, channels_last),
                Batches(data.test_x, data.test_y, device, mean, std, cfg.augment, zca, gen, channels_last))
    if cfg.zca:
        raise ValueError("ZCA whitening is offered in the fast pipeline only")
    standardize = cfg.standardize != "none"
    return (LabLoader(data.train_x, data.train_y, device, mean, std, cfg.augment, cfg.workers, cfg.seed, standardize),
            LabLoader(data.test_x, data.test_y, device, mean, std, cfg.augment, cfg.workers, cfg.seed, standardize))


def prepare(cfg: TrainConfig, data: datasets.ImageData | None = None,
            on_start: Callable[[str, tuple, tuple, tuple], None] | None = None,
            on_phase: Callable[[str], None] | None = None) -> Session:
    """Load the data (:func:`load_data`, unless given), build the network (seeded), its batches, optimiser and
    schedule; ``on_start(spec, input_shape, mean, std)`` once the network and normalisation are known,
    ``on_phase(name)`` as each part begins (:data:`LOADING`, :data:`BUILDING`)."""
    device = pick_device(cfg.device)
    if on_phase:
        on_phase(LOADING)
    data = data or load_data(cfg)
    if on_phase:
        on_phase(BUILDING)
    notes: list[str] = []
    mean, std = _normalization(cfg, data, notes)
    c, h, w = data.shape
    input_shape = (c, CROP, CROP) if cfg.augment == "cropflip" else (c, h, w)
    spec = model_spec(cfg, input_shape[1:])
    torch.manual_seed(cfg.seed)
    if on_start:
        on_start(spec, input_shape, mean, std)
    model = build_model(spec, input_shape).to(device)
    bf16 = use_bf16(cfg, device)
    channels_last = use_channels_last(cfg, device, bf16)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = torch.compile(model) if cfg.compile else model
    train_b, test_b = _batches(cfg, data, device, mean, std, channels_last)
    n = len(data.train_y)
    graphed = graph_step.graphed(cfg, device, n)
    steps = graph_step.graph_steps(n, cfg.batch_size) if graphed else train_b.steps(cfg.batch_size)
    if bf16 or channels_last:
        notes.append(", ".join(["bf16 autocast"] * bf16 + ["channels_last"] * channels_last) + " (fast pipeline)")
    if graphed:
        notes.append(f"each training step is one CUDA graph (full batches of {cfg.batch_size}: the last "
                     f"{n % cfg.batch_size} images of each epoch's shuffled order are left out)")
    elif device.type == "cuda" and (why := graph_step.why_not_graphed(cfg, device, n)):
        notes.append(why)
    opt, sched = make_optimizer(cfg, model, steps, graphed, device)
    return Session(cfg, device, data, spec, input_shape, mean, std, model, net, train_b, test_b, steps, bf16, opt,
                   sched, notes, graphed)


class Budget:
    """A run's time budget (``max_seconds``), counted from the start of :func:`train` — data loading included.
    Training stops at a progress point once the elapsed time plus ``reserve`` (the last evaluation's seconds:
    the final one still has to run) reaches it, so the run ends about on time with a tested model."""

    def __init__(self, seconds: float | None):
        self.seconds, self.start, self.reserve, self.hit = seconds, time.monotonic(), 0.0, False

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def spent(self) -> bool:
        self.hit = self.hit or (self.seconds is not None and self.elapsed() + self.reserve >= self.seconds)
        return self.hit


def train_epoch(s: Session, epoch: int, every: int,
                on_progress: Callable[[int, int, int, float], None] | None = None,
                should_stop: Callable[[], bool] | None = None,
                budget: Budget | None = None) -> tuple[list[float], float, float]:
    """One pass over the training set: (per-step losses, mean top-1, mean top-5). Metrics stay on the device;
    the host reads the running loss once every ``every`` steps (and asks ``should_stop`` then). When the
    ``budget`` is spent at such a point the pass ends there: the values are those of the steps taken."""
    cfg, device = s.cfg, s.device
    s.model.train()
    losses = torch.zeros(s.steps, device=device)
    top1 = torch.zeros(s.steps, device=device)
    top5 = torch.zeros(s.steps, device=device)
    batches = s.train_batches.epoch(cfg.batch_size, train=True, drop_last=True) if s.graphed else \
        s.train_batches.epoch(cfg.batch_size, train=True)
    for step, (xb, yb) in enumerate(batches):
        if s.graphed:
            if s.graph is None:  # captured once, on the run's first batch (the warm-up puts everything back)
                s.graph = graph_step.GraphedStep(s, xb, yb)
            loss, c1, c5 = s.graph.step(xb, yb)
        else:
            loss, c1, c5 = _eager_step(s, xb, yb)
        if cfg.schedule == "onecycle":
            s.schedule.step()
        losses[step] = loss
        top1[step] = c1 / len(yb)
        top5[step] = c5 / len(yb)
        if (step + 1) % every == 0:
            running = losses[:step + 1].mean().item()  # the one host sync every `every` steps
            _check_finite(running, cfg, epoch, step + 1, len(s.data.classes))
            if on_progress:
                on_progress(epoch, step + 1, s.steps, running)
            if should_stop and should_stop():
                raise Cancelled(f"stopped at epoch {epoch}, step {step + 1}")
            if budget is not None and budget.spent():
                done = step + 1
                return losses[:done].tolist(), top1[:done].mean().item(), top5[:done].mean().item()
    return losses.tolist(), top1.mean().item(), top5.mean().item()


def _eager_step(s: Session, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One training step, op by op: (loss, top-1 count, top-5 count), on the device."""
    with _autocast(s.device, s.bf16):
        logits = s.net(xb).float()
    loss = F.cross_entropy(logits, yb)
    s.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    s.optimizer.step()
    logits = logits.detach()
    return loss.detach(), top_k_correct(logits, yb, 1), top_k_correct(logits, yb, 5)


def capture(s: Session, epoch: int) -> dict:
    """The resume state after ``epoch``: everything :func:`restore` needs to continue exactly where the run is.
    Tensors, numbers, strings, lists and dicts only — what ``torch.load(..., weights_only=True)`` accepts — so
    loading a state can never run code. The tensors are the live ones: save it before training goes on."""
    cuda = s.device.type == "cuda"
    return {"format": STATE_FORMAT, "config": s.cfg.to_json(), "epoch": epoch, "device": s.device.type,
            "model": s.model.state_dict(), "optimizer": s.optimizer.state_dict(),
            "schedule": s.schedule.state_dict() if s.schedule is not None else {},
            "rng_cpu": torch.get_rng_state(), "rng_cuda": torch.cuda.get_rng_state_all() if cuda else [],
            "train_batches": s.train_batches.get_state(), "test_batches": s.test_batches.get_state()}


def restore(s: Session, state: dict) -> int:
    """Load a :func:`capture` state into a freshly prepared session of the same config; returns its epoch.
    On another kind of device the weights and optimiser continue but the random streams cannot (a CPU and a
    CUDA generator differ), so the data order differs from an uninterrupted run: a note says so."""
    if state.get("format") != STATE_FORMAT or TrainConfig.from_json(state["config"]) != s.cfg:
        raise ValueError("the resume state belongs to other settings or another version: it cannot continue "
                         "this run")
    s.model.load_state_dict(state["model"])
    # load_state_dict keeps the given tensors as the optimiser's buffers (momentum, Adam's moments), which
    # training then changes in place: a copy leaves the caller's state as it was, to resume from again
    s.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
    graph_step.match_loaded_state(s.optimizer, s.device, s.graphed)  # the saved groups carry another path's flags
    if s.schedule is not None:
        s.schedule.load_state_dict(state["schedule"])
    if state["device"] == s.device.type:
        torch.set_rng_state(state["rng_cpu"])
        if s.device.type == "cuda" and state["rng_cuda"]:
            torch.cuda.set_rng_state_all(state["rng_cuda"])
        s.train_batches.set_state(state["train_batches"])
        s.test_batches.set_state(state["test_batches"])
    else:
        s.notes.append(f"resumed on {s.device.type} from a {state['device']} checkpoint: the data order after "
                       "it differs from an uninterrupted run")
    epoch = int(state["epoch"])
    s.notes.append(f"resumed after epoch {epoch}")
    return epoch


def _batch_sizes(n: int, batch: int) -> list[int]:
    """The batch sizes one pass over ``n`` examples in batches of ``batch`` uses: the full one, and the tail."""
    return sorted({min(batch, n), n % batch} - {0}, reverse=True)


def warm_up(s: Session) -> float:
    """Run every shape of the coming epoch once, on zeros, through a copy of the network — a training step
    (forward, backward) at each training batch size (the full batch and the epoch's last, smaller one) and a
    forward pass at each evaluation batch size — so that oneDNN's kernels for those shapes are created and the
    allocator holds its blocks before the first epoch's clock starts (why, and what it changes: docs/BENCHMARKS.md,
    "First epoch"; without the evaluation's pass the first epoch stayed up to 1.2× the later ones). The run's own
    weights, optimiser and random streams are untouched (a copy of the network; the global RNG forked), so a run
    trains the same numbers with or without it. Seconds it took; nothing is done for a compiled network
    (compiling is its own first cost)."""
    if s.cfg.compile:
        return 0.0
    t0 = time.perf_counter()
    model = copy.deepcopy(s.model)
    fmt = torch.channels_last if _channels_last(s.model) else torch.contiguous_format
    devices = [s.device.index or 0] if s.device.type == "cuda" else []

    def zeros(b: int) -> torch.Tensor:
        return torch.zeros((b, *s.input_shape), device=s.device).contiguous(memory_format=fmt)
    with torch.random.fork_rng(devices=devices):
        model.train()
        for b in _batch_sizes(len(s.data.train_y), s.cfg.batch_size):
            with _autocast(s.device, s.bf16):
                logits = model(zeros(b)).float()
            F.cross_entropy(logits, torch.zeros(b, dtype=torch.long, device=s.device)).backward()
        model.eval()
        with torch.no_grad(), _autocast(s.device, s.bf16):
            for b in _batch_sizes(len(s.data.test_y), EVAL_BATCH):
                model(zeros(b))
    if s.device.type == "cuda":
        torch.cuda.synchronize(s.device)
    return time.perf_counter() - t0


def _channels_last(model: torch.nn.Module) -> bool:
    weight = next((p for p in model.parameters() if p.dim() == 4), None)
    return weight is not None and weight.is_contiguous(memory_format=torch.channels_last) and \
        not weight.is_contiguous()


def _run_epoch(s: Session, epoch: int, every: int, on_progress, should_stop, budget: Budget,
               phase: Callable[[str], None]) -> EpochRecord:
    """One epoch: train (until the budget is spent, at most), evaluate, step a per-epoch schedule."""
    t0 = time.perf_counter()
    lr = float(s.optimizer.param_groups[0]["lr"])  # a device tensor in a graphed run
    phase(TRAINING)
    batch_losses, top1, top5 = train_epoch(s, epoch, every, on_progress, should_stop, budget)
    train_loss = float(np.mean(batch_losses))
    _check_finite(train_loss, s.cfg, epoch, len(batch_losses), len(s.data.classes))
    phase(EVALUATING)
    t1 = time.perf_counter()
    test_loss, test1, test5 = evaluate(s.net, s.test_batches, EVAL_BATCH, bf16=s.bf16)
    budget.reserve = time.perf_counter() - t1
    if s.schedule is not None and s.cfg.schedule != "onecycle":
        s.schedule.step()
    return EpochRecord(epoch, train_loss, top1, top5, test_loss, test1, test5, lr, time.perf_counter() - t0,
                       tuple(batch_losses))


def _phases(on_phase: Callable[[str], None] | None) -> Callable[[str], None]:
    """``on_phase`` called only when the phase changes (training and evaluating alternate every epoch)."""
    last = [""]

    def report(name: str) -> None:
        if on_phase and name != last[0]:
            last[0] = name
            on_phase(name)
    return report


def train(cfg: TrainConfig, data: datasets.ImageData | None = None,
          on_epoch: Callable[[EpochRecord], None] | None = None,
          on_progress: Callable[[int, int, int, float], None] | None = None,
          should_stop: Callable[[], bool] | None = None, progress_every: int | None = None,
          on_start: Callable[[str, tuple, tuple, tuple], None] | None = None, resume: dict | None = None,
          on_checkpoint: Callable[[int, dict], None] | None = None,
          checkpoint_seconds: float = CHECKPOINT_SECONDS,
          on_phase: Callable[[str], None] | None = None) -> TrainResult:
    """Train ``cfg``; ``on_epoch(record)`` after each epoch, ``on_progress(epoch, step, steps, mean loss)``
    every ``progress_every`` steps, where ``should_stop()`` is also asked (→ :class:`Cancelled`; it is asked
    at each epoch's end too, except that a run whose last epoch has ended is done); ``on_start(spec,
    input_shape, mean, std)`` once the network and normalisation are known; ``on_phase(name)`` at each change
    of :data:`PHASES`. ``resume``: a :func:`capture` state of this config — training continues at the epoch
    after it, and ``records`` holds the new epochs only. ``on_checkpoint(epoch, state)`` at an epoch's end when
    ``checkpoint_seconds`` have passed since the last one, after the last epoch, and when stopping: time-based,
    so that fast epochs are not slowed by writing files. With ``cfg.max_seconds`` (:class:`Budget`) the run
    ends, done, when its time is spent: the epoch in progress is cut there, evaluated and recorded, and a note
    says so."""
    budget, phase = Budget(cfg.max_seconds), _phases(on_phase)
    s = prepare(cfg, data, on_start, phase)
    first = restore(s, resume) + 1 if resume is not None else 1
    every = progress_every or (100 if s.device.type == "cuda" else 10)
    if first <= cfg.epochs:
        phase(WARMING_UP)
        warm_up(s)
    records: list[EpochRecord] = []
    saved = time.monotonic()
    for epoch in range(first, cfg.epochs + 1):
        record = _run_epoch(s, epoch, every, on_progress, should_stop, budget, phase)
        records.append(record)
        if on_epoch:
            on_epoch(record)
        _check_finite(record.test_loss, cfg, epoch, s.steps, len(s.data.classes))  # the diverged epoch is kept
        last = epoch == cfg.epochs or budget.spent()
        stop = bool(should_stop and should_stop())
        if on_checkpoint and (stop or last or time.monotonic() - saved >= checkpoint_seconds):
            on_checkpoint(epoch, capture(s, epoch))
            saved = time.monotonic()
        if last:  # after the last epoch there is nothing left to stop: the run is done
            break
        if stop:
            raise Cancelled(f"stopped after epoch {epoch}")
    if budget.hit:
        steps = len(records[-1].batch_losses) if records else 0
        s.notes.append(f"time budget of {cfg.max_seconds:g} s reached in epoch {records[-1].epoch if records else 0} "
                       f"(step {steps} of {s.steps}; {budget.elapsed():.0f} s in all): training stopped there")
    return TrainResult(s.model, records, s.spec, s.input_shape, s.mean, s.std, str(s.device), s.data.classes, s.notes)

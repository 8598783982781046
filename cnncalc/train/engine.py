"""The training loop: the lab's ``main(batch_size, lr, epochs, cuda)`` with its ladder, on any device.

Two input pipelines share one loop:

* ``fast`` — the whole dataset on the device as uint8; crop, flip and normalisation done there on whole
  batches; no DataLoader, no per-step host sync (metrics accumulate on the device and are read every
  ``progress_every`` steps); bf16 autocast and channels_last on CUDA and on CPUs with bf16 units (airbench).
* ``lab`` — the lab's own pipeline: torchvision transforms on PIL images through a DataLoader.

Train metrics are averaged over the epoch's batches (as the lab computes them); test metrics over the
whole test set. Seeded: the same config on the same device gives the same numbers.

A run can stop and continue: :func:`capture` takes its resume state after an epoch (weights, optimiser and
schedule state, RNG states, the pipelines' positions — tensors and plain values only, so that
``torch.load(weights_only=True)`` reads it back), ``train(cfg, resume=state)`` continues at the next epoch
and reaches the same weights as a run that never stopped (same device).
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..pytorch.bridge import build_model
from ..train import data as datasets
from .config import LAB_MEAN, LAB_STD, TrainConfig, model_spec

CROP = 28  # RandomCrop / CenterCrop size of the lab's augmentation step
PAD = 4    # zero padding of the "padcrop" augmentation (pad 4, random 32×32 crop: the common CIFAR recipe)
CHECKPOINT_SECONDS = 10.0  # at most one checkpoint per this many seconds (fast GPU epochs are not slowed)
STATE_FORMAT = 1           # version of the resume state's layout


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
    information from the test set leaks into training."""
    xf = x.reshape(x.shape[0], x.shape[1], -1).astype(np.float64) / 255
    return tuple(xf.mean(axis=(0, 2)).tolist()), tuple(xf.std(axis=(0, 2)).tolist())


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

    def epoch(self, batch_size: int, train: bool):
        n = len(self.y)
        order = torch.randperm(n, device=self.device, generator=self.gen) if train else torch.arange(n, device=self.device)
        for i in range(0, n, batch_size):
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


def make_optimizer(cfg: TrainConfig, model: torch.nn.Module, steps_per_epoch: int):
    params = model.parameters()
    if cfg.optimizer == "sgd":
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


def cpu_has_bf16() -> bool:
    """AVX512-BF16 or AMX: bf16 matmuls/convs run about twice as fast as fp32 there (measured on the 2-core
    Xeon of docs/BENCHMARKS.md); elsewhere bf16 on the CPU is emulated and slower."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def use_bf16(cfg: TrainConfig, device: torch.device) -> bool:
    if cfg.precision != "auto":
        return cfg.precision == "bf16"
    return cfg.pipeline == "fast" and (device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16()))


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
            on_start: Callable[[str, tuple, tuple, tuple], None] | None = None) -> Session:
    """Load the data, build the network (seeded), its batches, optimiser and schedule;
    ``on_start(spec, input_shape, mean, std)`` once the network and normalisation are known."""
    device = pick_device(cfg.device)
    data = data or datasets.load(cfg.data, cfg.limit, cfg.seed)
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
    # channels_last: on CUDA, and with bf16 on the CPU (oneDNN's bf16 kernels: 2× per step on the 2-core Xeon of
    # docs/BENCHMARKS.md; in fp32 on the CPU it is slower, so not then)
    channels_last = cfg.pipeline == "fast" and (device.type == "cuda" or bf16)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = torch.compile(model) if cfg.compile else model
    train_b, test_b = _batches(cfg, data, device, mean, std, channels_last)
    steps = train_b.steps(cfg.batch_size)
    if bf16:
        notes.append("bf16 autocast" + (", channels_last" if channels_last else "") + " (fast pipeline)")
    opt, sched = make_optimizer(cfg, model, steps)
    return Session(cfg, device, data, spec, input_shape, mean, std, model, net, train_b, test_b, steps, bf16, opt,
                   sched, notes)


def train_epoch(s: Session, epoch: int, every: int,
                on_progress: Callable[[int, int, int, float], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> tuple[list[float], float, float]:
    """One pass over the training set: (per-step losses, mean top-1, mean top-5). Metrics stay on the device;
    the host reads the running loss once every ``every`` steps (and asks ``should_stop`` then)."""
    cfg, device = s.cfg, s.device
    s.model.train()
    losses = torch.zeros(s.steps, device=device)
    top1 = torch.zeros(s.steps, device=device)
    top5 = torch.zeros(s.steps, device=device)
    for step, (xb, yb) in enumerate(s.train_batches.epoch(cfg.batch_size, train=True)):
        with _autocast(device, s.bf16):
            logits = s.net(xb).float()
        loss = F.cross_entropy(logits, yb)
        s.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        s.optimizer.step()
        if cfg.schedule == "onecycle":
            s.schedule.step()
        losses[step] = loss.detach()
        top1[step] = top_k_correct(logits.detach(), yb, 1) / len(yb)
        top5[step] = top_k_correct(logits.detach(), yb, 5) / len(yb)
        if (step + 1) % every == 0:
            running = losses[:step + 1].mean().item()  # the one host sync every `every` steps
            _check_finite(running, cfg, epoch, step + 1, len(s.data.classes))
            if on_progress:
                on_progress(epoch, step + 1, s.steps, running)
            if should_stop and should_stop():
                raise Cancelled(f"stopped at epoch {epoch}, step {step + 1}")
    return losses.tolist(), top1.mean().item(), top5.mean().item()


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


def train(cfg: TrainConfig, data: datasets.ImageData | None = None,
          on_epoch: Callable[[EpochRecord], None] | None = None,
          on_progress: Callable[[int, int, int, float], None] | None = None,
          should_stop: Callable[[], bool] | None = None, progress_every: int | None = None,
          on_start: Callable[[str, tuple, tuple, tuple], None] | None = None, resume: dict | None = None,
          on_checkpoint: Callable[[int, dict], None] | None = None,
          checkpoint_seconds: float = CHECKPOINT_SECONDS) -> TrainResult:
    """Train ``cfg``; ``on_epoch(record)`` after each epoch, ``on_progress(epoch, step, steps, mean loss)``
    every ``progress_every`` steps, where ``should_stop()`` is also asked (→ :class:`Cancelled`; it is asked
    at each epoch's end too, except that a run whose last epoch has ended is done); ``on_start(spec, input_shape, mean, std)`` once the network and normalisation are
    known. ``resume``: a :func:`capture` state of this config — training continues at the epoch after it, and
    ``records`` holds the new epochs only. ``on_checkpoint(epoch, state)`` at an epoch's end when
    ``checkpoint_seconds`` have passed since the last one, after the last epoch, and when stopping: time-based,
    so that fast epochs are not slowed by writing files."""
    s = prepare(cfg, data, on_start)
    first = restore(s, resume) + 1 if resume is not None else 1
    every = progress_every or (100 if s.device.type == "cuda" else 10)
    classes = len(s.data.classes)
    records: list[EpochRecord] = []
    saved = time.monotonic()
    for epoch in range(first, cfg.epochs + 1):
        t0 = time.perf_counter()
        lr = s.optimizer.param_groups[0]["lr"]
        batch_losses, top1, top5 = train_epoch(s, epoch, every, on_progress, should_stop)
        train_loss = float(np.mean(batch_losses))
        _check_finite(train_loss, cfg, epoch, s.steps, classes)
        test_loss, test1, test5 = evaluate(s.net, s.test_batches, bf16=s.bf16)
        if s.schedule is not None and cfg.schedule != "onecycle":
            s.schedule.step()
        record = EpochRecord(epoch, train_loss, top1, top5, test_loss, test1, test5, lr, time.perf_counter() - t0,
                             tuple(batch_losses))
        records.append(record)
        if on_epoch:
            on_epoch(record)
        _check_finite(test_loss, cfg, epoch, s.steps, classes)  # after recording: the diverged epoch stays visible
        stop = bool(should_stop and should_stop())
        if on_checkpoint and (stop or epoch == cfg.epochs or time.monotonic() - saved >= checkpoint_seconds):
            on_checkpoint(epoch, capture(s, epoch))
            saved = time.monotonic()
        if stop and epoch < cfg.epochs:  # after the last epoch there is nothing left to stop: the run is done
            raise Cancelled(f"stopped after epoch {epoch}")
    return TrainResult(s.model, records, s.spec, s.input_shape, s.mean, s.std, str(s.device), s.data.classes, s.notes)

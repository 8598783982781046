"""The training configuration (a frozen dataclass with the lab's defaults, every field validated) and the lab's
ladder."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from dataclasses import dataclass

from ..parse import SpecError, format_spec, parse_spec
from ..layers import BatchNorm, Conv, Dropout, Linear
from ..presets import PRESETS, preset

LAB_MEAN = (0.491, 0.482, 0.447)  # the lab sheet's CIFAR-10 training-set statistics, per channel
LAB_STD = (0.202, 0.199, 0.201)

# One alternative per device kind and a bounded index: a device string is matched in one pass, whatever its length.
_DEVICE = re.compile(r"auto|cpu|mps|cuda(?::\d{1,3})?")
DEVICES = "auto, cpu, cuda, cuda:N or mps"


def check_device(device: str, field: str = "device") -> str:
    """``device`` if it is one that PyTorch can be asked for — auto | cpu | cuda | cuda:N | mps — else a
    ValueError naming the field, the value and the choices. Only the spelling is checked here (no torch: a
    config is built where torch is not imported); whether this machine has that device is the CLI's and the
    engine's question (:func:`cnncalc.train.cli.require_device`)."""
    if not isinstance(device, str) or len(device) > 16 or not _DEVICE.fullmatch(device):
        shown = repr(device) if len(repr(device)) <= 40 else repr(device)[:40] + "…"
        raise ValueError(f"{field}={shown}: choose one of {DEVICES} (N a GPU number, e.g. cuda:0)")
    return device


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def cpu_has_bf16() -> bool:
    """The CPU has bf16 units: AVX512-BF16 or AMX — the class of CPU the quick recipe's 60-second variant is
    for (:data:`QUICK`). Reads /proc/cpuinfo (no torch), so the page can choose without importing it."""
    flags = _cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_has_amx() -> bool:
    """AMX tiles with bf16: where bf16 autocast pays on a CPU (2× per step with channels_last on the AMX Xeon of
    docs/BENCHMARKS.md). With AVX512-BF16 alone, oneDNN's bf16 convolutions were no faster than fp32 ones and
    the epoch 1.5–1.7× slower than fp32 + channels_last (same section), so ``precision="auto"`` keeps fp32 there."""
    return "amx_bf16" in _cpu_flags()


def _check_range(name: str, value, ok: bool, allowed: str) -> None:
    if not ok:
        raise ValueError(f"{name}={value!r} is out of range: {name} must be {allowed}")


def _check_numbers(cfg: "TrainConfig") -> None:
    """Every number within the range where it means something; NaN fails every comparison, so it is refused
    too. Messages name the field, the value and the range (the CLI prints them as they are)."""
    lr, gamma, wd = cfg.lr, cfg.gamma, cfg.weight_decay
    _check_range("epochs", cfg.epochs, cfg.epochs >= 1, "a whole number ≥ 1")
    _check_range("batch_size", cfg.batch_size, cfg.batch_size >= 1, "a whole number ≥ 1 (images per step)")
    _check_range("limit", cfg.limit, cfg.limit is None or cfg.limit >= 1,
                 "a whole number ≥ 1 examples per split, or unset for all of them")
    _check_range("test_limit", cfg.test_limit, cfg.test_limit is None or cfg.test_limit >= 1,
                 "a whole number ≥ 1 test examples, or unset for as many as limit")
    budget = cfg.max_seconds
    _check_range("max_seconds", budget, budget is None or (math.isfinite(budget) and budget > 0),
                 "a finite number of seconds > 0, or unset for no time budget")
    # An infinite rate diverges at the first step, and the divergence advice (a tenth of it) would be inf too.
    _check_range("lr", lr, math.isfinite(lr) and lr > 0, "a finite number > 0, e.g. 0.1")
    _check_range("momentum", cfg.momentum, 0 <= cfg.momentum < 1, "from 0 (none) up to but not including 1")
    _check_range("weight_decay", wd, math.isfinite(wd) and wd >= 0, "a finite number ≥ 0, e.g. 5e-4")
    # The learning rate is multiplied by gamma every epoch: 0 or less would stop or flip it, above 1 grow it.
    _check_range("gamma", gamma, 0 < gamma <= 1, "in (0, 1]: above 0 and at most 1, e.g. 0.95")
    _check_range("dropout", cfg.dropout, 0 <= cfg.dropout < 1, "from 0 up to but not including 1")
    _check_range("workers", cfg.workers, cfg.workers >= 0, "a whole number ≥ 0")


@dataclass(frozen=True)
class TrainConfig:
    # model
    preset: str = "lab"             # a cnncalc preset; `spec` overrides it
    spec: str | None = None
    batchnorm: bool = False         # lab step 5: batch norm right after each conv
    dropout: float = 0.0            # lab step 4: dropout probability between the last two fc layers
    # data
    data: str = "cifar10"           # cifar10 | mnist | synthetic | path to an ImageFolder tree (train/, test/)
    limit: int | None = None        # examples per split (None: all of them)
    test_limit: int | None = None   # test examples, when fewer than `limit` (None: as many as `limit`)
    standardize: str = "none"       # none | lab (the sheet's constants) | train (computed on the training set)
    augment: str = "none"           # none | cropflip: RandomCrop(28) + horizontal flip, CenterCrop(28) for test
                                    # (the lab's) | padcrop: pad 4, RandomCrop(32) + flip (keeps 32×32)
    zca: bool = False               # bonus: ZCA whitening fitted on the training set
    # optimisation
    epochs: int = 10
    max_seconds: float | None = None  # time budget in seconds, data loading included: training stops when the
                                      # final evaluation would pass it (None: none; the epochs decide)
    batch_size: int = 128           # images per step
    lr: float = 0.1                 # learning rate, per step
    optimizer: str = "sgd"          # sgd | adam | adamw
    momentum: float = 0.0           # SGD momentum (lab step 3: 0.9)
    nesterov: bool = False
    weight_decay: float = 0.0       # L2 penalty per step
    schedule: str = "none"          # none | exponential (×gamma per epoch) | step | cosine | onecycle
    gamma: float = 0.95             # ExponentialLR factor per epoch (lab step 3)
    # execution
    pipeline: str = "fast"          # fast: data on the device as uint8 | lab: torchvision DataLoader + transforms
    device: str = "auto"            # auto | cpu | cuda | cuda:N | mps
    precision: str = "auto"         # auto: bf16 autocast in the fast pipeline on CUDA and on CPUs with AMX
                                    # (where it pays), else fp32 | fp32 | bf16
    compile: bool = False           # torch.compile the model (pays on a GPU for long runs; slower on this CPU)
    graph: str = "auto"             # auto: on CUDA, the fast pipeline's training step as one CUDA graph (full
                                    # batches only; cnncalc/train/graphed.py) | off: eager steps
    seed: int = 0
    workers: int = 2                # DataLoader workers of the lab pipeline

    def __post_init__(self):
        """Every field checked where a config is made — the CLI, the app's form, a stored run read back — so
        a bad value is one message naming the field, the value and the allowed range, not a run that fails
        (or, with lr=inf, "diverges" with advice to try inf) minutes later inside PyTorch."""
        checks = {"standardize": ("none", "lab", "train"), "augment": ("none", "cropflip", "padcrop"),
                  "optimizer": ("sgd", "adam", "adamw"), "pipeline": ("fast", "lab"),
                  "precision": ("auto", "fp32", "bf16"),
                  "graph": ("auto", "off"),
                  "schedule": ("none", "exponential", "step", "cosine", "onecycle")}
        for key, allowed in checks.items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"{key}={getattr(self, key)!r}: choose one of {', '.join(allowed)}")
        if str(self.preset).lower() not in PRESETS:  # preset() reads names in any case
            raise ValueError(f"preset={self.preset!r}: choose one of {', '.join(PRESETS)}")
        check_device(self.device)
        _check_numbers(self)
        if self.spec is not None:
            try:  # here, before any run is recorded, rather than as a failed run later
                parse_spec(self.spec)
            except SpecError as err:
                raise SpecError(f"spec: {err}") from None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in json.loads(text).items() if k in known})

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


# Where and how a run executes, not what it learns: two runs that differ only here are the same experiment
# (the same data, network, optimisation and seed; bf16 or another device rounds differently and the lab's
# DataLoader draws other crops, so the numbers differ within noise, never in kind). RunStore.identical() offers a
# finished run of the same experiment instead of training it again.
EXECUTION_FIELDS = ("device", "pipeline", "precision", "workers", "compile", "graph")
BUILT_IN_DATA = ("cifar10", "mnist", "synthetic")


def experiment_key(cfg: TrainConfig, variant: str = "") -> str:
    """The experiment ``cfg`` describes, as canonical text: every field but :data:`EXECUTION_FIELDS` that differs
    from the default (so that a field added later, at its default, leaves the keys of older runs unchanged), a
    data folder by its real path (``../shared/x`` and ``/abs/shared/x`` are one folder), the preset in lower case;
    ``variant`` names what a caller did beyond the config (e.g. the demos page's shuffled pixels) and is part of
    it. Equal keys: the same experiment."""
    default = TrainConfig()
    items = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name == "preset":
            value = value.lower()
        if f.name in EXECUTION_FIELDS or value == getattr(default, f.name):
            continue
        if f.name == "test_limit" and value == cfg.limit:
            continue  # as many test images as `limit` says: what None means
        if str(f.type).startswith("float") and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)  # lr=1 and lr=1.0 are one experiment
        items[f.name] = os.path.realpath(value) if f.name == "data" and value not in BUILT_IN_DATA else value
    if variant:
        items["variant"] = variant
    return json.dumps(items, sort_keys=True, separators=(",", ":"))


def cli_command(cfg: TrainConfig, always: tuple[str, ...] = ()) -> str:
    """The ``python -m cnncalc train …`` command that reproduces ``cfg``: a flag for every field that differs
    from the default, and for the fields in ``always`` (in that order first). Parsed back by the CLI, it gives
    ``cfg`` again (tests/test_train_config.py)."""
    import shlex
    default = TrainConfig()
    names = [*always, *(f.name for f in dataclasses.fields(cfg) if f.name not in always)]
    parts = ["python -m cnncalc train"]
    for name in names:
        value = getattr(cfg, name)
        if name not in always and (value == getattr(default, name) or value is None):
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            parts += [flag] if value else []
        else:
            parts.append(f"{flag} {shlex.quote(repr(value) if isinstance(value, float) else str(value))}")
    return " ".join(parts)


def model_spec(cfg: TrainConfig, image_hw: tuple[int, int]) -> str:
    """The network to train: the preset (or spec) with the ladder's batch norm and dropout inserted. With
    random 28×28 crops the lab net's pool3 switches to ceil mode (the lab sheet's choice) so fc4 keeps
    its 1024 inputs."""
    if cfg.spec:
        layers = list(parse_spec(cfg.spec))
    else:
        key = cfg.preset
        if key == "lab" and image_hw == (28, 28):
            key = "lab28"
        layers = list(parse_spec(preset(key).spec))
    if cfg.batchnorm:
        layers = [x for layer in layers for x in ([layer, BatchNorm()] if isinstance(layer, Conv) else [layer])]
    if cfg.dropout:
        last_fc = max(i for i, layer in enumerate(layers) if isinstance(layer, Linear))
        if not any(isinstance(layer, Dropout) for layer in layers[last_fc - 2:last_fc]):
            layers.insert(last_fc, Dropout(cfg.dropout))
    return format_spec(layers)


# The lab's ladder: each step adds one idea to the one before (reference results in docs/BENCHMARKS.md). Step 5 is
# the lab sheet's §3.4 (dropout alone), step 6 its §3.5 (batch norm added to it).
LADDER: dict[str, dict] = {
    "1 baseline": dict(epochs=30),
    "2 + standardization": dict(epochs=30, standardize="train"),
    "3 + random crop 28 + flip": dict(epochs=50, standardize="train", augment="cropflip"),
    "4 + momentum 0.9 + ExponentialLR 0.95": dict(epochs=50, standardize="train", augment="cropflip",
                                                    momentum=0.9, schedule="exponential", gamma=0.95),
    "5 + dropout 0.5": dict(epochs=100, standardize="train", augment="cropflip", momentum=0.9,
                            schedule="exponential", gamma=0.95, dropout=0.5),
    "6 + batch norm": dict(epochs=100, standardize="train", augment="cropflip", momentum=0.9,
                           schedule="exponential", gamma=0.95, dropout=0.5, batchnorm=True),
}
SWEEPS: dict[str, list[dict]] = {
    "learning rate": [dict(lr=lr) for lr in (1.0, 0.1, 0.001, 1e-5)],
    "batch size": [dict(batch_size=b) for b in (8, 32, 128, 256)],
}

# --- on a CPU ----------------------------------------------------------------------------------------------------
# The quick recipe: the lab's network learning CIFAR-10 in about a minute on a 2-core CPU (measured in
# docs/BENCHMARKS.md, "Quick recipe"). Two variants by the class of CPU (:func:`quick_config` picks one): "bf16"
# for CPUs with bf16 units (AVX512-BF16/AMX: recent Xeons, like the class server) — 60 seconds — and "fp32" for
# older ones, up to twice as slow, which get fewer images and 90 seconds. Everything not listed is the lab's
# default; the precision is the engine's choice for the CPU (``auto``: the fastest measured there).
QUICK: dict[str, dict] = {
    "bf16": dict(limit=35_000,         # training images: more distinct images beat more passes in a fixed time
                 test_limit=2_000,     # test images scored after each epoch (≥ 2,000: ±1 point of noise)
                 epochs=2,
                 batch_size=64,        # images per step
                 lr=0.05,              # the one-cycle schedule's peak learning rate, per step
                 momentum=0.9,         # SGD momentum (cycled 0.95 → 0.85 → 0.95 by the one-cycle schedule)
                 schedule="onecycle", standardize="train",
                 max_seconds=60.0,     # the time budget in seconds, data loading included
                 device="cpu"),
    "fp32": dict(limit=20_000, test_limit=2_000, epochs=2, batch_size=64, lr=0.05, momentum=0.9,
                 schedule="onecycle", standardize="train", max_seconds=90.0, device="cpu"),
}
QUICK_EXPLANATION = (
    "The quick recipe trains the lab's network unchanged (no batch norm, no dropout: those are later steps of "
    "the ladder) and changes only how it is trained, so that it learns in about a minute on a CPU:\n"
    "- **35,000 training images, 2 epochs** instead of 50,000 for 30 epochs, and 2,000 test images scored after "
    "each epoch instead of 10,000: in a fixed time, more different images teach more than more passes over "
    "fewer (measured: 35,000 images × 2 epochs reach 68 % in 43 s, 10,000 × 9 epochs 66 % in 57 s).\n"
    "- **batch 64** instead of 128: twice the steps for the same images — on a CPU an image costs the same "
    "time either way.\n"
    "- **momentum 0.9 and a one-cycle schedule** instead of a constant learning rate 0.1 (the lab's step 4 "
    "adds momentum and a decaying rate): the rate climbs to 0.05 over the first 30 % of the steps, then falls "
    "to almost zero, so the final weights are settled rather than noisy (+4 points over a constant rate).\n"
    "- **standardization on the training images** (the lab's step 2); **no augmentation**: in 2 epochs no "
    "image is seen often enough to be memorised, so crops and flips would only slow learning down.\n"
    "- **a 60-second budget**, data loading included: on a busy machine training stops in time for the "
    "final evaluation. The same seed gives the same images and the same numbers when it finishes in time.\n"
    "On a CPU without bf16 units (an older one, up to twice as slow) it trains 20,000 images for 2 epochs in "
    "90 seconds.")


def quick_config(data: str, seed: int = 0, variant: str | None = None) -> TrainConfig:
    """The quick recipe (:data:`QUICK`) on ``data`` (a CIFAR-10 ImageFolder tree, or any source): ``variant``
    "bf16" or "fp32", by default the one for this machine's CPU (:func:`cpu_has_bf16`). Deterministic given
    ``seed``; the page's "Quick demo" queues exactly this config."""
    variant = variant or ("bf16" if cpu_has_bf16() else "fp32")
    return TrainConfig(data=data, seed=seed, **QUICK[variant])


CPU_LADDER_IMAGES = (10_000, 2_000)  # (training, test) images of a ladder step on a CPU
CPU_LADDER_EPOCH_DIVISOR = 3         # a step's epochs on a CPU: its full epochs / 3, rounded up


def cpu_ladder(step: dict) -> dict:
    """A ladder step's settings (:data:`LADDER`) scaled to a few minutes on a 2-core CPU — the full settings stay
    in LADDER, one click away. The rule: 10,000 training and 2,000 test images instead of 50,000 and 10,000, and
    a third of the epochs, rounded up (30 → 10, 50 → 17, 100 → 34); every other setting is the step's own (γ too:
    the run still stands for its step — cnncalc.train.ladder matches steps on their settings, epochs and data
    aside — and its rate simply decays less far). Each step sees a fifteenth of the full step's images: 1–4
    minutes a step on the 2-core Xeon of docs/BENCHMARKS.md ("The ladder on a CPU"), 12 minutes for all six;
    about twice that on a CPU half as fast. Accuracies are lower than the lab's (fewer images, far from
    converged in the first steps), but each step's idea shows (a fifth of the epochs was too short for that)."""
    epochs = step.get("epochs", TrainConfig.epochs)
    return {**step, "epochs": math.ceil(epochs / CPU_LADDER_EPOCH_DIVISOR), "limit": CPU_LADDER_IMAGES[0],
            "test_limit": CPU_LADDER_IMAGES[1]}

"""The training configuration (a frozen dataclass with the lab's defaults, every field validated) and the lab's
ladder."""
from __future__ import annotations

import dataclasses
import json
import math
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
    standardize: str = "none"       # none | lab (the sheet's constants) | train (computed on the training set)
    augment: str = "none"           # none | cropflip: RandomCrop(28) + horizontal flip, CenterCrop(28) for test
                                    # (the lab's) | padcrop: pad 4, RandomCrop(32) + flip (keeps 32×32)
    zca: bool = False               # bonus: ZCA whitening fitted on the training set
    # optimisation
    epochs: int = 10
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
    precision: str = "auto"         # auto: bf16 autocast in the fast pipeline on CUDA and on CPUs with bf16
                                    # units (AVX512-BF16/AMX), else fp32 | fp32 | bf16
    compile: bool = False           # torch.compile the model (pays on a GPU for long runs; slower on this CPU)
    seed: int = 0
    workers: int = 2                # DataLoader workers of the lab pipeline

    def __post_init__(self):
        """Every field checked where a config is made — the CLI, the app's form, a stored run read back — so
        a bad value is one message naming the field, the value and the allowed range, not a run that fails
        (or, with lr=inf, "diverges" with advice to try inf) minutes later inside PyTorch."""
        checks = {"standardize": ("none", "lab", "train"), "augment": ("none", "cropflip", "padcrop"),
                  "optimizer": ("sgd", "adam", "adamw"), "pipeline": ("fast", "lab"),
                  "precision": ("auto", "fp32", "bf16"),
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

"""The training configuration (a frozen dataclass with the lab's defaults) and the lab's ladder."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from ..parse import format_spec, parse_spec
from ..layers import BatchNorm, Conv, Dropout, Linear
from ..presets import preset

LAB_MEAN = (0.491, 0.482, 0.447)  # the lab sheet's CIFAR-10 training-set statistics, per channel
LAB_STD = (0.202, 0.199, 0.201)


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
        checks = {"standardize": ("none", "lab", "train"), "augment": ("none", "cropflip", "padcrop"),
                  "optimizer": ("sgd", "adam", "adamw"), "pipeline": ("fast", "lab"),
                  "precision": ("auto", "fp32", "bf16"),
                  "schedule": ("none", "exponential", "step", "cosine", "onecycle")}
        for key, allowed in checks.items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"{key}={getattr(self, key)!r}: choose one of {', '.join(allowed)}")
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0 or not 0 <= self.dropout < 1:
            raise ValueError("epochs and batch size must be ≥ 1, lr > 0 and 0 ≤ dropout < 1")
        if self.limit is not None and self.limit < 1:
            raise ValueError("limit must be ≥ 1 examples per split")

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


# The lab's ladder: each step adds one idea to the one before (reference results in docs/BENCHMARKS.md).
LADDER: dict[str, dict] = {
    "1 baseline": dict(epochs=30),
    "2 + standardization": dict(epochs=30, standardize="train"),
    "3 + random crop 28 + flip": dict(epochs=50, standardize="train", augment="cropflip"),
    "4 + momentum 0.9 + ExponentialLR 0.95": dict(epochs=50, standardize="train", augment="cropflip",
                                                    momentum=0.9, schedule="exponential", gamma=0.95),
    "5 + dropout 0.5 + batch norm": dict(epochs=100, standardize="train", augment="cropflip", momentum=0.9,
                                         schedule="exponential", gamma=0.95, dropout=0.5, batchnorm=True),
}
SWEEPS: dict[str, list[dict]] = {
    "learning rate": [dict(lr=lr) for lr in (1.0, 0.1, 0.001, 1e-5)],
    "batch size": [dict(batch_size=b) for b in (8, 32, 128, 256)],
}

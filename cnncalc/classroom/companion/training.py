"""Part 2 of the lab companion: training the lab's network — the command and the Training page's form that run
it, the choices of the training CLI, what dropout and batch norm do in train and eval mode, the chance level.

torch is imported inside the functions that need it."""
from __future__ import annotations

from dataclasses import dataclass

from ...train import config
from ...train.config import TrainConfig

LAB_MAIN = ("preset", "data", "epochs", "batch_size", "lr", "device")  # the lab's main(batch, lr, epochs, device)


def cli_command(cfg: TrainConfig | None = None) -> str:
    """``python -m cnncalc train …`` with ``cfg``'s values, the lab's main() arguments always written."""
    return config.cli_command(cfg or TrainConfig(device="cuda"), always=LAB_MAIN)


def train_choices() -> dict[str, tuple[str, ...]]:
    """The choices the training CLI offers (read from its argument parser): optimizer, schedule, augment, …"""
    import argparse

    from ...train.cli import add_parsers
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"))
    train = parser._subparsers._group_actions[0].choices["train"]  # noqa: SLF001  (argparse has no public API)
    return {a.dest: tuple(a.choices) for a in train._actions if a.choices}  # noqa: SLF001


def train_flags() -> set[str]:
    """Every option of ``python -m cnncalc train`` (e.g. '--zca')."""
    import argparse

    from ...train.cli import add_parsers
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
    batch_var: float                  # unbiased (÷ n − 1), what updates the running variance
    batch_var_biased: float           # biased (÷ n), what train mode normalises with
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
                         float(x.var(unbiased=False)), float(bn.running_mean), float(bn.running_var),
                         tuple(out.flatten().tolist()))


def chance() -> dict[str, float]:
    """Loss ln 10, top-1 10 %, top-5 50 % for a uniform guess over CIFAR-10's 10 classes."""
    from ...draw.train_charts import chance_levels
    return chance_levels(10)


def steps_per_epoch(batch_size: int, images: int | None = None) -> int:
    """Optimizer steps in one epoch: ⌈images / batch⌉ (the last, smaller batch is kept), on CIFAR-10's 50,000
    training images by default."""
    from ...comparisons import CIFAR10_TRAIN_IMAGES
    n = CIFAR10_TRAIN_IMAGES if images is None else images
    return -(-n // batch_size)


# Question 16's slip: the reference for the sharp-minima finding.
KESKAR = ("Keskar, Mudigere, Nocedal, Smelyanskiy & Tang, “On Large-Batch Training for Deep Learning: "
          "Generalization Gap and Sharp Minima”, ICLR 2017")

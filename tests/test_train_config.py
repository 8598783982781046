"""The training CLI command written for a config parses back to the same config (oracle: the CLI's own
argument parser, run on the command split as a shell would)."""
import argparse
import shlex

from hypothesis import given, settings, strategies as st

from cnncalc.train.cli import add_parsers, config_from_args
from cnncalc.train.config import TrainConfig, cli_command

configs = st.builds(
    TrainConfig,
    preset=st.sampled_from(["lab", "lenet5"]), spec=st.none() | st.just("conv 8 k=3 p=1; relu; gap; fc 10"),
    batchnorm=st.booleans(), dropout=st.sampled_from([0.0, 0.25, 0.5]),
    data=st.sampled_from(["cifar10", "synthetic", "/data/my images/cifar"]), limit=st.none() | st.integers(1, 50_000),
    standardize=st.sampled_from(["none", "lab", "train"]), augment=st.sampled_from(["none", "cropflip", "padcrop"]),
    zca=st.booleans(), epochs=st.integers(1, 200), batch_size=st.integers(1, 4096),
    lr=st.floats(1e-6, 5.0, allow_nan=False), optimizer=st.sampled_from(["sgd", "adam", "adamw"]),
    momentum=st.sampled_from([0.0, 0.9, 0.99]), nesterov=st.booleans(), weight_decay=st.sampled_from([0.0, 5e-4]),
    schedule=st.sampled_from(["none", "exponential", "step", "cosine", "onecycle"]),
    gamma=st.floats(0.5, 1.0), pipeline=st.sampled_from(["fast", "lab"]),
    device=st.sampled_from(["auto", "cpu", "cuda"]), precision=st.sampled_from(["auto", "fp32", "bf16"]),
    compile=st.booleans(), seed=st.integers(0, 10_000), workers=st.integers(0, 8))


@settings(max_examples=150, deadline=None)
@given(configs)
def test_cli_command_round_trips(cfg):
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(shlex.split(cli_command(cfg))[3:])
    assert config_from_args(args) == cfg


def test_defaults_write_no_flags_and_always_lists_the_lab_arguments():
    assert cli_command(TrainConfig()) == "python -m cnncalc train"
    assert cli_command(TrainConfig(), always=("epochs", "lr")) == "python -m cnncalc train --epochs 10 --lr 0.1"

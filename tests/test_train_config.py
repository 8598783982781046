"""The training CLI command written for a config parses back to the same config (oracle: the CLI's own
argument parser, run on the command split as a shell would); every field is checked, each refusal naming
the field, the value and the allowed range."""
import argparse
import math
import shlex

import pytest
from hypothesis import given, settings, strategies as st

from cnncalc.parse import SpecError
from cnncalc.train.cli import add_parsers, config_from_args
from cnncalc.train.config import TrainConfig, check_device, cli_command

FIELD_STRATEGIES = dict(
    preset=st.sampled_from(["lab", "lenet5"]), spec=st.none() | st.just("conv 8 k=3 p=1; relu; gap; fc 10"),
    batchnorm=st.booleans(), dropout=st.sampled_from([0.0, 0.25, 0.5]),
    data=st.sampled_from(["cifar10", "synthetic", "/data/my images/cifar"]), limit=st.none() | st.integers(1, 50_000),
    test_limit=st.none() | st.integers(1, 10_000), max_seconds=st.none() | st.floats(0.001, 1e6, allow_nan=False),
    standardize=st.sampled_from(["none", "lab", "train"]), augment=st.sampled_from(["none", "cropflip", "padcrop"]),
    zca=st.booleans(), epochs=st.integers(1, 200), batch_size=st.integers(1, 4096),
    lr=st.floats(1e-6, 5.0, allow_nan=False), optimizer=st.sampled_from(["sgd", "adam", "adamw"]),
    momentum=st.sampled_from([0.0, 0.9, 0.99]), nesterov=st.booleans(), weight_decay=st.sampled_from([0.0, 5e-4]),
    schedule=st.sampled_from(["none", "exponential", "step", "cosine", "onecycle"]),
    gamma=st.floats(0.5, 1.0), pipeline=st.sampled_from(["fast", "lab"]),
    device=st.sampled_from(["auto", "cpu", "cuda"]), precision=st.sampled_from(["auto", "fp32", "bf16"]),
    compile=st.booleans(), graph=st.sampled_from(["auto", "off"]), seed=st.integers(0, 10_000), workers=st.integers(0, 8))
configs = st.builds(TrainConfig, **FIELD_STRATEGIES)


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


# --- every field is checked where the config is made (issue #10) -----------------------------------------

INF, NAN = math.inf, math.nan


@pytest.mark.parametrize("field, value, allowed", [
    ("gamma", -5.0, "(0, 1]"), ("gamma", 0.0, "(0, 1]"), ("gamma", 1.01, "(0, 1]"), ("gamma", NAN, "(0, 1]"),
    ("lr", INF, "finite number > 0"), ("lr", NAN, "finite number > 0"), ("lr", 0.0, "finite number > 0"),
    ("lr", -0.1, "finite number > 0"), ("lr", -INF, "finite number > 0"),
    ("momentum", 1.0, "up to but not including 1"), ("momentum", -0.1, "from 0"), ("momentum", NAN, "from 0"),
    ("weight_decay", -1e-4, "≥ 0"), ("weight_decay", INF, "finite"), ("weight_decay", NAN, "finite"),
    ("epochs", 0, "≥ 1"), ("batch_size", 0, "≥ 1"), ("limit", 0, "≥ 1"), ("dropout", 1.0, "not including 1"),
    ("workers", -1, "≥ 0"), ("test_limit", 0, "≥ 1"), ("max_seconds", 0.0, "> 0"), ("max_seconds", -1.0, "> 0"),
    ("max_seconds", INF, "finite"), ("max_seconds", NAN, "finite"),
])
def test_out_of_range_numbers_name_the_field_the_value_and_the_range(field, value, allowed):
    with pytest.raises(ValueError) as err:
        TrainConfig(**{field: value})
    message = str(err.value)
    assert message.startswith(f"{field}={value!r}") and allowed in message, message


@pytest.mark.parametrize("changes", [dict(gamma=1.0), dict(gamma=1e-9), dict(momentum=0.0), dict(momentum=0.999),
                                     dict(weight_decay=0.0), dict(lr=1e300), dict(lr=1e-12), dict(limit=1),
                                     dict(device="cuda:7"), dict(device="mps"), dict(preset="LeNet5"),
                                     dict(spec="conv 8 k=3; relu; gap; fc 10")])
def test_edges_of_the_ranges_are_accepted(changes):
    assert TrainConfig(**changes).replace() == TrainConfig(**changes)


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:0", "cuda:12", "mps"])
def test_check_device_accepts_what_torch_can_be_asked_for(device):
    assert check_device(device) == device


@pytest.mark.parametrize("device", ["bogus", "", "CUDA", "cuda:", "cuda:x", "cuda:-1", "cuda:0:1", "gpu", "cuda0",
                                    " cpu", "cuda:1234", "cpu\n", "c" * 10_000, None, 0])
def test_check_device_refuses_anything_else(device):
    with pytest.raises(ValueError) as err:
        TrainConfig(device=device)
    assert str(err.value).startswith("device=") and "auto, cpu, cuda, cuda:N or mps" in str(err.value)
    assert len(str(err.value)) < 200


def test_unknown_preset_and_unreadable_spec_are_refused():
    with pytest.raises(ValueError, match="preset='nope': choose one of lab, "):
        TrainConfig(preset="nope")
    with pytest.raises(SpecError, match="^spec: layer 2 .*unknown layer 'wobble'"):
        TrainConfig(spec="conv 8; wobble")


def test_a_stored_config_is_checked_when_read():
    text = TrainConfig().to_json().replace('"gamma": 0.95', '"gamma": -5')
    with pytest.raises(ValueError, match="gamma=-5"):
        TrainConfig.from_json(text)


def test_every_field_has_a_cli_flag_and_the_strategy_covers_it():
    """A new field must round-trip too: it needs its flag in train/cli.py and its values in ``configs`` above."""
    import dataclasses
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train"])
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert fields <= set(vars(args)), fields - set(vars(args))
    assert fields == set(FIELD_STRATEGIES)


def test_quick_flag_takes_the_recipe_and_given_options_override_it(monkeypatch):
    from cnncalc.train.config import quick_config
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "--quick", "--data", "/data/cifar", "--seed", "4"])
    assert config_from_args(args) == quick_config("/data/cifar", seed=4)
    args = parser.parse_args(["train", "--quick", "--data", "/data/cifar", "--epochs", "5", "--device", "auto"])
    assert config_from_args(args) == quick_config("/data/cifar").replace(epochs=5, device="cpu")
    line = cli_command(quick_config("/data/cifar"))
    assert "--max-seconds" in line and "--test-limit 2000" in line
    assert config_from_args(parser.parse_args(shlex.split(line)[3:])) == quick_config("/data/cifar")

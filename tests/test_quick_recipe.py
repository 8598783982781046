"""The quick CPU recipe (issue #11): the lab's network learning CIFAR-10 in about a minute, its budget, its
data path (the decoded cache, a separate test limit), the run's phases and the warm-up before the first epoch."""
import math
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnncalc import preset
from cnncalc.train import data as datasets
from cnncalc.train import engine
from cnncalc.train.config import (LADDER, QUICK, QUICK_EXPLANATION, TrainConfig, cpu_ladder, model_spec,
                                  quick_config)
from cnncalc.train.engine import PHASES, cached_folder, load_data, train

CIFAR = datasets.local_cifar10()
TINY = dict(data="synthetic", limit=300, epochs=2, batch_size=32, lr=1e-3, optimizer="adam", device="cpu")


@pytest.mark.slow
@pytest.mark.skipif(CIFAR is None, reason="needs ../shared/data/cifar10-jpeg (not in a user's clone)")
def test_the_quick_recipe_learns_cifar10_within_its_budget():
    """The goal (≥ 60 % top-1 in 60 s with bf16 units, ≥ 50 % in 90 s without) asserted at 55 % / 45 %: a CI
    machine may be busier than the quiet one of docs/BENCHMARKS.md (there: 68 % in 48 s). The budget is the
    recipe's own; its clock includes loading the data when the decoded cache is there (else the first decode,
    about 10 s, is done before the clock: it is a one-off cost, measured apart in docs/BENCHMARKS.md)."""
    cfg = quick_config(str(CIFAR))
    data = None if cached_folder(CIFAR) else load_data(cfg)
    t0 = time.perf_counter()
    result = train(cfg, data)
    seconds = time.perf_counter() - t0
    top1 = result.records[-1].test_top1
    goal = 0.55 if cfg.max_seconds <= 60 else 0.45
    assert len(result.model.state_dict()) and len(np.unique(load_data(cfg).test_y)) == 10
    assert top1 >= goal, (top1, seconds, result.notes)
    assert seconds <= cfg.max_seconds + 5, (seconds, result.notes)  # the final evaluation's overshoot at most


def test_the_recipe_is_the_lab_network_deterministic_and_explained():
    for variant, settings in QUICK.items():
        cfg = quick_config("/data/cifar", seed=3, variant=variant)
        assert cfg == quick_config("/data/cifar", seed=3, variant=variant) and cfg.seed == 3
        assert cfg.preset == "lab" and cfg.spec is None and not cfg.batchnorm and cfg.dropout == 0
        assert model_spec(cfg, (32, 32)) == preset("lab").spec  # its layers unchanged
        assert cfg.max_seconds in (60.0, 90.0) and cfg.test_limit >= 2000
        assert f"{settings['limit']:,} training images" in QUICK_EXPLANATION or \
            f"{settings['limit']:,} images" in QUICK_EXPLANATION, variant
    assert quick_config("x").max_seconds in (60.0, 90.0)  # this machine's variant


def test_a_stopped_on_time_run_is_done_with_a_tested_model_and_says_so():
    cfg = TrainConfig(**{**TINY, "limit": 3000, "epochs": 200, "max_seconds": 4.0})
    t0 = time.perf_counter()
    result = train(cfg)
    assert time.perf_counter() - t0 < 4.0 + 3.0  # a progress point every 10 steps, then one evaluation
    last = result.records[-1]
    assert 1 <= len(result.records) < 200 and math.isfinite(last.test_loss)
    assert any("time budget of 4 s reached" in n for n in result.notes)
    assert len(last.batch_losses) <= math.ceil(3000 / 32)


def test_phases_come_in_order():
    seen = []
    train(TrainConfig(**TINY), on_phase=seen.append)
    loading, building, warming, training, evaluating = PHASES
    assert seen == [loading, building, warming, training, evaluating, training, evaluating]


def test_the_warm_up_changes_no_number(monkeypatch):
    """The warm-up runs a copy of the network on zeros with the global RNG forked: dropout, crops, flips and
    the weights see the same random numbers as without it."""
    cfg = TrainConfig(**{**TINY, "augment": "cropflip", "dropout": 0.5, "optimizer": "sgd", "lr": 0.02,
                         "momentum": 0.9})
    warm = train(cfg)
    monkeypatch.setattr(engine, "warm_up", lambda s: 0.0)
    cold = train(cfg)
    assert [r.batch_losses for r in warm.records] == [r.batch_losses for r in cold.records]
    assert [r.test_loss for r in warm.records] == [r.test_loss for r in cold.records]


def test_warm_up_runs_every_batch_shape_of_an_epoch():
    assert engine._batch_sizes(1000, 64) == [64, 40] and engine._batch_sizes(640, 64) == [64]
    assert engine._batch_sizes(30, 64) == [30]


# --- data: a separate test limit, and the decoded cache read in place of the JPEGs ----------------------------
def _tree(root: Path, per_class: int = 6) -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c in ("cat", "dog", "frog"):
            (root / split / c).mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(root / split / c / f"{i}.png")
    return root


def test_the_cache_is_found_where_data_writes_it_and_gives_the_decoded_images(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNCALC_CACHE", str(tmp_path / "cache"))
    tree = _tree(tmp_path / "tree")
    cfg = TrainConfig(data=str(tree), limit=7, test_limit=4, seed=5)
    assert cached_folder(tree) is None
    decoded = load_data(cfg)  # no cache: only the chosen files decoded, nothing written
    assert cached_folder(tree) is None and len(decoded.train_y) == 7 and len(decoded.test_y) == 4
    datasets.load(str(tree))  # the full decode writes the cache
    assert cached_folder(tree) is not None
    cached = load_data(cfg)
    for a, b in zip((decoded.train_x, decoded.train_y, decoded.test_x, decoded.test_y),
                    (cached.train_x, cached.train_y, cached.test_x, cached.test_y)):
        assert np.array_equal(a, b) and type(b) is np.ndarray and b.flags.writeable
    same = datasets.load(str(tree), limit=7, seed=5)  # data.load's own subset: the same images
    assert np.array_equal(same.train_x, cached.train_x) and cached.classes == ("cat", "dog", "frog")
    whole = load_data(TrainConfig(data=str(tree)))
    assert len(whole.train_y) == 18 and len(whole.test_y) == 18


def test_test_limit_on_built_in_sources():
    data = load_data(TrainConfig(data="synthetic", limit=1000, test_limit=50))
    assert len(data.train_y) == 1000 and len(data.test_y) == 50
    assert len(load_data(TrainConfig(data="synthetic", limit=1000)).test_y) == 200  # data.load's rule


# --- the ladder on a CPU ----------------------------------------------------------------------------------------
def test_cpu_ladder_scales_epochs_and_data_and_keeps_every_other_setting():
    scaled = {name: cpu_ladder(step) for name, step in LADDER.items()}
    assert [s["epochs"] for s in scaled.values()] == [10, 10, 17, 17, 34, 34]
    for name, step in LADDER.items():
        s = scaled[name]
        assert (s["limit"], s["test_limit"]) == (10_000, 2_000)
        assert {k: v for k, v in s.items() if k not in ("epochs", "limit", "test_limit")} == \
            {k: v for k, v in step.items() if k != "epochs"}
        TrainConfig(**s)  # valid
    assert LADDER["1 baseline"] == {"epochs": 30}  # the full settings are untouched

"""The training engine on CPU: learning happens, seeds reproduce, both pipelines agree, failures are named."""
import math

import numpy as np
import pytest
import torch

from cnncalc import analyze, preset
from cnncalc.train import data as datasets
from cnncalc.train.config import LAB_MEAN, TrainConfig, model_spec
from cnncalc.train.engine import CROP, Batches, Diverged, channel_stats, top_k_correct, train
from conftest import SHARED

CIFAR = SHARED / "data" / "cifar10-jpeg"
# Adam at 1e-3 learns the synthetic rings in two CPU epochs; plain SGD at the lab's 0.1 plateaus longer
TINY = dict(data="synthetic", limit=1000, epochs=2, batch_size=32, lr=1e-3, optimizer="adam", standardize="train",
            device="cpu")


def test_learns_synthetic_well_above_chance():
    result = train(TrainConfig(**TINY))
    last = result.records[-1]
    assert last.test_top1 > 0.5            # chance is 0.1 for 10 classes
    assert last.test_loss < math.log(10)   # chance loss is ln 10
    assert len(last.batch_losses) == math.ceil(1000 / 32)
    # train metrics are the mean of the per-batch values, as the lab averages them
    assert last.train_loss == pytest.approx(float(np.mean(last.batch_losses)), rel=1e-6)


def test_same_seed_same_numbers():
    a = train(TrainConfig(**TINY).replace(epochs=1, limit=300))
    b = train(TrainConfig(**TINY).replace(epochs=1, limit=300))
    assert a.records[0].test_loss == b.records[0].test_loss
    assert a.records[0].batch_losses == b.records[0].batch_losses


def test_fast_and_lab_pipelines_reach_the_same_accuracy():
    cfg = TrainConfig(**TINY).replace(augment="cropflip", workers=0)
    fast = train(cfg).records[-1].test_top1
    lab = train(cfg.replace(pipeline="lab")).records[-1].test_top1
    assert fast > 0.5 and lab > 0.5
    assert abs(fast - lab) < 0.12, (fast, lab)  # same recipe, different random streams: within noise


@pytest.mark.skipif(not CIFAR.is_dir(), reason="needs ../shared/data/cifar10-jpeg (not in a user's clone)")
def test_cifar10_subset_above_chance():
    cfg = TrainConfig(data=str(CIFAR), limit=2000, epochs=2, batch_size=32, lr=1e-3, optimizer="adam",
                      standardize="lab", device="cpu")
    rec = train(cfg).records[-1]
    assert rec.test_top1 > 0.2 and rec.test_top5 > 0.6  # chance: 0.1 and 0.5


def test_divergence_is_named():
    with pytest.raises(Diverged, match="learning rate 50 is too high"):
        train(TrainConfig(**TINY).replace(optimizer="sgd", lr=50.0, limit=600))


def test_top_k_correct_by_hand():
    logits = torch.tensor([[0.1, 0.9, 0.0, 0.0, 0.0, 0.0], [0.9, 0.0, 0.1, 0.2, 0.3, 0.4]])
    y = torch.tensor([1, 1])
    assert top_k_correct(logits, y, 1).item() == 1   # row 0 right, row 1's label is its lowest score
    assert top_k_correct(logits, y, 5).item() == 1   # row 1: label 1 (0.0) is 6th of 6
    assert top_k_correct(logits[:, :3], y, 5).item() == 2  # fewer than 5 classes: top-k is every class


def test_channel_stats_are_the_training_sets():
    x = np.zeros((2, 3, 2, 2), np.uint8)
    x[0, 0] = 255  # channel 0: half the pixels at 1.0 → mean 0.5, std 0.5
    mean, std = channel_stats(x)
    assert mean == pytest.approx((0.5, 0, 0)) and std == pytest.approx((0.5, 0, 0))


def test_crop_flip_on_device_returns_true_crops():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(4 * 3 * 32 * 32, dtype=torch.float32).reshape(4, 3, 32, 32)
    b = Batches(np.zeros((1, 3, 32, 32), np.uint8), np.zeros(1, np.int64), torch.device("cpu"), (0,) * 3, (1,) * 3,
                "cropflip", None, g)
    out = b.crop_flip(x)
    assert out.shape == (4, 3, CROP, CROP)
    for i in range(4):
        windows = [x[i, :, r:r + CROP, c:c + CROP] for r in range(5) for c in range(5)]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(2)) for w in windows)


def test_model_spec_follows_the_ladder():
    lab = TrainConfig()
    assert model_spec(lab, (32, 32)) == preset("lab").spec
    crop = model_spec(lab.replace(augment="cropflip"), (28, 28))
    assert "maxpool k=2 ceil=1" in crop and analyze(crop, (3, 28, 28)).params == 1_191_170
    final = model_spec(lab.replace(batchnorm=True, dropout=0.5), (28, 28))
    # three batch norms of 32, 64, 64 channels add 2·(32 + 64 + 64) = 320 parameters
    assert analyze(final, (3, 28, 28)).params == 1_191_170 + 320
    assert final.split("; ")[-2:] == ["dropout p=0.5", "fc 10"]


def test_lab_constants_used_for_cifar_shaped_data():
    result = train(TrainConfig(**TINY).replace(epochs=1, limit=300, standardize="lab"))
    assert result.mean == LAB_MEAN


def test_offline_cifar10_message(monkeypatch, tmp_path):
    import torchvision

    def offline(*a, **k):
        raise OSError("network unreachable")
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    monkeypatch.setenv("CNNCALC_CACHE", str(tmp_path))
    with pytest.raises(datasets.DataUnavailable, match="could not be downloaded.*ImageFolder"):
        datasets.load("cifar10")


def test_config_rejects_nonsense():
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="sometimes")
    with pytest.raises(ValueError):
        TrainConfig(lr=0)


def test_a_stop_asked_after_the_last_epoch_leaves_the_run_done():
    """should_stop is asked at each epoch's end; after the last one the run is complete, not cancelled."""
    result = train(TrainConfig(**TINY).replace(epochs=1, limit=100), should_stop=lambda: True, progress_every=10**6)
    assert [r.epoch for r in result.records] == [1]

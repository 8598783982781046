"""Trained classifiers for the dense-map and receptive-field pages: the lab-net checkpoint shipped in the
repo, any finished run of the run store, and torchvision's VGG16 with ImageNet weights when available.

Weights are read with safetensors only (no pickle); torchvision's own loader uses weights_only=True.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .bridge import build_model

ASSETS = Path(__file__).resolve().parents[1] / "assets"
SHIPPED = ASSETS / "labnet-cifar10.safetensors"
SHIPPED_META = ASSETS / "labnet-cifar10.json"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class WeightsUnavailable(RuntimeError):
    """The weights cannot be loaded here; the message says what to do."""


@dataclass
class Classifier:
    name: str
    model: nn.Module
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...]
    spec: str | None = None
    provenance: dict = field(default_factory=dict)

    def normalize(self, image_uint8) -> torch.Tensor:
        """An H×W×C uint8 array → the C×H×W float tensor the network was trained on."""
        x = torch.as_tensor(image_uint8).permute(2, 0, 1).float() / 255
        return (x - torch.tensor(self.mean).view(-1, 1, 1)) / torch.tensor(self.std).view(-1, 1, 1)


def _from_state(name: str, spec: str, input_shape, state: dict, mean, std, classes, provenance=None) -> Classifier:
    model = build_model(spec, tuple(input_shape))
    model.load_state_dict(state)
    return Classifier(name, model.eval(), tuple(input_shape), tuple(mean), tuple(std), tuple(classes), spec,
                      provenance or {})


def shipped() -> Classifier:
    """The lab net trained on CIFAR-10 by this project's training CLI (provenance in the JSON beside it)."""
    from safetensors.torch import load_file
    if not SHIPPED.exists():
        raise WeightsUnavailable(f"the shipped checkpoint {SHIPPED.name} is missing from {ASSETS}")
    meta = json.loads(SHIPPED_META.read_text())
    return _from_state(f"lab net, CIFAR-10 (shipped, {meta['test_top1']:.1%} test top-1)", meta["spec"],
                       meta["input_shape"], load_file(str(SHIPPED)), meta["mean"], meta["std"], meta["classes"], meta)


def from_run(store, run) -> Classifier:
    """A finished run of the run store (its spec, normalisation and checkpoint), with the command that
    reproduces it and its result as provenance."""
    import datetime

    from safetensors.torch import load_file

    from ..train.config import cli_command
    from ..train.data import class_names
    path = store.checkpoint_path(run)
    if path is None or not path.exists():
        raise WeightsUnavailable(f"run {run.id} has no checkpoint (status {run.status})")
    norm = run.normalization or {"mean": [0.0] * run.input_shape[0], "std": [1.0] * run.input_shape[0]}
    epochs = store.epochs(run.id)
    provenance = {"command": cli_command(run.config.replace(device="auto")), "data": run.config.data,
                  "epochs": len(epochs), "test_top1": epochs[-1]["test_top1"] if epochs else None,
                  "result": run.message,
                  "date": datetime.datetime.fromtimestamp(run.updated).isoformat(timespec="minutes")}
    return _from_state(f"run {run.id}: {run.name}", run.spec, run.input_shape, load_file(str(path)), norm["mean"],
                       norm["std"], class_names(run.config.data), provenance)


def random_lab(seed: int = 0) -> Classifier:
    """The lab net with PyTorch's default random initialisation (seeded): the mechanics without training."""
    from ..presets import PRESETS
    from ..train.config import LAB_MEAN, LAB_STD
    from ..train.data import CIFAR10_CLASSES
    spec = PRESETS["lab"].spec
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(spec, (3, 32, 32)).eval()
    return Classifier("lab net, random weights", model, (3, 32, 32), LAB_MEAN, LAB_STD, CIFAR10_CLASSES, spec,
                      {"weights": f"random: PyTorch's default initialisation after torch.manual_seed({seed})",
                       "data": "none: untrained, about 10 % accuracy (chance)", "spec": spec})


def load(key: str, store=None) -> Classifier:
    """A classifier by key: ``shipped`` | ``random`` | ``vgg16`` | ``run:ID`` (a finished run of ``store``)."""
    if key == "shipped":
        return shipped()
    if key == "random":
        return random_lab()
    if key == "vgg16":
        return vgg16_imagenet()
    if key.startswith("run:") and key[4:].isdigit() and store is not None:
        return from_run(store, store.get(int(key[4:])))
    raise WeightsUnavailable(f"no model '{key}': choose shipped, random, vgg16 or run:ID")


def vgg16_imagenet() -> Classifier:
    """torchvision's VGG16 with ImageNet weights from its cache, or downloaded; offline, a clear message."""
    import torchvision
    weights = torchvision.models.VGG16_Weights.IMAGENET1K_V1
    try:
        model = torchvision.models.vgg16(weights=weights)
    except Exception as err:
        cache = Path(torch.hub.get_dir()) / "checkpoints"
        raise WeightsUnavailable(
            f"VGG16's ImageNet weights are not cached and could not be downloaded ({type(err).__name__}). "
            f"Put {Path(weights.url).name} in {cache} and reload.") from err
    return Classifier("VGG16 (ImageNet)", model.eval(), (3, 224, 224), IMAGENET_MEAN, IMAGENET_STD,
                      tuple(weights.meta["categories"]), provenance={
                          "weights": "torchvision VGG16_Weights.IMAGENET1K_V1", "data": "ImageNet-1k (1000 classes, "
                          "224×224)", "test_top1": round(weights.meta["_metrics"]["ImageNet-1K"]["acc@1"] / 100, 5),
                          "source": weights.url})

"""The trained models a page can load — the lab net shipped with cnncalc, the finished runs of the run store,
the lab net with random weights, VGG16, a torchvision model whose weights are cached (``tv:NAME``) — cached once
per server (models are read-only once loaded)."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from cnncalc.pytorch import models
from cnncalc.train.store import RunStore, default_root


@st.cache_resource(show_spinner="Loading the model…", max_entries=8)
def classifier(key: str) -> models.Classifier:
    """``shipped`` | ``random`` | ``vgg16`` | ``run:ID`` (:func:`cnncalc.pytorch.models.load`) | ``tv:NAME``."""
    if key.startswith("tv:"):
        return _torchvision(key[3:])
    return models.load(key, RunStore(default_root()) if key.startswith("run:") else None)


def _torchvision(name: str) -> models.Classifier:
    """torchvision's ``name`` with its default ImageNet weights, only from the local cache (never downloaded)."""
    import torch
    import torchvision
    if name not in torchvision.models.list_models(module=torchvision.models):
        raise models.WeightsUnavailable(f"no torchvision classification model '{name[:64]}'")
    weights = torchvision.models.get_model_weights(name).DEFAULT
    file = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not file.is_file():
        raise models.WeightsUnavailable(f"{name}'s weights are not cached: put {file.name} in the server's torch "
                                        "hub cache (torch.hub.get_dir()/checkpoints).")
    model = torchvision.models.get_model(name, weights=weights)
    return models.Classifier(name, model.eval(), (3, 224, 224), models.IMAGENET_MEAN, models.IMAGENET_STD,
                             tuple(weights.meta["categories"]), provenance={
                                 "weights": f"torchvision {weights}", "data": "ImageNet-1k", "source": weights.url})


def stored_runs() -> tuple[dict[str, str], str]:
    """{``run:ID``: label} of the store's finished runs with weights, and why none could be read ('' if fine)."""
    try:
        return {f"run:{r.id}": f"run #{r.id} — {r.name}" for r in RunStore(default_root()).trained()}, ""
    except Exception as err:  # an unreadable store hides only the runs: the other models still work
        return {}, f"The run store cannot be read ({type(err).__name__}): finished runs are not offered."

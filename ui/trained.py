"""The trained models a page can load — the lab net shipped with cnncalc, the finished runs of the run store,
the lab net with random weights, VGG16 — cached once per server (models are read-only once loaded)."""
from __future__ import annotations

import streamlit as st

from cnncalc.pytorch import models
from cnncalc.train.store import RunStore, default_root


@st.cache_resource(show_spinner="Loading the model…", max_entries=8)
def classifier(key: str) -> models.Classifier:
    """``shipped`` | ``random`` | ``vgg16`` | ``run:ID``: see :func:`cnncalc.pytorch.models.load`."""
    return models.load(key, RunStore(default_root()) if key.startswith("run:") else None)


def stored_runs() -> tuple[dict[str, str], str]:
    """{``run:ID``: label} of the store's finished runs with weights, and why none could be read ('' if fine)."""
    try:
        return {f"run:{r.id}": f"run #{r.id} — {r.name}" for r in RunStore(default_root()).trained()}, ""
    except Exception as err:  # an unreadable store hides only the runs: the other models still work
        return {}, f"The run store cannot be read ({type(err).__name__}): finished runs are not offered."

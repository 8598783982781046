"""The one model picker of the analyzer, receptive-field and dense-maps pages. Sources: the presets and the
student's own text (a cnncalc spec or pasted PyTorch constructor text — the page's own editor), torchvision's
classification architectures by name, and the trained checkpoints (the shipped lab net, the run store's
finished runs). A page that needs weights (``need_weights``) offers only models that have them here and says
how to get the others. Session keys: ``<prefix>_source``, ``<prefix>_tv``, ``<prefix>_trained`` (or
``<prefix>_model`` for a page that needs weights)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from cnncalc import SpecError, parse_shape
from cnncalc.pytorch.models import SHIPPED
from ui import budget
from ui.trained import stored_runs
from ui.widgets import escape

TEXT, TORCHVISION, TRAINED = "text", "torchvision", "trained"
SOURCE_LABELS = {TEXT: "Preset or your own text", TORCHVISION: "torchvision architecture",
                 TRAINED: "Trained checkpoint"}
TV_INPUT = "3x224x224"  # torchvision's classification models are built for ImageNet's 224×224
TV_PREFIX = "tv:"       # a trained-model key for a torchvision model with cached weights
TEXT_ONLY_NOTE = ("The editor, the quiz, the suggested fixes and the share link apply to text specs only: pick "
                  "*Preset or your own text* (a cnncalc spec or pasted PyTorch code) to use them.")


@dataclass(frozen=True)
class Choice:
    source: str      # TEXT | TORCHVISION | TRAINED
    key: str = ""    # the torchvision name, or the trained key (shipped | random | vgg16 | run:ID | tv:NAME)
    label: str = ""  # what the student picked, in words


@st.cache_resource(show_spinner=False)
def torchvision_names() -> tuple[str, ...]:
    """torchvision's classification models (not detection, segmentation or video), read once per server."""
    import torchvision
    return tuple(torchvision.models.list_models(module=torchvision.models))


def weights_file(name: str) -> Path:
    """Where torch.hub keeps ``name``'s default weights once downloaded (the basename of ``weights.url``)."""
    import torch
    import torchvision
    url = torchvision.models.get_model_weights(name).DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def has_weights(name: str) -> bool:
    """``name``'s weights are in the local cache (checked on disk: nothing is ever downloaded here)."""
    try:
        return weights_file(name).is_file()
    except (ValueError, AttributeError, KeyError):  # a model without registered weights
        return False


def download_hint(name: str) -> str:
    """How to get ``name``'s weights into the cache, once, on a machine with internet access."""
    return (f"python -c \"import torchvision; torchvision.models.get_model('{name}', weights='DEFAULT')\" "
            f"(or put {weights_file(name).name} in the server's torch hub cache, "
            "`torch.hub.get_dir()`/checkpoints)")


def weights_note(name: str) -> str:
    if has_weights(name):
        return f"{name}'s ImageNet weights are cached here ({weights_file(name).name})."
    return f"To use {name}'s weights, download them once with `{download_hint(name)}`."


@st.cache_resource(max_entries=16, show_spinner="Tracing the torchvision model on the meta device…")
def torchvision_analysis(name: str, shape: tuple):
    """The per-layer analysis of torchvision's ``name`` (no weights, meta device): SpecError for a shape it
    cannot take. Cached per (name, input shape); one heavy slot while it builds and traces."""
    from cnncalc.cli import _torchvision_model
    if name not in torchvision_names():
        raise SpecError(f"unknown torchvision model '{name[:64]}'")
    with budget.held():
        return _torchvision_model(name, shape)


def analysis_of(prefix: str, choice: Choice):
    """The Analysis of a torchvision choice, on the page's input box (``<prefix>_tv_input``, 3×224×224 at
    first); shows the box. SpecError for an input that does not read or a model that cannot take it."""
    text = st.text_input("Input C×H×W", TV_INPUT, key=f"{prefix}_tv_input",
                         help="torchvision's classification models are built for 3×224×224 (ImageNet).")
    shape = parse_shape(text)
    with budget.waiting_note(f"Tracing {choice.key}"):
        return torchvision_analysis(choice.key, shape)


def trained_models(need_weights: bool = False) -> tuple[dict[str, str], str]:
    """({key: label} of the checkpoints here, a note when the run store cannot be read). With ``need_weights``:
    also the random-weights lab net and the torchvision models whose weights are cached."""
    runs, note = stored_runs()
    found = {**({"shipped": "lab net, CIFAR-10 (shipped)"} if SHIPPED.exists() else {}), **runs}
    if need_weights:
        found["random"] = "lab net with random weights"
        for name in torchvision_names():
            if has_weights(name):
                found["vgg16" if name == "vgg16" else TV_PREFIX + name] = f"{name}, ImageNet (torchvision weights)"
    return found, note


def missing_weights(found: dict[str, str]) -> None:
    """How to get the models that are not offered: a finished run, the shipped net, torchvision's weights."""
    with st.expander("Other models need weights first"):
        lines = ["- **your own network**: train it on the *Training* page; a finished run appears here."]
        if "shipped" not in found:
            lines.append(f"- **the shipped lab net**: {SHIPPED.name} is missing from cnncalc/assets/.")
        lines.append("- **a torchvision model** (e.g. vgg16): its ImageNet weights must be in the local cache — "
                     f"`{download_hint('vgg16')}`, with the model's name instead of vgg16.")
        st.markdown("\n".join(lines))


def pick(prefix: str, sources=(TEXT, TORCHVISION, TRAINED), need_weights: bool = False, where=None) -> Choice:
    """The picker: a source, then the model of that source. ``need_weights``: one box of the models that have
    weights here (key ``<prefix>_model``) and how to get the others. ``where``: the container to draw in."""
    box = where or st
    if need_weights:
        found, note = trained_models(need_weights=True)
        if note:
            st.warning(note)
        key = box.selectbox("Model (with weights)", list(found), format_func=found.get, key=f"{prefix}_model",
                            help="Only models whose weights are here: this page runs them.")
        with where or st.container():
            missing_weights(found)
        return Choice(TRAINED, key, found[key])
    found, note = trained_models() if TRAINED in sources else ({}, "")
    offered = [s for s in sources if s != TRAINED or found]
    source = box.radio("Model source", offered, format_func=SOURCE_LABELS.get, key=f"{prefix}_source",
                       horizontal=True, help="A preset or your own spec/PyTorch text, a torchvision architecture by "
                                             "name (no weights needed to count), or a trained checkpoint.")
    if source == TORCHVISION:
        names = torchvision_names()
        name = box.selectbox(f"torchvision model ({len(names)} classification models)", names,
                             index=names.index("resnet18"), key=f"{prefix}_tv")
        return Choice(TORCHVISION, name, name)
    if source == TRAINED:
        if note:
            st.warning(note)
        key = box.selectbox("Checkpoint", list(found), format_func=found.get, key=f"{prefix}_trained")
        return Choice(TRAINED, key, found[key])
    return Choice(TEXT)


def error(what: str, err) -> None:
    """A picked model that cannot be read or traced: its message, escaped, never a traceback."""
    st.error(f"**{what}:** {escape(err)}")

"""The Training page's form: one session key per TrainConfig field (``tr_<field>``), the quick demo, the ladder
and sweep buttons that fill it, and the run it describes. On a machine without a GPU the form starts with the
quick recipe and the ladder buttons fill a CPU-sized step (cnncalc.train.config.cpu_ladder), the full step one
toggle away."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from cnncalc.train.config import (CPU_LADDER_IMAGES, EXECUTION_FIELDS, LADDER, SWEEPS, TrainConfig, cpu_ladder,
                                  quick_config)
from cnncalc.train.data import local_cifar10

DEFAULT = TrainConfig()
FIELDS = ("epochs", "batch_size", "lr", "optimizer", "momentum", "nesterov", "weight_decay", "schedule", "gamma",
          "standardize", "augment", "dropout", "batchnorm", "pipeline", "device")
SIZES = {"limit": 0, "test_limit": 0, "max_seconds": 0.0}  # None in the config, 0 in the form's boxes
EXPERIMENT = tuple(f for f in FIELDS + tuple(SIZES) if f not in EXECUTION_FIELDS)  # where it runs is not the experiment
ss = st.session_state


def sources(folders: tuple[str, ...] = ()) -> dict[str, str]:
    """The data a student may train on: label → TrainConfig.data. Only the local CIFAR-10 copy, the data folders
    the teacher configured (``data_folders`` in classroom.toml) and the built-in sets — never a path typed on the
    page, and no server path in a label."""
    local = local_cifar10()
    extra = {f"{Path(p).name} (class data folder)": str(Path(p)) for p in folders
             if (Path(p) / "train").is_dir() and (Path(p) / "test").is_dir()}
    return {**({"CIFAR-10 (local copy)": str(local)} if local else {}), **extra,
            "CIFAR-10 (download)": "cifar10", "MNIST (download)": "mnist", "synthetic (offline demo)": "synthetic"}


def quick_settings() -> dict:
    """The quick recipe for this machine's CPU (cnncalc.train.config.QUICK), without its data."""
    return {k: v for k, v in vars(quick_config("synthetic")).items() if k in EXPERIMENT and k != "data"
            and v != getattr(DEFAULT, k)}


def init(gpu: bool) -> None:
    """The form's first values: the lab's defaults with a GPU; the quick recipe without one."""
    if "tr_epochs" not in ss and not gpu:
        ss.update(form_values(quick_settings()))
    for f in FIELDS:
        ss.setdefault(f"tr_{f}", getattr(DEFAULT, f))
    for f, zero in SIZES.items():
        ss.setdefault(f"tr_{f}", zero)
    ss.setdefault("tr_full", gpu)


def form_values(changes: dict) -> dict:
    """Session values that fill the form with one experiment, everything else at the default — as the ladder
    buttons do (the companion's "launch this" uses it). Raises ValueError on an invalid value."""
    cfg = DEFAULT.replace(**changes)  # validates the values
    return {f"tr_{f}": type(SIZES[f])(getattr(cfg, f) or 0) if f in SIZES else getattr(cfg, f) for f in EXPERIMENT}


def ladder_step(changes: dict) -> dict:
    """A ladder step as the form fills it: the full step, or its CPU-sized version when "Full length" is off."""
    return changes if ss.get("tr_full", True) else cpu_ladder(changes)


def apply_preset(changes: dict, reset: bool) -> None:
    ss.update(form_values(changes) if reset else {f"tr_{k}": v for k, v in changes.items()})


def apply_step(changes: dict) -> None:
    ss.update(form_values(ladder_step(changes)))


def ladder_buttons(gpu: bool) -> None:
    st.markdown("**The lab's ladder** — each step adds one idea to the one before (fills the form):")
    if not gpu:
        train, test = CPU_LADDER_IMAGES
        st.toggle("Full length (the lab's settings: all 50,000 images, 30–100 epochs — hours on a CPU)",
                  key="tr_full", help=f"Off: each step on {train:,} training and {test:,} test images for a third of "
                  "its epochs — 1 to 4 minutes a step on a 2-core CPU; every other setting is the step's own.")
    with st.container(horizontal=True):  # buttons as wide as their labels, wrapping on a narrow screen
        for label, changes in LADDER.items():
            st.button(label.replace("ExponentialLR", "exp. lr"), key=f"tr_step{label[0]}", on_click=apply_step,
                      args=(changes,), help=", ".join(f"{k} = {v}" for k, v in ladder_step(changes).items())
                      + "; everything else at the default")
    for name, values in SWEEPS.items():
        with st.container(horizontal=True, vertical_alignment="center"):
            st.markdown(f"**Sweep the {name}** (changes only that value):")
            for change in values:
                (k, v), = change.items()
                st.button(f"{'lr' if k == 'lr' else 'batch'} {v:g}", key=f"tr_{k}_{v}", on_click=apply_preset,
                          args=({k: v}, False))


def form(gpu: bool, folders: tuple[str, ...] = ()) -> bool:
    """The settings of a new run; True when "Queue this run" was pressed."""
    with st.form("tr_form", border=False):
        c = st.columns(4)
        c[0].selectbox("Data", list(sources(folders)), key="tr_source", help=(
            "A local copy (CIFAR-10, or a folder the teacher set up for the class): with a limit only that many "
            "images are decoded; all of them are decoded once (slow the first time) and cached. CIFAR-10/MNIST "
            "download into a cache on first use (offline, the run fails and says why). Synthetic: 10 classes of "
            "generated patterns, nothing to download."))
        c[0].number_input("Examples per split (0 = all)", 0, 1_000_000, step=500, key="tr_limit",
                          help="A seeded random subset of this many training (and test) images.")
        c[0].number_input("Test images (0 = as above)", 0, 1_000_000, step=500, key="tr_test_limit",
                          help="Test images scored after each epoch, when they should differ from the line above: "
                               "2,000 give about ±1 point of noise on the accuracy.")
        c[0].text_input("Run name (optional)", key="tr_name", help="Empty: a summary of the settings.")
        c[1].number_input("Epochs", 1, 1000, key="tr_epochs", help="Passes over the training set.")
        c[1].number_input("Batch size (images)", 1, 65536, key="tr_batch_size",
                          help="Images per optimisation step; one epoch = ⌈N / batch size⌉ steps.")
        c[1].number_input("Learning rate (per step)", 1e-7, 10.0, key="tr_lr", format="%g", step=0.01,
                          help="Size of each SGD step: weights −= lr × gradient. Too high → loss explodes (NaN).")
        c[1].selectbox("Optimizer", ["sgd", "adam", "adamw"], key="tr_optimizer")
        c[1].number_input("Time budget (s, 0 = none)", 0.0, 86_400.0, step=30.0, key="tr_max_seconds", format="%g",
                          help="Stop after this many seconds, data loading included, even before the last epoch "
                               "(the quick recipe: 60 s). The run ends 'done', its epochs kept.")
        c[2].number_input("Momentum", 0.0, 0.999, key="tr_momentum", step=0.1, format="%g",
                          help="SGD only: fraction of the previous step added to the next (lab step 4: 0.9).")
        c[2].checkbox("Nesterov momentum", key="tr_nesterov", help="SGD with momentum > 0 only.")
        c[2].number_input("Weight decay (L2, per step)", 0.0, 1.0, key="tr_weight_decay", format="%g", step=1e-4,
                          help="Each step also shrinks the weights by lr × decay × w.")
        c[2].selectbox("LR schedule", ["none", "exponential", "step", "cosine", "onecycle"], key="tr_schedule",
                       help="exponential: lr × gamma after every epoch; step: × 0.1 every third of the run; "
                            "cosine: down to 0; onecycle: up then down, per step.")
        c[2].number_input("Gamma (per epoch)", 0.5, 1.0, key="tr_gamma", step=0.01, format="%g",
                          help="ExponentialLR factor per epoch: lr at epoch e = lr × gamma^(e−1).")
        c[3].selectbox("Standardization", ["none", "lab", "train"], key="tr_standardize",
                       format_func={"none": "none (pixels in [0, 1])", "lab": "the lab sheet's constants",
                                    "train": "computed from the training set"}.get,
                       help="Subtract a per-channel mean and divide by a std. The statistics come from the "
                            "training images only — using test images would leak test information into training.")
        c[3].selectbox("Augmentation", ["none", "cropflip", "padcrop"], key="tr_augment",
                       format_func={"none": "none", "cropflip": "random crop 28 + flip (the lab's)",
                                    "padcrop": "pad 4 + random crop 32 + flip"}.get,
                       help="The lab's: a random 28×28 crop and a horizontal flip half the time for training, the "
                            "centre 28×28 crop for test (pool3 switches to ceil mode so fc4 keeps 1024 inputs). "
                            "Pad-crop: zero-pad by 4, take a random 32×32 crop and flip; test images unchanged.")
        c[3].number_input("Dropout (before the last fc)", 0.0, 0.95, key="tr_dropout", step=0.1, format="%g",
                          help="Probability of zeroing each input of the last fc layer during training.")
        c[3].checkbox("Batch norm after each conv", key="tr_batchnorm")
        c[3].selectbox("Pipeline", ["fast", "lab"], key="tr_pipeline", format_func={
            "fast": "fast (data on the device)", "lab": "the lab's DataLoader"}.get,
                       help="Same training; fast keeps the images on the device and augments whole batches.")
        c[3].selectbox("Device", ["auto", "cpu"] + (["cuda"] if gpu else []), key="tr_device",
                       help="auto: the GPU when there is one, else the CPU.")
        return st.form_submit_button("Queue this run", type="primary")


def config_from_form(folders: tuple[str, ...] = ()) -> TrainConfig:
    """The run the form describes. Raises ValueError naming what is wrong (data no longer offered, a bad value)."""
    choices = sources(folders)
    if ss.tr_source not in choices:
        raise ValueError(f"the data '{ss.tr_source}' is not offered on this server any more: pick one in *Data*")
    return TrainConfig(data=choices[ss.tr_source], **{f: ss[f"tr_{f}"] or None for f in SIZES},
                       **{f: ss[f"tr_{f}"] for f in FIELDS})


def quick_run() -> TrainConfig:
    """The quick demo on the best data here: the local CIFAR-10 copy, else CIFAR-10 (downloaded)."""
    local = local_cifar10()
    return quick_config(str(local) if local else "cifar10")


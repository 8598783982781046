"""What students hand in (issue #11, point 7): a run's confusion matrix on its test set, and the export of one
run — epochs as CSV, the curves as PNG, the command that reproduces it, its checkpoint and its confusion
matrix — as a zip (the page) or as files in a folder (``python -m cnncalc export RUN``).

**The confusion matrix is the engine's own evaluation, counted per class.** It is computed from the run's
stored checkpoint on the run's own test split, prepared as the engine prepared it at training time: the same
source, limit and seed (so the same images), the run's stored normalisation, ZCA refitted on the same training
images, the centre 28×28 crop of "cropflip", the run's pipeline (fast or the lab's transforms), the engine's
evaluation batches (engine.EVAL_BATCH), and bf16 autocast and channels_last exactly when the engine used them
on this kind of device. So trace / total equals the test top-1 the engine recorded for the checkpoint's epoch —
an independent check that is shown beside the matrix (a run trained on another kind of device may differ by a
few images: different kernels round differently, and the check says so).

**Bounded and cached.** At most :data:`MAX_TEST_IMAGES` test images are evaluated (CIFAR-10's 10,000 fit; a
larger ImageFolder test set is sampled, seeded, and the matrix says so); an ImageFolder run decodes its test
split only. The result is cached beside the checkpoint (``checkpoints/run-N.confusion.json``, written
atomically, keyed by the checkpoint's size and modification time: a resumed run's new weights are never shown
an old matrix; deleting the run deletes it with the other ``run-N.*`` files).

**The export holds nothing private:** no owner name (runs are visible to the class, and anyone may export any
run — so no names at all), no server path (a data folder appears by its last name only), no run message
(a failure's message may name server files). Run names are user text: sanitised in file names.

torch is imported only when a matrix is computed: the CLI and the page import this module cheaply.
"""
from __future__ import annotations

import csv
import datetime
import io
import json
import os
import re
import time
import unicodedata
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import data as datasets
from .config import cli_command

MAX_TEST_IMAGES = 10_000    # images one confusion matrix evaluates at most (CIFAR-10's whole test set)
ZIP_MAX_BYTES = 64 * 2**20  # the page's zip, built in memory: above this the weights are left out (the CLI has them)
CACHE_FORMAT = 1
EPOCH_COLUMNS = ("epoch", "train_loss", "train_top1", "train_top5", "test_loss", "test_top1", "test_top5", "lr",
                 "seconds")  # the store's epoch columns without batch_losses: the CSV header of a run with none yet
BUILTIN = ("cifar10", "mnist", "synthetic")


class NotAvailable(RuntimeError):
    """This run's confusion matrix or export cannot be made here; the message says why (no server path)."""


# --- the matrix ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Confusion:
    """counts[t][p]: test images of true class t predicted as p. ``test_images`` is the size of the run's test
    split; fewer were evaluated when it exceeded :data:`MAX_TEST_IMAGES` (``note`` says so)."""
    classes: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]
    test_images: int
    epoch: int | None            # the epoch whose weights the checkpoint holds (None: unknown)
    recorded_top1: float | None  # the engine's test top-1 of that epoch, recorded at training time
    device: str = "cpu"          # where it was computed, and whether with bf16 autocast
    bf16: bool = False
    seconds: float = 0.0
    note: str = ""
    checkpoint: tuple[int, int] = (0, 0)  # (bytes, mtime_ns) of the weights it was computed from

    @property
    def evaluated(self) -> int:
        return int(sum(map(sum, self.counts)))

    @property
    def correct(self) -> int:
        return int(sum(self.counts[i][i] for i in range(len(self.counts))))

    @property
    def accuracy(self) -> float:
        """trace / total: the test top-1 of these weights on these images (the engine's c1 / n)."""
        return self.correct / self.evaluated if self.evaluated else float("nan")

    @property
    def complete(self) -> bool:
        return self.evaluated == self.test_images

    @property
    def agrees(self) -> bool | None:
        """Whether the matrix counts as many correct images as the engine recorded; None when it cannot be
        compared (no record for the checkpoint's epoch, or a sample of the test set)."""
        if self.recorded_top1 is None or not self.complete:
            return None
        return self.correct == round(self.recorded_top1 * self.evaluated)

    def to_json(self) -> str:
        return json.dumps({"format": CACHE_FORMAT, **asdict(self)}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Confusion":
        d = json.loads(text)
        if d.pop("format", None) != CACHE_FORMAT:
            raise ValueError("another cache format")
        counts = tuple(tuple(int(v) for v in row) for row in d.pop("counts"))
        if len(counts) != len(d["classes"]) or any(len(row) != len(counts) for row in counts):
            raise ValueError("the counts are not a square matrix over the classes")
        return cls(classes=tuple(map(str, d.pop("classes"))), counts=counts,
                   checkpoint=tuple(d.pop("checkpoint")), **d)

    def to_csv(self) -> str:
        """The matrix as CSV: a header row of predicted classes, then one row per true class."""
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["true \\ predicted", *self.classes])
        w.writerows([name, *row] for name, row in zip(self.classes, self.counts))
        return out.getvalue()


def count(true, predicted, k: int) -> np.ndarray:
    """The k×k matrix counts[t, p] of (true, predicted) label pairs — rows true, columns predicted. Labels
    outside 0…k−1 are a ValueError (a bincount would silently fold them into another cell)."""
    t, p = np.asarray(true, dtype=np.int64).ravel(), np.asarray(predicted, dtype=np.int64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"{t.size} true labels but {p.size} predictions")
    if t.size and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= k):
        raise ValueError(f"a label outside 0…{k - 1}")
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def weights_epoch(run, epochs: list[dict]) -> int | None:
    """The epoch whose weights the checkpoint holds. A done run's final checkpoint is its last epoch's; any other
    run's weights were written together with its last resume state (store.save_checkpoint), whose epoch is
    ``resume_epoch``; None when neither is known."""
    if run.status == "done":
        return epochs[-1]["epoch"] if epochs else None
    return run.resume_epoch or None


def unavailable(store, run) -> str:
    """Why this run has no confusion matrix to compute ("" when it can be computed): its settings unreadable,
    still training, or no checkpoint. The data is checked when computing (it costs a directory walk)."""
    if run.config_error:
        return (f"Run #{run.id}'s settings cannot be read by this version of cnncalc, so its test data cannot be "
                "prepared as it was: no confusion matrix.")
    if not run.finished:
        return f"Run #{run.id} is {run.status}: its confusion matrix can be computed once it has finished."
    path = store.checkpoint_path(run)
    if path is None or not path.is_file():
        return f"Run #{run.id} ({run.status}) kept no checkpoint: there are no weights to evaluate."
    return ""


def cache_path(store, run) -> Path:
    return Path(store.root) / "checkpoints" / f"run-{int(run.id)}.confusion.json"


def _signature(store, run) -> tuple[int, int] | None:
    path = store.checkpoint_path(run)
    try:
        st = path.stat() if path else None
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns) if st else None


def cached(store, run) -> Confusion | None:
    """The matrix computed earlier from this very checkpoint, or None (none yet, another checkpoint since, or
    a damaged file — read as plain JSON and checked, never trusted)."""
    try:
        conf = Confusion.from_json(cache_path(store, run).read_text())
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return conf if conf.checkpoint == _signature(store, run) else None


def confusion(store, run, device: str | None = None, cap: int = MAX_TEST_IMAGES) -> Confusion:
    """The cached matrix, else :func:`compute` it and cache it (atomically: two students computing the same run
    at once each write a whole file, and the last one wins)."""
    hit = cached(store, run)
    if hit is not None:
        return hit
    conf = compute(store, run, device, cap)
    path = cache_path(store, run)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{id(conf)}.tmp")
    try:
        tmp.write_text(conf.to_json())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return conf


# --- computing it -------------------------------------------------------------------------------------------
@dataclass
class TestSplit:
    x: np.ndarray                 # uint8 (N, C, H, W), as data.load gives it to the engine
    y: np.ndarray
    classes: tuple[str, ...]
    total: int                    # the run's test split size (N < total: a seeded sample)
    train_x: np.ndarray | None = field(default=None, repr=False)  # only for ZCA
    note: str = ""


def test_split(cfg, cap: int = MAX_TEST_IMAGES) -> TestSplit:
    """The run's test images as the engine had them — :func:`cnncalc.train.engine.load_data`, the engine's own
    choice of images (source, limit, test limit, seed) — at most ``cap`` of them (a seeded sample, with a
    note). NotAvailable when the data is not here, with no server path in the message."""
    from . import engine
    try:
        d = engine.load_data(cfg)
    except (datasets.DataUnavailable, OSError) as err:
        raise NotAvailable(_data_message(cfg.data, err)) from None
    split = TestSplit(d.test_x, d.test_y, d.classes, len(d.test_y), d.train_x if cfg.zca else None)
    if split.total > cap:
        keep = np.sort(np.random.default_rng(cfg.seed).permutation(split.total)[:cap])
        split.x, split.y, split.note = split.x[keep], split.y[keep], _sampled(cap, split.total)
    return split


def _sampled(cap: int, total: int) -> str:
    return (f"evaluated on a seeded random sample of {cap:,} test images, the run's test split having {total:,} "
            f"(one matrix evaluates at most {cap:,}): its accuracy is an estimate, not compared with the recorded one")


def _data_message(source: str, err: Exception) -> str:
    if source in BUILTIN:
        return f"The test data of this run is not available here: {err}"
    name = Path(source).name or "?"
    return (f"The test data of this run — the data '{name}' — is not available on this server now "
            f"({type(err).__name__}): the teacher may have moved it. The run's curves can still be exported.")


def eval_device(run, device: str | None = None):
    """``device`` when given; else the kind of device the run trained on when this machine has it (its
    kernels then round as they did), else the CPU."""
    import torch
    if device:
        return torch.device(device)
    kind = (run.device or "cpu").split(":")[0]
    if kind == "cuda" and torch.cuda.is_available():
        return torch.device("cuda")
    if kind == "mps" and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def compute(store, run, device: str | None = None, cap: int = MAX_TEST_IMAGES) -> Confusion:
    """Evaluate the run's checkpoint on its test split (see the module's docstring for how exactly) and count
    the predictions per (true, predicted) class. NotAvailable: unreadable settings, unfinished run, no
    checkpoint, no data here, or test images that do not fit the network."""
    if reason := unavailable(store, run):
        raise NotAvailable(reason)
    import torch

    from ..pytorch.models import WeightsUnavailable, from_run
    from .engine import fit_zca, use_bf16, use_channels_last
    t0, cfg, signature = time.perf_counter(), run.config, _signature(store, run)
    try:
        clf = from_run(store, run)
    except (WeightsUnavailable, OSError, RuntimeError, ValueError) as err:  # a damaged file, another spec
        raise NotAvailable(f"the checkpoint of run #{run.id} cannot be loaded ({type(err).__name__})") from None
    split = test_split(cfg, cap)
    dev = eval_device(run, device)
    bf16 = use_bf16(cfg, dev)
    channels_last = use_channels_last(cfg, dev, bf16)  # the engine's own rule: the same numbers
    model = clf.model.to(dev)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    zca = None
    if cfg.zca:  # engine._batches: fitted on the standardised training images, on the CPU, then moved
        xf = (torch.from_numpy(split.train_x).float() / 255 - torch.tensor(clf.mean).view(1, -1, 1, 1)) / \
            torch.tensor(clf.std).view(1, -1, 1, 1)
        zca = fit_zca(xf).to(dev)
    try:
        predicted = _predict(model, cfg, split, dev, clf.mean, clf.std, zca, bf16, channels_last)
    except RuntimeError as err:
        raise NotAvailable(f"the test images ({'×'.join(map(str, split.x.shape[1:]))}) do not fit the network "
                           f"of run #{run.id} ({type(err).__name__}): has its data folder changed?") from None
    outputs = int(predicted.max()) + 1 if predicted.size else 0
    classes = tuple(split.classes) + tuple(f"output {i}" for i in range(len(split.classes), outputs))
    epochs = store.epochs(run.id)
    epoch = weights_epoch(run, epochs)
    recorded = next((e["test_top1"] for e in epochs if e["epoch"] == epoch), None)
    note = split.note or _device_note(run, dev, cfg)
    return Confusion(classes, tuple(map(tuple, count(split.y, predicted, len(classes)).tolist())), split.total,
                     epoch, recorded, str(dev), bf16, round(time.perf_counter() - t0, 3), note,
                     signature or (0, 0))


def _device_note(run, dev, cfg) -> str:
    trained = (run.device or "").split(":")[0]
    if trained and trained != dev.type:
        return (f"trained on {trained}, evaluated here on {dev.type}: other kernels round differently, so the "
                "count may differ from the recorded accuracy by a few images")
    if cfg.compile:
        return "trained with torch.compile, evaluated without it: the count may differ by a few images"
    return ""


def _predict(model, cfg, split: TestSplit, dev, mean, std, zca, bf16: bool, channels_last: bool) -> np.ndarray:
    """Top-1 predictions through the run's own test pipeline (engine.Batches or engine.LabLoader, train=False),
    in the engine's evaluation batches; ``topk(1)`` as engine.top_k_correct, so ties break as they did."""
    import torch

    from .engine import EVAL_BATCH, Batches, LabLoader
    gen = torch.Generator(device=dev)  # the test path draws nothing; the class wants one
    out = []
    autocast = torch.autocast(dev.type if dev.type in ("cuda", "cpu") else "cpu", dtype=torch.bfloat16,
                              enabled=bf16 and dev.type in ("cuda", "cpu"))
    model.eval()
    with torch.no_grad(), autocast:
        for lo in range(0, len(split.y), EVAL_BATCH):  # one batch on the device at a time: memory stays bounded
            x, y = split.x[lo:lo + EVAL_BATCH], split.y[lo:lo + EVAL_BATCH]
            if cfg.pipeline == "fast":
                batches = Batches(x, y, dev, mean, std, cfg.augment, zca, gen, channels_last)
            else:
                batches = LabLoader(x, y, dev, mean, std, cfg.augment, 0, cfg.seed, cfg.standardize != "none")
            for xb, _ in batches.epoch(EVAL_BATCH, train=False):
                out.append(model(xb).float().topk(1, dim=1).indices[:, 0].cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.int64)


# --- the export ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Export:
    """One run's hand-in: ``files`` (name → bytes, or the Path of a file to copy) to put in ``folder``, and
    ``notes``: what was left out and why."""
    folder: str
    files: dict
    notes: tuple[str, ...] = ()
    confusion: Confusion | None = None

    @property
    def size(self) -> int:
        return sum(v.stat().st_size if isinstance(v, Path) else len(v) for v in self.files.values())


def safe_name(text: str, limit: int = 40) -> str:
    """User text as a file-name part: ASCII letters, digits, '.', '_' and '-' only (accents dropped, anything
    else a '-'), no leading dot or dash (no hidden file, no option), at most ``limit`` characters; "run" if
    nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9._]+", "-", ascii_text).strip("-.")[:limit].strip("-.")
    return cleaned or "run"


def folder_name(run) -> str:
    return f"run-{int(run.id)}-{safe_name(run.name)}"


def public_data(source: str) -> str:
    """The data source as the export shows it: a built-in name, or a data folder's last name only."""
    return source if source in BUILTIN else (Path(source).name or "data")


def command_text(run) -> str:
    """The command that reproduces the run (``cli_command`` of its settings); a data folder is named by its last
    name only, with a comment saying to give the path of one's own copy."""
    cfg = run.config
    lines = [cli_command(cfg.replace(data=public_data(cfg.data)))]
    if cfg.data not in BUILTIN:
        lines.insert(0, f"# --data: the run trained on the server's data '{public_data(cfg.data)}' (an ImageFolder "
                        "tree train/<class>/*, test/<class>/*, or a packed .npz): give the path of your copy")
    return "\n".join(lines) + "\n"


def epochs_csv(epochs: list[dict]) -> str:
    """One row per epoch, the stored columns in the store's order, without run_id and batch_losses; floats
    written exactly (repr), a missing value (a diverged epoch's NaN, stored as NULL) as an empty cell."""
    columns = [c for c in epochs[0] if c not in ("run_id", "batch_losses")] if epochs else list(EPOCH_COLUMNS)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(columns)
    w.writerows([e[c] for c in columns] for e in epochs)
    return out.getvalue()


def classes_count(run) -> int:
    """The network's number of outputs (its last fc), as the Training page counts chance levels; else 10."""
    from ..parse import parse_spec
    try:
        return next(layer.out_features for layer in reversed(parse_spec(run.spec)) if layer.kind == "fc")
    except (StopIteration, ValueError, TypeError, AttributeError):
        return 10


def curves_chart(run, epochs: list[dict]):
    """The page's loss and accuracy charts (draw.train_charts) side by side, at a fixed size for a PNG."""
    import altair as alt

    from ..draw import train_charts as tc
    df, k = tc.epochs_frame(epochs), classes_count(run)
    size = dict(width=460, height=tc.PLOT_HEIGHT)
    title = f"Run #{run.id} — {run.name}"
    return alt.hconcat(tc.loss_chart(df, k, run.config.epochs).properties(**size),
                       tc.accuracy_chart(df, k, run.config.epochs).properties(**size)).properties(
        title=title if len(title) <= 90 else title[:89] + "…")


def summary(run, epochs: list[dict], conf: Confusion | None) -> dict:
    """run.json: what the run was and what it reached — no owner, no server path, no message."""
    cfg = run.config
    best = max((e for e in epochs if e["test_top1"] is not None), key=lambda e: e["test_top1"], default=None)
    when = lambda t: datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat(timespec="seconds")  # noqa: E731
    return {"run": run.id, "name": run.name, "status": run.status, "created": when(run.created),
            "updated": when(run.updated), "epochs": len(epochs), "planned_epochs": cfg.epochs,
            "final_test_top1": epochs[-1]["test_top1"] if epochs else None,
            "best_test_top1": best and best["test_top1"], "best_epoch": best and best["epoch"],
            "spec": run.spec, "input_shape": list(run.input_shape) if run.input_shape else None,
            "normalization": run.normalization, "device": (run.device or "").split(":")[0],
            "config": None if run.config_error else {**asdict(cfg), "data": public_data(cfg.data)},
            "confusion_accuracy": conf.accuracy if conf else None,
            "confusion_agrees_with_record": conf.agrees if conf else None}


def _readme(run, files: list[str], notes: list[str], conf: Confusion | None) -> str:
    about = {"README.txt": "this file", "run.json": "the run's settings, network and result (machine-readable)",
             "command.txt": "the command that trains this run again",
             "epochs.csv": "one row per epoch: loss, top-1, top-5 (train and test), learning rate, seconds",
             "curves.png": "loss and accuracy per epoch, train and test (the Training page's charts)",
             "confusion.csv": "the confusion matrix on the test set (rows: true class, columns: predicted)",
             "confusion.png": "the confusion matrix as a heat map", "weights.safetensors": "the trained weights"}
    lines = [f"cnncalc — run #{run.id}: {run.name}", f"status: {run.status}", ""]
    if conf is not None:
        check = {True: "equals the accuracy recorded during training", False: "differs from the recorded one",
                 None: "not compared"}[conf.agrees]
        lines += [f"confusion matrix: {conf.correct:,} of {conf.evaluated:,} test images right "
                  f"({conf.accuracy:.2%}; {check})", ""]
    lines += [f"{name:22} {about.get(name, '')}" for name in files]
    lines += ["", *(f"note: {n}" for n in notes)] if notes else []
    return "\n".join(lines) + "\n"


def build_export(store, run, conf: Confusion | None = None, weights: bool = True, pngs: bool = True,
                 missing: str = "") -> Export:
    """Everything to hand in for ``run``: run.json, command.txt, epochs.csv, curves.png, confusion.csv and .png
    (``conf``, else the cached matrix, when there is one; ``missing``: why there is none, when known),
    weights.safetensors (with ``weights``); a PNG that cannot be rendered here (vl-convert missing) is left out
    with a note, never a failed export."""
    from ..draw.confusion import PngUnavailable, confusion_chart, to_png
    epochs, notes, files = store.epochs(run.id), [], {}
    conf = conf or cached(store, run)
    files["run.json"] = json.dumps(summary(run, epochs, conf), indent=1, ensure_ascii=False).encode()
    if run.config_error:
        notes.append("command.txt is left out: this run's settings cannot be read by this version of cnncalc")
    else:
        files["command.txt"] = command_text(run).encode()
    files["epochs.csv"] = epochs_csv(epochs).encode()
    charts = {"curves.png": curves_chart(run, epochs) if epochs else None}
    if conf is not None:
        files["confusion.csv"] = conf.to_csv().encode()
        charts["confusion.png"] = confusion_chart(conf.classes, conf.counts,
                                                  f"Confusion matrix — run #{run.id} (test set)")
    for name, chart in charts.items():
        if chart is None:
            notes.append(f"{name} is left out: no epoch has finished yet")
        elif pngs:
            try:
                files[name] = to_png(chart)
            except PngUnavailable as err:
                notes.append(f"{name} is left out: {err}")
    if conf is None:
        why = missing or unavailable(store, run) or ("it has not been computed yet (the Training page's button, "
                                                     f"or python -m cnncalc export {run.id}, computes it)")
        notes.append(f"confusion.csv is left out: {why}")
    path = store.checkpoint_path(run)
    if weights and path is not None and path.is_file():
        files["weights.safetensors"] = path
    elif weights:
        notes.append(f"weights.safetensors is left out: run #{run.id} ({run.status}) kept no checkpoint")
    return Export(folder_name(run), files, tuple(notes), conf)


def export_zip(store, run, max_bytes: int = ZIP_MAX_BYTES) -> bytes:
    """The hand-in as one zip built in memory, everything in one folder ``run-N-name/``. At most ``max_bytes``
    of content: above it the weights are left out (a note in README.txt says so; the CLI export has them)."""
    ex = build_export(store, run)
    notes = list(ex.notes)
    if ex.size > max_bytes and "weights.safetensors" in ex.files:
        big = ex.files.pop("weights.safetensors").stat().st_size
        notes.append(f"weights.safetensors ({big / 2**20:.1f} MiB) is left out: a download holds at most "
                     f"{max_bytes / 2**20:.0f} MiB; python -m cnncalc export {run.id} writes it")
    if ex.size > max_bytes:
        raise NotAvailable(f"the export of run #{run.id} is larger than {max_bytes / 2**20:.0f} MiB even without "
                           f"its weights: use python -m cnncalc export {run.id}")
    stamp = time.gmtime(run.updated)[:6]  # every entry dated by the run, not by the click: the same run, the same zip
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, value in {"README.txt": _readme(run, ["README.txt", *ex.files], notes, ex.confusion).encode(),
                            **ex.files}.items():
            info = zipfile.ZipInfo(f"{ex.folder}/{name}", date_time=max(stamp, (1980, 1, 1, 0, 0, 0)))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, value.read_bytes() if isinstance(value, Path) else value)
    return buf.getvalue()


def write_export(store, run, out: str | Path, conf: Confusion | None = None, weights: bool = True,
                 missing: str = "") -> tuple[Path, Export]:
    """The hand-in as files in ``out/run-N-name/`` (created; files of an earlier export replaced, each written
    beside its place and moved there). Returns the folder and what was written."""
    import shutil
    ex = build_export(store, run, conf, weights, missing=missing)
    folder = Path(out) / ex.folder
    folder.mkdir(parents=True, exist_ok=True)
    files = {"README.txt": _readme(run, ["README.txt", *ex.files], list(ex.notes), ex.confusion).encode(), **ex.files}
    for name, value in files.items():
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        try:
            if isinstance(value, Path):
                shutil.copyfile(value, tmp)
            else:
                tmp.write_bytes(value)
            os.replace(tmp, folder / name)
        finally:
            tmp.unlink(missing_ok=True)
    return folder, ex


def zip_name(run) -> str:
    return folder_name(run) + ".zip"

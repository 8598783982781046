"""3. Shuffled pixels: an MLP and a small CNN trained on original images and on images whose pixel positions
went through one fixed random permutation, each run recorded in the run store (shown on the Training page).
Torch is imported inside the functions that need it."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

MLP_SPEC = "flatten; fc 256; relu; fc 10"
CNN_SPEC = "conv 16 k=3 p=1; relu; maxpool k=2; conv 32 k=3 p=1; relu; maxpool k=2; flatten; fc 10"
MODELS = {"MLP": MLP_SPEC, "CNN": CNN_SPEC}
MAX_IMAGES, MAX_EPOCHS = 10_000, 20
"""Largest experiment :func:`shuffled_pixels_runs` starts (four runs of it, in the page's process, not the
run queue): the page offers up to 5,000 images and 8 epochs."""


def permutation(h: int, w: int, seed: int = 0) -> np.ndarray:
    """One fixed random order of the h·w pixel positions."""
    return np.random.default_rng(seed).permutation(h * w)


def shuffle_pixels(x: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """(N, C, H, W): the same permutation of pixel positions for every image; a pixel's channels move
    together."""
    n, c, h, w = x.shape
    return np.ascontiguousarray(x.reshape(n, c, h * w)[:, :, perm].reshape(n, c, h, w))


def shuffled_data(data, seed: int = 0):
    """An ImageData whose train and test images all went through one permutation of pixel positions."""
    from ...train.data import ImageData

    _, h, w = data.shape
    perm = permutation(h, w, seed)
    return ImageData(data.name + " (shuffled pixels)", data.classes, shuffle_pixels(data.train_x, perm),
                     data.train_y, shuffle_pixels(data.test_x, perm), data.test_y)


def shuffled_config(model: str, source: str, limit: int, epochs: int, seed: int = 0, device: str = "auto",
                    test_limit: int | None = None):
    from ...train.config import TrainConfig

    return TrainConfig(spec=MODELS[model], data=source, limit=limit, test_limit=test_limit, epochs=epochs,
                       batch_size=64, lr=1e-3, optimizer="adam", standardize="train", seed=seed, device=device)


def train_recorded(cfg, data, name: str, store=None, owner: str = "",
                   on_progress: Callable[[float], None] | None = None, limits=None,
                   variant: str | None = None) -> tuple[int | None, list[dict]]:
    """Train ``cfg`` on ``data`` (already in memory) and, with a ``store``, record the run there as the
    worker would (queued → running → done, every epoch as it ends) so it shows on the Training page. The
    store's rules apply as to any run: ``limits`` (the class's quotas: QuotaExceeded), and with a ``variant``
    (what the config alone does not say — the pixel shuffle, the test cut) an identical finished run is
    returned from the store instead of being trained again."""
    import contextlib
    import dataclasses
    import os

    from ...train.engine import pick_device, train

    run_id = None
    if store is not None and variant is not None and (same := store.identical(cfg, variant=variant)) is not None:
        return same.id, store.epochs(same.id)
    if store is not None:  # recorded as running from the start: no worker can take it
        run_id = store.start_external(cfg, name, owner, os.getpid(), str(pick_device(cfg.device)), limits=limits,
                                      variant=variant)
    records: list[dict] = []

    def on_epoch(rec):
        records.append(dataclasses.asdict(rec))
        if run_id is not None:
            store.add_epoch(run_id, rec)
            store.beat(run_id, rec.epoch / cfg.epochs)

    def progress(epoch, step, steps, loss):
        done = ((epoch - 1) + step / steps) / cfg.epochs
        if run_id is not None:
            store.beat(run_id, done)
        if on_progress:
            on_progress(done)

    def on_start(spec, shape, mean, std):
        if run_id is not None:
            store.started(run_id, spec, shape, {"mean": list(mean), "std": list(std)})

    def stop() -> bool:  # the owner (or the teacher) cancelled it from the Training page
        return run_id is not None and store.cancel_requested(run_id)

    alive = store.keep_alive(run_id) if run_id is not None else contextlib.nullcontext()
    try:
        with alive:  # beats from its own thread: a slow stretch never looks like a dead process
            train(cfg, data=data, on_epoch=on_epoch, on_progress=progress, on_start=on_start, progress_every=5,
                  should_stop=stop, on_phase=(lambda p: store.set_phase(run_id, p)) if run_id is not None else None)
    except Exception as err:
        if run_id is not None:
            cancelled = type(err).__name__ == "Cancelled"
            store.finish(run_id, "cancelled" if cancelled else "failed",
                         str(err) if cancelled else f"{type(err).__name__}: {err}")
        raise
    if run_id is not None:
        last = records[-1]
        store.finish(run_id, "done", f"final test top-1 {last['test_top1']:.1%}; {name}: trained by the demos "
                                     f"page on {data.name}")
    return run_id, records


@dataclass(frozen=True)
class ShuffledRun:
    model: str
    pixels: str          # original | shuffled
    run_id: int | None
    epochs: list[dict]

    @property
    def final(self) -> float:
        return self.epochs[-1]["test_top1"]

    @property
    def label(self) -> str:
        return f"{self.model}, {self.pixels} pixels"


@dataclass(frozen=True)
class ShuffledResult:
    source: str
    data_name: str
    n_train: int
    n_test: int
    runs: list[ShuffledRun]

    def run(self, model: str, pixels: str) -> ShuffledRun:
        return next(r for r in self.runs if r.model == model and r.pixels == pixels)

    def drop(self, model: str) -> float:
        """Final test top-1 on original minus on shuffled pixels (fraction points; > 0: shuffling hurt)."""
        return self.run(model, "original").final - self.run(model, "shuffled").final

    @property
    def noise(self) -> float:
        """Two binomial standard errors of a test accuracy on ``n_test`` images (at the MLP's accuracy)."""
        p = self.run("MLP", "original").final
        return 2 * math.sqrt(max(p * (1 - p), 0.01) / self.n_test)

    def conclusion(self) -> str:
        """The takeaway in words, from the measured numbers (markdown)."""
        m, c, noise = self.drop("MLP"), self.drop("CNN"), self.noise
        mo, ms = self.run("MLP", "original").final, self.run("MLP", "shuffled").final
        co, cs = self.run("CNN", "original").final, self.run("CNN", "shuffled").final
        mlp = (f"The **MLP** scores {mo:.1%} on original and {ms:.1%} on shuffled pixels "
               f"({-m * 100:+.1f} points)")
        mlp += (": the same within noise (±{:.1f} points on {} test images) — it has no notion of "
                "neighbourhood, so a fixed reordering of its inputs changes nothing it can use.".format(
                    noise * 100, self.n_test) if abs(m) <= noise else
                f", a change larger than the noise (±{noise * 100:.1f} points): a chance difference of the "
                "initialisation (a fixed reordering gives it nothing more or less to learn from).")
        cnn = f" The **CNN** goes from {co:.1%} to {cs:.1%} ({-c * 100:+.1f} points)"
        if c > abs(m) + noise:
            cnn += (": its small kernels look at neighbouring pixels, and after the shuffle neighbours are "
                    "unrelated — the prior that made it good is gone.")
        else:
            cnn += (": no clear drop in this run (too few images or epochs to see it — train longer or on "
                    "more images).")
        return mlp + cnn


def shuffled_pixels_runs(source: str = "synthetic", limit: int = 2000, test_limit: int = 500, epochs: int = 4,
                         seed: int = 0, store=None, owner: str = "", device: str = "auto",
                         on_progress: Callable[[float, str], None] | None = None, limits=None) -> ShuffledResult:
    """Four runs — MLP and CNN, on original and on shuffled pixels — on ``limit`` training and
    ``test_limit`` test images of ``source`` (synthetic | cifar10 | an ImageFolder path). With a ``store``, each
    goes through the store's rules (``limits``; a finished identical run is reused, not trained again)."""
    from ...train import data as datasets

    if not (1 <= limit <= MAX_IMAGES and 1 <= epochs <= MAX_EPOCHS and 0 <= (test_limit or 0) <= MAX_IMAGES):
        raise ValueError(f"the shuffled-pixels experiment takes 1…{MAX_IMAGES:,} training and test images and "
                         f"1…{MAX_EPOCHS} epochs, not {limit}, {test_limit} and {epochs}")
    data = datasets.load(source, limit, seed)
    if test_limit and len(data.test_y) > test_limit:
        data = datasets.ImageData(data.name, data.classes, data.train_x, data.train_y,
                                  data.test_x[:test_limit], data.test_y[:test_limit])
    sets = {"original": data, "shuffled": shuffled_data(data, seed)}
    runs, plan = [], [(m, p) for m in MODELS for p in sets]
    for i, (model, pixels) in enumerate(plan):
        cfg = shuffled_config(model, source, limit, epochs, seed, device, test_limit or None)
        name = f"shuffled-pixels: {model}, {pixels}"
        report = (lambda f, i=i, name=name: on_progress((i + f) / len(plan), name)) if on_progress else None
        variant = (f"shuffled-pixels demo: {pixels} pixels, permutation seed {seed}, first {len(data.test_y)} test "
                   "images")  # what the config alone does not say: the same config trains on other pixels
        run_id, records = train_recorded(cfg, sets[pixels], name, store, owner, report, limits, variant)
        runs.append(ShuffledRun(model, pixels, run_id, records))
    return ShuffledResult(source, data.name, len(data.train_y), len(data.test_y), runs)

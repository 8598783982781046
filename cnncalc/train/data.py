"""Datasets as uint8 tensors (N, C, H, W) + int64 labels, decoded once and cached as .npy files.

Sources: CIFAR-10 and MNIST through torchvision (downloaded into the cache folder for users; offline,
a clear message says where to put the files), any ImageFolder tree (``train/<class>/*``,
``test/<class>/*``), and a small synthetic dataset that needs nothing (offline demos and tests).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}


class DataUnavailable(RuntimeError):
    """The dataset cannot be loaded here; the message says what to do."""


@dataclass(frozen=True)
class ImageData:
    name: str
    classes: tuple[str, ...]
    train_x: np.ndarray  # uint8 (N, C, H, W)
    train_y: np.ndarray  # int64 (N,)
    test_x: np.ndarray
    test_y: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]


def cache_dir() -> Path:
    """$CNNCALC_CACHE, else ~/.cache/cnncalc."""
    return Path(os.environ.get("CNNCALC_CACHE", Path.home() / ".cache" / "cnncalc"))


def _subset(x: np.ndarray, y: np.ndarray, limit: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random subset of ``limit`` examples (class balance kept in expectation)."""
    if limit is None or limit >= len(y):
        return x, y
    idx = np.sort(np.random.default_rng(seed).permutation(len(y))[:limit])
    return x[idx], y[idx]


def synthetic(n_train: int = 5000, n_test: int = 1000, size: int = 32, seed: int = 0) -> ImageData:
    """Ten classes of oriented colour gratings with random phase and noise: learnable in a few epochs on a
    CPU, not trivially (orientation is class-specific, colour only partly)."""
    rng = np.random.default_rng(seed)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 10, n)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        theta = y * np.pi / 10
        freq = 0.25 + 0.1 * (y % 3)
        phase = rng.uniform(0, 2 * np.pi, n)
        wave = np.sin(freq[:, None, None] * (np.cos(theta)[:, None, None] * xx + np.sin(theta)[:, None, None] * yy)
                      + phase[:, None, None])
        tint = np.stack([(y % 2) * 0.5 + 0.5, ((y // 2) % 2) * 0.5 + 0.5, np.full(n, 0.75)], 1)
        img = 0.5 + 0.35 * wave[:, None] * tint[:, :, None, None] + rng.normal(0, 0.12, (n, 3, size, size))
        return (np.clip(img, 0, 1) * 255).astype(np.uint8), y.astype(np.int64)

    (tx, ty), (vx, vy) = make(n_train), make(n_test)
    return ImageData("synthetic", tuple(f"pattern {i}" for i in range(10)), tx, ty, vx, vy)


def _torchvision(name: str, root: Path) -> ImageData:
    import torchvision

    cls = {"cifar10": torchvision.datasets.CIFAR10, "mnist": torchvision.datasets.MNIST}[name]
    try:
        train, test = cls(str(root), train=True, download=True), cls(str(root), train=False, download=True)
    except Exception as err:  # no network, a proxy, a half-written archive…
        raise DataUnavailable(
            f"{name.upper()} is not in {root} and could not be downloaded ({type(err).__name__}: {err}). "
            f"Put the official archive (e.g. cifar-10-python.tar.gz) or its extracted folder in {root}, "
            "or pass the path of an ImageFolder tree (train/<class>/*.jpg, test/<class>/*.jpg).") from err

    def arrays(ds) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(ds.data)
        x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)  # MNIST (N,H,W); CIFAR (N,H,W,C)
        return np.ascontiguousarray(x, dtype=np.uint8), np.asarray(ds.targets, dtype=np.int64)

    classes = tuple(getattr(train, "classes", CIFAR10_CLASSES))
    return ImageData(name, classes, *arrays(train), *arrays(test))


def _decode_folder(split_dir: Path, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    images, labels = [], []
    for label, name in enumerate(classes):
        for path in sorted((split_dir / name).iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                with Image.open(path) as im:
                    images.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
                labels.append(label)
    if not images:
        raise DataUnavailable(f"no images in {split_dir}/<class>/")
    sizes = {im.shape for im in images}
    if len(sizes) != 1:
        raise DataUnavailable(f"images in {split_dir} differ in size ({sorted(sizes)[:3]} …); resize them first")
    return np.stack(images).transpose(0, 3, 1, 2).copy(), np.asarray(labels, dtype=np.int64)


def image_folder(root: Path) -> ImageData:
    """An ImageFolder tree, decoded once and cached (keyed by the tree's path and file listing)."""
    root = Path(root)
    if not (root / "train").is_dir() or not (root / "test").is_dir():
        raise DataUnavailable(f"{root} must hold train/<class>/ and test/<class>/ folders of images")
    classes = sorted(d.name for d in (root / "train").iterdir() if d.is_dir())
    listing = "|".join(f"{s}/{c}:{len(os.listdir(root / s / c))}" for s in ("train", "test") for c in classes
                       if (root / s / c).is_dir())
    key = hashlib.sha256(f"{root.resolve()}|{listing}".encode()).hexdigest()[:16]
    cached = cache_dir() / f"folder-{key}"
    files = [cached / f"{n}.npy" for n in ("train_x", "train_y", "test_x", "test_y")]
    if all(f.exists() for f in files):
        arrays = [np.load(f, allow_pickle=False) for f in files]
    else:
        arrays = [*_decode_folder(root / "train", classes), *_decode_folder(root / "test", classes)]
        cached.mkdir(parents=True, exist_ok=True)
        for f, a in zip(files, arrays):
            tmp = f.with_suffix(".tmp.npy")
            np.save(tmp, a, allow_pickle=False)
            tmp.replace(f)  # atomic: a killed decode never leaves a half-written cache
    name = "cifar10" if tuple(classes) == CIFAR10_CLASSES else root.name
    return ImageData(name, tuple(classes), *arrays)


def load(source: str, limit: int | None = None, seed: int = 0) -> ImageData:
    """``cifar10`` | ``mnist`` | ``synthetic`` | a path to an ImageFolder tree; ``limit`` examples per split."""
    if source == "synthetic":
        n = limit or 5000
        data = synthetic(n_train=n, n_test=max(n // 5, 200) if limit else 1000, seed=seed)
    elif source in ("cifar10", "mnist"):
        data = _torchvision(source, cache_dir() / "datasets")
    elif Path(source).is_dir():
        data = image_folder(Path(source))
    else:
        raise DataUnavailable(f"unknown data source {source!r}: use cifar10, mnist, synthetic or a folder path")
    tx, ty = _subset(data.train_x, data.train_y, limit, seed)
    vx, vy = _subset(data.test_x, data.test_y, limit, seed + 1)
    return ImageData(data.name, data.classes, tx, ty, vx, vy)

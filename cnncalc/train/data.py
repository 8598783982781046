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


REPO = Path(__file__).resolve().parents[2]


def local_cifar10() -> Path | None:
    """A local CIFAR-10 copy in ImageFolder layout (``train/<class>/*``, ``test/<class>/*``):
    $CNNCALC_CIFAR10_DIR when it is set (and only it), else ``shared/data/cifar10-jpeg`` beside the repository;
    None when that folder holds no such tree."""
    folder = Path(os.environ.get("CNNCALC_CIFAR10_DIR") or REPO.parent / "shared" / "data" / "cifar10-jpeg")
    return folder if (folder / "train").is_dir() and (folder / "test").is_dir() else None


def cache_dir() -> Path:
    """$CNNCALC_CACHE, else ~/.cache/cnncalc."""
    return Path(os.environ.get("CNNCALC_CACHE", Path.home() / ".cache" / "cnncalc"))


def _subset(x: np.ndarray, y: np.ndarray, limit: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random subset of ``limit`` examples (class balance kept in expectation)."""
    if limit is None or limit >= len(y):
        return x, y
    idx = np.sort(np.random.default_rng(seed).permutation(len(y))[:limit])
    return x[idx], y[idx]


SYNTHETIC_CHUNK = 256
"""Images of the synthetic set computed at once: their float64 intermediates (~100 KB an image at 32×32)
stay near 25 MB whatever the set's size, so the set costs about its uint8 size (3 KB per 32×32×3 image;
built in one piece, 20,000 images took 1 GB)."""


def synthetic(n_train: int = 5000, n_test: int = 1000, size: int = 32, seed: int = 0) -> ImageData:
    """Ten classes of concentric rings: the ring frequency (5 levels) and a warm or cool tint make the
    class; the centre, phase and noise are random. Learnable in a few CPU epochs, and unchanged in kind
    by crops and horizontal flips, so every step of the lab's ladder applies.

    Built :data:`SYNTHETIC_CHUNK` images at a time into uint8 arrays; the random numbers are drawn in the
    same order as in one piece (labels, centres, phases, then the noise image by image), so a seed gives
    the same images as it always did."""
    rng = np.random.default_rng(seed)
    tints = np.array([[1.0, 0.55, 0.3], [0.3, 0.6, 1.0]], np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 10, n)
        cy, cx = rng.uniform(size / 4, 3 * size / 4, (2, n, 1, 1))
        phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))
        out = np.empty((n, 3, size, size), np.uint8)
        for lo in range(0, n, SYNTHETIC_CHUNK):
            k = slice(lo, min(n, lo + SYNTHETIC_CHUNK))
            radius = np.sqrt((yy - cy[k]) ** 2 + (xx - cx[k]) ** 2)
            wave = np.sin((0.35 + 0.28 * (y[k] % 5))[:, None, None] * radius + phase[k])
            tint = tints[y[k] // 5][:, :, None, None]
            img = 0.5 + 0.4 * wave[:, None] * tint + rng.normal(0, 0.1, (k.stop - lo, 3, size, size))
            out[k] = (np.clip(img, 0, 1) * 255).astype(np.uint8)
        return out, y.astype(np.int64)

    (tx, ty), (vx, vy) = make(n_train), make(n_test)
    classes = tuple(f"{t} rings ×{f + 1}" for t in ("warm", "cool") for f in range(5))
    return ImageData("synthetic", classes, tx, ty, vx, vy)


def _torchvision(name: str, root: Path) -> ImageData:
    import torchvision

    cls = {"cifar10": torchvision.datasets.CIFAR10, "mnist": torchvision.datasets.MNIST}[name]
    try:
        train, test = cls(str(root), train=True, download=True), cls(str(root), train=False, download=True)
    except Exception as err:  # no network, a proxy, a half-written archive…
        # no server path in the message: students read it on the Training page (the teacher knows the folder)
        raise DataUnavailable(
            f"{name.upper()} is not in the server's dataset cache and could not be downloaded "
            f"({type(err).__name__}). The teacher can put the official archive (e.g. cifar-10-python.tar.gz) or "
            "its extracted folder in $CNNCALC_CACHE/datasets (default ~/.cache/cnncalc/datasets), or give an "
            "ImageFolder tree (train/<class>/*.jpg, test/<class>/*.jpg) — see docs/TEACHING.md.") from err

    def arrays(ds) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(ds.data)
        x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)  # MNIST (N,H,W); CIFAR (N,H,W,C)
        return np.ascontiguousarray(x, dtype=np.uint8), np.asarray(ds.targets, dtype=np.int64)

    classes = tuple(getattr(train, "classes", CIFAR10_CLASSES))
    return ImageData(name, classes, *arrays(train), *arrays(test))


def _listing(split_dir: Path, classes: list[str]) -> list[tuple[Path, int]]:
    return [(path, label) for label, name in enumerate(classes) if (split_dir / name).is_dir()
            for path in sorted((split_dir / name).iterdir()) if path.suffix.lower() in IMAGE_SUFFIXES]


def _decode_folder(split_dir: Path, classes: list[str], limit: int | None = None,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Decode a split (or a seeded random subset of ``limit`` files, decoding only those)."""
    from PIL import Image

    files = _listing(split_dir, classes)
    if limit is not None and limit < len(files):
        keep = np.sort(np.random.default_rng(seed).permutation(len(files))[:limit])
        files = [files[i] for i in keep]
    images, labels = [], []
    for path, label in files:
        with Image.open(path) as im:
            images.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
        labels.append(label)
    if not images:
        raise DataUnavailable(f"no images in {split_dir}/<class>/")
    sizes = {im.shape for im in images}
    if len(sizes) != 1:
        raise DataUnavailable(f"images in {split_dir} differ in size ({sorted(sizes)[:3]} …); resize them first")
    return np.stack(images).transpose(0, 3, 1, 2).copy(), np.asarray(labels, dtype=np.int64)


def image_folder(root: Path, limit: int | None = None, seed: int = 0) -> ImageData:
    """An ImageFolder tree, decoded once and cached (keyed by the tree's path and file listing). With a
    ``limit``, only that many files per split are decoded (seeded choice) and nothing is cached."""
    root = Path(root)
    if not (root / "train").is_dir() or not (root / "test").is_dir():
        raise DataUnavailable(f"{root} must hold train/<class>/ and test/<class>/ folders of images")
    classes = sorted(d.name for d in (root / "train").iterdir() if d.is_dir())
    name = "cifar10" if tuple(classes) == CIFAR10_CLASSES else root.name
    if limit is not None:
        return ImageData(name, tuple(classes), *_decode_folder(root / "train", classes, limit, seed),
                         *_decode_folder(root / "test", classes, limit, seed + 1))
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
    return ImageData(name, tuple(classes), *arrays)


PACKED_KEYS = ("bytes", "offsets", "labels")
DECODE_CHUNK = 512  # images per decoding task: large enough to amortise the task, small enough to spread


_PACKED: dict = {}  # the split being decoded, inherited by the forked decoding processes (no copy, no pickle)


def _decode_chunk(index: np.ndarray) -> np.ndarray:
    """Decode the images ``index`` of the packed split in :data:`_PACKED`."""
    import io

    from PIL import Image
    blob, offsets = _PACKED["blob"], _PACKED["offsets"]
    out = []
    for i in index:
        with Image.open(io.BytesIO(blob[offsets[i]:offsets[i + 1]].tobytes())) as im:
            out.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
    sizes = {a.shape for a in out}
    if len(sizes) > 1:
        raise DataUnavailable(f"the packed images differ in size ({sorted(sizes)[:3]} …)")
    return np.stack(out) if out else np.zeros((0, 1, 1, 3), np.uint8)


def _decode_packed(z, split: str, limit: int | None, seed: int, workers: int) -> tuple[np.ndarray, np.ndarray]:
    """One split, decoded by ``workers`` forked processes: a 32×32 JPEG decodes in microseconds, so Python's
    per-image work dominates and threads (one GIL) would not go faster; processes do, on a many-core machine."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    blob, offsets = z[f"{split}_bytes"], z[f"{split}_offsets"].astype(np.int64)
    labels = z[f"{split}_labels"].astype(np.int64)
    if len(offsets) != len(labels) + 1 or offsets[-1] > len(blob) or (np.diff(offsets) <= 0).any():
        raise DataUnavailable(f"the packed {split} split is inconsistent (offsets vs bytes vs labels)")
    index = np.arange(len(labels))
    if limit is not None and limit < len(labels):
        index = np.sort(np.random.default_rng(seed).permutation(len(labels))[:limit])
    chunks = [index[i:i + DECODE_CHUNK] for i in range(0, len(index), DECODE_CHUNK)]
    _PACKED.update(blob=blob, offsets=offsets)
    try:
        if workers > 1 and len(chunks) > 1 and "fork" in multiprocessing.get_all_start_methods():
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
                parts = list(pool.map(_decode_chunk, chunks))
        else:
            parts = [_decode_chunk(c) for c in chunks]
    finally:
        _PACKED.clear()
    x = np.concatenate(parts) if parts else np.zeros((0, 1, 1, 3), np.uint8)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)), labels[index]


def packed_jpeg(path: Path, limit: int | None = None, seed: int = 0, workers: int | None = None) -> ImageData:
    """A data set packed in one ``.npz`` of raw JPEG bytes (shared/tools/pack_jpeg.py's format: per split
    ``<split>_bytes`` (uint8), ``<split>_offsets`` (N + 1 positions) and ``<split>_labels``; an optional
    ``classes`` array names the labels, CIFAR-10's order otherwise). One file carries 60,000 images to another
    machine; the images are decoded on ``workers`` threads (all cores by default) and, without a ``limit``,
    cached as arrays like an ImageFolder tree. Read with ``allow_pickle=False``: an .npz is untrusted input."""
    path = Path(path)
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DataUnavailable(f"{path.name} is not a readable .npz file ({err})") from None
    try:
        return _packed(z, path, limit, seed, workers)
    except ValueError as err:  # an object array (it would need pickle) or a damaged member
        raise DataUnavailable(f"{path.name} is not a readable packed image set ({err})") from None
    finally:
        z.close()


def _packed(z, path: Path, limit: int | None, seed: int, workers: int | None) -> ImageData:
    """The arrays of an opened packed file: from the cache when decoded before, else decoded (and cached)."""
    missing = [f"{s}_{k}" for s in ("train", "test") for k in PACKED_KEYS if f"{s}_{k}" not in z.files]
    if missing:
        raise DataUnavailable(f"{path.name} is not a packed image set: it lacks {', '.join(missing)}")
    classes = tuple(str(c) for c in z["classes"]) if "classes" in z.files else CIFAR10_CLASSES
    name = "cifar10" if classes == CIFAR10_CLASSES else path.stem
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    cached = cache_dir() / f"packed-{key}"
    files = [cached / f"{n}.npy" for n in ("train_x", "train_y", "test_x", "test_y")]
    if limit is None and all(f.exists() for f in files):
        return ImageData(name, classes, *[np.load(f, allow_pickle=False) for f in files])
    workers = workers or max(1, os.cpu_count() or 1)
    arrays = [*_decode_packed(z, "train", limit, seed, workers), *_decode_packed(z, "test", limit, seed + 1,
                                                                                  workers)]
    if limit is None:
        cached.mkdir(parents=True, exist_ok=True)
        for f, a in zip(files, arrays):
            tmp = f.with_suffix(".tmp.npy")
            np.save(tmp, a, allow_pickle=False)
            tmp.replace(f)  # atomic: a killed decode never leaves a half-written cache
    return ImageData(name, classes, *arrays)


def class_names(source: str) -> tuple[str, ...]:
    """The label names of a data source, without loading its images."""
    if source == "synthetic":
        return synthetic(1, 1).classes
    if source == "mnist":
        return tuple(str(d) for d in range(10))
    if source.endswith(".npz") and Path(source).is_file():
        try:
            with np.load(source, allow_pickle=False) as z:
                return tuple(str(c) for c in z["classes"]) if "classes" in z.files else CIFAR10_CLASSES
        except (OSError, ValueError):
            return CIFAR10_CLASSES
    folder = Path(source) / "train"
    if source != "cifar10" and folder.is_dir():
        return tuple(sorted(d.name for d in folder.iterdir() if d.is_dir()))
    return CIFAR10_CLASSES


def load(source: str, limit: int | None = None, seed: int = 0) -> ImageData:
    """``cifar10`` | ``mnist`` | ``synthetic`` | a path to an ImageFolder tree or a packed ``.npz``
    (:func:`packed_jpeg`); ``limit`` examples per split."""
    if source == "synthetic":
        n = limit or 5000
        data = synthetic(n_train=n, n_test=max(n // 5, 200) if limit else 1000, seed=seed)
    elif source in ("cifar10", "mnist"):
        data = _torchvision(source, cache_dir() / "datasets")
    elif Path(source).is_dir():
        return image_folder(Path(source), limit, seed)
    elif source.endswith(".npz") and Path(source).is_file():
        return packed_jpeg(Path(source), limit, seed)
    else:
        raise DataUnavailable(f"unknown data source {source!r}: use cifar10, mnist, synthetic, an ImageFolder "
                              "folder or a packed .npz file")
    tx, ty = _subset(data.train_x, data.train_y, limit, seed)
    vx, vy = _subset(data.test_x, data.test_y, limit, seed + 1)
    return ImageData(data.name, data.classes, tx, ty, vx, vy)

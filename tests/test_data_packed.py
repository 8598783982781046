"""The packed one-file data set (.npz of raw JPEG bytes, shared/tools/pack_jpeg.py's format): the same images
and labels as the ImageFolder tree it was packed from (the oracle: the tree, decoded file by file), decoded in
parallel; a damaged or hostile .npz is refused with a message, never unpickled."""
from pathlib import Path

import numpy as np
import pytest

from cnncalc.train import data

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
NPZ, TREE = SHARED / "data" / "cifar10-jpeg.npz", SHARED / "data" / "cifar10-jpeg"
needs_data = pytest.mark.skipif(not NPZ.is_file() or not (TREE / "train").is_dir(),
                                reason="needs ../shared/data/cifar10-jpeg(.npz)")


@needs_data
def test_a_subset_equals_the_image_folder_subset():
    packed = data.packed_jpeg(NPZ, limit=300, seed=3, workers=2)
    folder = data.image_folder(TREE, limit=300, seed=3)
    assert packed.classes == folder.classes == data.CIFAR10_CLASSES
    for a, b in ((packed.train_x, folder.train_x), (packed.train_y, folder.train_y),
                 (packed.test_x, folder.test_x), (packed.test_y, folder.test_y)):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert packed.train_x.shape == (300, 3, 32, 32)


@needs_data
def test_load_dispatches_npz_and_names_classes():
    assert data.class_names(str(NPZ)) == data.CIFAR10_CLASSES
    d = data.load(str(NPZ), limit=50)
    assert d.name == "cifar10" and d.train_x.shape == (50, 3, 32, 32) and d.test_y.max() <= 9


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_damaged_or_hostile_files_are_refused(tmp_path):
    good = {f"{s}_{k}": v for s in ("train", "test") for k, v in
            (("bytes", np.zeros(10, np.uint8)), ("offsets", np.array([0, 5, 10])), ("labels", np.array([0, 1])))}
    missing = _write(tmp_path / "missing.npz", train_bytes=np.zeros(3, np.uint8))
    with pytest.raises(data.DataUnavailable, match="lacks"):
        data.packed_jpeg(missing)
    bad = _write(tmp_path / "bad.npz", **{**good, "train_offsets": np.array([0, 7, 99])})
    with pytest.raises(data.DataUnavailable, match="inconsistent"):
        data.packed_jpeg(bad)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, **{**good, "classes": np.array([object()], dtype=object)})
    with pytest.raises(data.DataUnavailable, match="not a readable"):
        data.packed_jpeg(pickled)  # an object array needs pickle: refused, never loaded
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(data.DataUnavailable, match="not a readable"):
        data.packed_jpeg(tmp_path / "junk.npz")

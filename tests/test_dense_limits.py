"""Dense score maps on a shared server (issue #10, probe 3 and 4, core side): elongated uploads are cropped
before they are resized for the network, every pass estimates its memory first, pictures stay a few
megapixels. The page side is in tests/app/test_dense_maps.py."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from cnncalc import build_model
from cnncalc.draw import heatmaps as hm
from cnncalc.pytorch import fcn
from cnncalc.pytorch.bridge import from_module
from cnncalc.pytorch.models import random_lab

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def lab():
    clf = random_lab()
    net, _ = fcn.convolutionalize(clf.model, clf.input_shape)
    return clf, net


@pytest.mark.parametrize("shape, kept", [((1, 100_000), (1, 32)), ((1, 20_000), (1, 32)), ((4, 8000), (4, 128)),
                                         ((100_000, 1), (32, 1))])
def test_probe_3_elongated_images_keep_their_middle(shape, kept):
    t0 = time.perf_counter()
    f = hm.fit(np.zeros(shape + (3,), np.uint8), 96, 32)
    assert time.perf_counter() - t0 < 5
    assert f.kept[2:] == kept
    assert max(f.image.shape[:2]) == 32 * 32 and min(f.image.shape[:2]) == 32  # 32:1 at most, window-high
    note = f.note("Your upload")
    assert f"{shape[0]:,}×{shape[1]:,}" in note and "middle" in note and "resized to" in note


def test_fit_keeps_ordinary_images_whole_and_says_so():
    f = hm.fit(np.zeros((4000, 6000, 3), np.uint8), 96, 32)  # a 24-megapixel phone photo
    assert f.image.shape == (64, 96, 3) and f.kept is None
    assert f.note("The photo") == "The photo (4,000×6,000 pixels) is resized to 64×96 for the network."
    assert hm.fit(np.zeros((64, 96, 3), np.uint8), 96, 32).note() == ""


def test_fit_speaks_in_the_files_pixels_when_decoded_smaller():
    f = hm.fit(np.zeros((500, 750, 3), np.uint8), 96, 32, original=(4000, 6000))  # a JPEG decoded at 1/8
    assert f.image.shape == (64, 96, 3) and f.note("P") == "P (4,000×6,000 pixels) is resized to 64×96 for the network."
    g = hm.fit(np.zeros((10, 5000, 3), np.uint8), 96, 32, original=(80, 40_000))
    assert g.kept == (0, 18_720, 80, 2560) and "middle 80×2,560 pixels (rows 0…79, columns 18,720…21,279)" in g.note()


def test_cap_pixels():
    big = np.zeros((3000, 4000, 3), np.uint8)
    out = hm.cap_pixels(big, 4_000_000)
    assert out.shape[0] * out.shape[1] <= 4_000_000 and abs(out.shape[1] / out.shape[0] - 4 / 3) < 0.01
    small = np.zeros((10, 20, 3), np.uint8)
    assert hm.cap_pixels(small) is small or np.array_equal(hm.cap_pixels(small), small)


def test_dense_pass_is_refused_before_running(lab):
    clf, net = lab
    image = torch.zeros(3, 32, 1).expand(3, 32, 3_200_000)  # what a 1×100,000 upload became; a view: no memory
    t0 = time.perf_counter()
    with pytest.raises(fcn.TooLarge) as info:
        fcn.score_maps(net, image, clf.input_shape, max_bytes=2**30)
    assert time.perf_counter() - t0 < 10
    assert "32×3,200,000" in str(info.value) and "memory_mb" in str(info.value)
    small = fcn.score_maps(net, torch.zeros(3, 64, 96), clf.input_shape, max_bytes=2**30)
    assert tuple(small[0].scores.shape) == (10, 5, 9)


def test_pass_bytes_is_near_the_measured_peak():
    code = textwrap.dedent('''
        import json, torch
        torch.set_num_threads(1)
        from cnncalc.pytorch import fcn
        from cnncalc.pytorch.models import random_lab
        def hwm():
            return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM"))
        clf = random_lab()
        net, _ = fcn.convolutionalize(clf.model, clf.input_shape)
        image = torch.randn(3, 768, 768)
        fcn.score_maps(net, torch.randn(3, 64, 64), clf.input_shape)
        before = hwm() - 4 * sum(p.numel() for p in net.parameters()) - 4 * image.numel()  # those exist already
        fcn.score_maps(net, image, clf.input_shape, max_bytes=2**40)
        print(json.dumps({"need": fcn.dense_bytes(net, (3, 768, 768)), "used": hwm() - before}))
    ''')
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert 0.8 * r["used"] <= r["need"] <= 1.6 * r["used"] + 32 * 2**20, r


def test_sliding_window_in_batches_gives_the_same_scores(lab):
    clf, _ = lab
    image = torch.randn(3, 56, 80, generator=torch.Generator().manual_seed(0))
    whole, _ = fcn.sliding_window(clf.model, image, (32, 32), 8, batch=10_000)
    for batch in (1, 7, 64):
        parts, _ = fcn.sliding_window(clf.model, image, (32, 32), 8, batch=batch)
        assert parts.shape == whole.shape == (10, 4, 7)
        assert torch.allclose(parts, whole, atol=1e-5)


def test_crops_per_batch_fits_the_limit():
    model = build_model("conv 64 k=3 p=1; relu; conv 64 k=3 p=1; flatten; fc 10", (3, 224, 224)).eval()
    one = from_module(model, (3, 224, 224))
    weights, per_crop = fcn.pass_bytes(one, 0), fcn.pass_bytes(one, 1) - fcn.pass_bytes(one, 0)
    limit = weights + 5 * per_crop + per_crop // 2
    assert fcn.crops_per_batch(model, 3, (224, 224), 256, max_bytes=limit) == 5
    assert fcn.crops_per_batch(model, 3, (224, 224), 3, max_bytes=limit) == 3
    with pytest.raises(fcn.TooLarge, match="sliding window"):
        fcn.crops_per_batch(model, 3, (224, 224), 256, max_bytes=weights)

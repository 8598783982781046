"""The converted lab net's dense pass vs the original net on every crop (stride = the head's jump, 8 px),
on 512² and 1024² images, CPU, same process. Prints seconds, the ratio, and checks the map shapes agree.

    .venv/bin/python benchmarks/bench_dense.py
"""
from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from cnncalc import build_model, preset  # noqa: E402
from cnncalc.pytorch.fcn import convolutionalize, geometry, score_maps, sliding_window  # noqa: E402


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    torch.manual_seed(0)
    p = preset("lab")
    model = build_model(p.spec, p.input_shape).eval()  # timing does not depend on the weights' values
    fcn, _ = convolutionalize(model, p.input_shape)
    geo = geometry(fcn, p.input_shape)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    print(f"machine: {cpu}, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    for size in (512, 1024):
        image = torch.randn(3, size, size)
        dense = score_maps(fcn, image, p.input_shape)[0].scores
        crops, _ = sliding_window(model, image, geo.window, geo.stride)
        assert dense.shape == crops.shape, (dense.shape, crops.shape)
        t_dense = best_of(lambda: score_maps(fcn, image, p.input_shape))
        t_slide = best_of(lambda: sliding_window(model, image, geo.window, geo.stride), repeat=1 if size > 512 else 2)
        h, w = dense.shape[1:]
        print(f"{size}×{size}: map {h}×{w} ({h * w:,} windows) — dense {t_dense:.3f} s, sliding window "
              f"{t_slide:.3f} s, ratio {t_slide / t_dense:.1f}×")


if __name__ == "__main__":
    main()

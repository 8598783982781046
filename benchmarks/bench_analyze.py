"""analyze() of the VGG16 preset vs torchinfo.summary of torchvision's VGG16, same input, same process.

Run: .venv/bin/python benchmarks/bench_analyze.py
Prints the median seconds of each, their ratio, and checks the totals are identical.
"""
from __future__ import annotations

import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torchinfo  # noqa: E402
import torchvision  # noqa: E402

import cnncalc  # noqa: E402


def median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    vgg = cnncalc.preset("vgg16")
    model = torchvision.models.vgg16(weights=None).eval()
    shape = (1, *vgg.input_shape)

    ours = cnncalc.analyze(vgg.spec, vgg.input_shape)
    theirs = torchinfo.summary(model, input_size=shape, verbose=0)
    # torchinfo's mult-adds count bias adds as well (one per output unit of each conv / fc)
    bias_adds = sum(r.out_shape[0] * (r.out_shape[1] * r.out_shape[2] if len(r.out_shape) == 3 else 1)
                    for r in ours.layers if r.biases)
    assert ours.params == theirs.total_params == 138_357_544, (ours.params, theirs.total_params)
    assert ours.macs + bias_adds == theirs.total_mult_adds, (ours.macs + bias_adds, theirs.total_mult_adds)

    def parse_and_analyze():  # the parse cache is cleared so the text is read every time
        cnncalc.parse._parse_cached.cache_clear()
        return cnncalc.analyze(vgg.spec, vgg.input_shape)

    t_ours = median_seconds(parse_and_analyze, 200)
    t_theirs = median_seconds(lambda: torchinfo.summary(model, input_size=shape, verbose=0), 5)
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"python {platform.python_version()}, torch {torch.__version__}, torchinfo {torchinfo.__version__}")
    print(f"totals identical: params {ours.params:,}, MACs {ours.macs:,} (+{bias_adds:,} bias adds "
          f"= torchinfo's {theirs.total_mult_adds:,})")
    print(f"cnncalc.analyze(vgg16 preset), text parsed each time: {t_ours * 1e3:.3f} ms (median of 200)")
    print(f"torchinfo.summary(torchvision vgg16, 1x3x224x224): {t_theirs * 1e3:.1f} ms (median of 5)")
    print(f"ratio: {t_theirs / t_ours:,.0f}x")


if __name__ == "__main__":
    main()

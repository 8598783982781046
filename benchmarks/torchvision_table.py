"""cnncalc's counts for torchvision's classification models beside torchvision's own published figures.

    .venv/bin/python benchmarks/torchvision_table.py [--models resnet18,vit_b_16] [--markdown]

Each model is built on the meta device (no weights, no memory for them) and analysed by
``cnncalc.pytorch.bridge.from_module`` at its weights' input size (224×224, or what the weights' transforms
crop to). Beside it: the parameter count and the MACs ("_ops", which torchvision labels GFLOPS but counts as
multiply–accumulates) from the default weights' metadata — figures torchvision measured, not ours. The last
column is the receptive field of the last layer that still has a spatial map (no published figure to compare
with: tests/test_graph_rf.py measures resnet18's by gradient).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MODELS = ("alexnet", "vgg16", "resnet18", "resnet50", "densenet121", "googlenet", "inception_v3", "mobilenet_v2",
          "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny", "regnet_y_400mf", "vit_b_16")


def crop_size(weights) -> int:
    transforms = weights.transforms()
    size = getattr(transforms, "crop_size", [224])
    return int(size[0] if isinstance(size, (list, tuple)) else size)


def row(name: str) -> dict:
    import torch
    import torchvision
    from cnncalc.pytorch.bridge import from_module
    weights = torchvision.models.get_model_weights(name).DEFAULT
    size = crop_size(weights)
    # torchvision's published GoogLeNet weights drop the auxiliary classifiers (6.6 M parameters); Inception v3's
    # keep them (27.2 M): build each as its figure counts it
    kwargs = {"googlenet": {"init_weights": False, "aux_logits": False},
              "inception_v3": {"init_weights": False}}.get(name, {})
    try:
        with torch.device("meta"):
            model = torchvision.models.get_model(name, **kwargs)
    except NotImplementedError:  # RegNet reads tensor values while it builds: as the CLI does, build it for real
        model = torchvision.models.get_model(name, **kwargs)
    t0 = time.perf_counter()
    a = from_module(model, (3, size, size))
    seconds = time.perf_counter() - t0
    spatial = [r for r in a.layers if r.out_shape and len(r.out_shape) == 3 and r.rf is not None]
    missing = [r.name for r in a.layers if r.status != "ok" or r.unavailable]
    return {"model": name, "input": f"3×{size}×{size}", "params": a.params,
            "params (torchvision)": weights.meta["num_params"], "MACs": a.macs,
            "MACs (torchvision _ops)": weights.meta.get("_ops"), "MACs missing": list(a.missing("macs")),
            "last spatial RF": f"{spatial[-1].rf[0]} ({spatial[-1].name})" if spatial else None, "rows not ok": len(missing),
            "seconds": round(seconds, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    rows = []
    for name in args.models.split(","):
        try:
            rows.append(row(name))
        except Exception as err:  # one model's failure is a row, not the end of the table
            rows.append({"model": name, "error": f"{type(err).__name__}: {err}"})
        print(rows[-1], flush=True)
    if args.markdown:
        print("\n| model | input | params (cnncalc / torchvision) | MACs G (cnncalc / torchvision) | last spatial RF |")
        print("|---|---|---|---|---|")
        for r in rows:
            if "error" in r:
                print(f"| {r['model']} | — | {r['error']} | | |")
                continue
            same = "=" if r["params"] == r["params (torchvision)"] else "≠"
            ops = r["MACs (torchvision _ops)"]
            ge = "≥ " if r["MACs missing"] else ""
            print(f"| {r['model']} | {r['input']} | {r['params']:,} {same} {r['params (torchvision)']:,} | "
                  f"{ge}{r['MACs'] / 1e9:.3f} / {ops if ops is not None else '—'} | {r['last spatial RF']} |")


if __name__ == "__main__":
    main()

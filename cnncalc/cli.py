"""``python -m cnncalc analyze "SPEC" --input 3x32x32 [--json]`` (or ``--preset lab``, or ``--model resnet18``: any
torchvision classification model, built without weights on the meta device); ``python -m cnncalc export
RUN [--out DIR]`` writes one run's hand-in (train/handin.py) into a folder.

Exit codes: 0 done, 1 a training run that did not finish, 2 input that cannot be used (an unreadable or
over-long spec, a bad option, an unusable run store) — one ``error: …`` line on stderr, never a traceback —
and 3 a spec that reads but whose settings do not fit the input.
"""
from __future__ import annotations

import argparse
import json
import sys

from .analyze import analyze
from .parse import SpecError, _short, parse_shape
from .presets import PRESETS, preset
from .report import CONVENTIONS
from .tables import to_markdown, to_text
from .torchtext import looks_like_pytorch, to_spec_with_notes

MAX_MODEL_NAME = 64


def _torchvision_model(name: str, shape):
    """``from_module`` of torchvision's ``name`` (no weights, meta device); SpecError for an unknown name, with
    the closest names, or a model that cannot take this input."""
    import difflib

    import torch
    import torchvision

    from .pytorch.bridge import from_module
    names = torchvision.models.list_models(module=torchvision.models)
    if name not in names:
        close = difflib.get_close_matches(name.lower()[:MAX_MODEL_NAME], names, n=5, cutoff=0.5)
        raise SpecError(f"unknown model '{_short(name)}'" + (f"; close names: {', '.join(close)}" if close else "")
                        + f" (one of torchvision's {len(names)} classification models, e.g. resnet18, vgg16)")
    try:
        with torch.device("meta"):
            model = torchvision.models.get_model(name)
    except NotImplementedError:  # a constructor that reads tensor values (RegNet's widths): build it for real
        model = torchvision.models.get_model(name)
    try:
        return from_module(model, shape)
    except (RuntimeError, ValueError, AssertionError, TypeError) as err:
        raise SpecError(f"{name} cannot run on a {'x'.join(map(str, shape))} input: {_short(str(err), 200)}") from None


def _analyze(args: argparse.Namespace) -> int:
    if sum(map(bool, (args.spec, args.preset, args.model))) > 1:
        raise SpecError("give one of SPEC, --preset NAME or --model NAME")
    if args.model:
        result = _torchvision_model(args.model, parse_shape(args.input or "3x224x224"))
    elif args.preset:
        chosen = preset(args.preset)
        result = analyze(chosen.spec, args.input or chosen.input_shape)
    elif args.spec:
        spec = args.spec
        if looks_like_pytorch(spec):
            spec, notes = to_spec_with_notes(spec)
            for note in notes:
                if not (args.input and note.startswith("the first layer expects")):  # --input said it already
                    print(f"note: {note}", file=sys.stderr)
        result = analyze(spec, args.input or "3x32x32")
    else:
        raise SpecError("give a SPEC, --preset NAME (" + ", ".join(PRESETS) + ") or --model NAME (torchvision)")
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        print((to_markdown if args.markdown else to_text)(result))
        for r in result.layers:
            if r.status != "ok" or r.unavailable:
                print(f"\n{r.name}: {r.status}: {r.message}" + (f"\n  suggested: {r.fix}" if r.fix else ""))
        print("\n" + CONVENTIONS["macs"])
    return 0 if result.ok else 3


def _add_export(sub) -> None:
    e = sub.add_parser("export", help="write one run's hand-in: epochs CSV, curves PNG, command, weights, "
                                      "confusion matrix", description="Write RUN's hand-in into DIR/run-N-name/ "
                       "(no names, no server paths): run.json, command.txt, epochs.csv, curves.png, confusion.csv "
                       "and .png (computed here from the checkpoint unless cached or --no-confusion), "
                       "weights.safetensors.")
    e.add_argument("run_id", type=int, metavar="RUN")
    e.add_argument("--out", default=".", help="the folder to write run-N-name/ in (default: here)")
    e.add_argument("--data-dir", help="run store folder (default: $CNNCALC_DATA or ./data)")
    e.add_argument("--no-confusion", action="store_true", help="do not compute the confusion matrix (a cached "
                                                               "one is still written)")
    e.add_argument("--no-weights", action="store_true", help="leave the checkpoint out (and export a run that "
                                                             "kept none, e.g. a diverged one)")
    e.set_defaults(run=_export)


def _export(args: argparse.Namespace) -> int:
    """Exit 0 with the folder written (what was left out: ``note:`` lines on stderr); 2 with one ``error:``
    line for no such run, a run without a checkpoint (unless --no-weights) or a store or folder that cannot
    be used."""
    import sqlite3

    from .train import handin
    from .train.cli import CommandError
    from .train.store import RunStore, default_root
    root = args.data_dir or default_root()
    try:
        store = RunStore(root)
        run = store.get(args.run_id)
    except KeyError:
        raise CommandError(f"there is no run {args.run_id} in this store (python -m cnncalc runs lists them)") from None
    except (sqlite3.Error, OSError) as err:
        raise CommandError(f"the run store at {root} cannot be used: {err} (set --data-dir or $CNNCALC_DATA)") from None
    path = store.checkpoint_path(run)
    if not args.no_weights and (path is None or not path.is_file()):
        raise CommandError(f"run {run.id} ({run.status}) has no checkpoint: add --no-weights to export its epochs "
                           "and curves without weights")
    conf, why = None, ""
    if not args.no_confusion and handin.cached(store, run) is None:
        try:
            conf = handin.confusion(store, run)
            print(f"confusion matrix computed in {conf.seconds:.1f} s on {conf.device}", file=sys.stderr)
        except handin.NotAvailable as err:
            why = str(err)
    try:
        folder, ex = handin.write_export(store, run, args.out, conf, weights=not args.no_weights, missing=why)
    except OSError as err:
        raise CommandError(f"cannot write the export into {args.out}: {err}") from None
    for note in ex.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"run {run.id} exported to {folder}: {', '.join(['README.txt', *ex.files])}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnncalc", description="Every number of a CNN, exactly.")
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("analyze", help="per-layer shapes, weights, MACs, receptive fields")
    a.add_argument("spec", nargs="?", help='e.g. "conv 32 k=5 p=2; relu; maxpool k=2; fc 10", or PyTorch text: '
                                           '"nn.Sequential(nn.Conv2d(3, 32, 5, padding=2), nn.ReLU())"')
    a.add_argument("--input", "-i", help="C×H×W, e.g. 3x32x32 (default: the preset's, 3x224x224 for --model, "
                                         "else 3x32x32)")
    a.add_argument("--model", "-m", help="a torchvision classification model by name, e.g. resnet18 (needs "
                                         "torchvision; built without weights)")
    a.add_argument("--preset", "-p", help="one of: " + ", ".join(PRESETS))
    a.add_argument("--json", action="store_true", help="print Analysis.to_dict() as JSON")
    a.add_argument("--markdown", action="store_true", help="print a Markdown table")
    a.set_defaults(run=_analyze)
    sub.add_parser("presets", help="list the presets").set_defaults(
        run=lambda _: print("\n".join(f"{k:8} {p.title}  [{'x'.join(map(str, p.input_shape))}]"
                                      for k, p in PRESETS.items())) or 0)
    from .train.cli import CommandError, add_parsers  # torch is imported only when a training command runs
    add_parsers(sub)
    _add_export(sub)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (SpecError, CommandError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

"""``python -m cnncalc analyze "SPEC" --input 3x32x32 [--json]`` (or ``--preset lab``).

Exit codes: 0 done, 1 a training run that did not finish, 2 input that cannot be used (an unreadable or
over-long spec, a bad option, an unusable run store) — one ``error: …`` line on stderr, never a traceback —
and 3 a spec that reads but whose settings do not fit the input.
"""
from __future__ import annotations

import argparse
import json
import sys

from .analyze import analyze
from .parse import SpecError
from .presets import PRESETS, preset
from .report import CONVENTIONS
from .tables import to_markdown, to_text


def _analyze(args: argparse.Namespace) -> int:
    if args.preset:
        chosen = preset(args.preset)
        spec, shape = chosen.spec, args.input or chosen.input_shape
    elif args.spec:
        spec, shape = args.spec, args.input or "3x32x32"
    else:
        raise SpecError("give a SPEC or --preset NAME (" + ", ".join(PRESETS) + ")")
    result = analyze(spec, shape)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        print((to_markdown if args.markdown else to_text)(result))
        for r in result.layers:
            if r.status != "ok" or r.unavailable:
                print(f"\n{r.name}: {r.status}: {r.message}" + (f"\n  suggested: {r.fix}" if r.fix else ""))
        print("\n" + CONVENTIONS["macs"])
    return 0 if result.ok else 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnncalc", description="Every number of a CNN, exactly.")
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("analyze", help="per-layer shapes, weights, MACs, receptive fields")
    a.add_argument("spec", nargs="?", help='e.g. "conv 32 k=5 p=2; relu; maxpool k=2; fc 10"')
    a.add_argument("--input", "-i", help="C×H×W, e.g. 3x32x32 (default: the preset's, else 3x32x32)")
    a.add_argument("--preset", "-p", help="one of: " + ", ".join(PRESETS))
    a.add_argument("--json", action="store_true", help="print Analysis.to_dict() as JSON")
    a.add_argument("--markdown", action="store_true", help="print a Markdown table")
    a.set_defaults(run=_analyze)
    sub.add_parser("presets", help="list the presets").set_defaults(
        run=lambda _: print("\n".join(f"{k:8} {p.title}  [{'x'.join(map(str, p.input_shape))}]"
                                      for k, p in PRESETS.items())) or 0)
    from .train.cli import CommandError, add_parsers  # torch is imported only when a training command runs
    add_parsers(sub)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (SpecError, CommandError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

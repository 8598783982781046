"""Presenting an :class:`~cnncalc.report.Analysis`: rows for a table, plain text, Markdown and CSV."""
from __future__ import annotations

import csv
import io

from .parse import format_shape
from .receptive import number_text
from .report import Analysis, LayerReport

COLUMNS = ("layer", "spec", "output", "weights", "biases", "params", "fc_equivalent", "macs", "memory",
           "rf", "jump", "start", "status")
EXPORT_COLUMNS = COLUMNS + ("message",)
HEADERS = {"layer": "layer", "spec": "spec", "output": "output", "weights": "weights", "biases": "biases",
           "params": "params", "fc_equivalent": "FC-equivalent", "macs": "MACs", "memory": "memory (B)",
           "rf": "RF", "jump": "jump", "start": "start", "status": "status",
           "message": "message"}


def pair_text(value, key: str = "", unavailable: tuple[str, ...] = ()) -> str:
    if key in unavailable:
        return "unavailable"
    if value is None:
        return "—"
    a, b = (number_text(v) for v in value)  # exact: ints, fractions (-0.5, 1/3), floats
    return a if a == b else f"{a}×{b}"


def _num(value: int | None, key: str, unavailable: tuple[str, ...]) -> str | int:
    if key in unavailable:
        return "unavailable"
    return "—" if value is None else value


def row(r: LayerReport) -> dict:
    """One table row with raw integers (formatting is the renderer's job) and text for pairs."""
    u = r.unavailable
    return {"layer": r.name, "spec": r.spec, "output": format_shape(r.out_shape),
            "weights": _num(r.weights, "weights", u), "biases": _num(r.biases, "biases", u),
            "params": _num(r.params, "params", u), "fc_equivalent": _num(r.fc_equivalent, "fc_equivalent", u),
            "macs": _num(r.macs, "macs", u), "memory": _num(r.memory, "memory", u),
            "rf": pair_text(r.rf, "rf", u), "jump": pair_text(r.jump, "jump", u),
            "start": pair_text(r.start, "start", u),
            "status": r.status, "message": r.message + (f" — suggested: {r.fix}" if r.fix else "")}


def rows(analysis: Analysis) -> list[dict]:
    return [row(r) for r in analysis.layers]


def numeric_rows(analysis: Analysis, with_totals: bool = True) -> list[dict]:
    """Rows for a typed table (a DataFrame): counts are int or None (not applicable / unavailable, the
    ``notes`` column says which), so number columns stay numeric."""
    out = []
    for r in analysis.layers:
        d = row(r)
        for key in ("weights", "biases", "params", "fc_equivalent", "macs", "memory"):
            if not isinstance(d[key], int):
                d[key] = None
        d["notes"] = "; ".join(filter(None, [
            "unavailable: " + ", ".join(r.unavailable) if r.unavailable else "", d.pop("message")]))
        out.append(d)
    if with_totals:
        t = totals_row(analysis)
        t["notes"] = t.pop("message")
        for key in ("weights", "biases", "params", "fc_equivalent", "macs", "memory"):
            if not isinstance(t[key], int):   # a lower bound or unknown: the notes say which layers are missing
                t[key] = None
        out.append(t)
    return out


def total_text(analysis: Analysis, key: str) -> int | str:
    """A total as shown: the number when every layer has one; "≥ N" when some layers are missing from it
    (an error, an unavailable count) and N > 0; "—" when nothing is known. Never a silent partial sum."""
    value = analysis.total(key)
    if not analysis.missing(key):
        return value
    return f"≥ {value:,}" if value else "—"


def missing_note(analysis: Analysis) -> str:
    names = sorted({n for key in ("params", "macs", "memory") for n in analysis.missing(key)},
                   key=[r.name for r in analysis.layers].index)
    return f"totals leave out {', '.join(names)} (no value there), so they are lower bounds" if names else ""


def totals_row(analysis: Analysis) -> dict:
    out = {c: "" for c in EXPORT_COLUMNS}
    out.update({key: total_text(analysis, key) for key in ("weights", "biases", "params", "macs", "memory")})
    out.update(layer="total", output=format_shape(analysis.output_shape), message=missing_note(analysis))
    return out


def _cell(value) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def to_text(analysis: Analysis, columns=COLUMNS) -> str:
    """A fixed-width table for the terminal."""
    body = [[HEADERS[c] for c in columns]]
    body += [[_cell(r[c]) for c in columns] for r in rows(analysis) + [totals_row(analysis)]]
    widths = [max(len(line[i]) for line in body) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths)))
             for line in body]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def to_markdown(analysis: Analysis, columns=EXPORT_COLUMNS) -> str:
    head = "| " + " | ".join(HEADERS[c] for c in columns) + " |"
    sep = "|" + "|".join("---" if i < 2 else "---:" for i in range(len(columns))) + "|"
    body = ["| " + " | ".join(_cell(r[c]).replace("|", "\\|") for c in columns) + " |"
            for r in rows(analysis) + [totals_row(analysis)]]
    return "\n".join([head, sep, *body])


def to_csv(analysis: Analysis, columns=EXPORT_COLUMNS) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(analysis) + [totals_row(analysis)])
    return buf.getvalue()

"""What :func:`cnncalc.analyze` returns: one :class:`LayerReport` per layer and an :class:`Analysis`.

Records only; presenting them (tables, Markdown, CSV) lives in :mod:`cnncalc.tables`.
"""
from __future__ import annotations

import dataclasses
from fractions import Fraction
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from .layers import Layer
from .receptive import json_number

Status = Literal["ok", "warning", "error"]

CONVENTIONS: Mapping[str, str] = {
    "macs": "MACs = multiply–accumulates with weights: conv out_C·out_H·out_W·(in_C/groups)·k_H·k_W, "
            "fc in·out; transposed conv in_C·in_H·in_W·(out_C/groups)·k_H·k_W (each input value times each "
            "kernel weight). Bias adds, pooling, upsampling, batch norm and activations do no weight products: 0 MACs.",
    "flops": "FLOPs = 2·MACs (a multiply and an add) + one add per output unit when there is a bias. "
             "Pooling: max k_H·k_W − 1 comparisons, avg k_H·k_W ops (adds and one division) per output; "
             "batch norm 2 per value (scale, shift); activations 1 per value; dropout 0 (identity at test); "
             "upsampling: nearest 0 (a copy), bilinear 7 per output value (4 multiplies, 3 adds).",
    "memory": "Activation memory: the layer's output for one image, float32 (4 bytes per value).",
    "fc_equivalent": "Weights of one fully-connected layer mapping this layer's whole input volume to its "
                     "whole output volume: in_numel × out_numel (biases not included).",
    "locally_connected": "The same connections without weight sharing (a locally-connected layer): "
                         "out_H·out_W·out_C·(in_C/groups)·k_H·k_W weights, plus one bias per output unit.",
    "rf": "Receptive field in input pixels of one unit of this layer (positions of the padded tensor); jump = "
          "input pixels between neighbouring units; start = centre of unit 0's field with input pixel centres at "
          "0, 1, 2, … — exact fractions (a transposed conv or an upsampling divides the jump by its stride). "
          "JSON gives a whole value as an integer, any other as a float when exact, else as exact text ('1/3').",
    "params": "Learnable parameters (weights + biases; batch norm's γ and β), equal to PyTorch's "
              "sum of p.numel() over model.parameters(). Running statistics are buffers, not parameters.",
}

BYTES_PER_VALUE = 4


@dataclass(frozen=True)
class LayerReport:
    """Every number for one layer. ``None`` means not applicable (a pool has no FC-equivalent) or not
    computable (listed in ``unavailable``, with the reason in ``message``) — never a silent 0."""

    index: int
    name: str
    layer: Layer
    spec: str
    in_shape: tuple[int, ...] | None
    out_shape: tuple[int, ...] | None
    weights: int | None = None
    biases: int | None = None
    params: int | None = None
    fc_equivalent: int | None = None
    locally_connected: int | None = None
    macs: int | None = None
    flops: int | None = None
    memory: int | None = None
    rf: tuple[int | Fraction, int | Fraction] | None = None       # Fraction only after a transposed conv
    jump: tuple[int | Fraction, int | Fraction] | None = None
    start: tuple[Fraction, Fraction] | None = None                # exact (receptive.Exact)
    status: Status = "ok"
    message: str = ""
    fix: str | None = None
    formulas: Mapping[str, str] = field(default_factory=dict)
    unavailable: tuple[str, ...] = ()

    def formula(self, key: str) -> str:
        """The formula behind ``key`` with this layer's values substituted ('' when there is none)."""
        return self.formulas.get(key, "")

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "layer"}
        out["kind"] = self.layer.kind
        out["formulas"] = dict(self.formulas)
        for key in ("in_shape", "out_shape", "unavailable"):
            if out[key] is not None:
                out[key] = list(out[key])
        for key in ("rf", "jump", "start"):   # exact values: JSON has no fractions (receptive.json_number)
            if out[key] is not None:
                out[key] = [json_number(v) for v in out[key]]
        return out


TOTALS = ("weights", "biases", "params", "macs", "flops", "memory")


@dataclass(frozen=True)
class Analysis:
    """All layers of one network on one input shape, with totals over the layers that have a value."""

    input_shape: tuple[int, ...]
    layers: tuple[LayerReport, ...]

    def total(self, key: str) -> int:
        """Sum of ``key`` over the layers that have a value; see :meth:`missing` for those that do not."""
        return sum(getattr(r, key) or 0 for r in self.layers)

    def missing(self, key: str) -> tuple[str, ...]:
        """Layers whose ``key`` is unknown — in error, not computed after an error, or unavailable (a module
        without a formula) — so that ``total(key)`` is only a lower bound and must be shown as one."""
        return tuple(r.name for r in self.layers
                     if key in r.unavailable or (r.status == "error" and getattr(r, key) is None))

    @property
    def params(self) -> int:
        return self.total("params")

    @property
    def macs(self) -> int:
        return self.total("macs")

    @property
    def flops(self) -> int:
        return self.total("flops")

    @property
    def ok(self) -> bool:
        """True when no layer is in error (warnings allowed)."""
        return all(r.status != "error" for r in self.layers)

    @property
    def first_error(self) -> LayerReport | None:
        return next((r for r in self.layers if r.status == "error"), None)

    @property
    def output_shape(self) -> tuple[int, ...] | None:
        return self.layers[-1].out_shape if self.layers else self.input_shape

    def __getitem__(self, key: int | str) -> LayerReport:
        if isinstance(key, str):
            return next(r for r in self.layers if r.name == key)
        return self.layers[key]

    def __len__(self) -> int:
        return len(self.layers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_shape": list(self.input_shape),
            "output_shape": None if self.output_shape is None else list(self.output_shape),
            "ok": self.ok,
            "totals": {key: self.total(key) for key in TOTALS},
            # layers left out of a total (its value is then a lower bound); empty lists when all are known
            "totals_missing": {key: list(self.missing(key)) for key in TOTALS},
            "conventions": dict(CONVENTIONS),
            "layers": [r.to_dict() for r in self.layers],
        }

"""The text spec: one layer per ``;`` or line, ``#`` comments, ``key=value`` settings.

    conv 32 k=5 s=1 p=2; relu; maxpool k=2 s=2; conv 64 k=5 p=2; relu; maxpool k=2
    flatten; fc 1000; relu; dropout p=0.5; fc 10
    convT 16 k=4 s=2 p=1 op=0; upsample 2 mode=bilinear; upsample size=64x48; conv 8 k=3 p=1 pm=circular

``convT`` is ``nn.ConvTranspose2d`` (``op`` = output_padding, padding symmetric per axis); ``upsample F`` is
``nn.Upsample(scale_factor=F)`` and ``upsample size=HxW`` ``nn.Upsample(size=(H, W))``, ``mode=nearest`` (default)
or ``bilinear``; a conv's ``pm=`` is its ``padding_mode`` (zeros, reflect, replicate, circular).

Sizes are ``N`` or ``HxW``; padding also ``same`` or, asymmetric, ``before:after`` per axis
(``p=0:1`` or ``p=1:2x0:1``). Only a fixed grammar is read — nothing is evaluated.

One server parses every student's text, and a regular expression holds the GIL while it runs, so the parser
must take time linear in its input whatever it is given: a spec longer than ``Limits.spec_chars`` is refused
before anything else (and before the cache), every token is bounded (:data:`MAX_TOKEN`) before it is
matched, and every pattern is unambiguous — no two quantifiers can match the same characters, so a failed
match never backtracks through the ways of splitting a run of digits.
"""
from __future__ import annotations

import functools
import re
from typing import Callable

from .layers import (ACTIVATIONS, MAX_SCALE, MAX_SIZE, MIN_SCALE, PADDING_MODES, UPSAMPLE_MODES, Activation,
                     AdaptiveAvgPool, BatchNorm, Conv, ConvTranspose, Dropout, Flatten, Layer, Linear, Pad, Pair,
                     Pool, SpecError, Upsample, is_symmetric, layer_names)
from .server.limits import Limits, load_limits

LAYER_TYPES = (Activation, AdaptiveAvgPool, BatchNorm, Conv, ConvTranspose, Dropout, Flatten, Linear, Pool,
               Upsample)


KIND_SYNONYMS = {
    "conv": "conv", "conv2d": "conv", "convolution": "conv",
    "convt": "convT", "convtranspose": "convT", "convtranspose2d": "convT", "deconv": "convT",
    "upsample": "upsample", "upsampling": "upsample",
    "maxpool": "maxpool", "maxpool2d": "maxpool", "max": "maxpool", "pool": "maxpool",
    "avgpool": "avgpool", "avgpool2d": "avgpool", "avg": "avgpool", "meanpool": "avgpool",
    "gap": "gap", "globalavgpool": "gap", "global_avg_pool": "gap",
    "adaptiveavgpool": "adaptiveavgpool", "adaptiveavgpool2d": "adaptiveavgpool",
    "flatten": "flatten", "view": "flatten",
    "fc": "fc", "linear": "fc", "dense": "fc", "fullyconnected": "fc",
    "bn": "bn", "batchnorm": "bn", "batchnorm2d": "bn", "batchnorm1d": "bn",
    "dropout": "dropout", "drop": "dropout",
    "leaky_relu": "leakyrelu", "swish": "silu", "none": "identity",
}
KEY_SYNONYMS = {"kernel": "k", "kernel_size": "k", "stride": "s", "padding": "p", "pad": "p",
                "dilation": "d", "groups": "g", "ceil_mode": "ceil", "rate": "p",
                "output_padding": "op", "padding_mode": "pm"}
ALLOWED: dict[str, tuple[str, ...]] = {
    "conv": ("k", "s", "p", "d", "g", "bias", "pm"), "convT": ("k", "s", "p", "op", "d", "g", "bias"),
    "upsample": ("size", "mode"), "maxpool": ("k", "s", "p", "d", "ceil"),
    "avgpool": ("k", "s", "p", "ceil"), "fc": ("bias",), "dropout": ("p",),
    "gap": (), "adaptiveavgpool": (), "flatten": (), "bn": ()}
# The longest token the grammar needs is a padding such as `padding=1000000:1000000x1000000:1000000` (39
# characters); 100 leaves room for long probabilities, and bounds every match and every error message.
MAX_TOKEN = 100
# A shape is at most C×H×W of seven digits each, with spaces around the separators.
MAX_SHAPE_CHARS = 64

# Linear-time patterns: each quantified run is followed by a character it cannot match (a dot, an `e`, the
# end), so there is exactly one way to match any text and a failure is found in one pass.
_WHOLE = re.compile(r"\d{1,7}")
_PROBABILITY = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d{1,4})?")
_COUNT = re.compile(r"[\d.x]+")


def _short(text: str, keep: int = 40) -> str:
    """``text`` for an error message: whole when short, else its start, '…' and its length — a message
    that quotes a 60,000-character line helps nobody and costs every page that shows it."""
    text = text.strip()
    shown = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text[:keep])  # a NUL is not blank
    return shown if len(text) <= keep else f"{shown}… ({len(text):,} characters)"


def _where(index: int, text: str) -> str:
    return f"layer {index + 1} ('{_short(text, 60)}')"


def _int(token: str, what: str, where: str, low: int = 1) -> int:
    if not _WHOLE.fullmatch(token) or not low <= int(token) <= MAX_SIZE:
        raise SpecError(f"{where}: {what} '{token}' must be a whole number from {low} to {MAX_SIZE:,}, "
                        f"e.g. {what}=3")
    return int(token)


def _pair(token: str, what: str, where: str, low: int = 1) -> Pair:
    parts = token.lower().split("x")
    if len(parts) == 1:
        v = _int(parts[0], what, where, low)
        return (v, v)
    if len(parts) == 2:
        return (_int(parts[0], what, where, low), _int(parts[1], what, where, low))
    raise SpecError(f"{where}: {what}='{token}' must be N or HxW, e.g. {what}=3 or {what}=3x5")


def _pad(token: str, where: str) -> Pad | str:
    if token.lower() == "same":
        return "same"
    axes = token.lower().split("x")
    if len(axes) == 1:
        axes = axes * 2
    if len(axes) != 2:
        raise SpecError(f"{where}: p='{token}' must be N, HxW, same, or before:after per axis (p=0:1)")
    sides = []
    for axis in axes:
        parts = axis.split(":")
        if len(parts) == 1:
            parts = parts * 2
        if len(parts) != 2:
            raise SpecError(f"{where}: p='{token}': write asymmetric padding as before:after, e.g. p=0:1")
        sides.append(tuple(_int(x, "p", where, low=0) for x in parts))
    return (sides[0], sides[1])


def _bool(token: str, key: str, where: str) -> bool:
    if token.lower() in ("1", "true", "yes", "on"):
        return True
    if token.lower() in ("0", "false", "no", "off"):
        return False
    raise SpecError(f"{where}: {key}='{token}' must be 0 or 1, e.g. {key}=0")


def _choice(token: str, key: str, allowed: tuple[str, ...], where: str) -> str:
    if token.lower() not in allowed:
        raise SpecError(f"{where}: {key}='{_short(token)}' must be one of {', '.join(allowed)}, e.g. {key}={allowed[-1]}")
    return token.lower()


def _upsample(count: str | None, opts: dict[str, str], where: str) -> Upsample:
    mode = _choice(opts.get("mode", "nearest"), "mode", UPSAMPLE_MODES, where)
    if "size" in opts:
        if count is not None:
            raise SpecError(f"{where}: give a scale factor or size=HxW, not both, e.g. 'upsample 2'")
        return Upsample(None, _pair(opts["size"], "size", where), mode)
    token = count or "2"
    if not _PROBABILITY.fullmatch(token) or not MIN_SCALE <= float(token) <= MAX_SCALE:
        raise SpecError(f"{where}: upsample scale '{token}' must be a number from {MIN_SCALE:g} to {MAX_SCALE:g}, "
                        "e.g. 'upsample 2' (or size=HxW)")
    return Upsample(float(token), None, mode)


def _build(kind: str, count: str | None, opts: dict[str, str], where: str) -> Layer:
    if kind in ("conv", "convT"):
        if count is None:
            raise SpecError(f"{where}: a {kind} needs its number of filters, e.g. '{kind} 32 k=3 p=1'")
        common = dict(kernel=_pair(opts.get("k", "3"), "k", where), stride=_pair(opts.get("s", "1"), "s", where),
                      dilation=_pair(opts.get("d", "1"), "d", where), groups=_int(opts.get("g", "1"), "g", where),
                      bias=_bool(opts.get("bias", "1"), "bias", where))
        if kind == "convT":
            return ConvTranspose(_int(count, "filters", where), padding=_pair(opts.get("p", "0"), "p", where, 0),
                                 output_padding=_pair(opts.get("op", "0"), "op", where, 0), **common)
        return Conv(_int(count, "filters", where), padding=_pad(opts.get("p", "0"), where),
                    padding_mode=_choice(opts.get("pm", "zeros"), "pm", PADDING_MODES, where), **common)
    if kind == "upsample":
        return _upsample(count, opts, where)
    if kind in ("maxpool", "avgpool"):
        k = _pair(opts.get("k", count or "2"), "k", where)
        p = _pad(opts.get("p", "0"), where)
        if p == "same" or not is_symmetric(p):
            raise SpecError(f"{where}: pooling padding is the same on both sides in PyTorch; use p=N or p=HxW")
        return Pool(kind[:3], k, _pair(opts["s"], "s", where) if "s" in opts else None, (p[0][0], p[1][0]),
                    _pair(opts.get("d", "1"), "d", where), _bool(opts.get("ceil", "0"), "ceil", where))
    if kind in ("gap", "adaptiveavgpool"):
        return AdaptiveAvgPool(_pair(count or "1", "output size", where))
    if kind == "fc":
        if count is None:
            raise SpecError(f"{where}: an fc needs its number of outputs, e.g. 'fc 10'")
        return Linear(_int(count, "outputs", where), bias=_bool(opts.get("bias", "1"), "bias", where))
    if kind == "dropout":
        token = opts.get("p", count or "0.5")
        if not _PROBABILITY.fullmatch(token) or not 0 <= float(token) <= 1:
            raise SpecError(f"{where}: dropout p='{token}' must be a probability from 0 to 1, e.g. p=0.5")
        return Dropout(float(token))
    if count is not None:
        raise SpecError(f"{where}: '{kind}' takes no number (got '{count}')")
    return {"flatten": Flatten(), "bn": BatchNorm()}.get(kind) or Activation(kind)


def _tokens(text: str, where: str) -> list[str]:
    """The layer's tokens, each at most :data:`MAX_TOKEN` characters (checked before any pattern sees it)."""
    tokens = text.split()
    if not tokens:
        raise SpecError(f"{where}: the layer is empty; write e.g. 'conv 32 k=3 p=1'")
    for tok in tokens:
        if len(tok) > MAX_TOKEN:
            raise SpecError(f"{where}: '{_short(tok)}' is too long for a name or a setting "
                            f"(at most {MAX_TOKEN} characters); write e.g. k=3 or p=0.5")
    return tokens


def parse_layer(text: str, index: int = 0) -> Layer:
    """One layer's text (``'conv 32 k=5 p=2'``) → its layer; raises :class:`SpecError` naming the token."""
    if not isinstance(text, str):
        raise SpecError(f"a layer is text, not {type(text).__name__}")
    where = _where(index, text)
    tokens = _tokens(text, where)
    name = tokens[0].lower()
    kind = KIND_SYNONYMS.get(name, name)
    if kind not in ALLOWED and kind not in ACTIVATIONS:
        known = "conv, convT, upsample, maxpool, avgpool, gap, adaptiveavgpool, flatten, fc, bn, dropout, " + ", ".join(ACTIVATIONS)
        raise SpecError(f"{where}: unknown layer '{_short(tokens[0])}'; known layers: {known}")
    count, opts = None, {}
    for tok in tokens[1:]:
        if "=" in tok:
            key, _, value = tok.partition("=")
            key = KEY_SYNONYMS.get(key.lower(), key.lower())
            allowed = ALLOWED.get(kind, ())
            if key not in allowed:
                listed = ", ".join(allowed) or "none"
                raise SpecError(f"{where}: '{tok}' — {kind} has no setting '{key}'; its settings: {listed}")
            if key in opts:
                raise SpecError(f"{where}: '{key}' is given twice")
            if not value:
                raise SpecError(f"{where}: '{tok}' has no value, e.g. {key}=2")
            opts[key] = value
        elif count is None and _COUNT.fullmatch(tok):
            count = tok
        else:
            raise SpecError(f"{where}: unexpected '{_short(tok)}'; write settings as key=value, e.g. k=3")
    return _build(kind, count, opts, where)


def parse_spec(text: str, max_chars: int | None = None) -> tuple[Layer, ...]:
    """Read a spec into layers; raises :class:`SpecError` on anything it cannot read.

    A text longer than ``max_chars`` (default: the classroom's ``spec_chars``, :func:`spec_limit`) is refused
    before it is split or cached, so an over-long paste costs one ``len`` and never holds cache memory. PyTorch
    constructor text (``nn.Sequential(nn.Conv2d(3, 32, 5, padding=2), …)``, one ``nn.X(…)`` per line, a
    ``class Net(nn.Module)``) is read too: :mod:`cnncalc.torchtext` turns it into this grammar without running
    it (``ast``, literals only)."""
    if not isinstance(text, str):
        raise SpecError(f"a spec is text, not {type(text).__name__}")
    limit = spec_limit() if max_chars is None else max_chars
    if len(text) > limit:
        raise SpecError(f"the spec is {len(text):,} characters long, more than the limit of {limit:,} "
                        f"characters; {Limits.how_to_change('spec_chars')}")
    from .torchtext import looks_like_pytorch, to_spec  # here: torchtext imports this module
    if looks_like_pytorch(text):
        text = to_spec(text)
    return _parse_cached(text)


@functools.lru_cache(maxsize=1)
def spec_limit() -> int:
    """The longest spec :func:`parse_spec` reads: ``spec_chars`` of :func:`load_limits`, read once per
    process like the server's other limits (a teacher restarts the app after changing it). A broken
    classroom.toml falls back to the default here: the parser must raise nothing but SpecError, and the
    server reports the broken file where it loads its limits."""
    try:
        return load_limits().spec_chars
    except (OSError, ValueError):
        return Limits().spec_chars


def split_spec(text: str) -> list[str]:
    """The layers' texts of a spec, in order, as the parser reads them: lines split on ``;``, a ``#`` comment
    running to the end of its line, blanks dropped. ``'conv 8 # first; relu\nfc 10'`` → ['conv 8', 'fc 10']."""
    return [piece.strip() for line in text.splitlines() for piece in line.split("#", 1)[0].split(";")
            if piece.strip()]


@functools.lru_cache(maxsize=256)
def _parse_cached(text: str) -> tuple[Layer, ...]:  # layers are frozen, so sharing them is safe
    pieces = split_spec(text)
    if not pieces:
        raise SpecError("the spec is empty; write layers such as 'conv 32 k=5 p=2; relu; maxpool k=2; fc 10'")
    return tuple(parse_layer(p, i) for i, p in enumerate(pieces))


def parse_shape(text: str | tuple | list) -> tuple[int, ...]:
    """'3x32x32' or (3, 32, 32) → (C, H, W); '784' → (784,). Raises SpecError otherwise.

    A text longer than :data:`MAX_SHAPE_CHARS` or a sequence of more than three items is refused before it is
    split or converted (``int`` of a long digit string costs time quadratic in its length)."""
    if isinstance(text, int) and not isinstance(text, bool):
        text = (text,)      # 784: a flat input of N values
    elif not isinstance(text, (str, tuple, list)):
        text = repr(text)   # None, 3.5, b"…": not a shape (the message below names it)
    shape: tuple[int, ...] = ()
    if isinstance(text, str) and len(text) <= MAX_SHAPE_CHARS:
        parts = text.lower().replace("×", "x").replace(",", "x").split("x")
        shape = _whole_numbers(parts)
    elif isinstance(text, (tuple, list)) and len(text) <= 3:
        shape = _whole_numbers(text)
    if len(shape) not in (1, 3) or not all(0 < v <= MAX_SIZE for v in shape):
        shown = (_short(text) if isinstance(text, str) else
                 "(" + ", ".join(map(_item, text[:4])) + (", …" if len(text) > 4 else "") + ")")
        raise SpecError(f"input shape '{shown}' must be C×H×W (e.g. 3x32x32) or N (e.g. 784), "
                        f"each a whole number from 1 to {MAX_SIZE:,}")
    return shape


def _item(x) -> str:
    """One item of a shape for a message (``repr`` of a 10⁵-digit int raises, and would be unreadable)."""
    if isinstance(x, int) and not isinstance(x, bool) and x.bit_length() > 64:
        return "a number too large"
    return _short(repr(x), 20) if isinstance(x, (int, float, str)) else type(x).__name__


def _whole_numbers(parts) -> tuple[int, ...]:
    """Each part as an int (a digit string, or an int); () when one is not — bools and floats included, which
    ``int()`` would silently turn into 1 or truncate."""
    out = []
    for p in parts:
        if isinstance(p, bool) or not isinstance(p, (int, str)) and not hasattr(p, "__index__"):
            return ()
        if isinstance(p, str) and not _WHOLE.fullmatch(p.strip()):
            return ()
        out.append(int(p.strip()) if isinstance(p, str) else int(p))
    return tuple(out)


def as_hw(size) -> tuple[int, int] | None:
    """An image size as (H, W): ``32`` → (32, 32); ``(h, w)`` and ``(c, h, w)`` → (h, w); None stays None.
    Raises ValueError for a size that is not positive."""
    if size is None:
        return None
    h, w = (size, size) if isinstance(size, int) or hasattr(size, "__index__") else tuple(size)[-2:]
    if int(h) < 1 or int(w) < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    return int(h), int(w)


def format_shape(shape, sep: str = "×") -> str:
    """(3, 32, 32) → '3×32×32' (C×H×W, the order used everywhere; ``sep="x"`` for a typed input box);
    () or None → '—'."""
    return sep.join(map(str, shape)) if shape else "—"


def _probability(p: float) -> str:
    """0.5, 0.00001 — plain decimals up to 12 places; beyond, Python's exact shortest form (1e-13, 0.333…)."""
    text = f"{p:.12f}".rstrip("0").rstrip(".") or "0"
    return text if float(text) == p else repr(float(p))


def _size(p: Pair, default: int | None = None) -> str | None:
    if p[0] == p[1]:
        return None if p[0] == default else str(p[0])
    return f"{p[0]}x{p[1]}"


def _format_pad(p: Pad | str) -> str | None:
    if p == "same":
        return "same"
    if is_symmetric(p):
        return _size((p[0][0], p[1][0]), 0)
    (t, b), (l, r) = p
    if (t, b) == (l, r):
        return f"{t}:{b}"
    return f"{t}:{b}x{l}:{r}"


def _opts(**items: str | None) -> str:
    return "".join(f" {k}={v}" for k, v in items.items() if v is not None)


FORMATTERS: dict[type, Callable[[Layer], str]] = {
    Conv: lambda l: f"conv {l.out_channels}" + _opts(
        k=_size(l.kernel), s=_size(l.stride, 1), p=_format_pad(l.padding), d=_size(l.dilation, 1),
        g=None if l.groups == 1 else str(l.groups), bias=None if l.bias else "0",
        pm=None if l.padding_mode == "zeros" else l.padding_mode),
    ConvTranspose: lambda l: f"convT {l.out_channels}" + _opts(
        k=_size(l.kernel), s=_size(l.stride, 1), p=_size(l.padding, 0), op=_size(l.output_padding, 0),
        d=_size(l.dilation, 1), g=None if l.groups == 1 else str(l.groups), bias=None if l.bias else "0"),
    Upsample: lambda l: "upsample" + (f" {_probability(l.scale)}" if l.size is None else f" size={_size(l.size)}")
        + _opts(mode=None if l.mode == "nearest" else l.mode),
    Pool: lambda l: f"{l.mode}pool" + _opts(
        k=_size(l.kernel), s=None if l.stride is None else _size(l.stride),
        p=_size(l.padding, 0), d=_size(l.dilation, 1), ceil="1" if l.ceil_mode else None),
    AdaptiveAvgPool: lambda l: "gap" if l.output == (1, 1) else f"adaptiveavgpool {_size(l.output) or ''}",
    Flatten: lambda l: "flatten",
    Linear: lambda l: f"fc {l.out_features}" + _opts(bias=None if l.bias else "0"),
    BatchNorm: lambda l: "bn",
    Dropout: lambda l: "dropout p=" + _probability(l.p),
    Activation: lambda l: l.name,
}


def format_layer(layer: Layer) -> str:
    return FORMATTERS[type(layer)](layer)


def format_spec(layers: tuple[Layer, ...] | list[Layer], sep: str = "; ") -> str:
    """The canonical text of ``layers``; ``parse_spec(format_spec(x)) == x``."""
    return sep.join(format_layer(layer) for layer in layers)


def as_layers(spec: str | tuple[Layer, ...] | list[Layer]) -> tuple[Layer, ...]:
    """Text through the parser; a sequence of layer objects as it is; anything else is a SpecError."""
    if isinstance(spec, str):
        return parse_spec(spec)
    if isinstance(spec, (tuple, list)) and all(isinstance(layer, LAYER_TYPES) for layer in spec):
        return tuple(spec)
    got = type(spec).__name__
    if isinstance(spec, (tuple, list)):
        got += " holding " + ", ".join(sorted({type(x).__name__ for x in spec if not isinstance(x, LAYER_TYPES)}))
    raise SpecError(f"a network is spec text (e.g. 'conv 32 k=5 p=2; relu; fc 10') or a list of cnncalc layers, "
                    f"not a {got}")


__all__ = ["SpecError", "parse_spec", "parse_layer", "parse_shape", "format_shape", "split_spec", "format_spec",
           "format_layer",
           "as_layers", "layer_names", "spec_limit"]

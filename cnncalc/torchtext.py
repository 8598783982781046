"""PyTorch constructor text → a cnncalc spec, read as data (``ast``), never run.

Accepted: ``nn.Sequential(...)`` (also of an ``OrderedDict([...])``), a list or tuple of layers, one
``nn.X(...)`` per line, and a ``class Net(nn.Module)`` whose ``__init__`` assigns its layers
(``self.conv1 = nn.Conv2d(3, 6, 5)``), read in the order assigned. ``torch.nn.X``, ``nn.X`` and bare ``X`` are
the same layer. Arguments are literals only (numbers, True/False, None, tuples, a few strings), bound by
PyTorch's signatures.

Every student's text reaches this module on a shared server, so it is bounded before ``ast.parse`` sees it:
the grammar's length limit, then one linear pass over the tokens that caps their number, the bracket depth
and the operators in a row (the three things that make a syntax tree deep). Refusals are
:class:`~cnncalc.parse.SpecError` naming the token and its line and column.
"""
from __future__ import annotations

import ast
import io
import re
import textwrap
import tokenize

from .layers import ACTIVATIONS
from .parse import SpecError, _short, spec_limit

MAX_TOKENS = 20_000   # a 65,536-character paste of real layers has fewer
MAX_DEPTH = 20        # brackets inside brackets; nn.Sequential(OrderedDict([("c", nn.Conv2d(3, 8, (3, 3)))])) is 5
MAX_RUN = 32          # operators (., +, -, not, a call's closing bracket …) in a row at one depth
MAX_INT = 1_000_000

SIGNATURES: dict[str, tuple[str, ...]] = {
    "Conv2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias",
               "padding_mode", "device", "dtype"),
    "ConvTranspose2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding",
                        "groups", "bias", "dilation", "padding_mode", "device", "dtype"),
    "MaxPool2d": ("kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode"),
    "AvgPool2d": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
    "AdaptiveAvgPool2d": ("output_size",),
    "Linear": ("in_features", "out_features", "bias", "device", "dtype"),
    "BatchNorm2d": ("num_features", "eps", "momentum", "affine", "track_running_stats", "device", "dtype"),
    "Dropout": ("p", "inplace"), "Flatten": ("start_dim", "end_dim"),
    "Upsample": ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor"),
    "ReLU": ("inplace",), "ReLU6": ("inplace",), "Tanh": (), "Sigmoid": (), "GELU": ("approximate",),
    "LeakyReLU": ("negative_slope", "inplace"), "ELU": ("alpha", "inplace"), "SiLU": ("inplace",),
    "Softmax": ("dim",), "Identity": (),
}
SIGNATURES["BatchNorm1d"] = SIGNATURES["BatchNorm2d"]
SIGNATURES["Dropout2d"] = SIGNATURES["Dropout"]
REQUIRED = {"Conv2d": 3, "ConvTranspose2d": 3, "MaxPool2d": 1, "AvgPool2d": 1, "AdaptiveAvgPool2d": 1,
            "Linear": 2, "BatchNorm2d": 1, "BatchNorm1d": 1}
CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")
UPSAMPLE_MODES = ("nearest", "bilinear")

# A name right before "(" (Conv2d(, nn.Sequential(), a "[" opening the text, or a class statement: the text spec
# has none of them. The lookbehind starts a match only where a name starts, and a name is at most 40 characters
# here, so the search is linear.
_CALL = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z_][A-Za-z0-9_]{0,40}\s?\(|\A\s*\[")
_CLASS = re.compile(r"^[ \t]*class[ \t]+[A-Za-z_]", re.MULTILINE)


def looks_like_pytorch(text) -> bool:
    """True for text that reads as PyTorch constructors (``nn.Conv2d(3, 6, 5)``, ``[ReLU()]``, a class),
    False for the text spec (which never holds a name before a bracket outside a comment)."""
    if not isinstance(text, str) or len(text) > spec_limit():
        return False
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    return bool(_CALL.search(code) or _CLASS.search(code))


def to_spec(text: str) -> str:
    """The cnncalc spec text of a pasted PyTorch model; raises SpecError on anything it cannot read."""
    return to_spec_with_notes(text)[0]


def to_spec_with_notes(text: str) -> tuple[str, tuple[str, ...]]:
    """(spec, notes): the spec as ``"conv 6 k=5; relu; …"`` and what the reader could not check (a class's
    ``forward``, the input channels the first layer expects)."""
    tree, source = _parse(text)
    reader = _Reader(source)
    found = _top(tree, reader)
    if not found:
        raise SpecError("no layers found; paste e.g. nn.Sequential(nn.Conv2d(3, 32, 5, padding=2), nn.ReLU())")
    state = _State(reader)
    spec = "; ".join(state.layer(name, call) for name, call in found)
    return spec, tuple(dict.fromkeys(reader.notes + state.notes))


# --- bounding and parsing ------------------------------------------------------------------------

def _parse(text) -> tuple[ast.Module, str]:
    if not isinstance(text, str):
        raise SpecError(f"a model is text, not {type(text).__name__}")
    limit = spec_limit()
    if len(text) > limit:
        raise SpecError(f"the model text is {len(text):,} characters long, more than the limit of {limit:,}")
    if "\x00" in text:
        raise SpecError("the text holds a NUL character; paste the model's source code")
    source = textwrap.dedent(text.replace("\r\n", "\n")).strip("\n") + "\n"
    _bound(source)
    try:
        return ast.parse(source, mode="exec"), source
    except SyntaxError as err:
        line = (err.text or "").strip()
        raise SpecError(f"'{_short(line)}' at line {err.lineno}, column {err.offset}: not Python ({err.msg})") from None
    except (RecursionError, MemoryError, ValueError):
        raise SpecError("the text is nested too deeply to read") from None


def _bound(source: str) -> None:
    """One pass over the tokens: at most MAX_TOKENS, MAX_DEPTH brackets deep, MAX_RUN operators in a row."""
    count, runs, run = 0, [], 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            count += 1
            where = f"'{_short(tok.string, 20)}' at line {tok.start[0]}, column {tok.start[1] + 1}"
            if count > MAX_TOKENS:
                raise SpecError(f"{where}: the text has more than {MAX_TOKENS:,} tokens")
            s = tok.string
            if tok.type == tokenize.OP and s in "([{":
                runs.append(run)
                run = 0
                if len(runs) > MAX_DEPTH:
                    raise SpecError(f"{where}: brackets nested more than {MAX_DEPTH} deep")
            elif tok.type == tokenize.OP and s in ")]}":
                run = (runs.pop() if runs else 0) + 1
            elif tok.type == tokenize.NEWLINE or s in (",", ";", "=", ":"):
                run = 0
            elif tok.type == tokenize.OP or s in ("not", "and", "or", "if", "else", "lambda", "in", "is", "await"):
                run += 1
            if run > MAX_RUN:
                raise SpecError(f"{where}: more than {MAX_RUN} operators in a row")
    except (tokenize.TokenError, SyntaxError) as err:
        raise SpecError(f"the text is not complete Python: {_short(str(err.args[0]), 60)}") from None


class _Reader:
    """The source, for messages that quote a node, and the notes gathered while reading."""

    def __init__(self, source: str):
        self.source, self.notes = source, []

    def err(self, node: ast.AST, why: str) -> SpecError:
        shown = ast.get_source_segment(self.source, node) or type(node).__name__
        return SpecError(f"'{_short(shown)}' at line {node.lineno}, column {node.col_offset + 1}: {why}")


def _doc(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _main_guard(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.If) and "__name__" in {n.id for n in ast.walk(stmt.test) if isinstance(n, ast.Name)}


def _top(tree: ast.Module, r: _Reader) -> list[tuple[str, ast.Call]]:
    """The layer calls of the whole text, in order."""
    body = [s for s in tree.body if not isinstance(s, (ast.Import, ast.ImportFrom)) and not _doc(s)]
    if any(_main_guard(s) for s in body):
        r.notes.append("the `if __name__ == \"__main__\":` block is not read")
    body = [s for s in body if not _main_guard(s)]
    classes = [s for s in body if isinstance(s, ast.ClassDef)]
    if len(classes) > 1:
        raise r.err(classes[1], "paste one class (its layers are read from its __init__)")
    if classes:
        return _from_class(classes[0], r)
    exprs = []
    for s in body:
        if isinstance(s, ast.Expr) or isinstance(s, ast.Assign) and all(isinstance(t, ast.Name) for t in s.targets):
            exprs.append(s.value)
        else:
            raise r.err(s, "only layers are read: nn.X(...) per line, nn.Sequential(...), a list of layers, "
                           "or a class Net(nn.Module)")
    r.strict = len(exprs) == 1 and isinstance(exprs[0], (ast.List, ast.Tuple, ast.Call)) and (
        not isinstance(exprs[0], ast.Call) or _nn_name(exprs[0].func, r) in CONTAINERS)
    out: list[tuple[str, ast.Call]] = []
    for e in exprs:
        _expand(e, r, out)
    return out


def _nn_name(func: ast.AST, r: _Reader) -> str:
    """'Conv2d' for nn.Conv2d, torch.nn.Conv2d or Conv2d; a SpecError for any other callee."""
    name = None
    if isinstance(func, ast.Name):
        name = func.id
    elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "nn" or (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Attribute) and func.value.attr == "nn"
          and isinstance(func.value.value, ast.Name) and func.value.value.id == "torch"):
        name = func.attr
    if name is None:
        raise r.err(func, "only nn.X(...) layers are read (nn.X, torch.nn.X or X)")
    if name not in SIGNATURES and name not in CONTAINERS and name != "OrderedDict":
        raise r.err(func, f"unknown layer '{_short(name)}'; known: {', '.join(SIGNATURES)}, Sequential")
    return name


def _expand(node: ast.AST, r: _Reader, out: list) -> None:
    """Append the layer calls ``node`` holds: a layer, a Sequential / ModuleList / list of them (the bracket
    depth is bounded by :func:`_bound`, so this recursion is too)."""
    if isinstance(node, (ast.List, ast.Tuple)):
        for e in node.elts:
            _expand(e, r, out)
        return
    if not isinstance(node, ast.Call):
        raise r.err(node, "not a layer: write nn.X(...) with literal arguments")
    name = _nn_name(node.func, r)
    if name not in CONTAINERS and name != "OrderedDict":
        out.append((name, node))
        return
    if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
        raise r.err(node, f"{name}(...) is read from its listed layers only (no keywords, no *unpacking)")
    items = node.args
    if name == "ModuleList" and items and (len(items) != 1 or not isinstance(items[0], (ast.List, ast.Tuple))):
        raise r.err(node, "nn.ModuleList with computed contents: read only from a written-out list of layers")
    if name == "OrderedDict" or name == "ModuleDict" and items or len(items) == 1 and isinstance(items[0], ast.Call) \
            and _nn_name(items[0].func, r) == "OrderedDict":
        items = _pairs(node if name in ("OrderedDict", "ModuleDict") else items[0], r)
    for item in items:
        _expand(item, r, out)


def _pairs(call: ast.Call, r: _Reader) -> list[ast.AST]:
    """The layers of OrderedDict([("name", layer), …]) or ModuleDict({"name": layer, …}), in order."""
    arg = call.args[0] if len(call.args) == 1 else None
    if isinstance(arg, ast.Dict) and all(isinstance(k, ast.Constant) for k in arg.keys):
        return list(arg.values)
    if isinstance(arg, (ast.List, ast.Tuple)) and all(
            isinstance(e, ast.Tuple) and len(e.elts) == 2 and isinstance(e.elts[0], ast.Constant) for e in arg.elts):
        return [e.elts[1] for e in arg.elts]
    raise r.err(call, "read only from a written-out [(\"name\", layer), …] or {\"name\": layer, …}")


def _from_class(cls: ast.ClassDef, r: _Reader) -> list[tuple[str, ast.Call]]:
    init = next((f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"), None)
    if init is None:
        raise r.err(cls, "the class has no __init__ to read its layers from")
    for node in ast.walk(init):  # iterative: no recursion on a deep tree
        if isinstance(node, (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp,
                             ast.GeneratorExp, ast.Lambda)):
            raise r.err(node, "layers built in a loop, comprehension or lambda: their order cannot be read "
                              "without running the code; write them out one per line")
    r.strict, out, seen = False, [], {}
    for s in init.body:
        if _doc(s) or isinstance(s, ast.Pass) or _super_init(s):
            continue
        if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call):
            if isinstance(s.value.func, ast.Attribute) and s.value.func.attr in (
                    "append", "extend", "insert", "add_module", "register_module", "update"):
                raise r.err(s, "layers added by a call: their order cannot be trusted; assign each one "
                               "(self.conv1 = nn.Conv2d(...))")
            r.notes.append(f"'{_short(ast.get_source_segment(r.source, s) or '')}' in __init__ is not read")
            continue
        target = s.targets[0] if isinstance(s, ast.Assign) and len(s.targets) == 1 else None
        if not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self"):
            raise r.err(s, "__init__ is read only as self.name = nn.X(...) assignments")
        if isinstance(s.value, (ast.Constant, ast.Name)):
            continue  # self.n_classes = 10: a setting, not a layer
        if target.attr in seen:
            raise r.err(s, f"self.{target.attr} is assigned twice: which one forward uses cannot be read")
        seen[target.attr] = True
        _expand(s.value, r, out)
    r.notes.append(f"class {cls.name}: layers read in the order __init__ assigns them; forward is not read — "
                   "check that it calls them in this order, once each" + _forward_calls(cls))
    return out


def _super_init(s: ast.stmt) -> bool:
    call = s.value if isinstance(s, ast.Expr) else None
    return (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "__init__"
            and isinstance(call.func.value, ast.Call) and isinstance(call.func.value.func, ast.Name)
            and call.func.value.func.id == "super")


def _forward_calls(cls: ast.ClassDef) -> str:
    """', and forward also applies F.relu ×3, torch.flatten' — functional calls that are not in the spec."""
    fwd = next((f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "forward"), None)
    counts: dict[str, int] = {}
    for node in ast.walk(fwd) if fwd else ():
        f = node.func if isinstance(node, ast.Call) else None
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in ("F", "torch"):
            key = f"{f.value.id}.{f.attr}"
            counts[key] = counts.get(key, 0) + 1
    if not counts:
        return ""
    listed = ", ".join(k + (f" ×{n}" if n > 1 else "") for k, n in list(counts.items())[:8])
    return f"; forward also calls {listed}, which the spec does not hold (add e.g. 'relu' where it applies one)"


# --- literals and layers -------------------------------------------------------------------------

def _literal(node: ast.AST, r: _Reader, depth: int = 0):
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, (bool, int, float, str))):
        value = node.value
    elif (isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd))
          and isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float)):
        value = -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
    elif isinstance(node, (ast.Tuple, ast.List)) and depth == 0:
        return tuple(_literal(e, r, 1) for e in node.elts)
    elif isinstance(node, ast.BinOp) and type(node.op) in _ARITH and depth < 2 * MAX_RUN:
        a, b = _literal(node.left, r, depth + 1), _literal(node.right, r, depth + 1)
        if type(a) is not int or type(b) is not int or isinstance(node.op, ast.FloorDiv) and b == 0:
            raise r.err(node, "arithmetic is read on whole numbers only (16 * 5 * 5)")
        value = _ARITH[type(node.op)](a, b)
    else:
        raise r.err(node, "only literal values are read (numbers, True/False, None, tuples, strings)")
    if type(value) is int and abs(value) > MAX_INT:
        raise r.err(node, f"a number larger than {MAX_INT:,}")
    return value


_ARITH = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
          ast.FloorDiv: lambda a, b: a // b}


def _bind(name: str, call: ast.Call, r: _Reader) -> dict[str, tuple[object, ast.AST]]:
    """PyTorch's own argument binding: positional in signature order, then keywords; literal values."""
    sig, args = SIGNATURES[name], {}
    for a in call.args:
        if isinstance(a, ast.Starred):
            raise r.err(a, "*unpacking is not read; write the arguments out")
    if len(call.args) > len(sig):
        raise r.err(call, f"nn.{name} takes at most {len(sig)} arguments ({', '.join(sig) or 'none'})")
    for key, a in zip(sig, call.args):
        args[key] = (_literal(a, r), a)
    for kw in call.keywords:
        if kw.arg is None:
            raise r.err(kw.value, "**unpacking is not read; write the arguments out")
        if kw.arg not in sig:
            raise r.err(kw, f"nn.{name} has no argument '{kw.arg}'; its arguments: {', '.join(sig) or 'none'}")
        if kw.arg in args:
            raise r.err(kw, f"'{kw.arg}' is given twice")
        args[kw.arg] = (_literal(kw.value, r), kw.value)
    missing = [k for k in sig[:REQUIRED.get(name, 0)] if k not in args]
    if missing:
        raise r.err(call, f"nn.{name} needs {', '.join(missing)}")
    return args


def _num(v) -> str:
    """2 → '2', 2.0 → '2', 0.25 → '0.25'."""
    return str(int(v)) if isinstance(v, float) and v.is_integer() else repr(v) if isinstance(v, float) else str(v)


class _State:
    """Turns each call into its spec text while following the channel count, to check each in_channels."""

    def __init__(self, r: _Reader):
        self.r, self.notes = r, []
        self.channels: int | None = None   # channels of the C×H×W map so far
        self.flat: bool | None = None      # None: not known yet (the input)
        self.features: int | None = None   # length of a flat input, when known

    def get(self, args, key, default, kinds, low=None, choices=None):
        value, node = args.get(key, (default, None))
        if node is None:
            return value
        items = value if isinstance(value, tuple) and tuple in kinds else (value,)
        if isinstance(value, tuple) and tuple in kinds and len(value) != 2:
            raise self.r.err(node, f"{key} is a number or a pair (H, W)")
        for v in items:
            ok = any(type(v) is k for k in kinds if k is not tuple) or (v is None and None in kinds)
            if not ok or low is not None and isinstance(v, (int, float)) and v < low \
                    or choices is not None and v not in choices:
                want = f" from {low}" if low is not None else f" one of {', '.join(map(repr, choices))}" \
                    if choices else ""
                raise self.r.err(node, f"{key} must be {' or '.join(_KIND_NAMES[k] for k in kinds)}{want}")
        return value

    def size(self, args, key, default, low=1, words=()):
        v = self.get(args, key, default, (int, tuple, str) if words else (int, tuple), low,
                     None)
        if isinstance(v, str):
            if v not in words:
                raise self.r.err(args[key][1], f"{key} must be a number, a pair or one of {', '.join(words)}")
            return v
        return _pair_text(v)

    def check(self, node, what: str, given: int, have: int | None) -> None:
        if have is not None and given != have:
            raise self.r.err(node, f"{what}={given} but the layer before gives {have}")

    def layer(self, name: str, call: ast.Call) -> str:
        args = _bind(name, call, self.r)
        for key in ("device", "dtype"):
            self.get(args, key, None, (None,))
        if name in ("Conv2d", "ConvTranspose2d"):
            return self.conv(name, call, args)
        if name in ("MaxPool2d", "AvgPool2d"):
            return self.pool(name, args)
        handler = _OTHERS.get(name)
        if handler is not None:
            return handler(self, name, call, args)
        return self.activation(name, args)

    def conv(self, name: str, call: ast.Call, args) -> str:
        if self.flat:
            raise self.r.err(call, f"nn.{name} after a flatten or a Linear: it needs a C×H×W map")
        c_in = self.get(args, "in_channels", None, (int,), 1)
        c_out = self.get(args, "out_channels", None, (int,), 1)
        self.check(args["in_channels"][1], "in_channels", c_in, self.channels)
        if self.channels is None and self.flat is None:
            self.notes.append(f"the first layer expects {c_in} input channels (e.g. --input {c_in}x32x32)")
        self.get(args, "padding_mode", "zeros", (str,), choices=("zeros", "reflect", "replicate", "circular"))
        words = ("same", "valid") if name == "Conv2d" else ()
        parts = [f"{'conv' if name == 'Conv2d' else 'convT'} {c_out}",
                 "k=" + self.size(args, "kernel_size", 1), "s=" + self.size(args, "stride", 1),
                 "p=" + self.size(args, "padding", 0, low=0, words=words).replace("valid", "0")]
        if name == "ConvTranspose2d":
            parts.append("op=" + self.size(args, "output_padding", 0, low=0))
        parts += ["d=" + self.size(args, "dilation", 1), "g=" + str(self.get(args, "groups", 1, (int,), 1))]
        if not self.get(args, "bias", True, (bool,)):
            parts.append("bias=0")
        defaults = {"s=1", "p=0", "op=0", "d=1", "g=1"}
        self.channels, self.flat = c_out, False
        return " ".join(p for p in parts if p not in defaults)

    def pool(self, name: str, args) -> str:
        parts = [name[:3].lower() + "pool", "k=" + self.size(args, "kernel_size", 1)]
        stride = self.get(args, "stride", None, (int, tuple, None), 1)
        if stride is not None and stride != ():
            parts.append("s=" + _pair_text(stride))
        parts.append("p=" + self.size(args, "padding", 0, low=0))
        if name == "MaxPool2d":
            parts.append("d=" + self.size(args, "dilation", 1))
            if self.get(args, "return_indices", False, (bool,)):
                raise self.r.err(args["return_indices"][1], "return_indices=True returns a pair; not read")
        if self.get(args, "ceil_mode", False, (bool,)):
            parts.append("ceil=1")
        if name == "AvgPool2d" and (not self.get(args, "count_include_pad", True, (bool,))
                                    or self.get(args, "divisor_override", None, (int, None), 1) is not None):
            self.notes.append("cnncalc's avgpool counts padded zeros in the mean (count_include_pad=True, no "
                              "divisor_override): shapes and counts are the same, the values differ")
        self.flat = False if self.flat is None else self.flat
        return " ".join(p for p in parts if p not in ("p=0", "d=1"))

    def adaptive(self, name, call, args) -> str:
        size = self.get(args, "output_size", None, (int, tuple), 1)
        if isinstance(size, tuple) and None in size:
            raise self.r.err(args["output_size"][1], "an output size of None (keep the input's) is not read")
        text = _pair_text(size)
        return "gap" if text == "1" else f"adaptiveavgpool {text}"

    def linear(self, name, call, args) -> str:
        n_in = self.get(args, "in_features", None, (int,), 1)
        n_out = self.get(args, "out_features", None, (int,), 1)
        if self.flat is False:
            if self.r.strict:
                raise self.r.err(call, "nn.Linear on a C×H×W map acts on its last axis in PyTorch; put "
                                       "nn.Flatten() before it")
            self.notes.append(f"nn.Linear({n_in}, …) follows a C×H×W map: cnncalc's fc flattens it first (as "
                              "forward's x.view(…) or torch.flatten does); the analysis shows the flattened size")
        elif self.flat:
            self.check(args["in_features"][1], "in_features", n_in, self.features)
        bias = self.get(args, "bias", True, (bool,))
        self.flat, self.features, self.channels = True, n_out, None
        return f"fc {n_out}" + ("" if bias else " bias=0")

    def batchnorm(self, name, call, args) -> str:
        n = self.get(args, "num_features", None, (int,), 1)
        self.get(args, "eps", 1e-5, (float, int), 0)
        self.get(args, "momentum", 0.1, (float, int, None), 0)
        self.get(args, "track_running_stats", True, (bool,))
        if not self.get(args, "affine", True, (bool,)):
            raise self.r.err(args["affine"][1], "cnncalc's bn has a learnable scale and shift (affine=True)")
        self.check(args["num_features"][1], "num_features", n, self.features if self.flat else self.channels)
        return "bn"

    def dropout(self, name, call, args) -> str:
        p = self.get(args, "p", 0.5, (float, int), 0)
        if p > 1:
            raise self.r.err(args["p"][1], "p is a probability from 0 to 1")
        self.get(args, "inplace", False, (bool,))
        return "dropout p=" + _num(p)

    def flatten(self, name, call, args) -> str:
        start = self.get(args, "start_dim", 1, (int,))
        end = self.get(args, "end_dim", -1, (int,))
        if (start, end) != (1, -1):
            raise self.r.err(call, "only nn.Flatten() (start_dim=1, end_dim=-1) is read")
        self.flat, self.features, self.channels = True, None, None
        return "flatten"

    def upsample(self, name, call, args) -> str:
        size = self.get(args, "size", None, (int, tuple, None), 1)
        scale = self.get(args, "scale_factor", None, (int, float, tuple, None), 0)
        mode = self.get(args, "mode", "nearest", (str,), choices=UPSAMPLE_MODES)
        self.get(args, "align_corners", None, (bool, None))
        self.get(args, "recompute_scale_factor", None, (bool, None))
        if (size is None) == (scale is None):
            raise self.r.err(call, "nn.Upsample needs one of size=(H, W) or scale_factor=F")
        if size is not None:
            return f"upsample size={_pair_text(size, 'x')} mode={mode}"
        text = _num(scale) if not isinstance(scale, tuple) else \
            _num(scale[0]) if scale[0] == scale[1] else f"{_num(scale[0])}x{_num(scale[1])}"
        return f"upsample {text} mode={mode}"

    def activation(self, name, args) -> str:
        self.get(args, "inplace", False, (bool,))
        self.get(args, "negative_slope", 0.01, (float, int))
        self.get(args, "alpha", 1.0, (float, int))
        self.get(args, "dim", None, (int, None))
        self.get(args, "approximate", "none", (str,), choices=("none", "tanh"))
        act = name.lower()
        if act not in ACTIVATIONS:
            raise SpecError(f"nn.{name}: cnncalc has no layer for it yet; known activations: "
                            + ", ".join(ACTIVATIONS))
        return act


_OTHERS = {"AdaptiveAvgPool2d": _State.adaptive, "Linear": _State.linear, "BatchNorm2d": _State.batchnorm,
           "BatchNorm1d": _State.batchnorm, "Dropout": _State.dropout, "Dropout2d": _State.dropout,
           "Flatten": _State.flatten, "Upsample": _State.upsample}
_KIND_NAMES = {int: "a whole number", float: "a number", bool: "True or False", str: "a string",
               tuple: "a pair (H, W)", None: "None"}


def _pair_text(v, sep: str = "x") -> str:
    """3 → '3'; (3, 3) → '3'; (3, 5) → '3x5'."""
    if isinstance(v, tuple):
        return str(v[0]) if v[0] == v[1] else f"{v[0]}{sep}{v[1]}"
    return str(v)


__all__ = ["looks_like_pytorch", "to_spec", "to_spec_with_notes"]

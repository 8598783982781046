"""1. Translation equivariance: a random conv stack commutes with a shift of the input (away from the
borders), a random fully-connected layer does not. Torch is imported inside the functions that need it."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .common import as_float

MAX_FC_WEIGHTS = 10**8
"""Weights of the random fully-connected layer the demo draws (C·H·W inputs → H·W outputs): a 64×64 RGB image
needs 5·10⁷ (a second); the count grows as the square of the pixels, so 1000×1000 would need 3·10¹²."""
MAX_KERNEL, MAX_LAYERS = 31, 8

def shift(x: np.ndarray, dy: int, dx: int, padding: str = "zeros") -> np.ndarray:
    """Move the content of the last two axes dy pixels down and dx right: ``circular`` wraps around, ``zeros``
    fills the strip that enters with 0 (what leaves the frame is lost)."""
    if padding == "circular":
        return np.roll(x, (dy, dx), axis=(-2, -1))
    out = np.zeros_like(x)
    h, w = x.shape[-2:]
    if abs(dy) >= h or abs(dx) >= w:
        return out
    src = x[..., max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
    out[..., max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)] = src
    return out


def interior(size: int, n: int, before: int, after: int, padding: str = "zeros") -> tuple[int, int]:
    """Output positions [lo, hi) along one axis where shift(conv(x)) = conv(shift(x)) must hold exactly.

    An output at p sees the input from p − before to p + after (``before``/``after``: the stack's reach).
    With zero padding and a zero-filled shift by n it is the same computation on the same pixels when that
    window avoids both the strip that entered and the frame's edge, for the shifted and the original image:
    p − before ≥ max(0, n) and p + after ≤ size − 1 + min(0, n). With circular padding every position is."""
    if padding == "circular":
        return 0, size
    lo, hi = max(0, n) + before, size + min(0, n) - after
    return lo, max(lo, hi)


@dataclass(frozen=True)
class Equivariance:
    dy: int
    dx: int
    kernel: int
    layers: int
    padding: str
    reach: tuple[int, int]           # input pixels seen before and after an output position, per axis
    box: tuple[int, int, int, int]   # interior (top, bottom, left, right), bottom/right exclusive
    x: np.ndarray                    # the centred input (C, H, W)
    x_shifted: np.ndarray
    mean: np.ndarray                 # per channel, added back for display
    conv_x: np.ndarray               # (H, W): conv(x)
    conv_shifted: np.ndarray         # conv(shift x)
    diff: np.ndarray                 # |shift(conv x) − conv(shift x)|
    interior_max: float              # max |Δ| in the interior
    outside_max: float               # max |Δ| outside it (0.0 when everything is interior)
    conv_moved: float                # ‖conv(shift x) − shift(conv x)‖ / ‖conv x − mean‖ over the interior
    conv_changed: float              # ‖conv(shift x) − conv x‖ / ‖conv x − mean‖ over the interior
    fc_moved: float                  # the same two for a random fully-connected layer with the same output size
    fc_changed: float
    conv_weights: int
    fc_weights: int

    @property
    def interior_fraction(self) -> float:
        t, b, l, r = self.box
        return (b - t) * (r - l) / self.diff.size

    def display(self, key: str) -> np.ndarray:
        """The input or shifted input as an image in [0, 1] (the mean added back)."""
        v = {"x": self.x, "x_shifted": self.x_shifted}[key] + self.mean[:, None, None]
        return np.clip(v, 0, 1)


def _conv_stack(x, kernel: int, layers: int, padding: str, seed: int, hidden: int = 4):
    """A random stack of stride-1 'same' convolutions (ReLU between, ``hidden`` channels, one output map);
    padding done explicitly (before = (k − 1)//2, after = k − 1 − before) so zeros and circular agree."""
    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(seed)
    before = (kernel - 1) // 2
    pad = (before, kernel - 1 - before) * 2
    mode = "circular" if padding == "circular" else "constant"
    h = torch.as_tensor(x, dtype=torch.float32)
    for i in range(layers):
        cin, cout = h.shape[1], 1 if i == layers - 1 else hidden
        gain = 2.0 if i < layers - 1 else 1.0  # He scaling before a ReLU keeps the signal's size
        w = torch.randn(cout, cin, kernel, kernel, generator=gen) * math.sqrt(gain / (cin * kernel * kernel))
        b = 0.1 * torch.randn(cout, generator=gen)
        h = F.conv2d(F.pad(h, pad, mode=mode), w, b)
        if i < layers - 1:
            h = torch.relu(h)
    return h[:, 0].numpy().astype(np.float64)


def conv_weights(channels: int, kernel: int, layers: int, hidden: int = 4) -> int:
    sizes = [channels] + [hidden] * (layers - 1) + [1]
    return sum(a * b * kernel * kernel + b for a, b in zip(sizes, sizes[1:]))


def _fc(x_batch: np.ndarray, out_features: int, seed: int, chunk: int = 256) -> np.ndarray:
    """A random fully-connected layer (N(0, 1/in) weights, no bias) applied to each row of ``x_batch``,
    its weight matrix drawn ``chunk`` output rows at a time (never all in memory)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    xb = torch.as_tensor(x_batch, dtype=torch.float32).T  # (in, N)
    n_in = xb.shape[0]
    out = []
    for start in range(0, out_features, chunk):
        rows = min(chunk, out_features - start)
        out.append(torch.randn(rows, n_in, generator=gen) @ xb / math.sqrt(n_in))
    return torch.cat(out).T.numpy().astype(np.float64)


def _rel(a: np.ndarray, b: np.ndarray, ref: np.ndarray) -> float:
    """‖a − b‖ relative to the spread of ``ref`` (its norm once its mean is removed: a constant offset such as
    a bias would otherwise make any change look small)."""
    d = np.linalg.norm(ref - ref.mean()) if ref.size else 0.0
    return float(np.linalg.norm(a - b) / d) if d > 0 and a.size else float("nan")


def equivariance(image_rgb, dy: int, dx: int, kernel: int = 5, layers: int = 1, padding: str = "zeros",
                 gray: bool = True, seed: int = 0) -> Equivariance:
    """Shift the (centred) image by (dy, dx); compare conv(shift x) with shift(conv x) for a random conv
    stack, and the same for a random fully-connected layer mapping the C·H·W inputs to H·W outputs (the
    conv's output size). All norms are taken over the interior (see :func:`interior`)."""
    if padding not in ("zeros", "circular"):
        raise ValueError("padding must be 'zeros' or 'circular'")
    if not (1 <= kernel <= MAX_KERNEL and 1 <= layers <= MAX_LAYERS):
        raise ValueError(f"kernel must be 1…{MAX_KERNEL} and layers 1…{MAX_LAYERS}, not {kernel} and {layers}")
    h, w = np.shape(image_rgb)[:2]
    c = 1 if gray or np.ndim(image_rgb) == 2 else np.shape(image_rgb)[2]
    if c * (h * w) ** 2 > MAX_FC_WEIGHTS:
        raise ValueError(f"a fully-connected layer from a {c}×{h}×{w} image to {h}×{w} outputs has "
                         f"{c * (h * w) ** 2:,} weights, more than the {MAX_FC_WEIGHTS:,} this demo draws: use an "
                         "image of at most 64×64 pixels")
    raw = as_float(image_rgb, gray)
    mean = raw.mean(axis=(1, 2))
    x = raw - mean[:, None, None]
    xs = shift(x, dy, dx, padding)
    c, h, w = x.shape
    before = layers * ((kernel - 1) // 2)
    after = layers * (kernel - 1) - before
    (t, b), (l, r) = interior(h, dy, before, after, padding), interior(w, dx, before, after, padding)
    conv = _conv_stack(np.stack([x, xs]), kernel, layers, padding, seed)
    conv_x, conv_s = conv[0], conv[1]
    moved_conv = shift(conv_x, dy, dx, padding)
    diff = np.abs(moved_conv - conv_s)
    inside = np.zeros((h, w), bool)
    inside[t:b, l:r] = True
    fc = _fc(np.stack([x.ravel(), xs.ravel()]), h * w, seed + 1).reshape(2, h, w)
    fc_x, fc_s = fc[0], fc[1]
    moved_fc = shift(fc_x, dy, dx, padding)
    I = (slice(t, b), slice(l, r))
    return Equivariance(
        dy, dx, kernel, layers, padding, (before, after), (t, b, l, r), x, xs, mean, conv_x, conv_s, diff,
        float(diff[inside].max()) if inside.any() else float("nan"),
        float(diff[~inside].max()) if (~inside).any() else 0.0,
        _rel(conv_s[I], moved_conv[I], conv_x[I]), _rel(conv_s[I], conv_x[I], conv_x[I]),
        _rel(fc_s[I], moved_fc[I], fc_x[I]), _rel(fc_s[I], fc_x[I], fc_x[I]),
        conv_weights(c, kernel, layers), c * h * w * h * w)

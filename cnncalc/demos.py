"""Why convolutions: the computations behind the classroom demos page (no Streamlit; torch imported inside
the functions that need it). Every number the page shows is computed here, nothing is hard-coded.

1. Translation equivariance — :func:`equivariance`: a random conv stack commutes with a shift of the input
   (away from the borders), a random fully-connected layer does not.
2. Pooling gives local invariance — :func:`pooling_demo`: how many pooled outputs stay identical when the
   input moves by 0 … K − 1 pixels.
3. Shuffled pixels — :func:`shuffled_pixels_runs`: an MLP and a small CNN trained on original images and on
   images whose pixel positions went through one fixed random permutation.
4. The parameter blow-up — :func:`blow_up`: fully-connected vs locally-connected vs shared weights, from
   :func:`cnncalc.analyze` of a 'same' convolution.

Conventions. Images are float arrays (C, H, W); a shift by (dy, dx) moves the content dy pixels down and dx
pixels right. With ``padding="zeros"`` the strip that enters is filled with 0 (the image is centred first,
so 0 is its mean grey) and the convolutions pad with zeros; with ``padding="circular"`` the shift wraps
around (``roll``) and so does the convolutions' padding.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

from .analyze import analyze

try:  # the shared colour map when the heat-map module is there
    from .heatmaps import colorize
except ImportError:  # pragma: no cover - a plain grey ramp instead
    def colorize(values, vmin=None, vmax=None):
        v = np.asarray(values, dtype=np.float64)
        lo = np.nanmin(v) if vmin is None else vmin
        hi = np.nanmax(v) if vmax is None else vmax
        t = np.clip((v - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(v)
        g = np.rint(np.nan_to_num(t) * 255).astype(np.uint8)
        return np.stack([g, g, g], axis=-1)

LUMA = (0.299, 0.587, 0.114)


# --- images -------------------------------------------------------------------------------------------

def as_float(image_rgb, gray: bool = False) -> np.ndarray:
    """RGB uint8 (H, W, 3) → float (C, H, W) in [0, 1]; ``gray``: one channel of luminance."""
    a = np.asarray(image_rgb, dtype=np.float64) / 255.0
    if a.ndim == 2:
        a = a[:, :, None]
    if gray and a.shape[2] == 3:
        a = (a @ np.array(LUMA))[:, :, None]
    return np.ascontiguousarray(a.transpose(2, 0, 1))


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


def picture(values, vmin=None, vmax=None, box=None, target: int = 256, colour=(255, 40, 40)) -> np.ndarray:
    """A 2-D map (coloured with :func:`colorize`) or an RGB/gray image in [0, 1] (C, H, W) → RGB uint8,
    enlarged by a whole factor to ≈ ``target`` pixels (nearest: pixels stay square on a projector), with an
    optional rectangle ``box`` = (top, bottom, left, right) in map pixels (bottom/right exclusive)."""
    v = np.asarray(values)
    if v.ndim == 3:
        rgb = np.rint(np.clip(np.repeat(v, 3, axis=0) if v.shape[0] == 1 else v, 0, 1) * 255)
        rgb = rgb.astype(np.uint8).transpose(1, 2, 0)
    else:
        rgb = colorize(v, vmin, vmax)
    f = max(1, target // max(rgb.shape[:2]))
    big = rgb.repeat(f, axis=0).repeat(f, axis=1)
    if box is not None and box[1] > box[0] and box[3] > box[2]:
        im = Image.fromarray(np.ascontiguousarray(big))
        t, b, l, r = box
        ImageDraw.Draw(im).rectangle([l * f, t * f, r * f - 1, b * f - 1], outline=colour, width=max(2, f // 2))
        big = np.asarray(im)
    return big


# --- 1. translation equivariance ----------------------------------------------------------------------

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
    if kernel < 1 or layers < 1:
        raise ValueError("kernel and layers must be ≥ 1")
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


# --- 2. pooling gives local invariance -----------------------------------------------------------------

DIRECTIONS = {"right": (0, 1), "down": (1, 0), "diagonal": (1, 1)}


def _pool(x: np.ndarray, k: int, mode: str) -> np.ndarray:
    """k×k pooling with stride k (floor: a partial window at the edge is dropped, as PyTorch does).
    ``avg`` returns window *sums*: equal sums ⇔ equal averages, and sums of integers are exact."""
    h, w = (x.shape[0] // k) * k, (x.shape[1] // k) * k
    blocks = x[:h, :w].reshape(h // k, k, w // k, k)
    return blocks.max(axis=(1, 3)) if mode == "max" else blocks.sum(axis=(1, 3))


@dataclass(frozen=True)
class PoolCount:
    pooling: str
    shift: int
    unchanged: int
    total: int

    @property
    def fraction(self) -> float:
        return self.unchanged / self.total if self.total else float("nan")


def views(image2d: np.ndarray, shifts, direction: str = "right") -> dict[int, np.ndarray]:
    """The same frame looking at the image with its content moved by s pixels (s in ``shifts``): a window
    cropped ``max(shifts)`` pixels smaller along each moving axis, at offset max − s. No pixel is invented,
    so nothing but the shift changes."""
    ay, ax = DIRECTIONS[direction]
    m = max(shifts)
    h, w = image2d.shape
    hv, wv = h - ay * m, w - ax * m
    if hv < 1 or wv < 1:
        raise ValueError(f"image {h}×{w} too small for shifts up to {m}")
    return {s: image2d[ay * (m - s):ay * (m - s) + hv, ax * (m - s):ax * (m - s) + wv] for s in shifts}


def pool_invariance(image2d, k: int = 2, levels: int = 1, shifts=None, direction: str = "right",
                    modes=("max", "avg")) -> tuple[list[PoolCount], dict]:
    """For each mode and shift: how many outputs of ``levels`` stacked k×k pools (stride k) are identical to
    those of the unshifted view, at the same positions. Returns the counts and the boolean 'unchanged' maps
    keyed by (mode, shift)."""
    x = np.asarray(image2d, dtype=np.float64)
    shifts = list(range(k ** levels)) if shifts is None else list(shifts)
    v = views(x, shifts, direction)
    tol = 1e-9 * (1.0 + float(np.abs(x).max(initial=0.0))) * k ** (2 * levels)
    counts, maps = [], {}
    for mode in modes:
        pooled = {}
        for s, view in v.items():
            out = view
            for level in range(levels):
                out = _pool(out, k, mode)
            pooled[s] = out
        name = f"{mode} " + " → ".join([f"{k}×{k}"] * levels)
        for s in shifts:
            same = np.abs(pooled[s] - pooled[0]) <= tol
            counts.append(PoolCount(name, s, int(same.sum()), int(same.size)))
            maps[(name, s)] = same
    return counts, maps


@dataclass(frozen=True)
class PoolingDemo:
    k: int
    direction: str
    shifts: list[int]
    counts: list[PoolCount]
    maps: dict = field(repr=False)
    image: np.ndarray = field(repr=False)

    def table(self) -> dict[str, dict[int, float]]:
        """{pooling: {shift: fraction unchanged}}."""
        out: dict[str, dict[int, float]] = {}
        for c in self.counts:
            out.setdefault(c.pooling, {})[c.shift] = c.fraction
        return out

    def fraction(self, pooling: str, s: int) -> float:
        return self.table()[pooling][s]

    def overlay(self, pooling: str, s: int, target: int = 256) -> np.ndarray:
        """The pooled output of the unshifted image in grey levels, each output that a shift by ``s`` changed
        tinted red — RGB uint8, enlarged for a projector."""
        out = views(self.image, self.shifts, self.direction)[0]
        for _ in range(pooling.count("×")):  # 'max 2×2 → 2×2': two levels; 'no pooling (pixels)': none
            out = _pool(out, self.k, pooling.split(" ")[0])
        g = (out - out.min()) / (np.ptp(out) or 1.0)
        rgb = np.stack([g, g, g], axis=-1) * 0.85 + 0.15
        changed = ~self.maps[(pooling, s)]
        rgb[changed] = 0.35 * rgb[changed] + 0.65 * np.array([0.9, 0.1, 0.1])
        return picture(rgb.transpose(2, 0, 1), target=target)


def pooling_demo(image2d, k: int = 2, direction: str = "right") -> PoolingDemo:
    """Pixels (no pooling), one k×k pool and two stacked k×k pools, max and average, for shifts 0 … k² − 1
    (a stacked pair covers k² pixels), all measured on the same views."""
    x = np.asarray(image2d, dtype=np.float64)
    shifts = list(range(k * k))
    counts, maps = pool_invariance(x, 1, 1, shifts, direction, modes=("max",))
    counts = [PoolCount("no pooling (pixels)", c.shift, c.unchanged, c.total) for c in counts]
    maps = {("no pooling (pixels)", s): m for (_, s), m in maps.items()}
    for levels in (1, 2):
        c, m = pool_invariance(x, k, levels, shifts, direction)
        counts += c
        maps.update(m)
    return PoolingDemo(k, direction, shifts, counts, maps, x)


def gray_uint8(image_rgb) -> np.ndarray:
    """Luminance rounded to whole grey levels 0…255 (as float64: equal averages are then exact)."""
    return np.rint(np.asarray(image_rgb, dtype=np.float64) @ np.array(LUMA))


# --- 3. shuffled pixels --------------------------------------------------------------------------------

MLP_SPEC = "flatten; fc 256; relu; fc 10"
CNN_SPEC = "conv 16 k=3 p=1; relu; maxpool k=2; conv 32 k=3 p=1; relu; maxpool k=2; flatten; fc 10"
MODELS = {"MLP": MLP_SPEC, "CNN": CNN_SPEC}


def permutation(h: int, w: int, seed: int = 0) -> np.ndarray:
    """One fixed random order of the h·w pixel positions."""
    return np.random.default_rng(seed).permutation(h * w)


def shuffle_pixels(x: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """(N, C, H, W): the same permutation of pixel positions for every image; a pixel's channels move
    together."""
    n, c, h, w = x.shape
    return np.ascontiguousarray(x.reshape(n, c, h * w)[:, :, perm].reshape(n, c, h, w))


def shuffled_data(data, seed: int = 0):
    """An ImageData whose train and test images all went through one permutation of pixel positions."""
    from .train.data import ImageData

    _, h, w = data.shape
    perm = permutation(h, w, seed)
    return ImageData(data.name + " (shuffled pixels)", data.classes, shuffle_pixels(data.train_x, perm),
                     data.train_y, shuffle_pixels(data.test_x, perm), data.test_y)


def shuffled_config(model: str, source: str, limit: int, epochs: int, seed: int = 0, device: str = "auto"):
    from .train.config import TrainConfig

    return TrainConfig(spec=MODELS[model], data=source, limit=limit, epochs=epochs, batch_size=64, lr=1e-3,
                       optimizer="adam", standardize="train", seed=seed, device=device)


def train_recorded(cfg, data, name: str, store=None, owner: str = "",
                   on_progress: Callable[[float], None] | None = None) -> tuple[int | None, list[dict]]:
    """Train ``cfg`` on ``data`` (already in memory) and, with a ``store``, record the run there as the
    worker would (queued → running → done, every epoch as it ends) so it shows on the Training page."""
    import dataclasses
    import os

    from .train.engine import pick_device, train

    run_id = None
    if store is not None:  # recorded as running from the start: no worker can take it
        run_id = store.start_external(cfg, name, owner, os.getpid(), str(pick_device(cfg.device)))
    records: list[dict] = []

    def on_epoch(rec):
        records.append(dataclasses.asdict(rec))
        if run_id is not None:
            store.add_epoch(run_id, rec)
            store.beat(run_id, rec.epoch / cfg.epochs)

    def progress(epoch, step, steps, loss):
        done = ((epoch - 1) + step / steps) / cfg.epochs
        if run_id is not None:
            store.beat(run_id, done)
        if on_progress:
            on_progress(done)

    def on_start(spec, shape, mean, std):
        if run_id is not None:
            store.started(run_id, spec, shape, {"mean": list(mean), "std": list(std)})

    try:
        train(cfg, data=data, on_epoch=on_epoch, on_progress=progress, on_start=on_start, progress_every=5)
    except Exception as err:
        if run_id is not None:
            store.finish(run_id, "failed", f"{type(err).__name__}: {err}")
        raise
    if run_id is not None:
        last = records[-1]
        store.finish(run_id, "done", f"final test top-1 {last['test_top1']:.1%}; {name}: trained by the demos "
                                     f"page on {data.name}")
    return run_id, records


@dataclass(frozen=True)
class ShuffledRun:
    model: str
    pixels: str          # original | shuffled
    run_id: int | None
    epochs: list[dict]

    @property
    def final(self) -> float:
        return self.epochs[-1]["test_top1"]

    @property
    def label(self) -> str:
        return f"{self.model}, {self.pixels} pixels"


@dataclass(frozen=True)
class ShuffledResult:
    source: str
    data_name: str
    n_train: int
    n_test: int
    runs: list[ShuffledRun]

    def run(self, model: str, pixels: str) -> ShuffledRun:
        return next(r for r in self.runs if r.model == model and r.pixels == pixels)

    def drop(self, model: str) -> float:
        """Final test top-1 on original minus on shuffled pixels (fraction points; > 0: shuffling hurt)."""
        return self.run(model, "original").final - self.run(model, "shuffled").final

    @property
    def noise(self) -> float:
        """Two binomial standard errors of a test accuracy on ``n_test`` images (at the MLP's accuracy)."""
        p = self.run("MLP", "original").final
        return 2 * math.sqrt(max(p * (1 - p), 0.01) / self.n_test)

    def conclusion(self) -> str:
        """The takeaway in words, from the measured numbers (markdown)."""
        m, c, noise = self.drop("MLP"), self.drop("CNN"), self.noise
        mo, ms = self.run("MLP", "original").final, self.run("MLP", "shuffled").final
        co, cs = self.run("CNN", "original").final, self.run("CNN", "shuffled").final
        mlp = (f"The **MLP** scores {mo:.1%} on original and {ms:.1%} on shuffled pixels "
               f"({-m * 100:+.1f} points)")
        mlp += (": the same within noise (±{:.1f} points on {} test images) — it has no notion of "
                "neighbourhood, so a fixed reordering of its inputs changes nothing it can use.".format(
                    noise * 100, self.n_test) if abs(m) <= noise else
                f", a change larger than the noise (±{noise * 100:.1f} points): a chance difference of the "
                "initialisation (a fixed reordering gives it nothing more or less to learn from).")
        cnn = f" The **CNN** goes from {co:.1%} to {cs:.1%} ({-c * 100:+.1f} points)"
        if c > abs(m) + noise:
            cnn += (": its small kernels look at neighbouring pixels, and after the shuffle neighbours are "
                    "unrelated — the prior that made it good is gone.")
        else:
            cnn += (": no clear drop in this run (too few images or epochs to see it — train longer or on "
                    "more images).")
        return mlp + cnn


def shuffled_pixels_runs(source: str = "synthetic", limit: int = 2000, test_limit: int = 500, epochs: int = 4,
                         seed: int = 0, store=None, owner: str = "", device: str = "auto",
                         on_progress: Callable[[float, str], None] | None = None) -> ShuffledResult:
    """Four runs — MLP and CNN, on original and on shuffled pixels — on ``limit`` training and
    ``test_limit`` test images of ``source`` (synthetic | cifar10 | an ImageFolder path)."""
    from .train import data as datasets

    data = datasets.load(source, limit, seed)
    if test_limit and len(data.test_y) > test_limit:
        data = datasets.ImageData(data.name, data.classes, data.train_x, data.train_y,
                                  data.test_x[:test_limit], data.test_y[:test_limit])
    sets = {"original": data, "shuffled": shuffled_data(data, seed)}
    runs, plan = [], [(m, p) for m in MODELS for p in sets]
    for i, (model, pixels) in enumerate(plan):
        cfg = shuffled_config(model, source, limit, epochs, seed, device)
        name = f"shuffled-pixels: {model}, {pixels}"
        report = (lambda f, i=i, name=name: on_progress((i + f) / len(plan), name)) if on_progress else None
        run_id, records = train_recorded(cfg, sets[pixels], name, store, owner, report)
        runs.append(ShuffledRun(model, pixels, run_id, records))
    return ShuffledResult(source, data.name, len(data.train_y), len(data.test_y), runs)


# --- 4. the parameter blow-up ---------------------------------------------------------------------------

@dataclass(frozen=True)
class BlowUp:
    shape: tuple[int, int, int]  # C, H, W
    kernel: int
    fc: int                      # weights, biases not included (each would add one per output: C·H·W)
    locally_connected: int
    shared: int
    biases: int                  # C·H·W: what biases would add to FC and locally-connected (C to shared)
    formulas: dict

    def bytes(self, key: str) -> int:
        """float32 storage of the weights."""
        return 4 * getattr(self, key)


def blow_up(h: int = 1000, w: int = 1000, c: int = 1, kernel: int = 10) -> BlowUp:
    """A layer mapping an H×W×C image to an output of the same size, three ways — weights only (bias=0):
    fully connected (C·H·W)², locally connected H·W·C·(C·k·k) (a k×k window per output, nothing shared),
    shared k×k kernels C·C·k·k — via :func:`cnncalc.analyze` of ``conv C k=k p=same bias=0``."""
    r = analyze(f"conv {c} k={kernel} p=same bias=0", (c, h, w))[0]
    if r.status == "error":
        raise ValueError(r.message)
    f = r.formulas
    return BlowUp((c, h, w), kernel, r.fc_equivalent, r.locally_connected, r.weights, c * h * w,
                  {"fc": f["fc_equivalent"], "locally_connected": f["locally_connected"], "shared": f["weights"]})


def human(n: float) -> str:
    """10^12 → '10¹²'-style powers of ten for round numbers, else 1.2·10⁹; bytes as kB…TB via :func:`size`."""
    if n <= 0:
        return "0"
    e = int(math.floor(math.log10(n)))
    m = n / 10 ** e
    sup = str(e).translate(str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻"))
    return f"10{sup}" if abs(m - 1) < 1e-9 else f"{m:.1f}·10{sup}"


def size(nbytes: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if nbytes < 1000 or unit == "PB":
            return f"{nbytes:,.0f} {unit}" if unit == "B" else f"{nbytes:,.1f} {unit}"
        nbytes /= 1000
    return ""


__all__ = ["equivariance", "Equivariance", "interior", "shift", "picture", "as_float", "pool_invariance",
           "pooling_demo", "PoolingDemo", "PoolCount", "views", "gray_uint8", "shuffle_pixels", "shuffled_data",
           "shuffled_pixels_runs", "ShuffledResult", "ShuffledRun", "train_recorded", "MLP_SPEC", "CNN_SPEC",
           "blow_up", "BlowUp", "human", "size"]

"""Sample images that install with the app (no download), and a safe reader for uploaded files.

Built-in samples come from scikit-image's ``skimage.data`` (bundled with the package); scikit-learn's two
sample photos are added when scikit-learn happens to be installed (it is not a requirement).
Every image is returned as an RGB ``uint8`` array of shape (H, W, 3).

Uploads come from anyone in the class, so :func:`load_upload` opens only the formats in :data:`FORMATS` —
Pillow would hand an EPS, PS or PDF file to Ghostscript when it is installed, and some of its rarer
decoders are less tried — and takes the size limit from the server's ``upload_mb``
(:mod:`cnncalc.server.limits`).
"""
from __future__ import annotations

import io
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ..parse import as_hw
from ..server.limits import Limits, load_limits

# name shown to the user → (source, loader name)
_SKIMAGE = {"cat (chelsea)": "chelsea", "coffee": "coffee", "rocket": "rocket", "astronaut": "astronaut"}
_SKLEARN = {"china (scikit-learn)": "china.jpg", "flower (scikit-learn)": "flower.jpg"}

MAX_PIXELS = 40_000_000
"""Largest upload accepted (width × height), well under what a decoded image may cost in memory; Pillow's
own ``Image.MAX_IMAGE_PIXELS`` applies too when it is smaller. A 24-megapixel phone photo (6000×4000)
fits: the pages downscale it."""
MAX_BYTES = Limits().upload_mb * 2**20
"""The default upload limit; the server's own is ``upload_mb`` (:func:`load_upload` reads it)."""
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")
"""Pillow formats an upload may be in (phone JPEGs with several pictures, MPO, open as JPEG)."""
FORMAT_NAMES = "PNG, JPEG, GIF, BMP, TIFF, WebP"


def _sklearn_images() -> dict[str, np.ndarray]:
    try:
        from sklearn.datasets import load_sample_images
    except Exception:  # not installed (or broken): the skimage samples are enough
        return {}
    try:
        bunch = load_sample_images()
    except Exception:
        return {}
    names = [n.rsplit("/", 1)[-1].rsplit("\\", 1)[-1] for n in bunch.filenames]
    by_file = dict(zip(names, bunch.images))
    return {label: by_file[f] for label, f in _SKLEARN.items() if f in by_file}


def _sklearn_available() -> bool:
    import importlib.util
    return importlib.util.find_spec("sklearn") is not None


def sample_names() -> list[str]:
    """Names accepted by :func:`load_sample`, scikit-image's first."""
    names = list(_SKIMAGE)
    if _sklearn_available():
        names += list(_sklearn_images())
    return names


def resize(image: np.ndarray, size, aspect=None) -> np.ndarray:
    """Centre-crop ``image`` to the aspect ratio of ``size`` = (H, W) (or N for N×N), then resize it with
    Pillow's Lanczos filter: the picture is never stretched. With ``aspect`` = (H, W), crop to that ratio
    instead and resize to ``size``: a picture of a huge or elongated input drawn smaller (or squeezed, as
    the receptive-field page says) without building the input's full-size image."""
    target = as_hw(size)
    if target is None:
        return image
    th, tw = as_hw(aspect) if aspect is not None else target
    h, w = image.shape[:2]
    if h * tw > w * th:  # too tall: crop rows
        ch = max(1, round(w * th / tw))
        top = (h - ch) // 2
        image = image[top:top + ch]
    elif h * tw < w * th:  # too wide: crop columns
        cw = max(1, round(h * tw / th))
        left = (w - cw) // 2
        image = image[:, left:left + cw]
    pil = Image.fromarray(np.ascontiguousarray(image))
    return np.asarray(pil.resize(target[::-1], Image.Resampling.LANCZOS), dtype=np.uint8)


def load_sample(name: str, size=None) -> np.ndarray:
    """A built-in sample as RGB uint8 (H, W, 3); with ``size`` (N or (H, W)) centre-cropped and resized."""
    if name in _SKIMAGE:
        import skimage.data
        image = getattr(skimage.data, _SKIMAGE[name])()
    else:
        extra = _sklearn_images() if name in _SKLEARN else {}
        if name not in extra:
            raise ValueError(f"unknown sample '{name}'; choose one of: {', '.join(sample_names())}")
        image = extra[name]
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return resize(np.ascontiguousarray(image[:, :, :3], dtype=np.uint8), size)


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode → RGB. Transparency is laid over white; 16/32-bit and float images are scaled to 0…255
    (Pillow's own convert would clip a 16-bit image to almost pure white)."""
    mode = im.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode in ("P", "L", "RGB") and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode.startswith("I;16") or mode in ("I", "F"):
        a = np.asarray(im, dtype=np.float64)
        if mode.startswith("I;16") or (mode == "I" and a.min() >= 0 and a.max() <= 65535 and a.max() > 255):
            a = a / 257.0
        elif a.max() > a.min() and (a.min() < 0 or a.max() > 255 or mode == "F"):
            a = (a - a.min()) / (a.max() - a.min()) * 255.0
        gray = np.clip(np.rint(a), 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    return im if im.mode == "RGB" else im.convert("RGB")  # no copy of a decoded photo


_SIGNATURES = {b"%PDF": "PDF", b"%!": "PostScript/EPS", b"\xc5\xd0\xd3\xc6": "EPS", b"8BPS": "Photoshop (PSD)",
               b"<svg": "SVG", b"<?xml": "XML/SVG", b"\x00\x00\x01\x00": "ICO"}


def _refuse_format(data: bytes) -> ValueError:
    """The error for a file none of :data:`FORMATS` opens, naming what it seems to be from its first bytes
    (never by asking Pillow's other decoders: that is what the restriction avoids)."""
    head = data[:64].lstrip()
    kind = next((name for magic, name in _SIGNATURES.items() if head.startswith(magic)), None)
    if kind is None and data[4:8] == b"ftyp":
        kind = "HEIC/AVIF" if data[8:12] in (b"heic", b"heix", b"mif1", b"avif", b"msf1") else None
    what = f" (it looks like {kind})" if kind else ""
    return ValueError(f"this file is not an image in an accepted format{what}: upload {FORMAT_NAMES}")


class Upload(NamedTuple):
    """A decoded upload: ``image`` RGB uint8 (h, w, 3) — smaller than the file when ``at_least`` allowed it —
    and ``size`` (H, W), the file's own size once its EXIF orientation is applied (what a page reports)."""
    image: np.ndarray
    size: tuple[int, int]


def open_upload(data: bytes, max_mb: float | None = None, at_least: int | None = None) -> Upload:
    """Decode an uploaded image file safely (see :func:`load_upload`), keeping the file's own size.

    ``at_least``: the caller will shrink the image to at most this many pixels per side, so a JPEG is
    decoded at the smallest scale (1/2, 1/4 or 1/8: Pillow's ``draft``) that keeps both sides at least
    that long — a 24-megapixel phone photo then costs 5 MB instead of 72, several times over while it is
    converted. Other formats are decoded whole.
    """
    if data is None or len(data) == 0:
        raise ValueError(f"the file is empty (0 bytes): choose an image file ({FORMAT_NAMES})")
    limit_mb = max_mb if max_mb is not None else load_limits().upload_mb
    if len(data) > limit_mb * 2**20:
        raise ValueError(f"the file is {len(data) / 2**20:,.0f} MB; images up to {limit_mb:g} MB are accepted "
                         f"({Limits.how_to_change('upload_mb')})")
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone switched Pillow's global on: we still want the error
        raise ValueError("cannot check for truncated images while PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on")
    limit = min(MAX_PIXELS, Image.MAX_IMAGE_PIXELS or MAX_PIXELS)
    try:
        im = Image.open(io.BytesIO(data), formats=list(FORMATS))  # reads the header only
    except Image.DecompressionBombError as err:
        raise ValueError(f"the image declares too many pixels (decompression bomb?): {err}") from None
    except UnidentifiedImageError:
        raise _refuse_format(data) from None
    except Exception as err:
        raise ValueError(f"this file is not a readable image: {err}") from None
    with im:
        w, h = im.size
        if w * h > limit:
            raise ValueError(f"the image declares {w:,}×{h:,} = {w * h:,} pixels, more than the {limit:,} "
                             "allowed (a decompression bomb, or simply too large): resize it first")
        if w < 1 or h < 1:
            raise ValueError(f"the image has no pixels ({w}×{h})")
        try:
            im.seek(0)  # the first frame of an animated GIF/PNG/WebP
            if at_least is not None and im.format in ("JPEG", "MPO"):
                im.draft("RGB", (at_least, at_least))
            im.load()
            turned = im.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # EXIF orientations that swap the sides
            im = ImageOps.exif_transpose(im) or im
            rgb = _to_rgb(im)
        except Image.DecompressionBombError as err:
            raise ValueError(f"the image declares too many pixels (decompression bomb?): {err}") from None
        except Exception as err:  # OSError('image file is truncated'), SyntaxError, struct.error, zlib errors…
            raise ValueError(f"the image is truncated or corrupt and cannot be decoded ({err})") from None
        return Upload(np.asarray(rgb, dtype=np.uint8).copy(), (w, h) if turned else (h, w))


def load_upload(data: bytes, max_mb: float | None = None, at_least: int | None = None) -> np.ndarray:
    """Decode an uploaded image file safely → RGB uint8 (H, W, 3).

    Raises ValueError with a sentence a user can act on for: an empty file, a file over ``max_mb``
    (default: the server's ``upload_mb``), a file that is not an image in :data:`FORMATS` (EPS, PS and PDF
    included: Pillow would run Ghostscript on them), a truncated or corrupt image, and a decompression bomb
    (a small file declaring a huge image). Any mode is accepted (RGBA, grayscale, 16-bit, palette,
    CMYK…); an animated image gives its first frame; the EXIF orientation of phone photos is applied.
    ``at_least``: see :func:`open_upload`.
    """
    return open_upload(data, max_mb, at_least).image


__all__ = ["sample_names", "load_sample", "load_upload", "open_upload", "Upload", "resize", "MAX_PIXELS", "FORMATS",
           "FORMAT_NAMES"]

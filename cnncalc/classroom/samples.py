"""Sample images that install with the app (no download), and a safe reader for uploaded files.

Built-in samples come from scikit-image's ``skimage.data`` (bundled with the package); scikit-learn's two
sample photos are added when scikit-learn happens to be installed (it is not a requirement).
Every image is returned as an RGB ``uint8`` array of shape (H, W, 3).
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ..parse import as_hw

# name shown to the user → (source, loader name)
_SKIMAGE = {"cat (chelsea)": "chelsea", "coffee": "coffee", "rocket": "rocket", "astronaut": "astronaut"}
_SKLEARN = {"china (scikit-learn)": "china.jpg", "flower (scikit-learn)": "flower.jpg"}

MAX_PIXELS = 40_000_000
"""Largest upload accepted (width × height), well under what a decoded image may cost in memory; Pillow's
own ``Image.MAX_IMAGE_PIXELS`` applies too when it is smaller."""
MAX_BYTES = 50 * 1024 * 1024


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


def resize(image: np.ndarray, size) -> np.ndarray:
    """Centre-crop ``image`` to the aspect ratio of ``size`` = (H, W) (or N for N×N), then resize it with
    Pillow's Lanczos filter: the picture is never stretched."""
    target = as_hw(size)
    if target is None:
        return image
    th, tw = target
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
    return np.asarray(pil.resize((tw, th), Image.Resampling.LANCZOS), dtype=np.uint8)


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
    return im.convert("RGB")


def load_upload(data: bytes) -> np.ndarray:
    """Decode an uploaded image file safely → RGB uint8 (H, W, 3).

    Raises ValueError with a sentence a user can act on for: an empty file, a file that is not an image,
    a truncated or corrupt image, and a decompression bomb (a small file declaring a huge image). Any
    mode is accepted (RGBA, grayscale, 16-bit, palette, CMYK…); an animated image gives its first frame;
    the EXIF orientation of phone photos is applied.
    """
    if data is None or len(data) == 0:
        raise ValueError("the file is empty (0 bytes): choose an image file (PNG, JPEG, GIF, BMP, TIFF, WebP)")
    if len(data) > MAX_BYTES:
        raise ValueError(f"the file is {len(data) / 2**20:.0f} MB; images up to {MAX_BYTES // 2**20} MB are accepted")
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone switched Pillow's global on: we still want the error
        raise ValueError("cannot check for truncated images while PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on")
    limit = min(MAX_PIXELS, Image.MAX_IMAGE_PIXELS or MAX_PIXELS)
    try:
        im = Image.open(io.BytesIO(data))  # reads the header only
    except Image.DecompressionBombError as err:
        raise ValueError(f"the image declares too many pixels (decompression bomb?): {err}") from None
    except UnidentifiedImageError:
        raise ValueError("this file is not an image Pillow can read (expected PNG, JPEG, GIF, BMP, TIFF, "
                         "WebP…)") from None
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
            im.load()
            im = ImageOps.exif_transpose(im) or im
            rgb = _to_rgb(im)
        except Image.DecompressionBombError as err:
            raise ValueError(f"the image declares too many pixels (decompression bomb?): {err}") from None
        except Exception as err:  # OSError('image file is truncated'), SyntaxError, struct.error, zlib errors…
            raise ValueError(f"the image is truncated or corrupt and cannot be decoded ({err})") from None
        return np.asarray(rgb, dtype=np.uint8).copy()


__all__ = ["sample_names", "load_sample", "load_upload", "resize", "MAX_PIXELS"]

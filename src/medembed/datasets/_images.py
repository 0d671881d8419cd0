"""Decoding and probing of image files (PNG/JPEG/TIFF/BMP and DICOM)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm")


class ImageError(ValueError):
    """A file that cannot be decoded as an image; the message is the reason."""


def _dicom_to_pil(path: Path) -> Image.Image:
    import pydicom

    try:
        ds = pydicom.dcmread(str(path))
        arr = ds.pixel_array.astype(np.float64)
    except Exception as exc:  # pydicom raises many types for broken files
        raise ImageError(f"unreadable DICOM ({type(exc).__name__}: {exc})") from exc
    if arr.ndim == 3 and arr.shape[-1] not in (3, 4):
        arr = arr[arr.shape[0] // 2]  # multi-frame: middle frame
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    arr = arr * slope + intercept
    center, width = getattr(ds, "WindowCenter", None), getattr(ds, "WindowWidth", None)
    if center is not None and width is not None:
        center = float(np.atleast_1d(center)[0])
        width = max(float(np.atleast_1d(width)[0]), 1.0)
        lo, hi = center - width / 2, center + width / 2
    else:  # no window stored: robust percentile window
        lo, hi = np.percentile(arr, [0.5, 99.5]) if arr.size else (0.0, 1.0)
    arr = np.clip((arr - lo) / max(hi - lo, 1e-6), 0, 1) * 255
    if getattr(ds, "PhotometricInterpretation", "") == "MONOCHROME1":
        arr = 255 - arr
    return Image.fromarray(arr.astype(np.uint8))


def load_image(path: str | os.PathLike) -> Image.Image:
    """Decode ``path`` fully into an RGB PIL image; raise :class:`ImageError` with the reason."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise ImageError("empty file (0 bytes)")
    except FileNotFoundError as exc:
        raise ImageError("file not found") from exc
    if path.suffix.lower() == ".dcm":
        return _dicom_to_pil(path).convert("RGB")
    try:
        with Image.open(path) as im:
            im.load()  # forces a full decode: truncated files fail here
            return im.convert("RGB")
    except UnidentifiedImageError as exc:
        raise ImageError("not an image file") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"corrupt image ({exc})") from exc


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def probe_image(path: str | os.PathLike) -> dict:
    """Decode ``path`` and return ``{width, height, sha256}``; raise ImageError if unreadable."""
    im = load_image(path)
    return {"width": im.width, "height": im.height, "sha256": sha256_file(path)}

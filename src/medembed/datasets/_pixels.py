"""What decoding a DICOM and decoding any other image share (a leaf: imports no sibling).

The error every failed decode raises, the size check both decoders apply before they
allocate, and the mapping of any value range onto 8-bit RGB. :mod:`._dicom` (the DICOM
pipeline) and :mod:`._images` (Pillow formats, and the dispatch to DICOM) both import it;
``_images`` imports ``_dicom``, never the other way round, so the package has no cycle
(the acyclic contract in pyproject.toml).
"""

from __future__ import annotations

import numpy as np
from PIL import Image


class ImageError(ValueError):
    """A file that cannot be decoded as an image; the message is the reason."""


def check_size(width: int, height: int, max_pixels: int | None, max_aspect_ratio: float | None):
    """Raise ``ImageError`` if a ``width`` × ``height`` image is too large or too elongated."""
    n = int(width) * int(height)
    if max_pixels is not None and n > max_pixels:
        raise ImageError(
            f"too large: {width}×{height} = {n:,} pixels > max_pixels {max_pixels:,}"
        )
    if min(width, height) < 1:
        raise ImageError(f"corrupt image (size {width}×{height})")
    ratio = max(width, height) / min(width, height)
    if max_aspect_ratio is not None and ratio > max_aspect_ratio:
        raise ImageError(
            f"extreme aspect ratio {ratio:.0f}:1 ({width}×{height}) > max_aspect_ratio "
            f"{max_aspect_ratio:g}"
        )


def scale_to_uint8(arr: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Map ``[lo, hi]`` (default: the finite min and max of ``arr``) linearly onto 0–255.

    Values outside are clipped (a window), NaN becomes 0; a constant image becomes 0.
    """
    a = np.asarray(arr, dtype=np.float64)
    finite = np.isfinite(a)
    if lo is None or hi is None:
        if not finite.any():
            return np.zeros(a.shape, np.uint8)
        vals = a[finite]
        lo = float(vals.min()) if lo is None else lo
        hi = float(vals.max()) if hi is None else hi
    if hi <= lo:
        return np.zeros(a.shape, np.uint8)
    out = (np.where(finite, a, lo) - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def gray_to_rgb(arr8: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(arr8), mode="L").convert("RGB")

"""Decoding and probing of image files (PNG/JPEG/TIFF/BMP/GIF/WebP and DICOM) into 8-bit RGB.

One rule for every file, whatever its format or bit depth:

* **DICOM** is recognised by its preamble (``DICM`` at byte 128), whatever the file is called,
  or by a ``.dcm`` extension. See :mod:`medembed.datasets._dicom` for the pixel pipeline
  (Modality LUT, VOI LUT / window, YBR→RGB, frames).
* **8-bit images** keep their values. Palette, 1-bit, CMYK and YCbCr images become RGB;
  images with transparency (RGBA, LA, PA, palette with a transparent colour) are composited
  onto black, the background of nearly every medical image.
* **More than 8 bits** (16-bit PNG/TIFF: modes ``I;16*``, ``I``, 32-bit float ``F``) are scaled
  from their real value range (min → 0, max → 255), never clipped at 255 as
  ``Image.convert("RGB")`` would do.
* The EXIF orientation of photographs is applied.

Every failure is an :class:`ImageError` whose message starts with a short, specific reason
(``empty file``, ``not an image``, ``truncated``, ``too large``, ``extreme aspect ratio``,
``DICOM without pixel data``, ``unsupported transfer syntax …``, ``corrupt image``, …).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ._dicom import dataset_offset, dicom_image, is_dicom
from ._pixels import ImageError, check_size, gray_to_rgb, scale_to_uint8

#: File extensions read as images (compared case-insensitively). Files with any other name
#: are read only when they are DICOM (preamble ``DICM``), e.g. the extension-less files of
#: PACS exports.
IMAGE_EXTENSIONS = (
    ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".dcm", ".dicom",
)
DICOM_EXTENSIONS = (".dcm", ".dicom")
#: Largest image (width × height, per frame) decoded by default: 10⁸ pixels. Larger ones,
#: and decompression bombs (a small file claiming a huge size), are skipped as "too large".
DEFAULT_MAX_PIXELS = 100_000_000
#: Longest / shortest side above which an image is skipped: an encoder resizing its short
#: side to 224 would otherwise allocate a 224 × (224·ratio) image of a meaningless strip.
DEFAULT_MAX_ASPECT_RATIO = 100.0
#: ``path#f003`` names frame 3 (1-based, as DICOM numbers frames) of a multi-frame file.
FRAME_REF = re.compile(r"^(?P<path>.+)#f(?P<frame>\d+)$")

_PILLOW_LIMIT_LOCK = threading.Lock()


# ----------------------------------------------------------------------------- helpers


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def looks_like_dicom(path: str | os.PathLike) -> bool:
    """DICOM by preamble; or a ``.dcm``/``.dicom`` file whose data set starts (after at most a
    few stray bytes) with an element of group 0002 or 0008 (written without preamble and
    file meta, see :func:`dataset_offset`). Anything else is decoded by Pillow, so a text
    file named ``.dcm`` is "not an image" rather than "DICOM without pixel data".
    """
    if is_dicom(path):
        return True
    if Path(path).suffix.lower() not in DICOM_EXTENSIONS:
        return False
    return dataset_offset(path) is not None


def split_frame_ref(path: str | os.PathLike) -> tuple[Path, int | None]:
    """``("x.dcm#f003")`` → ``(Path("x.dcm"), 3)``; a path naming an existing file is kept whole."""
    p = str(path)
    m = FRAME_REF.match(p)
    if m is None or os.path.lexists(p):
        return Path(p), None
    return Path(m["path"]), int(m["frame"])


def frame_ref(path: str | os.PathLike, frame: int) -> str:
    """The manifest path of frame ``frame`` (1-based) of ``path``: ``path#f003``."""
    return f"{path}#f{frame:03d}"


def _allow_pillow(max_pixels: int | None) -> None:
    """Let our own ``max_pixels`` check decide below it: raise Pillow's bomb limit if lower.

    Pillow warns above ``Image.MAX_IMAGE_PIXELS`` and refuses above twice that; images up to
    ``max_pixels`` must neither warn nor fail, anything above is refused by :func:`check_size`
    (or, for a bomb, by Pillow itself, reported as "too large").
    """
    with _PILLOW_LIMIT_LOCK:
        current = Image.MAX_IMAGE_PIXELS
        if current is not None and (max_pixels is None or max_pixels > current):
            Image.MAX_IMAGE_PIXELS = None if max_pixels is None else int(max_pixels)


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a multi-byte character cut at the end
            return False
    return True


def _not_an_image(path: Path) -> ImageError:
    with open(path, "rb") as fh:
        head = fh.read(512)
    kind = "a text file" if _looks_like_text(head) else "unrecognised format"
    return ImageError(f"not an image ({kind}, {path.stat().st_size:,} bytes)")


# ----------------------------------------------------------------------------- Pillow


def pil_to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow image → 8-bit RGB without clipping (see module docstring)."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in ("1", "L", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        return im.convert("RGB")
    if mode == "P":
        if "transparency" in im.info:
            return pil_to_rgb(im.convert("RGBA"))
        return im.convert("RGB")
    if mode == "PA":
        return pil_to_rgb(im.convert("RGBA"))
    if mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = np.asarray(im.convert("RGBA"))
        alpha = rgba[..., 3:4].astype(np.uint16)
        rgb = (rgba[..., :3].astype(np.uint16) * alpha + 127) // 255  # onto black
        return Image.fromarray(rgb.astype(np.uint8), mode="RGB")
    if mode in ("I", "F") or mode.startswith("I;16"):
        arr = np.asarray(im)
        return gray_to_rgb(scale_to_uint8(arr))
    try:
        return im.convert("RGB")
    except ValueError as exc:
        raise ImageError(f"unsupported image mode {mode!r} ({exc})") from exc


def _load_pillow(path: Path, max_pixels, max_aspect_ratio) -> Image.Image:
    _allow_pillow(max_pixels)
    try:
        with Image.open(path) as im:
            check_size(im.width, im.height, max_pixels, max_aspect_ratio)
            im.load()  # forces a full decode: truncated files fail here
            try:
                im = ImageOps.exif_transpose(im)
            except Exception:  # noqa: BLE001 - a broken EXIF block: keep the stored orientation
                pass
            return pil_to_rgb(im)
    except Image.DecompressionBombError as exc:
        m = re.search(r"\((\d+) pixels\)", str(exc))
        n = f"{int(m[1]):,} pixels" if m else "the size in its header"
        raise ImageError(
            f"too large: {n} > max_pixels {max_pixels or 0:,} (a decompression bomb: "
            f"{path.stat().st_size:,} bytes on disk)"
        ) from exc
    except UnidentifiedImageError as exc:
        raise _not_an_image(path) from exc
    except ImageError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error) as exc:
        msg = str(exc)
        if "truncated" in msg.lower() or isinstance(exc, EOFError):
            raise ImageError(f"truncated image ({msg})") from exc
        raise ImageError(f"corrupt image ({type(exc).__name__}: {msg})") from exc
    except MemoryError as exc:
        raise ImageError("too large: out of memory while decoding") from exc


# ----------------------------------------------------------------------------- public API


def _check_file(path: Path) -> None:
    if path.is_symlink() and not path.exists():
        raise ImageError(f"broken link (target {os.readlink(path)!r} does not exist)")
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise ImageError("file not found") from exc
    except OSError as exc:
        raise ImageError(f"unreadable file ({exc.strerror or exc})") from exc
    if not path.is_file():
        raise ImageError("not a regular file")
    if size == 0:
        raise ImageError("empty file (0 bytes)")


def load_image(
    path: str | os.PathLike,
    *,
    frame: int | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    max_aspect_ratio: float | None = DEFAULT_MAX_ASPECT_RATIO,
    voi_index: int | None = 0,
) -> Image.Image:
    """Decode ``path`` fully into an 8-bit RGB PIL image; raise :class:`ImageError` with the reason.

    ``path`` may name a frame of a multi-frame DICOM as ``file#f003`` (1-based), as the
    manifest does with ``frames: all``; ``frame`` does the same explicitly. Without either,
    a multi-frame DICOM gives its middle frame. ``voi_index`` picks which of several stored
    DICOM windows / VOI LUTs to apply (``None``: none, the real value range instead).
    """
    path, ref_frame = split_frame_ref(path)
    frame = frame if frame is not None else ref_frame
    _check_file(path)
    if looks_like_dicom(path):

        return dicom_image(
            path, frame=frame, max_pixels=max_pixels, max_aspect_ratio=max_aspect_ratio,
            voi_index=voi_index,
        )
    if frame is not None and frame != 1:
        raise ImageError(f"frame {frame} requested of a single-frame image")
    return _load_pillow(path, max_pixels, max_aspect_ratio)


def probe_image(path: str | os.PathLike, **kw) -> dict:
    """Decode ``path`` and return ``{width, height, sha256}``; raise ImageError if unreadable."""
    im = load_image(path, **kw)
    return {"width": im.width, "height": im.height, "sha256": sha256_file(split_frame_ref(path)[0])}

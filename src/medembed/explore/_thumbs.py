"""Thumbnails of every manifest image, packed into JPEG sprite sheets (made once per dataset).

The report's galleries and the explorer both read them, so each image is decoded once per
dataset, however many encoders, feature sets and methods follow. A thumbnail folder holds

- ``sheet_0000.jpg``, ``sheet_0001.jpg``, ...: ``cols`` x ``rows`` tiles of ``tile`` px
  each (the last sheet only as tall as its used rows), every image letterboxed on black;
- ``index.parquet``: one row per manifest image, ``id``, ``sheet`` (file name), ``x``,
  ``y`` (the tile's top-left pixel) and ``ok`` (False: unreadable, a grey tile); its
  params hold ``tile``, ``cols``, ``rows``, ``n``, ``n_failed`` and ``format``.

Tile ``i`` (manifest order) is in sheet ``i // (cols*rows)`` at slot ``i % (cols*rows)``.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from .. import io, pp
from ..datasets import load_image
from ._files import atomic_dir
from ._sheets import INDEX, Thumbnails, read_thumbnails

log = logging.getLogger(__name__)

TILE = 96
COLS = 16
ROWS = 16
QUALITY = 85
#: Tiles of unreadable images: mid grey, so they stand out from the black letterbox.
FAILED_GREY = 128


def render_tile(path: str, tile: int = TILE, decode: dict | None = None) -> tuple[np.ndarray, str | None]:
    """``(tile x tile x 3 uint8, error)``: the image scaled to fit, letterboxed on black; or a
    grey tile and the reason it could not be read."""
    arr, err, _ = _tile_and_quality(path, tile, decode, measure=False)
    return arr, err


def _tile_and_quality(path: str, tile: int, decode: dict | None, measure: bool
                      ) -> tuple[np.ndarray, str | None, dict | None]:
    """:func:`render_tile` plus, with ``measure``, the image's :func:`pp.image_quality`
    measures taken from the same decoded pixels (``None`` if unreadable)."""
    try:
        im = load_image(path, **(decode or {}))
        quality = _measure(im, path) if measure else None
        scale = min(tile / im.width, tile / im.height)
        size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
        if scale < 1:  # large images: shrink by integer steps first (fast), then LANCZOS
            im.thumbnail(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        else:  # small images (MedNIST is 64 px) fill the tile too
            im = im.resize(size, Image.Resampling.LANCZOS)
        out = np.zeros((tile, tile, 3), np.uint8)
        arr = np.asarray(im.convert("RGB"))
        h, w = arr.shape[:2]
        y0, x0 = (tile - h) // 2, (tile - w) // 2
        out[y0 : y0 + h, x0 : x0 + w] = arr
        return out, None, quality
    except Exception as exc:  # noqa: BLE001 - any undecodable file gets a grey tile, never a crash
        return np.full((tile, tile, 3), FAILED_GREY, np.uint8), f"{type(exc).__name__}: {exc}", None


def _measure(im: Image.Image, path: str) -> dict | None:
    """The quality measures of a decoded image; a failure is logged, never changes its tile."""
    try:
        return pp.image_quality(im)
    except Exception as exc:  # noqa: BLE001 - a measure must not turn a readable image grey
        log.warning("quality of %s: not measured (%s: %s)", path, type(exc).__name__, exc)
        return None


def make_thumbnails(
    manifest: pd.DataFrame,
    out_dir: str | os.PathLike,
    *,
    decode: dict | None = None,
    tile: int = TILE,
    cols: int = COLS,
    rows: int = ROWS,
    quality: int = QUALITY,
    threads: int = 1,
    quality_table: str | os.PathLike | None = None,
) -> Thumbnails:
    """Render every manifest image (``id``, ``path``) into sprite sheets under ``out_dir``.

    With ``quality_table`` (a path), each image's pixel measures
    (:func:`medembed.pp.image_quality`) are taken from the pixels decoded for its tile and
    written there (:func:`medembed.pp.quality_table`, atomically, after the sheets):
    one row per readable image, in manifest order; unreadable images are absent.
    ``quality`` is the JPEG quality of the sheets.

    Images are decoded with the dataset's ``decode`` settings (the manifest's ``decode``
    params) in ``threads`` threads (Pillow releases the GIL while decoding and resizing).
    An unreadable image gets a grey tile; it is logged and counted (``n_failed``). The
    folder is written whole or not at all.
    """
    for name, value in (("tile", tile), ("cols", cols), ("rows", rows), ("threads", threads)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"make_thumbnails: {name}={value!r} must be a positive integer")
    if not {"id", "path"} <= set(manifest.columns):
        raise ValueError("make_thumbnails: the manifest needs columns 'id' and 'path'")
    ids = manifest["id"].astype(str).to_numpy()
    if len(set(ids)) != len(ids):
        raise ValueError("make_thumbnails: duplicated ids in the manifest")
    paths = manifest["path"].astype(str).tolist()
    per_sheet = cols * rows
    rows_out, failed, measures = [], [], []
    measure = quality_table is not None
    with atomic_dir(out_dir) as tmp, ThreadPoolExecutor(max(1, threads)) as pool, tqdm(
        total=len(paths), desc="thumbnails", mininterval=2
    ) as bar:
        for s, start in enumerate(range(0, len(paths), per_sheet)):
            chunk = paths[start : start + per_sheet]
            tiles = list(pool.map(lambda p: _tile_and_quality(p, tile, decode, measure), chunk))
            used_rows = -(-len(chunk) // cols)
            sheet = np.zeros((used_rows * tile, cols * tile, 3), np.uint8)
            name = f"sheet_{s:04d}.jpg"
            for j, (arr, err, q) in enumerate(tiles):
                i = start + j
                x, y = (j % cols) * tile, (j // cols) * tile
                sheet[y : y + tile, x : x + tile] = arr
                if err is not None:
                    log.warning("thumbnail of %s: unreadable (%s); grey tile", paths[i], err)
                    failed.append(ids[i])
                elif q is not None:
                    measures.append((ids[i], q))
                rows_out.append((ids[i], name, x, y, err is None))
            Image.fromarray(sheet).save(tmp / name, "JPEG", quality=quality, optimize=True)
            bar.update(len(chunk))
        index = pd.DataFrame(rows_out, columns=["id", "sheet", "x", "y", "ok"])
        params = {"tile": tile, "cols": cols, "rows": rows, "n": len(ids),
                  "n_failed": len(failed), "format": "jpeg", "quality": quality}
        io.write_table(tmp / INDEX, index, params=params)
    if measure:
        io.write_table(quality_table, pp.quality_table(measures),
                       params={"n": len(ids), "n_measured": len(measures)})
    if failed:
        log.warning("thumbnails: %d of %d images unreadable (grey tiles)", len(failed), len(ids))
    log.info("thumbnails: %d images in %d sheet(s) of %dx%d tiles of %d px",
             len(ids), -(-len(ids) // per_sheet), cols, rows, tile)
    return read_thumbnails(out_dir)

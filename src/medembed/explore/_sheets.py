"""Reading a thumbnail folder (see :mod:`._thumbs`): where each id's tile is, and the tile.

Separate from the renderer so that code reading thumbnails (the explorer, the report) does
not depend on the image decoders: editing those reruns the thumbnails, not their readers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .. import io

INDEX = "index.parquet"


@dataclass
class Thumbnails:
    """A thumbnail folder read back: where each id's tile is."""

    root: Path
    index: pd.DataFrame  # id, sheet, x, y, ok
    tile: int
    cols: int
    rows: int
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def sheets(self) -> list[str]:
        return list(dict.fromkeys(self.index["sheet"]))

    def locate(self, ids: Sequence[str]) -> pd.DataFrame:
        """Rows of ``index`` for ``ids`` in their order (NaN where an id has no tile)."""
        rows = pd.Index(self.index["id"].to_numpy(dtype=object), dtype=object).get_indexer(
            pd.Index(np.asarray(ids).astype(str), dtype=object))
        out = self.index.reindex(rows).reset_index(drop=True)  # row -1 -> NaN
        out["id"] = np.asarray(ids).astype(str)
        return out

    def image(self, id_: str) -> Image.Image:
        """One thumbnail as a PIL image (``tile`` x ``tile`` RGB); sheets are decoded once."""
        row = self.index.loc[self.index["id"] == str(id_)]
        if row.empty:
            raise KeyError(f"no thumbnail for id {id_!r}")
        r = row.iloc[0]
        x, y = int(r["x"]), int(r["y"])
        return self._sheet(r["sheet"]).crop((x, y, x + self.tile, y + self.tile))

    def _sheet(self, name: str) -> Image.Image:
        if name not in self._cache:
            if len(self._cache) >= 8:
                self._cache.pop(next(iter(self._cache)))
            with Image.open(self.root / name) as sheet:
                self._cache[name] = sheet.convert("RGB")
        return self._cache[name]


def read_thumbnails(path: str | os.PathLike) -> Thumbnails:
    """Read a thumbnail folder written by :func:`make_thumbnails`."""
    root = Path(path)
    index = io.read_table(root / INDEX)
    params = io.read_table_params(root / INDEX)
    index["id"] = index["id"].astype(str)
    return Thumbnails(root, index, int(params["tile"]), int(params["cols"]), int(params["rows"]))

"""File formats of the workflow, all written atomically.

Every writer goes through :func:`atomic_path`: the file is written under a
temporary name in the destination directory and ``os.replace``-d into place, so a
killed job never leaves a file that looks complete.

Formats:
- per-sample tables (manifest, cluster labels, outlier scores): Parquet with an
  ``id`` column; the producing parameters are stored in the schema metadata.
- arrays (embeddings, 2-D maps): ``.npz`` holding ``X`` (float32), ``ids`` and
  ``params`` (JSON), so ids always travel with the rows they label.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

_PARAMS_KEY = b"medembed.params"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        # mkstemp creates 0600; results are shared, so give them the mode a plain open()
        # would (0666 less the umask: group-readable under the usual 022 or 002).
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _umask() -> int:
    """The process umask (read once per process: os.umask can only be read by setting it,
    which would race with threads creating files)."""
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return _UMASK


_UMASK: int | None = None


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_jsonable(obj), indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_table(path: str | os.PathLike, df: pd.DataFrame, params: Mapping | None = None) -> None:
    """Write ``df`` as Parquet (or TSV when ``path`` ends in .tsv), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".tsv":
            df.to_csv(tmp, sep="\t", index=False)
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(df, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[_PARAMS_KEY] = json.dumps(_jsonable(params or {}), sort_keys=True).encode()
        pq.write_table(table.replace_schema_metadata(meta), tmp)


#: TSV columns holding identifiers, read back as text: type inference would turn an image id
#: "000123" into 123, an image named "NA" into NaN and a shard key of decimal digits (1 in
#: ~1,850 keys; seen on the hostile test corpus) into an integer that matches no shard
TEXT_COLUMNS = frozenset({"id", "shard", "path", "split", "other_id", "medoid_id", "detail", "evidence"})


def _is_text_column(name: str) -> bool:
    return name in TEXT_COLUMNS or name.startswith("id_")


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """A table written by :func:`write_table`; in a TSV, identifier columns
    (:data:`TEXT_COLUMNS`, ``id_*``) stay strings and only empty cells are missing."""
    path = Path(path)
    if path.suffix != ".tsv":
        return pd.read_parquet(path)
    df = pd.read_csv(path, sep="\t")
    text = [c for c in df.columns if _is_text_column(str(c))]
    if text:
        raw = pd.read_csv(path, sep="\t", usecols=text, dtype=str, keep_default_na=False, na_values=[""])
        for c in text:
            df[c] = raw[c]
    return df


def read_table_params(path: str | os.PathLike) -> dict:
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta.get(_PARAMS_KEY, b"{}"))


@dataclass
class Array:
    """Rows of ``X`` labelled by ``ids`` (manifest order), with the producing params."""

    X: np.ndarray
    ids: np.ndarray
    params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.X) != len(self.ids):
            raise ValueError(f"{len(self.X)} rows but {len(self.ids)} ids")

    def rows(self, ids) -> np.ndarray:
        """The rows of ``X`` of ``ids``, in that order (a ValueError names a missing id)."""
        ids = np.asarray(ids).astype(str)
        mine = np.asarray(self.ids).astype(str)
        if len(ids) == len(mine) and (ids == mine).all():
            return np.asarray(self.X)
        pos = pd.Index(mine).get_indexer(ids)
        if (pos < 0).any():
            raise ValueError(f"{int((pos < 0).sum())} ids are not in the array, e.g. {ids[pos < 0][0]!r}")
        return np.asarray(self.X)[pos]


def write_array(
    path: str | os.PathLike, X: np.ndarray, ids, params: Mapping | None = None
) -> None:
    """Write ``X`` (as float32) with its ids and params to an ``.npz``, atomically."""
    arr = Array(np.asarray(X, dtype=np.float32), np.asarray(ids).astype(str), dict(params or {}))
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                X=arr.X,
                ids=arr.ids,
                params=np.array(json.dumps(_jsonable(arr.params), sort_keys=True)),
            )


def read_array(path: str | os.PathLike, *, mmap: bool = False) -> Array:
    """Read an array file; with ``mmap`` its rows stay on disk until used (read-only).

    A job that needs only some rows (a metric on a sample) then reads only those pages.
    """
    with np.load(path, allow_pickle=False) as z:
        ids, params = z["ids"], json.loads(str(z["params"]))
        X = _memmap_member(path, "X.npy") if mmap else None
        if X is None:
            X = z["X"]
    return Array(X, ids, params)


def _memmap_member(path: str | os.PathLike, member: str) -> np.ndarray | None:
    """Memory-map an uncompressed ``.npy`` member of an ``.npz`` (None if it is compressed)."""
    import struct
    import zipfile

    from ._npy import read_header

    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        local = fh.read(30)
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        fh.seek(info.header_offset + 30 + name_len + extra_len)
        shape, fortran, dtype = read_header(fh)
        offset = fh.tell()
    if dtype.hasobject:
        return None
    return np.memmap(path, dtype=dtype, mode="r", shape=shape, order="F" if fortran else "C", offset=offset)


def method_name(path: str | os.PathLike) -> str:
    """The method a result file belongs to: its file stem (``…/cluster/kmeans.parquet`` -> kmeans)."""
    return Path(path).name.split(".")[0]


def write_arrays(path: str | os.PathLike, arrays: Mapping[str, Any]) -> None:
    """Write named arrays (and strings) to one ``.npz``, atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})


def read_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}

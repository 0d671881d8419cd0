"""Reader for a folder of images plus a table of labels: the shape most datasets ship in.

CheXpert (``train.csv``: ``Path``, ``Sex``, ``Frontal/Lateral`` and 14 findings coded
1 / 0 / -1 / blank), NIH ChestX-ray14 (``Data_Entry_2017.csv``: ``Image Index``,
``Finding Labels`` = ``"Effusion|Infiltration"``, ``Patient ID``), ISIC's one-hot columns, and
the tables a hub download writes (:func:`~medembed.datasets._download.fetch_hub_table`).

The table
    ``.csv`` (delimiter sniffed on the first 64 KB with the sniffer pandas itself uses:
    comma, semicolon, tab or bar; a UTF-8 BOM and quoted fields, newlines included, are
    read), ``.tsv``, ``.parquet`` or ``.json`` (a list of records). Only empty cells are
    missing values: ``NA``, ``null`` and ``00001`` stay text in the identifier, path and
    label columns.

Rows
    ``path_column`` holds paths relative to ``root`` (default: the table's folder). A row
    whose path leaves ``root`` (``..``, an absolute path elsewhere, a link pointing out) is
    skipped for safety; a row whose file is not on disk is skipped as "listed in the table
    but not on disk" (``strict``: the run stops and names the first ten). Both are counted
    in ``skipped.tsv``. Existence is checked with one directory listing per folder, not one
    ``stat`` per row (a million rows validate in seconds). Images on disk that the table
    does not list are ignored and counted (``n_unlisted``).

Labels
    ``labels``: single-label columns. ``multilabel``: either a delimited column
    (``{column: "Finding Labels", sep: "|"}``) or coded columns (``{columns: [...]}`` with
    1 / 0 / -1 / blank; ``uncertain``: ``ignore`` (U-Ignore, the default: -1 is unknown),
    ``positive`` (U-Ones) or ``negative`` (U-Zeros); ``blank``: ``negative`` (the default:
    not mentioned means absent, as CheXpert is usually read) or ``ignore``). Each finding
    becomes a binary label column of ``"1"`` / ``"0"`` (None where unknown) named as the
    finding (``finding_<name>`` where that name is taken). Every column not named stays in
    the manifest as metadata.
"""

from __future__ import annotations

import csv
import logging
import os
import posixpath
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ._folder import SKIP_KEY
from ._images import IMAGE_EXTENSIONS

log = logging.getLogger(__name__)

TABLE_FORMATS = (".csv", ".tsv", ".txt", ".parquet", ".json")
UNCERTAIN_POLICIES = ("ignore", "positive", "negative")
BLANK_POLICIES = ("negative", "ignore")
_DELIMITERS = ",;\t|"
_SNIFF_BYTES = 1 << 16
_MAX_NAMED = 10
#: The skip reason of a listed file that is not on disk (``strict`` stops on these).
NOT_ON_DISK = "listed in the table but not on disk"
#: An image extension at the end of a path (any case): ids are paths without it.
_IMAGE_SUFFIX = re.compile(
    "(?i)(" + "|".join(re.escape(e) for e in sorted(IMAGE_EXTENSIONS, key=len, reverse=True)) + ")$"
)


class TableError(ValueError):
    """A table that cannot be used as given; the message names the table and the fix."""


# ----------------------------------------------------------------------------- reading


def _sniff_delimiter(path: Path) -> str:
    """The delimiter of a text table, found by :class:`csv.Sniffer` (what pandas' ``sep=None``
    runs) on the first 64 KB; a comma when the sample is one column."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        sample = fh.read(_SNIFF_BYTES)
    if len(sample) == _SNIFF_BYTES and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # whole lines only
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        return ","


def load_table(
    path: str | os.PathLike, text_columns: Sequence[str] = (), nrows: int | None = None
) -> pd.DataFrame:
    """Read a label table; ``text_columns`` are read as text (``00001`` stays ``00001``).

    Only empty cells are missing. ``nrows``: the first rows only (a parquet file then gives
    its columns, and as many empty rows as it has rows, up to ``nrows``, read from its
    footer). Raises :class:`TableError` for a missing, unreadable or empty table.
    """
    path = Path(path)
    if not path.is_file():
        raise TableError(f"table {path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in TABLE_FORMATS:
        raise TableError(f"table {path}: unknown format {suffix!r}; use one of {', '.join(TABLE_FORMATS)}")
    try:
        if suffix == ".parquet" and nrows is not None:
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(path)
            df = pd.DataFrame(index=range(min(nrows, pf.metadata.num_rows)), columns=pf.schema_arrow.names)
        elif suffix == ".parquet":
            df = pd.read_parquet(path)
        elif suffix == ".json":
            df = pd.read_json(path, orient="records", dtype=False)
        else:
            sep = "\t" if suffix == ".tsv" else _sniff_delimiter(path)
            df = pd.read_csv(
                path, sep=sep, encoding="utf-8-sig", dtype={c: str for c in text_columns},
                keep_default_na=False, na_values=[""], skipinitialspace=False, nrows=nrows,
            )
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise TableError(f"table {path}: unreadable ({type(exc).__name__}: {' '.join(str(exc).split())})") from exc
    df.columns = [str(c).strip() for c in df.columns]
    if df.empty:
        raise TableError(f"table {path}: no rows")
    return df


def _text(values: pd.Series) -> pd.Series:
    """Values as stripped text; empty and missing become None. Columns of text (every named
    column of a csv) go through pandas' vectorised string methods; numbers (parquet, json)
    print as integers where they are whole (an id 17 read as 17.0 stays ``17``)."""
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        s = values.astype("string").str.strip()
        s = s.mask(s == "")
        return s.astype(object).where(s.notna(), None)

    def one(v):
        if v is None or (isinstance(v, float) and v != v):
            return None
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        text = str(v).strip()
        return text or None

    return values.map(one).astype(object)


# ----------------------------------------------------------------------------- checks


def _require_columns(df: pd.DataFrame, table: Path, named: Mapping[str, Sequence[str]]) -> None:
    for key, cols in named.items():
        for c in cols:
            if c not in df.columns:
                raise TableError(
                    f"table {table}: {key} names column {c!r}, which it does not have; "
                    f"columns: {list(df.columns)}"
                )


def _named_columns(path_column, id_column, labels, ml, patient_column, split_column) -> dict[str, list[str]]:
    """The columns the config names, by config key."""
    return {
        "path_column": [path_column],
        "id_column": [id_column] if id_column else [],
        "labels": list(labels or []),
        "patient_column": [patient_column] if patient_column else [],
        "split_column": [split_column] if split_column else [],
        "multilabel.column": [ml["column"]] if "column" in (ml or {}) else [],
        "multilabel.columns": list((ml or {}).get("columns") or []),
    }


def check_table(
    table: str | os.PathLike,
    *,
    path_column: str = "path",
    id_column: str | None = None,
    labels: Sequence[str] = (),
    multilabel: Mapping | None = None,
    patient_column: str | None = None,
    split_column: str | None = None,
    **_other,
) -> None:
    """The checks that need only the table's head, for the workflow's start: the table
    exists and is readable, has rows, and has every column the config names. (Duplicates,
    paths and files are checked when the manifest is made, over every row.)"""
    named = _named_columns(path_column, id_column, labels, multilabel, patient_column, split_column)
    df = load_table(table, text_columns=[c for cols in named.values() for c in cols], nrows=5)
    _require_columns(df, Path(table), named)


def _first_duplicate(values: pd.Series) -> str | None:
    dup = values[values.duplicated() & values.notna()]
    return None if dup.empty else str(dup.iloc[0])


def _safe_relative(p: str, root_abs: str) -> str | None:
    """``p`` (relative to root, or absolute) as a normalised POSIX path relative to root;
    None when it leaves root."""
    if "\\" in p and "/" not in p:
        p = p.replace("\\", "/")  # a table written on Windows
    if posixpath.isabs(p) or os.path.isabs(p):
        rel = os.path.relpath(os.path.normpath(p), root_abs)
        rel = rel.replace(os.sep, "/")
    else:
        rel = posixpath.normpath(p)
    if rel == "." or rel == ".." or rel.startswith("../"):
        return None
    return rel


#: Paths that need :func:`_safe_relative`: absolute, with ``.``/``..`` segments, doubled or
#: trailing slashes, or backslashes. The others are already normalised and inside root.
_NOT_PLAIN = r"^/|^\.{1,2}(?:/|$)|/\.{1,2}(?:/|$)|//|/$|\\"


def relative_paths(paths: pd.Series, root_abs: str) -> list[str | None]:
    """:func:`_safe_relative` of every path; the plain ones (nearly all) pass untouched."""
    odd = paths.str.contains(_NOT_PLAIN, regex=True).to_numpy()
    out = paths.tolist()
    for i in odd.nonzero()[0]:
        out[i] = _safe_relative(out[i], root_abs)
    return out


def _on_disk(rels: Sequence[str], root: Path) -> tuple[dict[str, str | None], int]:
    """Per relative path: None if it is a file inside root, else the skip reason; and the
    number of image files in the listed folders that no path names.

    One ``os.scandir`` per distinct folder; only links are resolved (to keep a link that
    points outside root from being read).
    """
    root_real = os.path.realpath(root)
    by_dir: dict[str, list[str]] = defaultdict(list)
    for rel in rels:
        d, _, name = rel.rpartition("/")
        by_dir[d].append(name)
    problems: dict[str, str | None] = {}
    unlisted = 0
    exts = {e.lower() for e in IMAGE_EXTENSIONS}
    for d, names in by_dir.items():
        folder = root / d if d else root
        entries = {}
        if d and os.path.commonpath([os.path.realpath(folder), root_real]) != root_real:
            for name in names:
                problems[f"{d}/{name}"] = "folder links out of the root folder: skipped for safety"
            continue
        try:
            with os.scandir(folder) as it:
                for e in it:
                    entries[e.name] = e
        except (FileNotFoundError, NotADirectoryError):
            pass
        except OSError as exc:
            log.warning("cannot list %s: %s", folder, exc)
        wanted = set(names)
        for name in names:
            rel = f"{d}/{name}" if d else name
            e = entries.get(name)
            if e is None:
                problems[rel] = NOT_ON_DISK
            elif e.is_symlink():
                real = os.path.realpath(e.path)
                if not os.path.exists(real):
                    problems[rel] = f"broken link (target {os.readlink(e.path)!r} does not exist)"
                elif os.path.commonpath([real, root_real]) != root_real:
                    problems[rel] = "link leaves the root folder: skipped for safety"
                else:
                    problems[rel] = None
            elif e.is_dir():
                problems[rel] = "a folder, not an image file"
            else:
                problems[rel] = None
        unlisted += sum(
            1 for n, e in entries.items()
            if n not in wanted and not n.startswith(".") and os.path.splitext(n)[1].lower() in exts
        )
    return problems, unlisted


# ----------------------------------------------------------------------------- findings


def _coded(v, uncertain: str, blank: str) -> str | None:
    """CheXpert-style code → "1" / "0" / None."""
    if v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip()):
        return "0" if blank == "negative" else None
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise TableError(f"coded finding value {v!r} is not 1, 0, -1 or blank") from None
    if x == 1:
        return "1"
    if x == 0:
        return "0"
    if x == -1:
        return {"ignore": None, "positive": "1", "negative": "0"}[uncertain]
    raise TableError(f"coded finding value {v!r} is not 1, 0, -1 or blank")


def findings_columns(df: pd.DataFrame, spec: Mapping, table: Path, taken: set[str]) -> tuple[pd.DataFrame, list[str]]:
    """The binary finding columns of ``spec`` (see the module docstring) and their names."""
    spec = dict(spec)
    uncertain = spec.get("uncertain", "ignore")
    blank = spec.get("blank", "negative")
    if uncertain not in UNCERTAIN_POLICIES:
        raise TableError(f"multilabel.uncertain={uncertain!r}: use one of {', '.join(UNCERTAIN_POLICIES)}")
    if blank not in BLANK_POLICIES:
        raise TableError(f"multilabel.blank={blank!r}: use one of {', '.join(BLANK_POLICIES)}")
    if ("column" in spec) == ("columns" in spec):
        raise TableError("multilabel: give either column (a delimited column) or columns (coded columns)")
    out = {}
    if "columns" in spec:
        for c in spec["columns"]:
            try:
                out[c] = df[c].map(lambda v: _coded(v, uncertain, blank)).astype(object)
            except TableError as exc:
                raise TableError(f"table {table}: column {c!r}: {exc}") from None
        return pd.DataFrame(out, index=df.index), list(spec["columns"])
    col, sep = spec["column"], spec.get("sep", "|")
    cells = _text(df[col])
    unknown = cells.isna().to_numpy()
    tidy = cells.fillna("").astype(str).str.replace(rf"\s*{re.escape(sep)}\s*", sep, regex=True)
    dummies = tidy.str.strip(sep + " ").str.get_dummies(sep=sep)
    dummies = dummies[sorted(c for c in dummies.columns if c.strip())]
    if dummies.empty:
        raise TableError(f"table {table}: multilabel column {col!r} holds no finding")
    renamed = []
    for name in dummies.columns:
        cname = f"finding_{name}" if name in taken else name
        v = np.where(dummies[name].to_numpy() > 0, "1", "0").astype(object)
        v[unknown] = None
        out[cname] = v
        renamed.append(cname)
    return pd.DataFrame(out, index=df.index), renamed


# ----------------------------------------------------------------------------- reader


def read_table_dataset(
    path: str | os.PathLike | None = None,
    *,
    table: str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
    path_column: str = "path",
    id_column: str | None = None,
    labels: Sequence[str] = (),
    multilabel: Mapping | None = None,
    patient_column: str | None = None,
    split_column: str | None = None,
    strict: bool = False,
) -> tuple[list[dict], list[str], dict]:
    """Candidate records of the images a table lists: ``(records, label_columns, info)``.

    ``table`` (or ``path``, when it names a file) is the table; ``root`` the folder its
    paths are relative to (default: the table's folder, or ``path`` when that is a folder).
    ``info`` holds ``multilabel`` (``{"source", "findings"}`` or None), ``patient_column``,
    ``split_column``, ``n_rows`` and ``n_unlisted`` (image files in the listed folders the
    table does not name). See the module docstring for the rules.
    """
    if table is None:
        if path is None or Path(path).is_dir():
            raise TableError("reader table needs `table:` (the label table's path)")
        table = path
    table = Path(table)
    if root is None:
        root = path if path is not None and Path(path).is_dir() else table.parent
    root = Path(root)
    if not root.is_dir():
        raise TableError(f"table {table}: root folder {root} does not exist")
    labels = list(labels or [])
    ml = dict(multilabel or {})
    named = _named_columns(path_column, id_column, labels, ml, patient_column, split_column)
    text_cols = [c for cols in named.values() for c in cols]
    df = load_table(table, text_columns=text_cols)
    _require_columns(df, table, named)
    n_rows = len(df)

    paths = _text(df[path_column])
    if paths.isna().any():
        row = int(paths.isna().to_numpy().argmax())
        raise TableError(f"table {table}: row {row + 2} has an empty {path_column!r}")
    dup = _first_duplicate(paths)
    if dup is not None:
        raise TableError(f"table {table}: path {dup!r} is listed twice (column {path_column!r})")
    root_abs = os.path.abspath(root)
    rels = relative_paths(paths.astype(str), root_abs)
    ok_rels = [r for r in rels if r is not None]
    dup = _first_duplicate(pd.Series(ok_rels, dtype=object))
    if dup is not None:
        raise TableError(f"table {table}: two rows name the same file {dup!r}")
    if id_column:
        ids = _text(df[id_column])
        if ids.isna().any():
            raise TableError(f"table {table}: row {int(ids.isna().to_numpy().argmax()) + 2} has an empty {id_column!r}")
    else:
        where = pd.Series(
            [r if r is not None else p.replace("\\", "/").lstrip("/") for r, p in zip(rels, paths)],
            dtype="string",
        )
        ids = where.str.replace(_IMAGE_SUFFIX, "", regex=True).astype(object)
    dup = _first_duplicate(ids)
    if dup is not None:
        raise TableError(f"table {table}: id {dup!r} is used twice" + (f" (column {id_column!r})" if id_column else
                         " (paths that differ only in their extension; set id_column)"))

    problems, n_unlisted = _on_disk(ok_rels, root)
    missing = [r for r in ok_rels if problems[r] == NOT_ON_DISK]
    if strict and missing:
        raise TableError(
            f"table {table}: {len(missing)} listed file(s) not on disk under {root} (strict: true): "
            + ", ".join(missing[:_MAX_NAMED]) + (" …" if len(missing) > _MAX_NAMED else "")
        )

    meta = df.drop(columns=[c for c in [path_column, id_column] if c], errors="ignore")
    label_frame = pd.DataFrame({c: _text(df[c]) for c in labels}, index=df.index)
    for c in labels:
        values = label_frame[c].dropna().unique()
        if len(values) < 2:
            log.warning("table %s: label column %r has %s", table, c,
                        f"the single value {values[0]!r}" if len(values) else "no value")
    findings, finding_names, ml_info = None, [], None
    if ml:
        taken = set(meta.columns) - set(ml.get("columns") or [])
        findings, finding_names = findings_columns(df, ml, table, taken)
        ml_info = {"source": ml.get("column") or "columns", "findings": finding_names}
    keep_meta = [c for c in meta.columns if c not in labels and c not in finding_names]
    columns = {"id": ids.to_numpy(), "path": None}
    columns.update({c: label_frame[c].to_numpy() for c in labels})
    if findings is not None:
        columns.update({c: findings[c].to_numpy() for c in finding_names})
    for c in keep_meta:
        col = meta[c]
        if c in (patient_column, split_column) or col.dtype == object:
            col = _text(col)
        columns[c] = col.astype(object).where(col.notna(), None).to_numpy()
    prefix = os.path.join(str(root), "")
    columns["path"] = [prefix + r if r is not None else p for r, p in zip(rels, paths)]
    names = list(columns)
    records = [dict(zip(names, row)) for row in zip(*columns.values())]
    outside = f"path leaves the root folder {root}: skipped for safety"
    for rec, rel in zip(records, rels):
        problem = outside if rel is None else problems[rel]
        if problem is not None:
            rec[SKIP_KEY] = problem
    n_missing = len(missing)
    n_outside = sum(r is None for r in rels)
    if n_missing or n_outside:
        log.warning("table %s: %d row(s) skipped: %d not on disk, %d outside %s",
                    table, n_missing + n_outside, n_missing, n_outside, root)
    if n_unlisted:
        log.info("table %s: %d image file(s) on disk are not in the table (ignored)", table, n_unlisted)
    info = {
        "multilabel": ml_info,
        "patient_column": patient_column,
        "split_column": split_column,
        "n_rows": n_rows,
        "n_unlisted": n_unlisted,
    }
    return records, labels + finding_names, info

"""The explorer: one self-contained folder per dataset x encoder x feature set.

``index.html`` (page, style and script inline) + ``data.js`` (every array, base64 in one
``<script src>``) + ``thumbs/`` (the dataset's sprite sheets, hard-linked). It opens from
file:// with no server and no network: no ES modules, no ``fetch``.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io
from ._files import atomic_dir
from ._page import render_page
from ._palette import NOISE, categorical_palette, score_ramp
from ._search import cluster_names as _cluster_names
from ._search import search_data
from ._sheets import Thumbnails, read_thumbnails

log = logging.getLogger(__name__)

#: Neighbours per point kept in the page (the shared graph may hold more).
N_NEIGHBORS_SHOWN = 12
_PALETTE_MAX = 256
_MISSING = "(missing)"


def _b64(arr: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()).decode("ascii")


def _uint_for(n: int) -> tuple[type, str]:
    if n < 2**8:
        return np.uint8, "u8"
    if n < 2**16:
        return np.uint16, "u16"
    return np.uint32, "u32"


def _index(values) -> pd.Index:
    """An object-dtype index of ids as strings (hash lookups; pandas' string dtype is slow here)."""
    return pd.Index(np.asarray(values).astype(str), dtype=object)


def _by_id(table: pd.DataFrame, ids: np.ndarray, column: str, what: str) -> pd.Series:
    """``table[column]`` in the order of ``ids`` (every id must be there; first row per id)."""
    if "id" not in table or column not in table:
        raise ValueError(f"explorer: {what} needs columns 'id' and {column!r}")
    index = _index(table["id"])
    first = ~index.duplicated()
    rows = index[first].get_indexer(_index(ids))
    missing = rows < 0
    if missing.any():
        raise ValueError(f"explorer: {what} lacks {int(missing.sum())} of the map's ids "
                         f"(e.g. {ids[missing][0]!r})")
    return table[column][first].reset_index(drop=True).iloc[rows].reset_index(drop=True)


def _category(name: str, group: str, values: pd.Series, *, noise=None, missing_name: str = _MISSING) -> dict:
    """A categorical colouring: codes per point, category names, colours (grey: noise/missing)."""
    missing = values.isna().to_numpy()
    present = values[~missing]
    try:
        cats = sorted(present.unique().tolist())
    except TypeError:
        cats = sorted(present.unique().tolist(), key=str)
    grey = [noise] if noise is not None and noise in cats else []
    cats = grey + [c for c in cats if c not in grey]
    names = ["noise" if c in grey else _fmt(c) for c in cats]
    if missing.any():
        cats.append(None)
        names.append(missing_name)
    lookup = {c: k for k, c in enumerate(cats) if c is not None}
    codes = np.array([lookup[v] if not m else len(cats) - 1 for v, m in zip(values.tolist(), missing)])
    n_colored = len(cats) - len(grey) - int(missing.any())
    pal = categorical_palette(max(1, min(n_colored, _PALETTE_MAX)))
    colors, j = [], 0
    for c in cats:
        if c is None or c in grey:
            colors.append(NOISE)
        else:
            colors.append(pal[j % len(pal)])
            j += 1
    dtype, code = _uint_for(len(cats))
    counts = np.bincount(codes, minlength=len(cats)) if len(codes) else np.zeros(len(cats), int)
    return {
        "name": name, "group": group, "kind": "category", "dtype": code,
        "codes": _b64(codes.astype(dtype)), "cats": names, "colors": colors,
        "grey": [k for k, c in enumerate(cats) if c is None or c in grey],
        "counts": counts.tolist(),
    }


#: A finding's colours: absent pale, present strong (missing: the noise grey).
FINDING_COLORS = ("#c6d4e1", "#d62728")


def _finding(name: str, values: pd.Series) -> dict:
    """A binary finding (manifest "1" / "0", None unknown) as a colouring of its own group:
    ``absent`` pale, ``present`` strong, unknown grey (drawn beneath)."""
    v = pd.to_numeric(values.astype(object).where(values.notna(), None), errors="coerce")
    codes = np.where(v == 1, 1, np.where(v == 0, 0, 2)).astype(np.uint8)
    cats, colors = ["absent", "present"], list(FINDING_COLORS)
    grey = []
    if (codes == 2).any():
        cats.append("(unknown)")
        colors.append(NOISE)
        grey = [2]
    return {
        "name": name, "group": "finding", "kind": "category", "dtype": "u8", "codes": _b64(codes),
        "cats": cats, "colors": colors, "grey": grey,
        "counts": np.bincount(codes, minlength=len(cats)).tolist(),
    }


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _score(name: str, group: str, values: pd.Series) -> dict:
    """A continuous colouring: the raw score (hover) and its percentile 0..255 (colour)."""
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    finite = np.isfinite(v)
    pct = np.zeros(len(v), np.uint8)
    if finite.any():
        r = pd.Series(v[finite]).rank(method="average").to_numpy()
        pct[finite] = np.round((r - 1) / max(finite.sum() - 1, 1) * 254).astype(np.uint8) + 1
    lo, hi = (float(np.nanmin(v)), float(np.nanmax(v))) if finite.any() else (0.0, 0.0)
    return {"name": name, "group": group, "kind": "score", "values": _b64(v.astype(np.float32)),
            "pct": _b64(pct), "min": lo, "max": hi}


#: The issue types of ``issues.tsv`` (the producer's vocabulary), in the order the page
#: lists them; a type not listed here still shows, after these.
ISSUE_TYPES = ("label_error", "outlier", "near_duplicate", "split_leak", "unreadable",
               "image_quality", "confounded_cluster")
#: The columns of ``issues.tsv``: one row per (image, issue).
ISSUE_COLUMNS = ("id", "path", "issue", "detail", "score", "rank", "evidence", "other_id")
#: Filter names of the types (plural, for "Show: label errors (12)").
_ISSUE_PLURAL = {"label_error": "label errors", "outlier": "outliers", "near_duplicate": "near duplicates",
                 "split_leak": "split leaks", "unreadable": "unreadable", "image_quality": "image quality",
                 "confounded_cluster": "confounded clusters"}


def _text(values: pd.Series) -> list[str]:
    """Strings, with missing values (NaN, None, <NA>) as '' and whole floats as integers (a
    TSV column of numeric ids, with empty cells, reads back as floats: 12.0 is id "12")."""
    return ["" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else _fmt(v)
            for v in values.astype(object).tolist()]


def _issues(issues: pd.DataFrame, pos: pd.Series, *, have_filters: Sequence[str]) -> tuple[dict | None, list, list]:
    """The issue table (one row per image x issue) as ``(records, colourings, filters)``.

    Rows whose id is not a point (unreadable images have no embedding) are left out.
    ``records``: ``types`` (issue codes present), ``names``, ``ranked`` (rows per type in
    the whole table: "#rank of ranked"), ``rows``: one list per (point, issue),
    ``[point, type code, detail, score (4 decimals, None if missing), rank (None if missing),
    evidence, other point or -1]``, ordered by point, then score high to low. Only images with
    issues carry rows, so the page stays small for 100k images with a few issues each.
    Filters of types that already have one of their own (``have_filters``: outlier,
    near_duplicate, split_leak from the outlier and duplicate tables) are not repeated.
    """
    missing = [c for c in ("id", "issue", "score") if c not in issues]
    if missing:
        raise ValueError(f"explorer: the issue table lacks column(s) {missing} "
                         f"(expected {', '.join(ISSUE_COLUMNS)})")
    t = issues.reset_index(drop=True)
    issue = pd.Series(_text(t["issue"]))
    ranked = {k: int(v) for k, v in issue.value_counts().items()}
    point = pos.reindex(_index(t["id"])).to_numpy()
    on_map = ~np.isnan(point.astype(np.float64))
    if (~on_map).any():
        log.info("explorer: %d issue row(s) are of images not on the map (e.g. unreadable), left out",
                 int((~on_map).sum()))
    t, issue, point = t[on_map].reset_index(drop=True), issue[on_map].reset_index(drop=True), point[on_map].astype(np.int64)
    if not len(t):
        return None, [], []
    types = [k for k in ISSUE_TYPES if k in set(issue)] + sorted(set(issue) - set(ISSUE_TYPES))
    code = issue.map({k: c for c, k in enumerate(types)}).to_numpy()
    score = pd.to_numeric(t["score"], errors="coerce").to_numpy(dtype=np.float64)
    rank = pd.to_numeric(t["rank"], errors="coerce").to_numpy() if "rank" in t else np.full(len(t), np.nan)
    other = np.full(len(t), -1, np.int64)
    if "other_id" in t:
        oid = pd.Series(_text(t["other_id"]))
        found = pos.reindex(_index(oid)).to_numpy(dtype=np.float64)
        ok = (oid != "").to_numpy() & ~np.isnan(found)
        other[ok] = found[ok].astype(np.int64)
    detail = _text(t["detail"]) if "detail" in t else [""] * len(t)
    evidence = _text(t["evidence"]) if "evidence" in t else [""] * len(t)
    order = np.lexsort((-np.nan_to_num(score, nan=-1.0), point))
    rows = [[int(point[r]), int(code[r]), detail[r],
             None if np.isnan(score[r]) else round(float(score[r]), 4),
             None if np.isnan(rank[r]) else int(rank[r]), evidence[r], int(other[r])] for r in order]
    records = {"types": types, "names": [k.replace("_", " ") for k in types],
               "ranked": [ranked.get(k, 0) for k in types], "rows": rows}

    n = len(pos)
    frame = pd.DataFrame({"point": point, "type": issue, "score": score})
    per_image = frame.groupby("point")["score"].max()
    any_score = pd.Series(np.nan, index=range(n))
    any_score[per_image.index] = per_image.to_numpy()
    colorings = [dict(_score("issue score (any)", "issues", any_score), csv="issue_score_any")]
    filters = [{"key": "issue", "name": f"any issue ({frame['point'].nunique()})",
                "idx": sorted(frame["point"].unique().tolist())}]
    for k in types:
        of = frame[frame["type"] == k]
        s = pd.Series(np.nan, index=range(n))
        top = of.groupby("point")["score"].max()
        s[top.index] = top.to_numpy()
        colorings.append(dict(_score(f"issue score ({k.replace('_', ' ')})", "issues", s), csv=f"issue_score_{k}"))
        if k not in have_filters:
            idx = sorted(of["point"].unique().tolist())
            filters.append({"key": f"issue:{k}", "name": f"{_ISSUE_PLURAL.get(k, k.replace('_', ' '))} ({len(idx)})",
                            "idx": idx})
    return records, colorings, filters


def _map(name: str, arr, ids: np.ndarray) -> dict:
    """A 2-D map quantised to uint16 on one scale for both axes (no distortion)."""
    X = np.asarray(arr.X, dtype=np.float64)[:, :2]
    order = _index(arr.ids)
    if not order.equals(_index(ids)):
        if set(order) != set(ids):
            raise ValueError(f"explorer: map {name!r} covers other ids than the first map")
        X = X[order.get_indexer(_index(ids))]
    if not np.isfinite(X).all():
        raise ValueError(f"explorer: map {name!r} has non-finite coordinates")
    lo, hi = X.min(0), X.max(0)
    span = float(max((hi - lo).max(), 1e-12))
    q = np.round((X - lo) / span * 65535).astype(np.uint16)
    return {"name": name, "xy": _b64(q.ravel()), "extent": ((hi - lo) / span).tolist(),
            "origin": lo.tolist(), "span": span}


def _relpaths(paths: Sequence[str]) -> tuple[str, list[str]]:
    """(common folder prefix with trailing '/', the rest of each path)."""
    paths = [str(p) for p in paths]
    if not paths:
        return "", []
    prefix = os.path.commonprefix(paths)
    prefix = prefix[: prefix.rfind("/") + 1]
    return prefix, [p[len(prefix):] for p in paths]


def explorer_data(
    manifest: pd.DataFrame,
    maps: Mapping[str, io.Array],
    *,
    label_columns: Sequence[str] = (),
    findings: Sequence[str] = (),
    clusterings: Mapping[str, pd.DataFrame] | None = None,
    outliers: Mapping[str, pd.DataFrame] | None = None,
    consensus: pd.DataFrame | None = None,
    top: pd.DataFrame | None = None,
    duplicates: pd.DataFrame | None = None,
    issues: pd.DataFrame | None = None,
    neighbors=None,
    thumbnails: Thumbnails | None = None,
    thumbs_url: str = "thumbs/",
    title: str = "medembed explorer",
    default_map: str | None = None,
    default_color: str | None = None,
    n_neighbors_shown: int = N_NEIGHBORS_SHOWN,
    phrases: io.Array | None = None,
    image: io.Array | None = None,
    cluster_names: Mapping[str, pd.DataFrame] | None = None,
) -> dict:
    """Everything the page shows, as one JSON-able dict (arrays base64, little-endian).

    Points are the first map's ids; every other input is aligned to them by id. ``maps``:
    method -> array with ``.X`` (n x 2) and ``.ids``; ``clusterings``: method -> table
    (id, cluster; -1 = noise); ``outliers``: method -> table (id, score); ``consensus``:
    (id, score); ``top``: the consensus top-N (id, in rank order); ``duplicates``: (id, set
    and optionally crosses_split); ``neighbors``: the shared graph (``.indices`` n x k in
    its ``.ids`` order, ``.distances``); ``issues``: the issue table (``issues.tsv``: id,
    issue, detail, score, rank, evidence, other_id; one row per image x issue, see
    :data:`ISSUE_COLUMNS`), shown as filters ("any issue", "label errors", ...), score
    colourings (group "issues") and a list in the pinned point's card (the JSON's
    ``issues``, see :func:`_issues`); ``thumbnails``: the dataset's sprite sheets.
    ``findings``: the label columns that are multi-label findings (binary, see
    :func:`medembed.tl.finding_columns`): coloured absent / present in a menu group of their
    own, listed as one line (the present ones) in a point's card.

    Text search (``phrases`` and ``image`` together): ``phrases`` holds unit text vectors,
    ids = the phrases (:func:`medembed.embed.embed_phrases`), ``image`` the encoder's image
    embedding (whatever feature set the maps are of); every image's cosine to every phrase
    ships in the JSON's ``search`` (see :func:`medembed.explore._search.search_data`), and
    the page's search box colours the map and ranks the images by the chosen phrase.
    ``cluster_names``: clustering method -> its cluster cards (``cluster``, ``name``,
    ``medoid_id``); the legend names the clusters and the map labels each medoid.
    """
    if not maps:
        raise ValueError("explorer: at least one 2-D map is needed")
    clusterings, outliers = dict(clusterings or {}), dict(outliers or {})
    first = next(iter(maps.values()))
    ids = np.asarray(first.ids).astype(str)
    n = len(ids)
    if len(set(ids)) != n:
        raise ValueError("explorer: duplicated ids in the map")
    man = manifest
    paths = _by_id(man, ids, "path", "the manifest").astype(str).tolist()
    prefix, rel = _relpaths(paths)

    colorings = []
    findings = [f for f in findings if f in man]
    for col in label_columns:
        if col in man and col not in findings:
            colorings.append(_category(col, "label", _by_id(man, ids, col, f"label {col}")))
    for col in findings:
        colorings.append(_finding(col, _by_id(man, ids, col, f"finding {col}")))
    pos = pd.Series(np.arange(n), index=_index(ids))
    names = dict(cluster_names or {})
    for name, table in clusterings.items():
        colorings.append(_category(name, "cluster", _by_id(table, ids, "cluster", f"clustering {name}"), noise=-1))
        if name in names:
            colorings[-1].update(_cluster_names(colorings[-1], names.pop(name), pos, name))
    if names:
        log.warning("explorer: cluster names of %s, which are not among the clusterings", sorted(names))
    if consensus is not None:
        colorings.append(_score("consensus", "outlier", _by_id(consensus, ids, "score", "the consensus")))
    for name, table in outliers.items():
        colorings.append(_score(name, "outlier", _by_id(table, ids, "score", f"outliers {name}")))

    filters = []
    if top is not None:
        top_ids = _index(top["id"])
        filters.append({"key": "top", "name": f"outlier consensus top {len(top_ids)}",
                        "idx": pos.reindex(top_ids).dropna().astype(int).tolist()})
    if duplicates is not None:
        dup = duplicates.assign(id=_index(duplicates["id"]))
        dup = dup[pos.index.get_indexer(dup["id"]) >= 0]
        set_of = pd.Series(dup.drop_duplicates("id").set_index("id")["set"].reindex(_index(ids)).to_numpy())
        colorings.append(_category("near-duplicate set", "duplicates", set_of, missing_name="none"))
        n_sets = int(dup["set"].nunique())
        filters.append({"key": "dup", "name": f"near-duplicate sets ({n_sets})",
                        "idx": sorted(pos.index.get_indexer(dup["id"]).tolist())})
        if "crosses_split" in dup:
            leak = dup[dup["crosses_split"].astype(bool)]
            filters.append({"key": "leak", "name": f"split-leaking sets ({int(leak['set'].nunique())})",
                            "idx": sorted(pos.index.get_indexer(leak["id"]).tolist())})
        else:  # listed, so the reader learns why it is unavailable
            filters.append({"key": "leak", "name": "split-leaking sets (no split column configured)",
                            "idx": [], "disabled": True})

    iss = None
    if issues is not None:
        # types with a filter of their own already (a leak filter needs the split column)
        own = [k for k, has in (("outlier", top is not None), ("near_duplicate", duplicates is not None),
                                ("split_leak", duplicates is not None and "crosses_split" in duplicates)) if has]
        iss, issue_colorings, issue_filters = _issues(issues, pos, have_filters=own)
        colorings += issue_colorings
        filters += issue_filters

    nb = None
    if neighbors is not None:
        nb_ids = np.asarray(neighbors.ids if neighbors.ids is not None else ids).astype(str)
        if set(nb_ids) != set(ids):
            raise ValueError("explorer: the kNN graph covers other ids than the map")
        k = min(int(n_neighbors_shown), neighbors.indices.shape[1])
        to_point = pos.index.get_indexer(_index(nb_ids))  # graph row -> point index
        rows = _index(nb_ids).get_indexer(_index(ids))  # point -> graph row
        ind = to_point[np.asarray(neighbors.indices)[rows, :k]].astype(np.int32)
        dist = np.asarray(neighbors.distances, dtype=np.float64)[rows, :k]
        dmax = float(max(np.nanmax(dist), 1e-12)) if dist.size else 1.0
        nb = {"k": k, "idx": _b64(ind.ravel()), "metric": str(getattr(neighbors, "metric", "")),
              "dist": _b64(np.round(np.clip(dist / dmax, 0, 1) * 65535).astype(np.uint16).ravel()),
              "dmax": dmax}

    th = None
    if thumbnails is not None:
        loc = thumbnails.locate(ids)
        per = thumbnails.cols * thumbnails.rows
        sheets = thumbnails.sheets
        sheet_no = loc["sheet"].map({s: k for k, s in enumerate(sheets)})
        slot = (loc["y"] // thumbnails.tile) * thumbnails.cols + loc["x"] // thumbnails.tile
        tile_no = (sheet_no * per + slot).fillna(-1).astype(np.int64).to_numpy()
        if (tile_no < 0).any():
            log.warning("explorer: %d point(s) have no thumbnail", int((tile_no < 0).sum()))
        th = {"url": thumbs_url, "tile": thumbnails.tile, "cols": thumbnails.cols, "per": per,
              "sheets": sheets, "tiles": _b64(tile_no.astype(np.int32)),
              "failed": np.flatnonzero(~loc["ok"].fillna(False).astype(bool).to_numpy()).tolist()}

    search = None
    if (phrases is None) != (image is None):
        raise ValueError("explorer: the text search needs both the phrase and the image embedding")
    if phrases is not None and len(phrases.ids):
        search = search_data(phrases, image, ids)
        search.update(q=_b64(search["q"]), top=_b64(search["top"]))

    names = [c["name"] for c in colorings]
    if default_color not in names:
        default_color = next((c["name"] for c in colorings if c["group"] == "label"),
                             names[0] if names else None)
    if default_map not in maps:
        default_map = next(iter(maps))
    return {
        "title": title, "n": n, "ids": ids.tolist(), "prefix": prefix, "paths": rel,
        "maps": [_map(m, a, ids) for m, a in maps.items()], "default_map": default_map,
        "colorings": colorings, "default_color": default_color, "filters": filters,
        "issues": iss, "neighbors": nb, "thumbs": th, "ramp": score_ramp(), "noise": NOISE,
        "search": search,
    }


def build_explorer(
    out_dir: str | os.PathLike,
    manifest: pd.DataFrame,
    maps: Mapping[str, io.Array],
    *,
    thumbnails: Thumbnails | str | os.PathLike | None = None,
    **kw,
) -> dict:
    """Write the explorer folder ``out_dir`` (atomically); returns ``{n, files, bytes}``.

    Arguments as :func:`explorer_data`; ``thumbnails`` may be the folder written by
    :func:`medembed.explore.make_thumbnails`. Its sheets are hard-linked into
    ``out_dir/thumbs`` (copied across file systems), so the folder can be moved or zipped
    whole and still shows every image.
    """
    if thumbnails is not None and not isinstance(thumbnails, Thumbnails):
        thumbnails = read_thumbnails(thumbnails)
    data = explorer_data(manifest, maps, thumbnails=thumbnails, thumbs_url="thumbs/", **kw)
    with atomic_dir(out_dir) as tmp:
        (tmp / "data.js").write_text(
            "window.MEDEMBED_DATA = " + json.dumps(data, separators=(",", ":")) + ";\n")
        (tmp / "index.html").write_text(render_page(data["title"]))
        if thumbnails is not None:
            (tmp / "thumbs").mkdir()
            for sheet in thumbnails.sheets:
                _link_or_copy(thumbnails.root / sheet, tmp / "thumbs" / sheet)
        files = sorted(p for p in tmp.rglob("*") if p.is_file())
        size = sum(p.stat().st_size for p in files)
        n_files = len(files)
    log.info("explorer: %d points, %d files, %.1f MB in %s", data["n"], n_files, size / 1e6, out_dir)
    return {"n": data["n"], "files": n_files, "bytes": size}


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)

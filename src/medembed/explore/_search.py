"""The explorer's text search and cluster names: what the page needs of them, computed here.

Text search: every image's cosine to every phrase embedded by the encoder's text tower
(:func:`medembed.embed.embed_phrases`), computed in Python and shipped quantised, so the
page needs no model: per phrase, uint8 codes over its own [min, max] of the cosines, plus
the exact order of its closest images (the uint8 codes tie near the top).

Cluster names: a clustering's cluster cards (``cluster``, ``name``, ``medoid_id``) give its
legend rows a name and the map a label at each cluster's medoid.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io

log = logging.getLogger(__name__)

#: Closest images per phrase whose exact order the page gets (beyond them, the uint8 codes).
N_TOP_EXACT = 100
#: Columns a cluster-card table needs.
CARD_COLUMNS = ("cluster", "name", "medoid_id")


def _unit(X: np.ndarray, what: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    if (norms == 0).any() or not np.isfinite(X).all():
        raise ValueError(f"explorer: {what} has {int((norms == 0).sum())} all-zero or non-finite rows")
    return X / norms


def phrase_cosines(phrases: io.Array, image: io.Array, ids: Sequence[str]) -> np.ndarray:
    """Cosine of each image (``image`` rows, aligned to ``ids``) to each phrase: ``(n, k)``."""
    index = pd.Index(np.asarray(image.ids).astype(str), dtype=object)
    rows = index.get_indexer(pd.Index(np.asarray(ids).astype(str), dtype=object))
    if (rows < 0).any():
        raise ValueError(f"explorer: the image embedding lacks {int((rows < 0).sum())} of the map's ids "
                         f"(e.g. {np.asarray(ids)[rows < 0][0]!r})")
    X, P = _unit(np.asarray(image.X)[rows], "the image embedding"), _unit(phrases.X, "the phrase embedding")
    if X.shape[1] != P.shape[1]:
        raise ValueError(f"explorer: image embedding dim {X.shape[1]} but phrase embedding dim {P.shape[1]}: "
                         "embed both with the same encoder")
    return X @ P.T


def search_data(phrases: io.Array, image: io.Array, ids: Sequence[str], *, n_top: int = N_TOP_EXACT) -> dict:
    """The page's ``search``: ``phrases`` (texts), ``q`` (uint8, phrase-major: row j holds
    phrase j's codes of every point), ``lo`` / ``hi`` (cosine = lo + q / 255 (hi - lo)),
    ``top`` (int32, phrase-major: each phrase's ``k_top`` closest points, closest first).
    ``q`` and ``top`` are arrays; the caller encodes them for the page."""
    C = phrase_cosines(phrases, image, ids)  # n x k
    n, k = C.shape
    lo, hi = C.min(axis=0), C.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    q = np.round((C - lo) / span * 255).astype(np.uint8).T  # k x n
    k_top = int(min(n, n_top))
    top = np.argsort(-C, axis=0, kind="stable")[:k_top].T.astype(np.int32)  # k x k_top
    texts = [str(t) for t in np.asarray(phrases.ids).astype(str)]
    log.info("explorer: text search over %d phrases x %d images", k, n)
    return {"phrases": texts, "q": q.ravel(), "lo": lo.round(6).tolist(), "hi": hi.round(6).tolist(),
            "top": top.ravel(), "k_top": k_top}


def cluster_names(coloring: Mapping, cards: pd.DataFrame, pos: pd.Series, method: str) -> dict:
    """``names`` (one per category of ``coloring``, '' where a cluster has none) and
    ``medoids`` (``[point, category]`` of each named cluster whose medoid is on the map)."""
    missing = [c for c in CARD_COLUMNS if c not in cards]
    if missing:
        raise ValueError(f"explorer: the cluster cards of {method!r} lack column(s) {missing} "
                         f"(expected {', '.join(CARD_COLUMNS)})")
    cat_of = {name: k for k, name in enumerate(coloring["cats"])}
    names, medoids, unknown = [""] * len(coloring["cats"]), [], []
    for cluster, name, medoid in zip(cards["cluster"], cards["name"], cards["medoid_id"]):
        key = "noise" if _int(cluster) == -1 else str(_int(cluster))
        if key not in cat_of:
            unknown.append(key)
            continue
        k = cat_of[key]
        names[k] = "" if pd.isna(name) else str(name)
        point = pos.get(str(medoid)) if not pd.isna(medoid) else None
        if point is not None and names[k]:
            medoids.append([int(point), k])
    if unknown:
        log.warning("explorer: cluster cards of %r name clusters %s that %r does not have", method, unknown, method)
    return {"names": names, "medoids": medoids}


def _int(v) -> int:
    try:
        return int(float(v))
    except (TypeError, ValueError):
        raise ValueError(f"explorer: a cluster card's cluster {v!r} is not an integer") from None


def read_cards(paths: Sequence[str | os.PathLike]) -> dict[str, pd.DataFrame]:
    """Cluster cards by clustering method from card tables (TSV or Parquet, columns
    :data:`CARD_COLUMNS`): the method is a ``method`` column when the table has one, else
    the folder the workflow writes it in (``{ANALYSIS}/cards/<method>/cluster_cards.tsv``)."""
    out: dict[str, pd.DataFrame] = {}
    for p in paths:
        t = io.read_table(p)  # medoid_id is an id column: "000123" stays text
        if "method" in t:
            for method, part in t.groupby("method", sort=False):
                out[str(method)] = part.drop(columns="method").reset_index(drop=True)
        else:
            out[Path(p).parent.name] = t
    return out

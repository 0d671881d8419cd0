"""Consensus of several outlier detectors: mean of rank-normalised scores.

Scores of different detectors live on different scales (log-densities, distances,
LOF ratios, 0/1 noise flags), so each is first replaced by its rank, mapped to
[0, 1] (0 = least, 1 = most outlying; ties share their mean rank). The consensus
score is the mean over detectors; ``rank`` 1 is the most outlying sample and
``n_flagged`` counts the detectors that flagged it (``is_outlier``: a majority did).

Only detectors that pass the planted-outlier check weigh in by default
(``registry.CONSENSUS_OUTLIERS``: AUROC >= 0.9 on both planted sets of
benchmarks/outliers_planted.py). A detector that misses planted outliers would pull the
consensus towards ordinary images, as HDBSCAN's noise on PCA-50 did (AUROC 0.27).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..._registry import CONSENSUS_OUTLIERS
from .._base import NOT_APPLICABLE

log = logging.getLogger(__name__)


def _normalised_rank(scores: pd.Series) -> pd.Series:
    n = len(scores)
    if n == 1:
        return pd.Series([0.5], index=scores.index)
    return (scores.rank(method="average") - 1.0) / (n - 1.0)


def _weighed(tables: dict, detectors) -> dict:
    """The tables the consensus weighs (see :func:`consensus`)."""
    if detectors is None:
        return dict(tables)
    if detectors == "validated":
        left_out = [k for k in tables if k not in CONSENSUS_OUTLIERS]
        if left_out:
            log.info("consensus: left out %s (not validated for the consensus)", ", ".join(left_out))
        kept = {k: v for k, v in tables.items() if k in CONSENSUS_OUTLIERS}
        if tables and not kept:
            raise ValueError(
                f"consensus: none of the tables {sorted(tables)} is a validated detector; "
                f"validated: {sorted(CONSENSUS_OUTLIERS)} (detectors=None weighs every table)"
            )
        return kept
    if isinstance(detectors, str):
        raise ValueError(f"consensus: detectors={detectors!r} is invalid; allowed: 'validated', None or a list")
    for name in detectors:
        if name not in tables:
            raise ValueError(f"consensus: detectors names {name!r} but there is no such table; tables: {sorted(tables)}")
        if name not in CONSENSUS_OUTLIERS:
            raise ValueError(
                f"consensus: detector {name!r} is not validated for the consensus; "
                f"validated: {sorted(CONSENSUS_OUTLIERS)}"
            )
    return {k: v for k, v in tables.items() if k in detectors}


def consensus(tables: dict[str, pd.DataFrame], detectors="validated") -> pd.DataFrame:
    """One row per sample: ``id``, ``score``, ``is_outlier``, ``rank``, ``n_flagged``, one column per method.

    Each table needs ``id`` and ``score`` (higher = more outlying, as written by
    :func:`medembed.tl.outlier_table`); ``is_outlier`` is optional. All tables must
    cover the same ids. Rows keep the first table's order. Detectors that were not
    applicable (a ``not_applicable`` column) are left out; with none left every sample
    scores 0.

    ``detectors``: ``"validated"`` (default) weighs the tables named after a detector in
    ``registry.CONSENSUS_OUTLIERS`` and leaves the others out (logged); a list weighs
    those tables, each of which must be validated; None weighs every table (scores of
    your own, under names of your own).
    """
    tables = _weighed(tables, detectors)
    if tables and all(NOT_APPLICABLE in df for df in tables.values()):
        first = next(iter(tables.values()))
        n = len(first)
        return pd.DataFrame({"id": first["id"].astype(str).to_numpy(), "score": np.zeros(n),
                             "is_outlier": np.zeros(n, bool), "rank": np.arange(1, n + 1),
                             "n_flagged": np.zeros(n, int)})
    tables = {k: df for k, df in tables.items() if NOT_APPLICABLE not in df}
    if not tables:
        raise ValueError("consensus needs at least one outlier table; got none")
    names = list(tables)
    first = tables[names[0]]
    for name, df in tables.items():
        missing = {"id", "score"} - set(df.columns)
        if missing:
            raise ValueError(f"consensus: table {name!r} lacks column(s) {sorted(missing)}")
        if df["id"].duplicated().any():
            raise ValueError(f"consensus: table {name!r} has duplicated ids")
        if df["score"].isna().any():
            raise ValueError(f"consensus: table {name!r} has NaN scores")
    ids = first["id"].astype(str)
    out = pd.DataFrame({"id": ids.to_numpy()})
    flagged = np.zeros(len(out), dtype=int)
    for name in names:
        df = tables[name].assign(id=tables[name]["id"].astype(str)).set_index("id")
        if len(df) != len(ids) or not df.index.isin(ids).all():
            raise ValueError(
                f"consensus: table {name!r} has {len(df)} ids that do not match the "
                f"{len(ids)} ids of table {names[0]!r}"
            )
        df = df.loc[ids]
        out[name] = _normalised_rank(df["score"].astype(float)).to_numpy()
        if "is_outlier" in df:
            flagged += df["is_outlier"].astype(bool).to_numpy()
    out.insert(1, "score", out[names].mean(axis=1))
    out.insert(2, "n_flagged", flagged)
    out.insert(2, "is_outlier", flagged * 2 > len(names))
    out.insert(3, "rank", out["score"].rank(ascending=False, method="first").astype(int))
    return out


def top_outliers(table: pd.DataFrame, n: int = 20) -> pd.DataFrame:
    """The ``n`` most outlying rows of a consensus (or single-method) table, most outlying first."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"top_outliers: n={n!r} is invalid; allowed: int >= 1")
    if "rank" in table:
        return table.nsmallest(n, "rank").reset_index(drop=True)
    return table.nlargest(n, "score").reset_index(drop=True)

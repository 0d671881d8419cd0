"""Consensus of several outlier detectors: mean of rank-normalised scores.

Scores of different detectors live on different scales (log-densities, distances,
LOF ratios, 0/1 noise flags), so each is first replaced by its rank, mapped to
[0, 1] (0 = least, 1 = most outlying; ties share their mean rank). The consensus
score is the mean over detectors; ``rank`` 1 is the most outlying sample and
``n_flagged`` counts the detectors that flagged it (``is_outlier``: a majority did).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._base import NOT_APPLICABLE


def _normalised_rank(scores: pd.Series) -> pd.Series:
    n = len(scores)
    if n == 1:
        return pd.Series([0.5], index=scores.index)
    return (scores.rank(method="average") - 1.0) / (n - 1.0)


def consensus(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per sample: ``id``, ``score``, ``is_outlier``, ``rank``, ``n_flagged``, one column per method.

    Each table needs ``id`` and ``score`` (higher = more outlying, as written by
    :func:`medembed.tl.outlier_table`); ``is_outlier`` is optional. All tables must
    cover the same ids. Rows keep the first table's order. Detectors that were not
    applicable (a ``not_applicable`` column) are left out; with none left every sample
    scores 0.
    """
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

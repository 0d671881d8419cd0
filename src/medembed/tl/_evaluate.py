"""Score result tables against the manifest's labels (the evaluation rules' entry points)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import NOT_APPLICABLE
from ._metrics import internal_metrics, outlier_metrics, reduction_metrics, score_cluster_table


def not_applicable_rows(reason: str) -> pd.DataFrame:
    """The one metrics row of a result that does not exist: metric ``not_applicable``, no
    value, and the reason ("not applicable at n = ...") in ``note``."""
    return pd.DataFrame([{"label": "", "metric": NOT_APPLICABLE, "value": np.nan, "note": reason}])


def _reason(table: pd.DataFrame) -> str | None:
    return str(table[NOT_APPLICABLE].iloc[0]) if NOT_APPLICABLE in table and len(table) else None


def evaluate_outliers(scores: pd.DataFrame, manifest: pd.DataFrame, anomaly: dict | None) -> pd.DataFrame:
    """AUROC / AP of one detector against known anomalies (manifest ``column`` in ``values``).

    Without an anomaly definition the table is empty: nothing to score against. A
    not-applicable detector gets its :func:`not_applicable_rows`.
    """
    if _reason(scores):
        return not_applicable_rows(_reason(scores))
    if not anomaly:
        return pd.DataFrame(columns=["label", "metric", "value"])
    col = anomaly["column"]
    if col not in manifest:
        raise ValueError(f"anomaly column {col!r} is not in the manifest (columns: {list(manifest.columns)})")
    truth = manifest.set_index("id")[col].reindex(scores["id"].astype(str))
    is_anomaly = truth.isin(list(anomaly["values"])).to_numpy()
    rows = outlier_metrics(scores["score"].to_numpy(), is_anomaly)
    return pd.DataFrame([{**r, "label": col} for r in rows])


def evaluate_clustering(
    labels: pd.DataFrame, manifest: pd.DataFrame, label_columns, features=None, *, label_fraction=None,
    replicates: dict | None = None,
) -> pd.DataFrame:
    """Tidy metrics of one cluster table: against the manifest's label columns (joined on
    id) and, given the features (an :class:`medembed.io.Array`), silhouette and Davies-Bouldin.

    A semi-supervised model's table carries ``label_seen``: its external metrics are then
    computed on the held-out rows only (``scored_on`` = held-out, ``supervision`` =
    ``semi:<label_fraction>``), so no method is credited for echoing labels it was given.
    Every row says how it was scored. A not-applicable clustering (too few samples, no
    labels) gets its :func:`not_applicable_rows` instead.
    """
    if _reason(labels):
        return not_applicable_rows(_reason(labels))
    cols = ["id", "cluster"] + (["label_seen"] if "label_seen" in labels else [])
    merged = labels[cols].merge(manifest[["id", *label_columns]], on="id", how="left", validate="one_to_one")
    merged = merged.sort_values("id", kind="stable").reset_index(drop=True)
    known = labels["id"].isin(manifest["id"])
    if not known.all():
        raise ValueError(f"cluster table has {len(labels)} rows but only {int(known.sum())} ids match the manifest")
    rows = score_cluster_table(merged, merged[list(label_columns)], label_fraction=label_fraction,
                               replicates=replicates)
    supervision = {k: rows[0][k] for k in ("supervision", "scored_on")} if rows else {}
    if features is not None:
        ids = labels["id"].astype(str).to_numpy()
        X = features.X
        if len(features.ids) != len(ids) or (np.asarray(features.ids).astype(str) != ids).any():
            pos = pd.Index(features.ids).get_indexer(ids)
            if (pos < 0).any():
                raise ValueError("cluster table ids are missing from the features")
            X = X[pos]
        internal = internal_metrics(X, labels["cluster"].to_numpy())
        rows += [{**r, "supervision": supervision.get("supervision", "none"), "scored_on": "all"} for r in internal]
    return pd.DataFrame(rows)



#: The key columns in front of every row of ``metrics.tsv``.
METRICS_KEYS = ("kind", "method", "features", "params_hash")


def tag_metrics(table: pd.DataFrame, *, kind: str, method: str, features: str, params: dict) -> pd.DataFrame:
    """One result's metrics rows with the key columns of ``metrics.tsv`` in front: what was
    scored (``kind``, ``method``), on which feature set, and a hash of its parameters."""
    from ._api import params_hash

    keys = dict(zip(METRICS_KEYS, (kind, method, features, params_hash(params)), strict=True))
    return table.assign(**keys)[[*keys, *table.columns]]


def concat_metrics(tables) -> pd.DataFrame:
    """Rows of several results in one table (empty, with the key columns, for none)."""
    tables = list(tables)
    if not tables:
        return pd.DataFrame(columns=[*METRICS_KEYS, "label", "metric", "value"])
    return pd.concat(tables, ignore_index=True)


def evaluate_reduction(X, emb, *, knn=None) -> pd.DataFrame:
    """Tidy rows of :func:`reduction_metrics` for one map (an :class:`medembed.io.Array` with
    its params); a not-applicable map, or one of fewer than 4 samples, gets
    :func:`not_applicable_rows`. ``knn``: the shared graph of ``X`` (its neighbours are
    read, not searched)."""
    reason = (emb.params or {}).get(NOT_APPLICABLE)
    if reason is None and len(emb.X) < 4:
        reason = f"not applicable at n = {len(emb.X)}: map metrics need at least 4 samples"
    if reason:
        return not_applicable_rows(reason)
    return pd.DataFrame(reduction_metrics(X, emb.X, knn=knn))

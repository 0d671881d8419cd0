"""Score one result table against the manifest's labels (the evaluation rules' entry points)."""

from __future__ import annotations

import pandas as pd

from ._metrics import cluster_metrics, internal_metrics, outlier_metrics


def evaluate_outliers(scores: pd.DataFrame, manifest: pd.DataFrame, anomaly: dict | None) -> pd.DataFrame:
    """AUROC / AP of one detector against known anomalies (manifest ``column`` in ``values``).

    Without an anomaly definition the table is empty: nothing to score against.
    """
    if not anomaly:
        return pd.DataFrame(columns=["label", "metric", "value"])
    col = anomaly["column"]
    if col not in manifest:
        raise ValueError(f"anomaly column {col!r} is not in the manifest (columns: {list(manifest.columns)})")
    truth = manifest.set_index("id")[col].reindex(scores["id"].astype(str))
    is_anomaly = truth.isin(list(anomaly["values"])).to_numpy()
    rows = outlier_metrics(scores["score"].to_numpy(), is_anomaly)
    return pd.DataFrame([{**r, "label": col} for r in rows])


def evaluate_clustering(labels: pd.DataFrame, manifest: pd.DataFrame, label_columns, features=None) -> pd.DataFrame:
    """Tidy metrics of one cluster table: against the manifest's label columns (joined on
    id) and, given the features (an :class:`medembed.io.Array`), silhouette and Davies-Bouldin."""
    merged = manifest[["id", *label_columns]].merge(labels[["id", "cluster"]], on="id", how="inner")
    if len(merged) != len(labels):
        raise ValueError(
            f"cluster table has {len(labels)} rows but only {len(merged)} ids match the manifest"
        )
    rows = cluster_metrics(merged["cluster"].to_numpy(), merged[list(label_columns)])
    if features is not None:
        pos = pd.Index(features.ids).get_indexer(labels["id"].astype(str))
        if (pos < 0).any():
            raise ValueError("cluster table ids are missing from the features")
        rows += internal_metrics(features.X[pos], labels["cluster"].to_numpy())
    return pd.DataFrame(rows)

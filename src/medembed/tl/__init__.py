"""Tools: reductions, clusterings, outlier detection and metrics (scanpy's ``tl``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import registry
from ._base import NOISE, BaseClusterer, BaseOutlierDetector, BaseReducer
from ._duplicates import near_duplicates
from ._metrics import (
    cluster_metrics,
    internal_metrics,
    outlier_metrics,
    purity_score,
    reduction_metrics,
)
from .outliers._consensus import consensus, top_outliers

__all__ = [
    "NOISE",
    "BaseClusterer",
    "BaseOutlierDetector",
    "BaseReducer",
    "cluster_metrics",
    "consensus",
    "internal_metrics",
    "near_duplicates",
    "outlier_metrics",
    "params_hash",
    "reduction_metrics",
    "top_outliers",
    "cluster_table",
    "evaluate_clustering",
    "evaluate_outliers",
    "fit_clusterer",
    "supervision_labels",
    "make_clusterer",
    "make_outlier_detector",
    "make_reducer",
    "model_artifacts",
    "outlier_table",
    "purity_score",
]


def _make(stage: str, name: str, params: dict):
    cls = registry.load(stage, name)
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(f"{stage}.{name}: bad parameter ({exc})") from exc


def make_reducer(name: str, **params) -> BaseReducer:
    return _make("reduce", name, params)


def make_clusterer(name: str, **params) -> BaseClusterer:
    return _make("cluster", name, params)


def make_outlier_detector(name: str, **params) -> BaseOutlierDetector:
    return _make("outliers", name, params)


def cluster_table(ids, model: BaseClusterer) -> pd.DataFrame:
    """One row per sample: ``id``, ``cluster`` and the model's extra columns."""
    df = pd.DataFrame({"id": np.asarray(ids).astype(str), "cluster": model.labels_})
    for name, col in model.extra_columns_.items():
        df[name] = np.asarray(col)
    return df


_ARTIFACTS = (
    "linkage_", "cluster_centers_", "embeddings_", "partitions_", "weights_", "means_", "dasgupta_cost_",
)


def model_artifacts(model) -> dict:
    """What a fitted clusterer learned beyond its labels (tree, centres, embedding), by name.

    A hierarchical model also gives its tree in Newick (``newick``).
    """
    out = {name.rstrip("_"): np.asarray(getattr(model, name)) for name in _ARTIFACTS if hasattr(model, name)}
    if hasattr(model, "newick") and hasattr(model, "linkage_"):
        out["newick"] = np.array(model.newick())
    return out


def supervision_labels(manifest: pd.DataFrame, ids, column: str | None):
    """Labels of ``column`` for ``ids`` (None = unknown), or None when no column is given."""
    if column is None:
        return None
    if column not in manifest:
        raise ValueError(f"label column {column!r} is not in the manifest (columns: {list(manifest.columns)})")
    s = manifest.set_index("id")[column]
    return s.reindex(np.asarray(ids).astype(str)).astype(object).where(lambda v: v.notna(), None).to_numpy()


def fit_clusterer(model: BaseClusterer, X, labels=None, **fit_kw):
    """Fit ``model``; semi-supervised ones (``uses_labels``) get the known labels, None = unknown.

    ``fit_kw`` passes the shared graph (``knn=``) to methods that take it.
    """
    if getattr(model, "uses_labels", False):
        if labels is None:
            raise ValueError(f"{type(model).__name__} needs a label column: the dataset has none")
        return model.fit(X, labels, **fit_kw)
    return model.fit(X, **fit_kw)


def params_hash(params: dict) -> str:
    """Short stable hash of a method's parameters (for the tidy metrics table)."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:10]


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


def outlier_table(ids, model: BaseOutlierDetector) -> pd.DataFrame:
    """One row per sample: ``id``, ``score`` (higher = more outlying), ``is_outlier``, ``rank``."""
    scores = model.scores_
    rank = pd.Series(scores).rank(ascending=False, method="first").astype(int).to_numpy()
    return pd.DataFrame(
        {"id": np.asarray(ids).astype(str), "score": scores, "is_outlier": model.is_outlier_, "rank": rank}
    )


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

"""Tools: reductions, clusterings, outlier detection and metrics (scanpy's ``tl``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import registry
from ._base import NOISE, BaseClusterer, BaseOutlierDetector, BaseReducer
from ._metrics import cluster_metrics, purity_score

__all__ = [
    "NOISE",
    "BaseClusterer",
    "BaseOutlierDetector",
    "BaseReducer",
    "cluster_metrics",
    "cluster_table",
    "evaluate_clustering",
    "make_clusterer",
    "make_outlier_detector",
    "make_reducer",
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


def outlier_table(ids, model: BaseOutlierDetector) -> pd.DataFrame:
    """One row per sample: ``id``, ``score`` (higher = more outlying), ``is_outlier``, ``rank``."""
    scores = model.scores_
    rank = pd.Series(scores).rank(ascending=False, method="first").astype(int).to_numpy()
    return pd.DataFrame(
        {"id": np.asarray(ids).astype(str), "score": scores, "is_outlier": model.is_outlier_, "rank": rank}
    )


def evaluate_clustering(labels: pd.DataFrame, manifest: pd.DataFrame, label_columns) -> pd.DataFrame:
    """Tidy metrics of one cluster table against the manifest's label columns (joined on id)."""
    merged = manifest[["id", *label_columns]].merge(labels[["id", "cluster"]], on="id", how="inner")
    if len(merged) != len(labels):
        raise ValueError(
            f"cluster table has {len(labels)} rows but only {len(merged)} ids match the manifest"
        )
    return pd.DataFrame(cluster_metrics(merged["cluster"].to_numpy(), merged[list(label_columns)]))

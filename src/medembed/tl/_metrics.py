"""Quality metrics as tidy rows {label, metric, value}: clusterings against known labels
(:func:`cluster_metrics`), without labels (:func:`internal_metrics`), 2-D maps
(:func:`reduction_metrics`) and outlier scores against known anomalies (:func:`outlier_metrics`).

Everything quadratic runs on a fixed-size random sample, so no n x n matrix is built.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from ._base import NOISE


def purity_score(labels_true, labels_pred) -> float:
    """Fraction of samples whose cluster's majority true label is their own.

    Noise (-1) counts as its own cluster, so labelling everything noise scores the
    majority-class rate, never 1.0.
    """
    ct = pd.crosstab(np.asarray(labels_pred), np.asarray(labels_true))
    return float(ct.max(axis=1).sum() / ct.to_numpy().sum())


_EXTERNAL = {
    "ari": skm.adjusted_rand_score,
    "ami": skm.adjusted_mutual_info_score,
    "nmi": skm.normalized_mutual_info_score,
    "purity": purity_score,
    "homogeneity": skm.homogeneity_score,
    "completeness": skm.completeness_score,
}


def cluster_metrics(labels_pred, truth: pd.DataFrame | None = None) -> list[dict]:
    """Rows ``{label, metric, value}``: counts, then every external metric per truth column.

    Samples whose truth is missing are left out of that column's scores.
    """
    labels_pred = np.asarray(labels_pred)
    n = len(labels_pred)
    rows = [
        {"label": "", "metric": "n_clusters", "value": float(len(set(labels_pred.tolist()) - {NOISE}))},
        {"label": "", "metric": "noise_fraction", "value": float(np.mean(labels_pred == NOISE)) if n else 0.0},
    ]
    for col in [] if truth is None else truth.columns:
        y = truth[col]
        keep = y.notna().to_numpy()
        if keep.sum() < 2:
            continue
        yt, yp = y[keep].astype(str).to_numpy(), labels_pred[keep]
        for name, fn in _EXTERNAL.items():
            rows.append({"label": col, "metric": name, "value": float(fn(yt, yp))})
    return rows


def _sample(n: int, sample_size: int | None, random_state) -> np.ndarray:
    if sample_size is not None and (isinstance(sample_size, bool) or not isinstance(sample_size, (int, np.integer)) or sample_size < 2):
        raise ValueError(f"sample_size={sample_size!r} is invalid; allowed: int >= 2 or None")
    if sample_size is None or n <= sample_size:
        return np.arange(n)
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(n, size=sample_size, replace=False))


def _features(X, name: str = "X") -> np.ndarray:
    from .._validation import check_features

    return check_features(X, name=name, min_samples=2)


def internal_metrics(X, labels, sample_size: int | None = 5000, random_state=0) -> list[dict]:
    """Rows ``{label: "", metric, value}`` that need no truth: silhouette (cosine) and Davies–Bouldin.

    Noise (-1) is left out. The silhouette is computed on a fixed random sample of
    ``sample_size`` clustered samples (its cost is quadratic); Davies–Bouldin
    (linear) on all of them. Values are NaN when fewer than 2 clusters remain.
    """
    X = _features(X)
    labels = np.asarray(labels)
    if labels.shape != (X.shape[0],):
        raise ValueError(f"labels has shape {labels.shape}; expected ({X.shape[0]},)")
    keep = labels != NOISE
    Xc, lc = X[keep], labels[keep]
    k = len(np.unique(lc))
    sil = dbi = float("nan")
    if 2 <= k < len(lc):
        dbi = float(skm.davies_bouldin_score(Xc, lc))
        idx = _sample(len(lc), sample_size, random_state)
        if len(np.unique(lc[idx])) >= 2:
            sil = float(skm.silhouette_score(Xc[idx], lc[idx], metric="cosine"))
    return [
        {"label": "", "metric": "silhouette_cosine", "value": sil},
        {"label": "", "metric": "davies_bouldin", "value": dbi},
    ]


def reduction_metrics(
    X, Y, n_neighbors: int = 10, sample_size: int | None = 5000, random_state=0, metric: str = "cosine"
) -> list[dict]:
    """Rows ``{label: "", metric, value}``: how well a 2-D/3-D map ``Y`` keeps ``X``'s neighbourhoods.

    - ``trustworthiness`` (Venna & Kaski 2001; sklearn) on a random sample of
      ``sample_size`` rows: 1 when no map neighbour is a stranger in ``X``.
    - ``knn_preservation``: mean fraction of each sampled row's ``n_neighbors``
      nearest neighbours in ``X`` (searched among all rows) that are also its
      nearest in ``Y`` (Euclidean).
    """
    from sklearn.manifold import trustworthiness
    from sklearn.neighbors import NearestNeighbors

    X, Y = _features(X), _features(Y, "Y")
    n = X.shape[0]
    if Y.shape[0] != n:
        raise ValueError(f"Y has {Y.shape[0]} rows but X has {n}")
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, (int, np.integer)) or n_neighbors < 1:
        raise ValueError(f"n_neighbors={n_neighbors!r} is invalid; allowed: int >= 1")
    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"metric={metric!r} is invalid; allowed: 'cosine', 'euclidean'")
    idx = _sample(n, sample_size, random_state)
    k_tw = min(n_neighbors, len(idx) // 2 - 1)
    if k_tw < 1:
        raise ValueError(f"reduction_metrics needs at least 4 samples; got {len(idx)}")
    tw = float(trustworthiness(X[idx], Y[idx], n_neighbors=k_tw, metric=metric))
    k = min(n_neighbors, n - 1)
    Xs = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12) if metric == "cosine" else X
    nx = NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(Xs)
    ny = NearestNeighbors(n_neighbors=k + 1, algorithm="brute" if Y.shape[1] > 3 else "auto").fit(Y)
    ix = nx.kneighbors(Xs[idx], return_distance=False)
    iy = ny.kneighbors(Y[idx], return_distance=False)
    overlap = [
        len((set(a.tolist()) - {q}) & (set(b.tolist()) - {q})) / k for q, a, b in zip(idx, ix, iy)
    ]
    return [
        {"label": "", "metric": "trustworthiness", "value": tw},
        {"label": "", "metric": "knn_preservation", "value": float(np.mean(overlap))},
    ]


def outlier_metrics(scores, is_anomaly) -> list[dict]:
    """Rows ``{label: "", metric, value}``: AUROC, average precision and precision at the
    number of true anomalies, for scores where higher = more outlying.

    NaN values when ``is_anomaly`` holds a single class (the metrics are undefined).
    """
    scores = np.asarray(scores, dtype=float)
    truth = np.asarray(is_anomaly)
    if scores.ndim != 1 or truth.shape != scores.shape:
        raise ValueError(f"scores {scores.shape} and is_anomaly {truth.shape} must be 1-D of the same length")
    if not np.isfinite(scores).all():
        raise ValueError(f"scores has {int((~np.isfinite(scores)).sum())} NaN or inf values")
    if truth.dtype != bool:
        if not np.isin(truth, [0, 1]).all():
            raise ValueError("is_anomaly must be boolean or 0/1")
        truth = truth.astype(bool)
    m = int(truth.sum())
    if m == 0 or m == len(truth):
        auroc = ap = p_at = float("nan")
    else:
        auroc = float(skm.roc_auc_score(truth, scores))
        ap = float(skm.average_precision_score(truth, scores))
        top = np.argsort(-scores, kind="stable")[:m]
        p_at = float(truth[top].mean())
    return [
        {"label": "", "metric": "auroc", "value": auroc},
        {"label": "", "metric": "average_precision", "value": ap},
        {"label": "", "metric": "precision_at_n_anomalies", "value": p_at},
    ]


def score_cluster_table(table: pd.DataFrame, truth: pd.DataFrame, *, label_fraction: float | None = None) -> list[dict]:
    """External metrics of one cluster table, on held-out rows when the model saw labels.

    ``table``: the cluster table (``cluster`` and, for semi-supervised models, the boolean
    ``label_seen`` column they write); ``truth``: the label columns, row-aligned with
    ``table``. Without ``label_seen`` every row is scored (``supervision="none"``,
    ``scored_on="all"``). With it, only the rows whose label the model did not see are
    scored (``scored_on="held-out"``), so a model cannot score by remembering its training
    labels; ``supervision`` is ``"semi:<fraction>"`` with ``label_fraction`` (default: the
    share of rows seen). Rows are :func:`cluster_metrics`' plus ``n_scored``, each with the
    ``supervision`` and ``scored_on`` fields.
    """
    if len(truth) != len(table):
        raise ValueError(f"truth has {len(truth)} rows but the cluster table has {len(table)}")
    pred = table["cluster"].to_numpy()
    keep = np.ones(len(table), dtype=bool)
    supervision, scored_on = "none", "all"
    if "label_seen" in table:
        seen = table["label_seen"].to_numpy()
        if seen.dtype != bool:
            if not np.isin(seen, [0, 1]).all():
                raise ValueError("label_seen must be boolean")
            seen = seen.astype(bool)
        frac = float(seen.mean()) if label_fraction is None else float(label_fraction)
        supervision, scored_on = f"semi:{round(frac, 2):g}", "held-out"
        keep = ~seen
    rows = cluster_metrics(pred[keep], truth.reset_index(drop=True)[keep])
    rows.append({"label": "", "metric": "n_scored", "value": float(keep.sum())})
    return [{**r, "supervision": supervision, "scored_on": scored_on} for r in rows]

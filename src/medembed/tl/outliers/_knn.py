"""Outliers from the shared kNN graph: k-th/mean neighbour distance and LOF.

Both read the graph built once by :func:`medembed.pp.neighbors` (``fit(X, knn=graph)``,
its first ``n_neighbors`` columns); ``X`` may then be None. Without ``knn`` the graph
is computed from ``X``. The ``contamination`` fraction with the highest score is flagged.

- :class:`KNNDistanceOutliers`: distance to the k-th neighbour (Ramaswamy et al. 2000)
  or the mean distance to the k nearest (Angiulli & Pizzuti 2002).
- :class:`LOFOutliers`: Local Outlier Factor (Breunig et al. 2000), the same formula
  as scikit-learn's ``LocalOutlierFactor`` (reachability distances, ``1e-10`` guard):
  density relative to the neighbours', so it also finds outliers next to dense clusters.
"""

from __future__ import annotations

import numpy as np

from ..._validation import Interval, Options, validate_params
from .._base import BaseOutlierDetector, cap_param, require_samples


def _graph(est, X, knn):
    from ...pp._neighbors import resolve_knn

    if X is None:
        validate_params(est, est._parameter_constraints)
        est.effective_params_ = {}
    else:
        X = est._validate(X)
    k = est.n_neighbors
    if X is not None or knn is not None:
        n = X.shape[0] if X is not None else knn.n_samples
        # a small collection has n - 1 neighbours per sample (as many as the shared graph holds)
        require_samples(est, n, 3, "(2 neighbours each)")
        k = cap_param(est, "n_neighbors", k, n - 1, n=n, why="n - 1 other samples")
    return resolve_knn(X, knn, k, est.metric, who=type(est).__name__, n_jobs=est.n_jobs)


def _flag_top(scores: np.ndarray, contamination: float) -> tuple[np.ndarray, float]:
    threshold = float(np.percentile(scores, 100.0 * (1 - contamination)))
    return scores > threshold, threshold


_COMMON = {
    "n_neighbors": [Interval(int, 1, None, closed="left")],
    "metric": [Options("cosine", "euclidean")],
    "contamination": [Interval(float, 0, 0.5, closed="right")],
    "n_jobs": [int],
}


class KNNDistanceOutliers(BaseOutlierDetector):
    """Score = distance to the k-th nearest neighbour (``"kth"``) or mean of the k (``"mean"``)."""

    _parameter_constraints = {**_COMMON, "aggregate": [Options("mean", "kth")]}

    def __init__(self, n_neighbors=10, *, aggregate="mean", metric="cosine", contamination=0.04,
                 n_jobs=1):
        self.n_neighbors = n_neighbors
        self.aggregate = aggregate
        self.metric = metric
        self.contamination = contamination
        self.n_jobs = n_jobs

    def fit(self, X, y=None, *, knn=None):
        nb = _graph(self, X, knn)
        d = nb.distances.astype(np.float64)
        scores = d[:, -1] if self.aggregate == "kth" else d.mean(axis=1)
        flags, self.threshold_ = _flag_top(scores, self.contamination)
        return self._finish(scores, flags)


class LOFOutliers(BaseOutlierDetector):
    """Local Outlier Factor from the kNN graph; score = LOF (about 1 inside clusters)."""

    _parameter_constraints = dict(_COMMON)

    def __init__(self, n_neighbors=20, *, metric="cosine", contamination=0.04, n_jobs=1):
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.contamination = contamination
        self.n_jobs = n_jobs

    def fit(self, X, y=None, *, knn=None):
        nb = _graph(self, X, knn)
        d = nb.distances.astype(np.float64)
        idx = nb.indices
        k_dist = d[:, -1]
        reach = np.maximum(d, k_dist[idx])
        lrd = 1.0 / (reach.mean(axis=1) + 1e-10)
        lof = lrd[idx].mean(axis=1) / lrd
        flags, self.threshold_ = _flag_top(lof, self.contamination)
        return self._finish(lof, flags)

from __future__ import annotations

from sklearn.cluster import DBSCAN

from ..._validation import Interval, Options
from .._base import BaseClusterer


class DBSCANClusterer(BaseClusterer):
    """DBSCAN; the tutorial's eps=0.5, min_samples=5 on L2-normalised embeddings."""

    _parameter_constraints = {
        "eps": [Interval(float, 0, None, closed="neither")],
        "min_samples": [Interval(int, 1, None, closed="left")],
        "metric": [Options("euclidean", "cosine", "manhattan")],
        "n_jobs": [int, None],
    }
    _min_samples = 1

    def __init__(self, eps=0.5, *, min_samples=5, metric="euclidean", n_jobs=None):
        self.eps = eps
        self.min_samples = min_samples
        self.metric = metric
        self.n_jobs = n_jobs

    def fit(self, X, y=None):
        X = self._validate(X)
        db = DBSCAN(eps=self.eps, min_samples=self.min_samples, metric=self.metric, n_jobs=self.n_jobs)
        return self._finish(db.fit_predict(X))

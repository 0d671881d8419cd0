from __future__ import annotations

import numpy as np

from ..._validation import Interval, Options
from .._base import BaseClusterer, cap_param, require_samples


class HDBSCANClusterer(BaseClusterer):
    """HDBSCAN (McInnes et al.); keeps membership probabilities and GLOSH outlier scores."""

    _parameter_constraints = {
        "min_cluster_size": [Interval(int, 2, None, closed="left")],
        "min_samples": [Interval(int, 1, None, closed="left"), None],
        "cluster_selection_method": [Options("eom", "leaf")],
        "cluster_selection_epsilon": [Interval(float, 0, None, closed="left")],
        "metric": [Options("euclidean", "manhattan")],
        "core_dist_n_jobs": [int],
    }
    _min_samples = 1

    def __init__(
        self,
        min_cluster_size=5,
        *,
        min_samples=3,
        cluster_selection_method="eom",
        cluster_selection_epsilon=0.0,
        metric="euclidean",
        core_dist_n_jobs=1,
    ):
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.cluster_selection_method = cluster_selection_method
        self.cluster_selection_epsilon = cluster_selection_epsilon
        self.metric = metric
        self.core_dist_n_jobs = core_dist_n_jobs

    def fit(self, X, y=None):
        import hdbscan

        X = self._validate(X)
        n = X.shape[0]
        require_samples(self, n, 4, "(two clusters of 2)")
        why = "a cluster of at most half the samples, so that two can form"
        mcs = cap_param(self, "min_cluster_size", self.min_cluster_size, n // 2, n=n, why=why)
        ms = cap_param(self, "min_samples", self.min_samples, n // 2, n=n, why=why)
        model = hdbscan.HDBSCAN(
            min_cluster_size=mcs,
            min_samples=ms,
            cluster_selection_method=self.cluster_selection_method,
            cluster_selection_epsilon=float(self.cluster_selection_epsilon),
            metric=self.metric,
            core_dist_n_jobs=self.core_dist_n_jobs,
        ).fit(X.astype(np.float64))
        scores = np.nan_to_num(model.outlier_scores_, nan=0.0)
        return self._finish(
            model.labels_, {"probability": model.probabilities_, "outlier_score": scores}
        )

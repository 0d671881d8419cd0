from __future__ import annotations

from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from ..._validation import Interval, Options
from .._base import BaseClusterer, cap_n_clusters


class KMeansClusterer(BaseClusterer):
    """k-means (Lloyd) with k-means++ seeding; the Medical Image Analysis Tutorial uses k=8, n_init=10."""

    _parameter_constraints = {
        "n_clusters": [Interval(int, 2, None, closed="left")],
        "n_init": [Interval(int, 1, None, closed="left")],
        "max_iter": [Interval(int, 1, None, closed="left")],
        "init": [Options("k-means++", "random")],
        "random_state": [int, None],
    }

    def __init__(self, n_clusters=8, *, n_init=10, max_iter=300, init="k-means++", random_state=42):
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.max_iter = max_iter
        self.init = init
        self.random_state = random_state

    def fit(self, X, y=None):
        X = self._validate(X)
        k = cap_n_clusters(self, X.shape[0])
        # sklearn's k-means parallelises with OpenMP; BLAS threads on top oversubscribe the
        # cores (5-7x slower at 20k x 512 on 2 cores), so BLAS runs single-threaded here.
        with threadpool_limits(1, user_api="blas"):
            km = KMeans(
                n_clusters=k,
                n_init=self.n_init,
                max_iter=self.max_iter,
                init=self.init,
                random_state=self.random_state,
            ).fit(X)
        self.cluster_centers_ = km.cluster_centers_
        self.inertia_ = float(km.inertia_)
        return self._finish(km.labels_)

from __future__ import annotations

import warnings

import numpy as np

from ..._validation import Interval, Options
from .._base import BaseReducer, cap_param, require_samples


class UMAPReducer(BaseReducer):
    """UMAP (McInnes et al. 2018); the Medical Image Analysis Tutorial's n_neighbors=15, min_dist=0.1.

    ``fit(X, knn=graph)`` hands UMAP the shared kNN graph (``precomputed_knn``) so it
    skips its own neighbour search; UMAP counts each point as its own first
    neighbour, so ``n_neighbors=15`` reads 14 columns of the graph. Without ``knn``
    the graph is computed with :func:`medembed.pp.neighbors`.
    """

    _parameter_constraints = {
        "n_components": [Interval(int, 1, None, closed="left")],
        "n_neighbors": [Interval(int, 2, None, closed="left")],
        "min_dist": [Interval(float, 0, None, closed="left")],
        "metric": [Options("cosine", "euclidean")],
        "random_state": [int, None],
        "n_jobs": [int],
    }

    def __init__(
        self, n_components=2, *, n_neighbors=15, min_dist=0.1, metric="cosine", random_state=42,
        n_jobs=1,
    ):
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X, y=None, *, knn=None):
        import umap

        from ...pp._neighbors import resolve_knn

        X = self._validate(X)
        n = X.shape[0]
        require_samples(self, n, self.n_components + 2)
        # UMAP's count, self included
        k = cap_param(self, "n_neighbors", self.n_neighbors, n - 1, n=n, why="the sample and its n - 1 others")
        nb = resolve_knn(X, knn, k - 1, self.metric, who="UMAPReducer", n_jobs=self.n_jobs)
        idx, dist = nb.with_self()
        model = umap.UMAP(
            n_components=self.n_components,
            n_neighbors=k,
            min_dist=self.min_dist,
            metric=self.metric,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
            precomputed_knn=(idx, dist, None),
        )
        with warnings.catch_warnings():
            # no search index is kept (transform of new data is not needed), and a
            # fixed random_state makes UMAP run single-threaded: both expected.
            warnings.filterwarnings("ignore", message=".*knn_search_index.*")
            warnings.filterwarnings("ignore", message=".*n_jobs value.*overridden.*")
            self.embedding_ = np.asarray(model.fit_transform(X), dtype=np.float32)
        self.n_neighbors_ = k
        return self

    def fit_transform(self, X, y=None, *, knn=None):
        return self.fit(X, y, knn=knn).embedding_

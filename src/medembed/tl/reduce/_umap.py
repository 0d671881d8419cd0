from __future__ import annotations

import numpy as np

from ..._validation import Interval, Options
from .._base import BaseReducer


class UMAPReducer(BaseReducer):
    """UMAP (McInnes et al. 2018); the tutorial's n_neighbors=15, min_dist=0.1."""

    _parameter_constraints = {
        "n_components": [Interval(int, 1, None, closed="left")],
        "n_neighbors": [Interval(int, 2, None, closed="left")],
        "min_dist": [Interval(float, 0, None, closed="left")],
        "metric": [Options("cosine", "euclidean")],
        "random_state": [int, None],
    }

    def __init__(self, n_components=2, *, n_neighbors=15, min_dist=0.1, metric="cosine", random_state=42):
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric
        self.random_state = random_state

    def fit(self, X, y=None):
        import umap

        X = self._validate(X, )
        n = X.shape[0]
        if n <= self.n_components + 1:
            raise ValueError(f"UMAP needs more than {self.n_components + 1} samples; got {n}")
        model = umap.UMAP(
            n_components=self.n_components,
            n_neighbors=min(self.n_neighbors, n - 1),
            min_dist=self.min_dist,
            metric=self.metric,
            random_state=self.random_state,
        )
        self.embedding_ = np.asarray(model.fit_transform(X))
        return self

from __future__ import annotations

from sklearn.decomposition import PCA

from ..._validation import Interval
from .._base import BaseReducer, cap_param, require_samples


class PCAReducer(BaseReducer):
    """Principal component analysis to ``n_components`` dimensions."""

    _parameter_constraints = {
        "n_components": [Interval(int, 1, None, closed="left")],
        "random_state": [int, None],
    }

    def __init__(self, n_components=2, *, random_state=42):
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X, y=None):
        X = self._validate(X)
        n, d = X.shape
        require_samples(self, n, self.n_components + 1, f"for {self.n_components} components")
        k = cap_param(self, "n_components", self.n_components, d, n=n, why="at most the number of features")
        pca = PCA(n_components=k, random_state=self.random_state)
        self.embedding_ = pca.fit_transform(X)
        self.explained_variance_ratio_ = pca.explained_variance_ratio_
        return self

from __future__ import annotations

from sklearn.decomposition import PCA

from ..._validation import Interval
from .._base import BaseReducer


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
        k = min(self.n_components, *X.shape)
        pca = PCA(n_components=k, random_state=self.random_state)
        self.embedding_ = pca.fit_transform(X)
        self.explained_variance_ratio_ = pca.explained_variance_ratio_
        return self

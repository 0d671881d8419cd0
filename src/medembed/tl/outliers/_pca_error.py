"""PCA reconstruction-error outliers (Malheiros, n.d.).

Project on the first principal components, map back, and score each sample by its
mean squared reconstruction error: samples the main directions of the collection do
not explain are outlying. The ``contamination`` fraction with the largest error is
flagged. Malheiros keeps 99 % of the variance of raw pixels; embeddings spread their
noise over every dimension, so the default keeps a fixed 50 components (a float in
(0, 1) keeps that fraction of the variance instead). Fit on the full embedding,
not on PCA-reduced features.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA

from ..._validation import Interval
from .._base import BaseOutlierDetector, NotApplicable, cap_param


class PCAReconstructionOutliers(BaseOutlierDetector):
    """Score = mean squared error of the PCA reconstruction."""

    _parameter_constraints = {
        "n_components": [Interval(int, 1, None, closed="left"), Interval(float, 0, 1, closed="neither")],
        "contamination": [Interval(float, 0, 0.5, closed="right")],
        "random_state": [int, None],
    }
    _min_samples = 3

    def __init__(self, n_components=50, *, contamination=0.04, random_state=42):
        self.n_components = n_components
        self.contamination = contamination
        self.random_state = random_state

    def fit(self, X, y=None):
        X = self._validate(X)
        n, d = X.shape
        cap = min(n - 1, d) - 1  # n samples span n - 1 directions; one is left out to score
        if cap < 1:
            if d < 2:
                raise ValueError(f"PCAReconstructionOutliers needs at least 2 features; got X of shape {X.shape}")
            raise NotApplicable("PCAReconstructionOutliers", n, "needs at least 3 samples")
        k = self.n_components
        if isinstance(k, (int, np.integer)):
            k = cap_param(self, "n_components", int(k), cap, n=n,
                          why="fewer components than the n - 1 directions the samples span")
        pca = PCA(n_components=k, random_state=self.random_state).fit(X)
        Z = pca.transform(X)
        # reconstruct in row blocks so a 100k x 512 float64 copy never exists twice
        err = np.empty(n)
        for s in range(0, n, 20_000):
            R = pca.inverse_transform(Z[s : s + 20_000]) - X[s : s + 20_000]
            err[s : s + 20_000] = np.square(R).mean(axis=1)
        self.n_components_ = int(pca.n_components_)
        self.threshold_ = float(np.percentile(err, 100.0 * (1 - self.contamination)))
        return self._finish(err, err > self.threshold_)

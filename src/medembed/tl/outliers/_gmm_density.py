"""Gaussian-mixture density outliers (seed 003): low log-density = outlying.

A mixture is fitted to all samples; a sample's score is minus its log density
(``-score_samples``), and the ``contamination`` fraction with the lowest density is
flagged: ``log_density < percentile(log_density, 100 * contamination)``, exactly the
seed's 4 % rule. As the seed warns, the mixture also fits the outliers, so a large
contamination can make outliers look normal; fit on PCA-reduced features
(``pp.pca``, 50 dimensions), where diagonal covariances are cheap and adequate.
"""

from __future__ import annotations

import numpy as np
from sklearn.mixture import GaussianMixture

from ..._validation import Interval, Options
from .._base import BaseOutlierDetector


class GMMDensityOutliers(BaseOutlierDetector):
    """Flag the ``contamination`` fraction of samples with the lowest GMM log-density."""

    _parameter_constraints = {
        "n_components": [Interval(int, 1, None, closed="left")],
        "covariance_type": [Options("full", "diag", "tied", "spherical")],
        "contamination": [Interval(float, 0, 0.5, closed="right")],
        "n_init": [Interval(int, 1, None, closed="left")],
        "max_iter": [Interval(int, 1, None, closed="left")],
        "reg_covar": [Interval(float, 0, None, closed="neither")],
        "random_state": [int, None],
    }

    def __init__(self, n_components=8, *, covariance_type="diag", contamination=0.04, n_init=1,
                 max_iter=200, reg_covar=1e-6, random_state=42):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.contamination = contamination
        self.n_init = n_init
        self.max_iter = max_iter
        self.reg_covar = reg_covar
        self.random_state = random_state

    def fit(self, X, y=None):
        X = self._validate(X).astype(np.float64)
        n = X.shape[0]
        if self.n_components > n:
            raise ValueError(f"GMMDensityOutliers: n_components={self.n_components} exceeds n_samples={n}")
        gm = GaussianMixture(
            n_components=self.n_components,
            covariance_type=self.covariance_type,
            n_init=self.n_init,
            max_iter=self.max_iter,
            reg_covar=self.reg_covar,
            random_state=self.random_state,
        ).fit(X)
        density = gm.score_samples(X)
        self.threshold_ = float(np.percentile(density, 100.0 * self.contamination))
        self.model_ = gm
        return self._finish(-density, density < self.threshold_)

"""Gaussian mixture clustering with the number of components chosen by BIC or AIC (seed 003).

``n_components=None`` fits one mixture per k in ``k_range`` and keeps the one with
the lowest ``criterion`` (BIC by default: it picks simpler mixtures than AIC). The
search runs on a random subsample of ``sample_size`` rows, then the chosen k is
refitted on all rows. ``bayesian=True`` instead fits a variational Dirichlet-process
mixture with ``max(k_range)`` components (or ``n_components``) and lets it switch
off the components it does not need.

The default ``covariance_type="diag"`` suits PCA-reduced features (``pp.pca``, 50
dimensions: decorrelated axes). It costs ``O(n k d)`` per EM step and has ``2d``
parameters per component; ``"full"`` (the seed's default) has ``d(d+3)/2`` = 1325 per
component at d=50, so BIC merges every cluster smaller than a few thousand points
and each step costs ``O(n k d^2)``. Use "full" on low-dimensional inputs.
"""

from __future__ import annotations

import numpy as np
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture
from sklearn.utils import check_random_state

from ..._validation import Interval, Options
from .._base import BaseClusterer


def _check_range(est, k_range, n):
    ok = (
        isinstance(k_range, (list, tuple))
        and len(k_range) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in k_range)
        and 1 <= k_range[0] <= k_range[1]
    )
    if not ok:
        raise ValueError(
            f"{type(est).__name__}: k_range={k_range!r} is invalid; allowed: [min, max] ints, 1 <= min <= max"
        )
    if k_range[0] > n:
        raise ValueError(f"{type(est).__name__}: k_range={list(k_range)} but only {n} samples")
    return int(k_range[0]), int(min(k_range[1], n))


class GMMClusterer(BaseClusterer):
    """Gaussian mixture model; k by BIC/AIC over ``k_range`` or a Bayesian (DP) mixture."""

    _parameter_constraints = {
        "n_components": [Interval(int, 1, None, closed="left"), None],
        "k_range": [list, tuple],
        "criterion": [Options("bic", "aic")],
        "covariance_type": [Options("full", "diag", "tied", "spherical")],
        "bayesian": [bool],
        "n_init": [Interval(int, 1, None, closed="left")],
        "max_iter": [Interval(int, 1, None, closed="left")],
        "reg_covar": [Interval(float, 0, None, closed="neither")],
        "sample_size": [Interval(int, 100, None, closed="left"), None],
        "random_state": [int, None],
    }
    _min_samples = 2

    def __init__(
        self,
        n_components=None,
        *,
        k_range=(2, 12),
        criterion="bic",
        covariance_type="diag",
        bayesian=False,
        n_init=1,
        max_iter=200,
        reg_covar=1e-6,
        sample_size=10_000,
        random_state=42,
    ):
        self.n_components = n_components
        self.k_range = k_range
        self.criterion = criterion
        self.covariance_type = covariance_type
        self.bayesian = bayesian
        self.n_init = n_init
        self.max_iter = max_iter
        self.reg_covar = reg_covar
        self.sample_size = sample_size
        self.random_state = random_state

    def _gmm(self, k, seed):
        return GaussianMixture(
            n_components=k,
            covariance_type=self.covariance_type,
            n_init=self.n_init,
            max_iter=self.max_iter,
            reg_covar=self.reg_covar,
            random_state=seed,
        )

    def _select(self, X):
        """Scores per k on a subsample; returns the chosen k."""
        n = X.shape[0]
        lo, hi = _check_range(self, self.k_range, n)
        rng = check_random_state(self.random_state)
        S = X
        if self.sample_size is not None and n > self.sample_size:
            S = X[np.sort(rng.choice(n, self.sample_size, replace=False))]
        seed = None if self.random_state is None else int(self.random_state)
        scores = {}
        for k in range(lo, min(hi, S.shape[0]) + 1):
            m = self._gmm(k, seed).fit(S)
            scores[k] = float(m.bic(S) if self.criterion == "bic" else m.aic(S))
        self.criterion_scores_ = scores
        return min(scores, key=scores.get)

    def fit(self, X, y=None):
        X = self._validate(X).astype(np.float64)
        n = X.shape[0]
        if self.n_components is not None and self.n_components > n:
            raise ValueError(f"GMMClusterer: n_components={self.n_components} exceeds n_samples={n}")
        seed = None if self.random_state is None else int(self.random_state)
        if self.bayesian:
            if self.n_components is None:
                k = _check_range(self, self.k_range, n)[1]
            else:
                k = self.n_components
            model = BayesianGaussianMixture(
                n_components=k,
                covariance_type=self.covariance_type,
                n_init=self.n_init,
                max_iter=self.max_iter,
                reg_covar=self.reg_covar,
                weight_concentration_prior_type="dirichlet_process",
                random_state=seed,
            ).fit(X)
        else:
            k = self.n_components if self.n_components is not None else self._select(X)
            model = self._gmm(k, seed).fit(X)
        proba = model.predict_proba(X)
        labels = proba.argmax(1)
        # relabel 0..m-1 in order of first appearance of the used components
        _, labels = np.unique(labels, return_inverse=True)
        self.model_ = model
        self.n_components_ = int(k)
        self.weights_ = model.weights_
        self.means_ = model.means_
        self.converged_ = bool(model.converged_)
        self.log_likelihood_ = float(model.score(X))
        return self._finish(
            labels, {"probability": proba.max(1), "log_density": model.score_samples(X)}
        )

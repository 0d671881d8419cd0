"""Gaussian-mixture density outliers (Malheiros, n.d.): low log-density = outlying.

Malheiros's chain: choose the mixture by BIC, over the number of components in
``k_range`` *and* the covariance type (full/diag/tied/spherical, each where it fits:
fewer free parameters than samples, so "full" is skipped when n is small against
d(d+1)/2), every candidate with ``n_init=10`` restarts
(:func:`medembed.tl.cluster._gmm.select_mixture`); then flag the ``contamination``
fraction (4 %) with the lowest density, ``log_density < percentile(log_density, 4)``.
A sample's score is minus its log density.

``fit(X, mixture=...)`` skips the search and scores with a mixture already chosen, e.g.
the one the ``gmm`` clusterer selected (its ``cluster/gmm.model.npz``, rebuilt with
:func:`~medembed.tl.cluster._gmm.mixture_from_artifacts`), so the mixture is fitted once.

As Malheiros warns, the mixture also fits the outliers, so they can make themselves look
normal; ``refit=True`` follows its tip: drop the flagged points, refit the chosen mixture
(same k and covariance type; started from the first fit) on the rest, and score every
sample with the refitted one. Fit on PCA-reduced features (``pp.pca``, 50 dimensions).
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.mixture import GaussianMixture

from ..._validation import Interval, Options
from .._base import BaseOutlierDetector
from ..cluster._gmm import (
    COVARIANCE_TYPES,
    _check_range,
    mixture_from_artifacts,
    project,
    project_for_mixture,
    select_mixture,
)

log = logging.getLogger(__name__)


class GMMDensityOutliers(BaseOutlierDetector):
    """Flag the ``contamination`` fraction of samples with the lowest GMM log-density.

    ``n_components=None`` / ``covariance_type="auto"``: chosen by BIC (Malheiros, n.d.); fixed
    values restrict the search. Attributes: ``model_`` (the scoring ``GaussianMixture``),
    ``n_components_``, ``covariance_type_``, ``bic_`` (``{(k, type): BIC}`` of the search,
    empty when a mixture was given), ``source_`` ("given" / "bic" / "fixed"),
    ``threshold_`` (log-density cut), ``refitted_``.
    """

    _parameter_constraints = {
        "n_components": [Interval(int, 1, None, closed="left"), None],
        "k_range": [list, tuple],
        "covariance_type": [Options("auto", *COVARIANCE_TYPES)],
        "contamination": [Interval(float, 0, 0.5, closed="right")],
        "refit": [bool],
        "n_init": [Interval(int, 1, None, closed="left")],
        "max_iter": [Interval(int, 1, None, closed="left")],
        "reg_covar": [Interval(float, 0, None, closed="neither")],
        "sample_size": [Interval(int, 100, None, closed="left"), None],
        "random_state": [int, None],
    }

    def __init__(self, n_components=None, *, k_range=(2, 12), covariance_type="auto", contamination=0.04,
                 refit=False, n_init=10, max_iter=200, reg_covar=1e-6, sample_size=10_000, random_state=42):
        self.n_components = n_components
        self.k_range = k_range
        self.covariance_type = covariance_type
        self.contamination = contamination
        self.refit = refit
        self.n_init = n_init
        self.max_iter = max_iter
        self.reg_covar = reg_covar
        self.sample_size = sample_size
        self.random_state = random_state

    def _common(self):
        seed = None if self.random_state is None else int(self.random_state)
        return dict(max_iter=self.max_iter, reg_covar=self.reg_covar, random_state=seed)

    def _select(self, X):
        n = X.shape[0]
        if self.n_components is not None:
            if self.n_components > n:
                raise ValueError(f"GMMDensityOutliers: n_components={self.n_components} exceeds n_samples={n}")
            k_range = (self.n_components, self.n_components)
        else:
            k_range = _check_range(self, self.k_range, n)
        types = COVARIANCE_TYPES if self.covariance_type == "auto" else (self.covariance_type,)
        if self.n_components is not None and len(types) == 1:
            self.source_, self.bic_ = "fixed", {}
            return X, self.n_components, types[0]
        # a small collection: the search runs on as many leading components as fit
        X, _ = project_for_mixture(self, X, k_range[0], types)
        k, ct, self.bic_ = select_mixture(
            X, k_range, covariance_types=types, criterion="bic", n_init=self.n_init,
            sample_size=self.sample_size, who="GMMDensityOutliers", **self._common(),
        )
        self.source_ = "bic"
        log.info("gmm_density: BIC chose k=%d, covariance_type=%s (%d candidates)", k, ct, len(self.bic_))
        return X, k, ct

    def fit(self, X, y=None, *, mixture=None):
        """Score ``X``; ``mixture``: a fitted ``GaussianMixture`` or the artifacts of one
        (``weights``, ``means``, ``covariances``, ``covariance_type``, as the ``gmm``
        clusterer saves them), used instead of a new BIC search."""
        X = self._validate(X).astype(np.float64)
        if mixture is not None and not isinstance(mixture, GaussianMixture) and "means" not in mixture:
            mixture = None  # gmm was not applicable (no mixture saved): search here
        if mixture is not None:
            gm = mixture if isinstance(mixture, GaussianMixture) else mixture_from_artifacts(mixture)
            # a small collection's gmm was fitted on its leading principal components
            d = X.shape[1]
            X = project(X, None if isinstance(mixture, GaussianMixture) else mixture)
            if X.shape[1] != d:
                self.effective_params_["n_features"] = int(X.shape[1])
            if gm.means_.shape[1] != X.shape[1]:
                raise ValueError(
                    f"GMMDensityOutliers: the given mixture has dimension {gm.means_.shape[1]} but X has "
                    f"{X.shape[1]} features (fit gmm and gmm_density on the same features)"
                )
            self.source_, self.bic_ = "given", {}
        else:
            X, k, ct = self._select(X)
            gm = GaussianMixture(n_components=k, covariance_type=ct, n_init=self.n_init, **self._common()).fit(X)
        density = gm.score_samples(X)
        threshold = float(np.percentile(density, 100.0 * self.contamination))
        self.refitted_ = False
        if self.refit:
            keep = density >= threshold
            k = gm.means_.shape[0]
            if keep.sum() > k and (~keep).any():
                init = dict(weights_init=gm.weights_, means_init=gm.means_, precisions_init=gm.precisions_)
                gm = GaussianMixture(
                    n_components=k, covariance_type=gm.covariance_type, n_init=1, **init, **self._common()
                ).fit(X[keep])
                density = gm.score_samples(X)
                threshold = float(np.percentile(density, 100.0 * self.contamination))
                self.refitted_ = True
        self.model_ = gm
        self.n_components_ = int(gm.means_.shape[0])
        self.covariance_type_ = str(gm.covariance_type)
        self.threshold_ = threshold
        return self._finish(-density, density < threshold)

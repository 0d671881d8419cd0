"""Gaussian mixture clustering with the number of components chosen by BIC or AIC (Malheiros, n.d.).

``n_components=None`` fits one mixture per k in ``k_range`` (and, with
``covariance_type="auto"``, per covariance type full/diag/tied/spherical, each where it
fits, see :func:`fitting_covariance_types`) and keeps the one with the lowest
``criterion`` (BIC by default: it picks simpler mixtures than AIC), exactly Malheiros's
search. The search runs on a random subsample of ``sample_size`` rows, then the chosen
mixture is refitted on all rows. ``bayesian=True`` instead fits a variational
Dirichlet-process mixture with ``max(k_range)`` components (or ``n_components``) and lets
it switch off the components it does not need.

The default ``covariance_type="diag"`` suits PCA-reduced features (``pp.pca``, 50
dimensions: decorrelated axes). It costs ``O(n k d)`` per EM step and has ``2d``
parameters per component; ``"full"`` (Malheiros's default) has ``d(d+3)/2`` = 1325 per
component at d=50, so BIC merges every cluster smaller than a few thousand points
and each step costs ``O(n k d^2)``. Use "full" on low-dimensional inputs.

The fitted mixture is kept as artifacts (``weights_``, ``means_``, ``covariances_``,
``precisions_cholesky_``, ``covariance_type_``; :func:`mixture_artifacts`), so that
``gmm_density`` scores with the very mixture selected here: :func:`mixture_from_artifacts`
rebuilds a scikit-learn ``GaussianMixture`` from them without refitting.

Small collections: where no mixture of ``k_range[0]`` components fits in ``d`` dimensions
(e.g. 49 images in PCA-49: two spherical components already have 99 parameters), the
features are first projected on their leading principal components, as many as let a
``k_range[0]``-component mixture of the preferred type ("diag" for "auto") have fewer
parameters than samples (:func:`mixture_dimension`); the search then keeps the (k, type)
pairs that fit there. The dimension used is ``effective_params_["n_features"]`` and the
projection is saved with the mixture (``projection_mean``, ``projection_components``),
so ``gmm_density`` scores in the same space. Below 6 samples nothing fits in even one
dimension: :class:`~medembed.tl._base.NotApplicable`.
"""

from __future__ import annotations

import numpy as np
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture
from sklearn.utils import check_random_state

from ..._validation import Interval, Options
from .._base import BaseClusterer, NotApplicable, cap_param

COVARIANCE_TYPES = ("full", "diag", "tied", "spherical")
#: what a mixture is made of, as saved in ``cluster/gmm.model.npz`` (names without "_")
MIXTURE_KEYS = ("weights", "means", "covariances", "precisions_cholesky", "covariance_type")


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


def n_mixture_parameters(k: int, d: int, covariance_type: str) -> int:
    """Free parameters of a ``k``-component mixture in ``d`` dimensions (what BIC counts)."""
    cov = {
        "full": k * d * (d + 1) // 2,
        "diag": k * d,
        "tied": d * (d + 1) // 2,
        "spherical": k,
    }[covariance_type]
    return cov + k * d + k - 1


def fitting_covariance_types(n: int, d: int, k: int, types=COVARIANCE_TYPES) -> list[str]:
    """The covariance types a ``k``-component mixture can be fitted with on ``n`` samples.

    A type "fits" when the mixture has fewer free parameters than samples: beyond that
    the covariances are not estimable (the fit only lives on ``reg_covar``) and BIC is
    meaningless. With PCA-50 features ``full`` needs n > 1325 k and ``tied`` n > 1325.
    """
    return [t for t in types if n_mixture_parameters(k, d, t) < n]


def mixture_dimension(n: int, d: int, k: int, types=COVARIANCE_TYPES) -> int:
    """The dimension a ``k``-component mixture search on ``n`` samples runs in.

    ``d`` when some type in ``types`` fits there (the search as it always was); else the
    largest ``d' < d`` in which the preferred type fits ("diag" when offered, else the
    cheapest of ``types``); 0 when nothing fits even in one dimension.
    """
    if fitting_covariance_types(n, d, k, types):
        return d
    pref = "diag" if "diag" in types else min(types, key=lambda t: n_mixture_parameters(k, 1, t))
    for dd in range(d - 1, 0, -1):
        if fitting_covariance_types(n, dd, k, (pref,)):
            return dd
    return 0


def project_for_mixture(est, X, k: int, types):
    """``X`` on as many leading principal components as a ``k``-component mixture of
    ``types`` allows (:func:`mixture_dimension`; capped, logged, recorded in
    ``est.effective_params_``) and the projection ``(mean, components)``, None if none."""
    n, d = X.shape
    dd = mixture_dimension(n, d, k, types)
    if dd == 0:
        raise NotApplicable(
            type(est).__name__, n,
            f"has no {k}-component mixture with fewer parameters than samples even in 1 dimension",
        )
    if dd == d:
        return X, None
    from sklearn.decomposition import PCA

    cap_param(est, "n_features", d, dd, n=n,
              why=f"the leading principal components in which a {k}-component mixture fits")
    pca = PCA(n_components=dd, random_state=0).fit(X)
    return pca.transform(X), (pca.mean_, pca.components_)


def project(X, artifacts) -> np.ndarray:
    """``X`` in a saved mixture's space: projected when the mixture was fitted on a projection."""
    if artifacts is None or "projection_components" not in artifacts:
        return X
    mean, comps = np.asarray(artifacts["projection_mean"]), np.asarray(artifacts["projection_components"])
    return (np.asarray(X, dtype=np.float64) - mean) @ comps.T


def select_mixture(
    X,
    k_range,
    *,
    covariance_types=COVARIANCE_TYPES,
    criterion: str = "bic",
    n_init: int = 10,
    max_iter: int = 200,
    reg_covar: float = 1e-6,
    sample_size: int | None = 10_000,
    random_state=42,
    who: str = "select_mixture",
):
    """Malheiros's search: the (k, covariance type) with the lowest BIC (or AIC).

    Every ``k`` in ``k_range`` and every type in ``covariance_types`` that fits (see
    :func:`fitting_covariance_types`) is fitted with ``n_init`` restarts on a random
    subsample of ``sample_size`` rows. Returns ``(k, covariance_type, scores)`` with
    ``scores[(k, type)]`` the criterion; raises if nothing fits.
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    lo, hi = int(k_range[0]), int(min(k_range[1], n))
    rng = check_random_state(random_state)
    S = X
    if sample_size is not None and n > sample_size:
        S = X[np.sort(rng.choice(n, sample_size, replace=False))]
    seed = None if random_state is None else int(random_state)
    scores = {}
    for ct in covariance_types:
        for k in range(lo, min(hi, S.shape[0]) + 1):
            if ct not in fitting_covariance_types(S.shape[0], d, k, (ct,)):
                continue
            m = GaussianMixture(
                n_components=k, covariance_type=ct, n_init=n_init, max_iter=max_iter,
                reg_covar=reg_covar, random_state=seed,
            ).fit(S)
            scores[(k, ct)] = float(m.bic(S) if criterion == "bic" else m.aic(S))
    if not scores:
        raise ValueError(
            f"{who}: no mixture with k in [{lo}, {hi}] and covariance_type in {list(covariance_types)} "
            f"has fewer parameters than the {S.shape[0]} samples in {d} dimensions; reduce the "
            "dimension (pp.pca) or use covariance_type 'diag' / 'spherical'"
        )
    k, ct = min(scores, key=scores.get)
    return k, ct, scores


def mixture_artifacts(gm) -> dict:
    """The arrays that define a fitted ``GaussianMixture``, keyed as in :data:`MIXTURE_KEYS`."""
    return {
        "weights": np.asarray(gm.weights_),
        "means": np.asarray(gm.means_),
        "covariances": np.asarray(gm.covariances_),
        "precisions_cholesky": np.asarray(gm.precisions_cholesky_),
        "covariance_type": np.asarray(str(gm.covariance_type)),
    }


def mixture_from_artifacts(d) -> GaussianMixture:
    """A fitted ``GaussianMixture`` rebuilt from saved artifacts, without refitting.

    ``d``: a mapping (a dict, or the ``np.load`` of ``cluster/gmm.model.npz``) with
    ``weights``, ``means``, ``covariances`` and ``covariance_type`` (keys may carry
    scikit-learn's trailing underscore); ``precisions_cholesky`` is recomputed from the
    covariances when absent. ``score_samples``/``predict`` then equal the original's.
    """
    from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky

    def get(name):
        for key in (name, name + "_"):
            if key in d:
                return np.asarray(d[key])
        return None

    missing = [k for k in ("weights", "means", "covariances", "covariance_type") if get(k) is None]
    if missing:
        raise ValueError(f"mixture_from_artifacts: missing {missing} (have {sorted(d)})")
    ct = str(get("covariance_type"))
    if ct not in COVARIANCE_TYPES:
        raise ValueError(f"mixture_from_artifacts: covariance_type={ct!r} is invalid; allowed: {COVARIANCE_TYPES}")
    weights = get("weights").astype(np.float64)
    means = np.atleast_2d(get("means").astype(np.float64))
    cov = get("covariances").astype(np.float64)
    k, dim = means.shape
    expected = {"full": (k, dim, dim), "diag": (k, dim), "tied": (dim, dim), "spherical": (k,)}[ct]
    if weights.shape != (k,) or cov.shape != expected:
        raise ValueError(
            f"mixture_from_artifacts: weights {weights.shape} / covariances {cov.shape} do not fit "
            f"{k} components of dimension {dim} with covariance_type={ct!r} (expected {expected})"
        )
    prec = get("precisions_cholesky")
    if prec is None:
        prec = _compute_precision_cholesky(cov, ct)
    gm = GaussianMixture(n_components=k, covariance_type=ct)
    gm._set_parameters((weights, means, cov, prec.astype(np.float64)))
    gm.n_features_in_ = dim
    gm.converged_ = True
    gm.n_iter_ = 0
    gm.lower_bound_ = -np.inf
    return gm


class GMMClusterer(BaseClusterer):
    """Gaussian mixture model; k (and the covariance type with "auto") by BIC/AIC over
    ``k_range``, or a Bayesian (DP) mixture."""

    _parameter_constraints = {
        "n_components": [Interval(int, 1, None, closed="left"), None],
        "k_range": [list, tuple],
        "criterion": [Options("bic", "aic")],
        "covariance_type": [Options("full", "diag", "tied", "spherical", "auto")],
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

    def _types(self):
        return COVARIANCE_TYPES if self.covariance_type == "auto" else (self.covariance_type,)

    def fit(self, X, y=None):
        X = self._validate(X).astype(np.float64)
        n, d = X.shape
        for name in ("projection_mean_", "projection_components_"):
            vars(self).pop(name, None)
        if self.n_components is not None and self.n_components > n:
            raise ValueError(f"GMMClusterer: n_components={self.n_components} exceeds n_samples={n}")
        if not self.bayesian and (self.n_components is None or self.covariance_type == "auto"):
            # a BIC search on a small collection runs on as many leading components as fit
            k_lo = self.n_components or _check_range(self, self.k_range, n)[0]
            X, proj = project_for_mixture(self, X, k_lo, self._types())
            if proj is not None:
                self.projection_mean_, self.projection_components_ = proj
        seed = None if self.random_state is None else int(self.random_state)
        common = dict(n_init=self.n_init, max_iter=self.max_iter, reg_covar=self.reg_covar, random_state=seed)
        if self.bayesian:
            if self.n_components is None:
                k = _check_range(self, self.k_range, n)[1]
            else:
                k = self.n_components
            ct = "diag" if self.covariance_type == "auto" else self.covariance_type
            model = BayesianGaussianMixture(
                n_components=k, covariance_type=ct,
                weight_concentration_prior_type="dirichlet_process", **common,
            ).fit(X)
        else:
            if self.n_components is None:
                lo, hi = _check_range(self, self.k_range, n)
                k, ct, scores = select_mixture(
                    X, (lo, hi), covariance_types=self._types(), criterion=self.criterion,
                    sample_size=self.sample_size, who="GMMClusterer", **common,
                )
                # one type: scores by k (as before); "auto": by (k, type)
                self.criterion_scores_ = (
                    {kk: v for (kk, _), v in scores.items()} if self.covariance_type != "auto" else scores
                )
            else:
                k = self.n_components
                ct = "diag" if self.covariance_type == "auto" else self.covariance_type
                if self.covariance_type == "auto":
                    k, ct, self.criterion_scores_ = select_mixture(
                        X, (k, k), criterion=self.criterion, sample_size=self.sample_size,
                        who="GMMClusterer", **common,
                    )
            model = GaussianMixture(n_components=k, covariance_type=ct, **common).fit(X)
        proba = model.predict_proba(X)
        labels = proba.argmax(1)
        # relabel 0..m-1 in order of first appearance of the used components
        _, labels = np.unique(labels, return_inverse=True)
        self.model_ = model
        self.n_components_ = int(k)
        self.covariance_type_ = ct
        self.weights_ = model.weights_
        self.means_ = model.means_
        self.covariances_ = model.covariances_
        self.precisions_cholesky_ = model.precisions_cholesky_
        self.converged_ = bool(model.converged_)
        self.log_likelihood_ = float(model.score(X))
        return self._finish(
            labels, {"probability": proba.max(1), "log_density": model.score_samples(X)}
        )

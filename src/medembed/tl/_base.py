"""Shared pieces of the estimator contract used by every method wrapper.

Wrappers follow scikit-learn: ``__init__`` only stores arguments, ``fit`` validates
(through a ``_parameter_constraints`` table) and sets attributes ending in ``_``.
Clusterers expose ``labels_`` and may add per-sample columns via ``extra_columns_``;
reducers ``embedding_``; outlier detectors ``scores_`` (higher = more outlying) and
``is_outlier_`` (True = outlier), and their ``fit_predict`` returns scikit-learn's -1
(outlier) / 1 (inlier).

Small collections (a pilot study of 10-100 images) never stop a run. Every estimator caps
a parameter that ``n`` samples cannot support (:func:`cap_param`: ``n_clusters`` at
``n // 2``, neighbours at ``n - 1``, PCA dimensions at ``n - 1``, ...), logs a warning and
records the value used in ``effective_params_`` (written with the result's params). Where
no meaningful result exists it raises :class:`NotApplicable`; the fit helpers of
:mod:`medembed.tl._api` turn that into an explicit "not applicable at n = ..." result, so
the job succeeds and the metrics say why there is nothing to score.
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, OutlierMixin, TransformerMixin

from .._validation import check_features, validate_params

NOISE = -1
#: the column (cluster and outlier tables) and param key that mark a not-applicable result
NOT_APPLICABLE = "not_applicable"

log = logging.getLogger(__name__)


class NotApplicable(ValueError):  # noqa: N818 - a result, not an error, once caught
    """No meaningful result exists on this dataset (too few samples, no labels).

    The message always reads ``"not applicable at n = <n>: <reason>"``; the fit helpers of
    :mod:`medembed.tl._api` catch it and write that message as the result.
    """

    def __init__(self, who: str, n: int, reason: str):
        self.who, self.n, self.reason = who, int(n), reason
        super().__init__(f"not applicable at n = {int(n)}: {who} {reason}")


def cap_param(est, name: str, requested, allowed, *, n: int, why: str):
    """``requested`` if ``n`` samples support it, else ``allowed``: logged, and recorded in
    ``est.effective_params_`` (the one place a capped value is reported)."""
    if requested is None or allowed >= requested:
        return requested
    log.warning("%s: %s=%s needs more than %d samples; using %s=%s (%s)",
                type(est).__name__, name, requested, n, name, allowed, why)
    est.effective_params_ = {**(getattr(est, "effective_params_", None) or {}), name: allowed}
    return allowed


def max_clusters(n: int) -> int:
    """The most clusters ``n`` samples support: ``n // 2`` (two samples per cluster on average)."""
    return n // 2


def cap_n_clusters(est, n: int, requested: int | None = None, name: str = "n_clusters") -> int:
    """``est.n_clusters`` capped at :func:`max_clusters`; :class:`NotApplicable` below 4 samples."""
    requested = est.n_clusters if requested is None else requested
    if max_clusters(n) < 2:
        exceeds = f" exceeds n_samples={n}" if requested > n else ""
        raise NotApplicable(type(est).__name__, n, f"{name}={requested}{exceeds}: 2 clusters of 2 need at least 4 samples")
    return cap_param(est, name, requested, max_clusters(n), n=n,
                     why="at most n // 2 clusters: two samples per cluster on average")


def require_samples(est, n: int, minimum: int, why: str = "") -> None:
    """:class:`NotApplicable` when ``n < minimum``."""
    if n < minimum:
        raise NotApplicable(type(est).__name__, n, f"has {n} samples; at least {minimum} needed{why and ' ' + why}")


class _Checked(BaseEstimator):
    _parameter_constraints: dict = {}
    _min_samples: int = 2

    def _validate(self, X):
        validate_params(self, self._parameter_constraints)
        self.effective_params_ = {}  # filled by cap_param and by methods that choose values
        X = check_features(X, min_samples=1)
        require_samples(self, X.shape[0], self._min_samples)
        return X


class BaseClusterer(ClusterMixin, _Checked):
    """Clusterer: ``fit(X)`` sets ``labels_`` (int, -1 = noise) and ``extra_columns_``."""

    def _finish(self, labels, extra: dict | None = None):
        self.labels_ = np.asarray(labels, dtype=np.int64)
        self.n_clusters_ = int(len(set(self.labels_.tolist()) - {NOISE}))
        self.extra_columns_ = dict(extra or {})
        return self


class BaseReducer(TransformerMixin, _Checked):
    """Reducer: ``fit(X)`` sets ``embedding_`` of shape (n_samples, n_components).

    The maps are computed for the fitted samples only (t-SNE, UMAP and h-NNE as used
    here keep no model of new data): use :meth:`fit_transform` or ``embedding_``.
    """

    def transform(self, X):
        """Not supported: these maps cannot place new samples (raises NotImplementedError)."""
        raise NotImplementedError(
            f"{type(self).__name__} maps only the samples it was fitted on: use "
            "fit_transform(X), or embedding_ after fit(X); it cannot transform new data")

    def fit_transform(self, X, y=None, **fit_params):
        """``fit(X, y, **fit_params)`` (e.g. the shared graph, ``knn=``), then ``embedding_``."""
        return self.fit(X, y, **fit_params).embedding_


class BaseOutlierDetector(OutlierMixin, _Checked):
    """Outlier detector: ``fit(X)`` sets ``scores_`` (higher = more outlying) and
    ``is_outlier_`` (bool, True = outlier).

    :meth:`fit_predict` follows scikit-learn's outlier detectors: -1 for an outlier, 1 for an
    inlier. Like ``LocalOutlierFactor(novelty=False)`` there is no ``predict``: a detector
    describes the samples it was fitted on. For booleans read ``is_outlier_``.
    """

    def _finish(self, scores, is_outlier):
        self.scores_ = np.asarray(scores, dtype=np.float64)
        self.is_outlier_ = np.asarray(is_outlier, dtype=bool)
        return self

    def fit_predict(self, X, y=None, **kw):
        """Fit on ``X`` and return -1 (outlier) / 1 (inlier) per sample, as scikit-learn does."""
        return np.where(self.fit(X, y, **kw).is_outlier_, -1, 1)

"""Shared pieces of the estimator contract used by every method wrapper.

Wrappers follow scikit-learn: ``__init__`` only stores arguments, ``fit`` validates
(through a ``_parameter_constraints`` table) and sets attributes ending in ``_``.
Clusterers expose ``labels_`` and may add per-sample columns via ``extra_columns_``;
reducers ``embedding_``; outlier detectors ``scores_`` (higher = more outlying) and
``is_outlier_``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin

from .._validation import check_features, validate_params

NOISE = -1


class _Checked(BaseEstimator):
    _parameter_constraints: dict = {}
    _min_samples: int = 2

    def _validate(self, X):
        validate_params(self, self._parameter_constraints)
        return check_features(X, min_samples=self._min_samples)


class BaseClusterer(ClusterMixin, _Checked):
    """Clusterer: ``fit(X)`` sets ``labels_`` (int, -1 = noise) and ``extra_columns_``."""

    def _finish(self, labels, extra: dict | None = None):
        self.labels_ = np.asarray(labels, dtype=np.int64)
        self.n_clusters_ = int(len(set(self.labels_.tolist()) - {NOISE}))
        self.extra_columns_ = dict(extra or {})
        return self


class BaseReducer(TransformerMixin, _Checked):
    """Reducer: ``fit(X)`` sets ``embedding_`` of shape (n_samples, n_components)."""

    def transform(self, X=None):  # noqa: ARG002 - non-parametric maps
        return self.embedding_

    def fit_transform(self, X, y=None):
        return self.fit(X, y).embedding_


class BaseOutlierDetector(_Checked):
    """Outlier detector: ``fit(X)`` sets ``scores_`` (higher = more outlying) and ``is_outlier_``."""

    def _finish(self, scores, is_outlier):
        self.scores_ = np.asarray(scores, dtype=np.float64)
        self.is_outlier_ = np.asarray(is_outlier, dtype=bool)
        return self

    def fit_predict(self, X, y=None, **kw):
        return self.fit(X, y, **kw).is_outlier_

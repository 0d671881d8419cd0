from __future__ import annotations

from sklearn.ensemble import IsolationForest

from ..._validation import Interval
from .._base import BaseOutlierDetector


class IsolationForestDetector(BaseOutlierDetector):
    """Isolation Forest (Liu et al. 2008); the Medical Image Analysis Tutorial's contamination=0.1."""

    _parameter_constraints = {
        "contamination": [Interval(float, 0, 0.5, closed="right")],
        "n_estimators": [Interval(int, 1, None, closed="left")],
        "random_state": [int, None],
        "n_jobs": [int, None],
    }

    def __init__(self, contamination=0.1, *, n_estimators=100, random_state=42, n_jobs=None):
        self.contamination = contamination
        self.n_estimators = n_estimators
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X, y=None):
        X = self._validate(X)
        forest = IsolationForest(
            contamination=self.contamination,
            n_estimators=self.n_estimators,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        ).fit(X)
        return self._finish(-forest.score_samples(X), forest.predict(X) == -1)

from __future__ import annotations

import numpy as np

from ..._validation import Interval, Options
from .._base import BaseReducer, NotApplicable


class HNNEReducer(BaseReducer):
    """h-NNE (Sarfraz et al., CVPR 2022): projection over a FINCH hierarchy."""

    _parameter_constraints = {
        "n_components": [Interval(int, 1, None, closed="left")],
        "metric": [Options("cosine", "euclidean")],
        "random_state": [int, None],
    }

    def __init__(self, n_components=2, *, metric="cosine", random_state=42):
        self.n_components = n_components
        self.metric = metric
        self.random_state = random_state

    def fit(self, X, y=None):
        from hnne import HNNE

        X = self._validate(X)
        if self.random_state is not None:
            np.random.seed(self.random_state)  # h-NNE draws from the global RNG
        try:
            self.embedding_ = np.asarray(
                HNNE(n_components=self.n_components, metric=self.metric).fit_transform(X)
            )
        except ValueError as exc:
            # h-NNE needs a hierarchy level with >= 3 clusters to anchor the projection:
            # on a small collection FINCH's first level may already have fewer (no parameter
            # to cap: the hierarchy is parameter-free).
            if "too few points" in str(exc):
                raise NotApplicable(
                    "HNNEReducer", X.shape[0], f"needs a FINCH level of at least 3 clusters ({exc})"
                ) from exc
            raise ValueError(
                f"h-NNE could not project {X.shape[0]} samples: {exc} "
                "(the FINCH hierarchy needs a level with at least 3 clusters)"
            ) from exc
        return self

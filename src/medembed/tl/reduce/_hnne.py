from __future__ import annotations

import contextlib
import functools

import numpy as np

from ..._validation import Interval, Options
from .._base import BaseReducer, NotApplicable


@contextlib.contextmanager
def _first_neighbours(first):
    """h-NNE's call of ``finch.FINCH`` with ``initial_rank=first`` (FINCH's documented
    parameter, which h-NNE does not expose), for the duration of one fit; nothing without
    ``first``."""
    if first is None:
        yield
        return
    from hnne import projector

    own = projector.FINCH
    projector.FINCH = functools.partial(own, initial_rank=first)
    try:
        yield
    finally:
        projector.FINCH = own


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

    def fit(self, X, y=None, *, knn=None):
        """Project ``X``; with the shared graph (``knn``, cosine, for ``metric="cosine"``)
        h-NNE's FINCH hierarchy starts from the graph's first neighbours instead of its own
        search (an n x n distance matrix up to 20,000 samples). h-NNE runs FINCH without the
        early-exit bound, so the hierarchy, and the map, are the same (tested)."""
        from hnne import HNNE

        X = self._validate(X)
        if self.random_state is not None:
            np.random.seed(self.random_state)  # h-NNE draws from the global RNG
        first = None
        if knn is not None and knn.metric == self.metric == "cosine":
            knn.check_samples(X.shape[0], who="HNNEReducer")
            first = np.asarray(knn.indices)[:, 0]
            self.effective_params_["first_neighbours"] = "shared kNN graph"
        try:
            with _first_neighbours(first):
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

from __future__ import annotations

import numpy as np

from ..._validation import Interval, Options
from .._base import BaseClusterer, require_samples


class FINCHClusterer(BaseClusterer):
    """FINCH (Sarfraz et al., CVPR 2019): parameter-free first-neighbour hierarchy.

    Every partition of the hierarchy is kept (columns ``level_0`` .. ``level_{L-1}``,
    finest first); ``level`` picks the one reported as ``labels_`` (0 = finest, as in
    the Medical Image Analysis Tutorial; negative values count from the coarsest). ``req_clust`` asks FINCH
    for an extra partition with exactly that many clusters, which then becomes ``labels_``.
    """

    _parameter_constraints = {
        "level": [int],
        "req_clust": [Interval(int, 2, None, closed="left"), None],
        "distance": [Options("cosine", "euclidean")],
        "ensure_early_exit": [bool],
    }

    def __init__(self, level=0, *, req_clust=None, distance="cosine", ensure_early_exit=True):
        self.level = level
        self.req_clust = req_clust
        self.distance = distance
        self.ensure_early_exit = ensure_early_exit

    def fit(self, X, y=None):
        from finch import FINCH

        X = self._validate(X)
        require_samples(self, X.shape[0], 3, "(a first-neighbour graph of 2 is one pair)")
        # finch-clust changed its positional order between releases: keywords only.
        c, num_clust, req_c = FINCH(
            data=X,
            req_clust=self.req_clust,
            distance=self.distance,
            ensure_early_exit=self.ensure_early_exit,
            verbose=False,
        )
        c = np.asarray(c).reshape(X.shape[0], -1)
        self.partitions_ = c
        self.n_clusters_per_level_ = [int(k) for k in np.atleast_1d(num_clust)]
        n_levels = c.shape[1]
        if self.req_clust is not None and req_c is not None:
            labels = np.asarray(req_c)
        else:
            level = self.level
            if not -n_levels <= level < n_levels:
                raise ValueError(
                    f"FINCH: level={self.level} but the hierarchy has {n_levels} levels "
                    f"(cluster counts {self.n_clusters_per_level_})"
                )
            labels = c[:, level]
        extra = {f"level_{i}": c[:, i] for i in range(n_levels)}
        return self._finish(labels, extra)

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

    def fit(self, X, y=None, *, knn=None):
        """Fit on ``X``; with the shared graph (``knn``, cosine, for ``distance="cosine"``)
        the first neighbours come from it instead of FINCH's own search (an n x n distance
        matrix up to 20,000 samples), with the same partitions (:func:`finch_from_graph`)."""
        from finch import FINCH

        X = self._validate(X)
        require_samples(self, X.shape[0], 3, "(a first-neighbour graph of 2 is one pair)")
        if knn is not None and knn.metric == self.distance == "cosine":
            knn.check_samples(X.shape[0], who="FINCHClusterer")
            c, num_clust, req_c = finch_from_graph(X, knn, req_clust=self.req_clust,
                                                   ensure_early_exit=self.ensure_early_exit)
            self.effective_params_["first_neighbours"] = "shared kNN graph"
        else:
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


def finch_from_graph(X, knn, *, req_clust=None, ensure_early_exit=True):
    """FINCH's hierarchy ``(partitions, cluster counts, requested partition)`` with its first
    level read from the shared kNN graph: ``finch.FINCH``'s own loop (its ``clust_rank``,
    ``get_clust``, ``get_merge``, ``req_numclust``), only the first-neighbour search of
    the samples replaced by the graph's first column, and ``ensure_early_exit``'s bound
    (the largest first-neighbour distance, which the library takes from its n x n matrix)
    from the graph's distances. The coarser levels search among cluster means, as the
    library does. Partitions equal ``finch.FINCH``'s on an exact graph (tested).
    """
    import scipy.sparse as sp
    from finch.finch import clust_rank, get_clust, get_merge, req_numclust

    data = np.asarray(X, dtype=np.float32, order="C")
    n = data.shape[0]
    first = np.asarray(knn.indices)[:, 0]
    adj = sp.csr_matrix((np.ones(n, dtype=np.float32), (np.arange(n), first)), shape=(n, n))
    group, num = get_clust(adj, [], None)
    c, mat = get_merge([], group, data)
    min_sim = float(np.max(np.asarray(knn.distances)[:, 0])) if ensure_early_exit else None
    num_clust, c_ = [num], c
    while True:
        adj, orig_dist, _, _ = clust_rank(mat, None, "cosine", verbose=False)
        u, num_curr = get_clust(adj, orig_dist, min_sim)
        c_, mat = get_merge(c_, u, data)
        c = np.column_stack((c, c_))
        num_clust.append(num_curr)
        if num_curr == 1 or num_clust[-2] - num_curr <= 1:
            num_clust, c = num_clust[:-1], c[:, :-1]
            break
    requested = None
    if req_clust is not None:
        if req_clust in num_clust:
            requested = c[:, num_clust.index(req_clust)]
        elif req_clust > num_clust[0]:
            requested = c[:, 0]
        else:
            level = [i for i, v in enumerate(num_clust) if v >= req_clust][-1]
            requested = req_numclust(c[:, level], data, req_clust, "cosine", 20_000, False)
    return c, num_clust, requested

"""HDBSCAN (Campello, Moulavi & Sander 2013; McInnes, Healy & Astels 2017) with GLOSH scores.

``fit(X, knn=graph)`` reads the shared kNN graph (:func:`medembed.pp.neighbors`, built
on the full features) instead of ``X``: the core distance of a sample is its distance to
its ``min_samples``-th neighbour (counting the sample itself, as the ``hdbscan`` package
does), the mutual reachability of two neighbours ``max(core_i, core_j, d_ij)``, and the
hierarchy, the clusters and the GLOSH outlier scores come from the minimum spanning tree
of that sparse graph (the ``hdbscan`` package's own tree code). Groups the graph does not
connect are joined by edges as long as its longest one, so they split first. Without
``knn`` the ``hdbscan`` package runs on ``X``.

Why the graph and not PCA-50: on benchmarks/scale.py's planted data (20,000 x 512,
benchmarks/outliers_planted.py) both find the planted clusters (ARI 1.0) in seconds (the
raw features take minutes), but outliers in random directions land near the centre of
the PCA subspace and form a cluster there, so HDBSCAN on PCA-50 calls none of them noise
(GLOSH AUROC 0.27); on the graph they are far from everything (AUROC 1.0).
"""

from __future__ import annotations

import numpy as np

from ..._validation import Interval, Options
from .._base import BaseClusterer, cap_param, require_samples


def _graph_mst(knn, min_samples: int) -> np.ndarray:
    """Minimum spanning tree ``(i, j, mutual reachability)`` of the kNN graph, sorted by weight."""
    import scipy.sparse as sp
    from scipy.sparse import csgraph

    n = knn.n_samples
    d = knn.distances.astype(np.float64)
    idx = knn.indices
    core = d[:, min_samples - 2] if min_samples >= 2 else np.zeros(n)
    mr = np.maximum(np.maximum(core[:, None], core[idx]), d)
    tiny = np.finfo(np.float64).tiny  # keeps zero distances (duplicates) as edges
    rows = np.repeat(np.arange(n), idx.shape[1])
    G = sp.csr_matrix((np.maximum(mr.ravel(), tiny), (rows, idx.ravel())), shape=(n, n))
    G = G.maximum(G.T)
    tree = csgraph.minimum_spanning_tree(G).tocoo()
    edges = np.column_stack([tree.row, tree.col, tree.data]).astype(np.float64)
    n_comp, comp = csgraph.connected_components(G, directed=False)
    if n_comp > 1:
        first = np.unique(comp, return_index=True)[1]
        bridge = np.column_stack([first[:-1], first[1:], np.full(n_comp - 1, mr.max())])
        edges = np.vstack([edges, bridge])
    edges[edges[:, 2] <= tiny, 2] = 0.0
    return edges[np.argsort(edges[:, 2], kind="stable")]


def _hdbscan_graph(knn, min_samples, min_cluster_size, method, epsilon):
    from hdbscan._hdbscan_linkage import label
    from hdbscan._hdbscan_tree import outlier_scores
    from hdbscan.hdbscan_ import _tree_to_labels

    tree = label(_graph_mst(knn, min_samples))
    labels, probabilities, _, condensed, _ = _tree_to_labels(
        None, tree, min_cluster_size, method, cluster_selection_epsilon=epsilon
    )
    return labels, probabilities, outlier_scores(condensed)


class HDBSCANClusterer(BaseClusterer):
    """HDBSCAN on the shared kNN graph (``fit(X, knn=...)``) or on ``X``; keeps membership
    probabilities and GLOSH outlier scores. ``metric``: the graph's (None) or, without a
    graph, ``euclidean`` (None) / ``manhattan``."""

    _parameter_constraints = {
        "min_cluster_size": [Interval(int, 2, None, closed="left")],
        "min_samples": [Interval(int, 1, None, closed="left"), None],
        "cluster_selection_method": [Options("eom", "leaf")],
        "cluster_selection_epsilon": [Interval(float, 0, None, closed="left")],
        "metric": [Options("euclidean", "manhattan", "cosine"), None],
        "core_dist_n_jobs": [int],
    }
    _min_samples = 1

    def __init__(
        self,
        min_cluster_size=5,
        *,
        min_samples=3,
        cluster_selection_method="eom",
        cluster_selection_epsilon=0.0,
        metric=None,
        core_dist_n_jobs=1,
    ):
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.cluster_selection_method = cluster_selection_method
        self.cluster_selection_epsilon = cluster_selection_epsilon
        self.metric = metric
        self.core_dist_n_jobs = core_dist_n_jobs

    def fit(self, X, y=None, *, knn=None):
        X = self._validate(X)
        n = X.shape[0]
        require_samples(self, n, 4, "(two clusters of 2)")
        why = "a cluster of at most half the samples, so that two can form"
        mcs = cap_param(self, "min_cluster_size", self.min_cluster_size, n // 2, n=n, why=why)
        ms = cap_param(self, "min_samples", self.min_samples, n // 2, n=n, why=why)
        if knn is not None:
            return self._fit_graph(n, knn, mcs, mcs if ms is None else ms)
        if self.metric == "cosine":
            raise ValueError("HDBSCANClusterer: metric='cosine' needs the kNN graph (fit(X, knn=...)); "
                             "without one use euclidean on L2-normalised rows")
        import hdbscan

        model = hdbscan.HDBSCAN(
            min_cluster_size=mcs,
            min_samples=ms,
            cluster_selection_method=self.cluster_selection_method,
            cluster_selection_epsilon=float(self.cluster_selection_epsilon),
            metric=self.metric or "euclidean",
            core_dist_n_jobs=self.core_dist_n_jobs,
        ).fit(X.astype(np.float64))
        scores = np.nan_to_num(model.outlier_scores_, nan=0.0)
        return self._finish(
            model.labels_, {"probability": model.probabilities_, "outlier_score": scores}
        )

    def _fit_graph(self, n, knn, mcs, ms):
        from ...pp._neighbors import Neighbors

        who = "HDBSCANClusterer"
        if not isinstance(knn, Neighbors):
            raise ValueError(f"{who}: knn must be a pp.Neighbors; got {type(knn).__name__}")
        knn.check_samples(n, who=who)
        if self.metric is not None and self.metric != knn.metric:
            raise ValueError(f"{who}: metric={self.metric!r} but the kNN graph was built with {knn.metric!r}")
        # min_samples counts the sample itself: its (min_samples - 1)-th other neighbour
        ms = cap_param(self, "min_samples", ms, knn.n_neighbors + 1, n=n,
                       why="the kNN graph's neighbours plus the sample itself")
        self.effective_params_["metric"] = knn.metric
        labels, prob, scores = _hdbscan_graph(
            knn, ms, mcs, self.cluster_selection_method, float(self.cluster_selection_epsilon)
        )
        return self._finish(labels, {"probability": prob, "outlier_score": np.nan_to_num(scores, nan=0.0)})

"""DBSCAN (Ester et al. 1996); ``eps="auto"`` reads it from the knee of the k-distance curve.

The Medical Image Analysis Tutorial's ``eps=0.5`` suits one encoder only (with EfficientNet features 0.5 leaves
every image as noise, with 0.7 a third of slake-mini). ``eps="auto"`` follows the
original paper's heuristic: sort every sample's distance to its ``min_samples``-th
neighbour (counting the sample itself, scikit-learn's core-point rule, i.e. the
``min_samples - 1``-th other neighbour) and take the distance at the knee of that curve
(:func:`knee`), where it turns from the dense bulk up to the sparse tail. The distances
come from the shared kNN graph when ``fit(X, knn=graph)`` is given (cosine distances
``1 - cos`` convert to Euclidean ``sqrt(2 (1 - cos))`` on the L2-normalised features),
else from an exact search. The chosen value is logged and kept as ``eps_`` and in
``effective_params_``.

The cluster table's ``outlier_score`` is that distance over ``eps`` (above 1: not a core
point), which ranks ``dbscan_noise``'s outliers: a 0/1 noise flag ranks a dozen foreign
images among the demo's 720 at AUROC 0.90, the score at 0.95 (benchmarks/outliers_planted.py).

Given the shared graph, DBSCAN also clusters from it instead of searching every
eps-neighbourhood again (:func:`radius_graph`): a sample whose k-th graph neighbour lies
beyond ``eps`` has its whole eps-ball in the graph, so its row of the sparse radius graph
(``metric="precomputed"``) is exact; the samples whose ball may hold more than k
neighbours get an exact radius search of their own (all of them when they are more than
:data:`EXACT_SHARE` of the samples). Which path ran is logged and written with the
effective params (``neighbourhoods``). On an exact graph the labels equal scikit-learn's
on the features (tested on the demo and planted data); on an approximate one
(pynndescent, above 20,000 images) they are as good as the graph's recall.
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.cluster import DBSCAN

from ..._validation import Interval, Options
from .._base import BaseClusterer, NotApplicable, cap_param

log = logging.getLogger(__name__)


def knee(values) -> int:
    """Index of the knee of an increasing curve (Kneedle, Satopää et al. 2011).

    The curve ``sorted(values)`` is scaled to the unit square; the knee is the point
    farthest below the chord from its first to its last point (largest ``x - y``).
    """
    y = np.sort(np.asarray(values, dtype=np.float64))
    n = len(y)
    if n < 3 or y[-1] == y[0]:
        return n - 1
    x = np.linspace(0.0, 1.0, n)
    yn = (y - y[0]) / (y[-1] - y[0])
    return int(np.argmax(x - yn))


def _kth_distances(X, knn, k: int, metric: str) -> np.ndarray:
    """Distance of every sample to its ``k``-th other neighbour in ``metric``."""
    from ...pp._neighbors import Neighbors

    if knn is not None:
        if not isinstance(knn, Neighbors):
            raise ValueError(f"DBSCANClusterer: knn must be a pp.Neighbors; got {type(knn).__name__}")
        knn.check_samples(len(X), who="DBSCANClusterer")
        d = _graph_distances(X, knn.head(k, who="DBSCANClusterer eps='auto'"), metric)
        if d is not None:
            return d[:, k - 1]
        log.info("dbscan: kNN graph metric %s does not match %s here; searching again", knn.metric, metric)
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k + 1, metric=metric, algorithm="brute" if metric == "cosine" else "auto")
    dist, _ = nn.fit(X).kneighbors(X)
    return dist[:, k]


#: Above this share of samples whose eps-ball may exceed the graph, search exactly for all.
EXACT_SHARE = 0.2


def _graph_distances(X, knn, metric: str) -> np.ndarray | None:
    """All the graph's distances in ``metric`` (None when they cannot be converted)."""
    d = np.asarray(knn.distances, dtype=np.float64)
    if knn.metric == metric:
        return d
    unit = np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-3)
    if knn.metric == "cosine" and metric == "euclidean" and unit:
        return np.sqrt(2.0 * np.maximum(d, 0.0))  # |a - b|^2 = 2 (1 - cos) on unit rows
    if knn.metric == "euclidean" and metric == "cosine" and unit:
        return 0.5 * d**2
    return None


def graph_eps_edges(X, knn, eps: float, metric: str):
    """The shared graph's edges within ``eps``, symmetrised (kNN-DBSCAN's neighbourhoods,
    Chen et al. 2020): a sample whose eps-ball holds more than k samples keeps the k
    nearest plus those that list it. Not DBSCAN's exact neighbourhoods (see
    :func:`radius_graph`); None when the graph's metric cannot be converted."""
    import scipy.sparse as sp

    d = _graph_distances(X, knn, metric)
    if d is None:
        return None
    n = X.shape[0]
    keep = d <= eps
    G = sp.csr_matrix((d[keep], (np.repeat(np.arange(n), keep.sum(1)), np.asarray(knn.indices)[keep])),
                      shape=(n, n))
    return G.maximum(G.T).tocsr()


def radius_graph(X, knn, eps: float, metric: str, *, exact_share: float = EXACT_SHARE):
    """The sparse eps-neighbourhood graph of ``X`` (row i: every sample within ``eps`` of i,
    self excluded) from the shared kNN graph, and how it was made: ``(graph, how)``.

    Row i is read from the graph when its k-th neighbour lies beyond ``eps`` (then no sample
    within ``eps`` can be missing); the other rows come from an exact radius search of
    those samples, or ``graph`` is None (search everything) when they are more than
    ``exact_share`` of the samples or the graph's metric cannot be converted.
    """
    import scipy.sparse as sp
    from sklearn.neighbors import NearestNeighbors

    n = X.shape[0]
    d = _graph_distances(X, knn, metric)
    if d is None:
        return None, f"exact search (graph metric {knn.metric} differs from {metric})"
    idx = np.asarray(knn.indices)
    partial = np.flatnonzero(d[:, -1] <= eps)  # the ball may reach past the k-th neighbour
    if len(partial) > exact_share * n:
        return None, (f"exact search ({len(partial)} of {n} eps-balls hold {idx.shape[1]} graph "
                      "neighbours or more)")
    keep = d <= eps
    keep[partial] = False
    rows = [np.repeat(np.arange(n), keep.sum(1))]
    cols, vals = [idx[keep]], [d[keep]]
    if len(partial):
        nn = NearestNeighbors(radius=eps, metric=metric, algorithm="brute" if metric == "cosine" else "auto")
        dist, ind = nn.fit(X).radius_neighbors(X[partial], return_distance=True)
        for i, di, ii in zip(partial, dist, ind):
            own = ii != i
            rows.append(np.full(own.sum(), i))
            cols.append(ii[own])
            vals.append(di[own])
    G = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    how = "shared kNN graph" + (f" + exact search of {len(partial)} larger eps-balls" if len(partial) else "")
    return G, how


class DBSCANClusterer(BaseClusterer):
    """DBSCAN; the tutorial's min_samples=5 on L2-normalised embeddings; ``eps`` a radius or "auto".

    ``neighbourhoods``: ``"exact"`` (DBSCAN's eps-balls; from the shared graph where they
    provably fit in it, :func:`radius_graph`) or ``"graph"`` (the graph's edges within eps
    only, :func:`graph_eps_edges`: kNN-DBSCAN, no search at all; for 10^5-10^6 images).
    """

    _parameter_constraints = {
        "eps": [Interval(float, 0, None, closed="neither"), Options("auto")],
        "min_samples": [Interval(int, 1, None, closed="left")],
        "metric": [Options("euclidean", "cosine", "manhattan")],
        "neighbourhoods": [Options("exact", "graph")],
        "n_jobs": [int, None],
    }
    _min_samples = 1

    def __init__(self, eps=0.5, *, min_samples=5, metric="euclidean", neighbourhoods="exact", n_jobs=None):
        self.eps = eps
        self.min_samples = min_samples
        self.metric = metric
        self.neighbourhoods = neighbourhoods
        self.n_jobs = n_jobs

    def fit(self, X, y=None, *, knn=None):
        X = self._validate(X)
        eps = self.eps
        n = X.shape[0]
        min_samples = cap_param(self, "min_samples", self.min_samples, max(1, n // 2), n=n,
                                why="a core point's neighbourhood at most half the samples")
        k = max(1, min(min_samples - 1, n - 1))
        kth = _kth_distances(X, knn, k, self.metric) if n >= 2 else np.zeros(n)
        if eps == "auto":
            if n < 3:
                raise NotApplicable("DBSCANClusterer", n, "eps='auto' needs at least 3 samples")
            dist = np.sort(kth)
            self.k_distances_ = dist
            eps = float(dist[knee(dist)])
            if eps <= 0:  # duplicates: the bulk is at distance 0
                positive = dist[dist > 0]
                eps = float(positive[0]) if positive.size else 1e-12
            log.info("dbscan: eps='auto' chose eps=%.4g (knee of the %d-th neighbour distance, %s)",
                     eps, k, "shared kNN graph" if knn is not None else "exact search")
        self.eps_ = float(eps)
        self.effective_params_["eps"] = self.eps_
        graph, how = None, "exact search"
        if knn is not None and n >= 2 and self.neighbourhoods == "graph":
            graph = graph_eps_edges(X, knn, self.eps_, self.metric)
            how = "shared kNN graph only (kNN-DBSCAN)" if graph is not None else how
        elif knn is not None and n >= 2:
            graph, how = radius_graph(X, knn, self.eps_, self.metric)
        log.info("dbscan: eps-neighbourhoods from %s", how)
        self.effective_params_["neighbourhoods"] = how
        if graph is not None:
            db = DBSCAN(eps=self.eps_, min_samples=min_samples, metric="precomputed", n_jobs=self.n_jobs)
            labels = db.fit_predict(graph)
        else:
            db = DBSCAN(eps=self.eps_, min_samples=min_samples, metric=self.metric, n_jobs=self.n_jobs)
            labels = db.fit_predict(X)
        # how far each sample is from being a core point: > 1 outside every dense region
        return self._finish(labels, {"outlier_score": kth / self.eps_})

"""The one shared k-nearest-neighbour graph (scanpy's ``pp.neighbors``).

Every graph-based method (t-SNE, UMAP, spectral clustering, kNN/LOF outliers,
near-duplicates) reads this graph instead of searching neighbours again. Build it
once with the largest ``n_neighbors`` any consumer needs (t-SNE needs
``3 * perplexity``, i.e. 90 for the default perplexity 30); consumers take the
first columns with :meth:`Neighbors.head`.

Exact search (brute force on L2-normalised rows, chunked by scikit-learn) is used
up to ``exact_max`` samples, pynndescent above. Nothing here holds an n x n matrix.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .._validation import check_features

log = logging.getLogger(__name__)

#: Up to this many samples ``method="auto"`` searches exactly (brute force).
EXACT_MAX = 20_000
METRICS = ("cosine", "euclidean")
METHODS = ("auto", "exact", "approx")


@dataclass
class Neighbors:
    """k nearest neighbours of every sample, self excluded, nearest first.

    ``distances`` are cosine distances (1 - cosine similarity) for
    ``metric="cosine"`` and Euclidean distances for ``metric="euclidean"``.
    """

    indices: np.ndarray
    distances: np.ndarray
    metric: str = "cosine"
    method: str = "exact"
    ids: np.ndarray | None = None
    params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.indices = np.asarray(self.indices, dtype=np.int32)
        self.distances = np.asarray(self.distances, dtype=np.float32)
        if self.indices.ndim != 2 or self.indices.shape != self.distances.shape:
            raise ValueError(
                f"Neighbors: indices {self.indices.shape} and distances {self.distances.shape} "
                "must be 2-D arrays of the same shape"
            )
        if self.metric not in METRICS:
            raise ValueError(f"Neighbors: metric={self.metric!r} is invalid; allowed: {METRICS}")
        if self.ids is not None and len(self.ids) != len(self.indices):
            raise ValueError(f"Neighbors: {len(self.indices)} rows but {len(self.ids)} ids")

    @property
    def n_samples(self) -> int:
        return int(self.indices.shape[0])

    @property
    def n_neighbors(self) -> int:
        return int(self.indices.shape[1])

    def head(self, k: int, *, who: str = "this method") -> Neighbors:
        """The graph restricted to each sample's ``k`` nearest neighbours."""
        if k > self.n_neighbors:
            raise ValueError(
                f"{who} needs n_neighbors={k} but the kNN graph has only {self.n_neighbors}; "
                f"rebuild it with pp.neighbors(X, n_neighbors={k}) or more"
            )
        if k == self.n_neighbors:
            return self
        return Neighbors(
            self.indices[:, :k], self.distances[:, :k], self.metric, self.method, self.ids,
            dict(self.params),
        )

    def check_samples(self, n: int, *, who: str = "this method") -> None:
        if self.n_samples != n:
            raise ValueError(f"{who}: kNN graph has {self.n_samples} samples but X has {n}")

    def with_self(self) -> tuple[np.ndarray, np.ndarray]:
        """Indices and distances with each sample as its own first neighbour (UMAP's layout)."""
        n = self.n_samples
        idx = np.hstack([np.arange(n, dtype=np.int32)[:, None], self.indices])
        dist = np.hstack([np.zeros((n, 1), np.float32), self.distances])
        return idx, dist

    def to_sparse_distances(self) -> sp.csr_matrix:
        """Directed sparse distance graph (row i holds i's neighbours); zeros kept explicit."""
        n, k = self.indices.shape
        indptr = np.arange(0, n * k + 1, k, dtype=np.int64)
        return sp.csr_matrix(
            (self.distances.ravel().copy(), self.indices.ravel().copy(), indptr), shape=(n, n)
        )

    def to_sparse_affinity(
        self, n_neighbors: int | None = None, *, kernel: str = "adaptive", symmetrize: str = "mean"
    ) -> sp.csr_matrix:
        """Symmetric sparse affinity matrix ``W`` (no self loops) from the graph.

        kernel: ``"adaptive"``: self-tuning Gaussian ``exp(-d_ij^2 / (s_i s_j))`` with
        ``s_i`` the distance to i's ``min(7, k)``-th neighbour (Zelnik-Manor & Perona
        2004); ``"binary"``: 1 for every edge. symmetrize: ``"mean"`` ((W + W^T)/2),
        ``"max"`` or ``"fuzzy"`` (W + W^T - W∘W^T, UMAP's fuzzy union).
        """
        if kernel not in ("adaptive", "binary"):
            raise ValueError(f"kernel={kernel!r} is invalid; allowed: 'adaptive', 'binary'")
        if symmetrize not in ("mean", "max", "fuzzy"):
            raise ValueError(f"symmetrize={symmetrize!r} is invalid; allowed: 'mean', 'max', 'fuzzy'")
        nb = self if n_neighbors is None else self.head(n_neighbors, who="to_sparse_affinity")
        n, k = nb.indices.shape
        d = nb.distances.astype(np.float64)
        if kernel == "binary":
            w = np.ones_like(d)
        else:
            scale = d[:, min(7, k) - 1]
            positive = scale[scale > 0]
            floor = (positive.min() if positive.size else 1.0) * 1e-3
            scale = np.maximum(scale, floor)
            w = np.exp(-(d**2) / (scale[:, None] * scale[nb.indices]))
        rows = np.repeat(np.arange(n), k)
        W = sp.csr_matrix((w.ravel(), (rows, nb.indices.ravel())), shape=(n, n))
        W.setdiag(0)
        W.eliminate_zeros()
        Wt = W.T.tocsr()
        if symmetrize == "mean":
            S = (W + Wt) * 0.5
        elif symmetrize == "max":
            S = W.maximum(Wt)
        else:
            S = W + Wt - W.multiply(Wt)
        return S.tocsr()


def _normalise(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    zero = int((norms[:, 0] == 0).sum())
    if zero:
        raise ValueError(f"X has {zero} rows of zero norm; metric='cosine' is undefined for them")
    return X / norms


def _drop_self(idx: np.ndarray, dist: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Remove each row's own index from a (n, k+1) result; with duplicates self may not be first."""
    n = idx.shape[0]
    is_self = idx == np.arange(n)[:, None]
    # rows where self was not returned at all (ties beyond k+1): drop the last column
    missing = ~is_self.any(axis=1)
    is_self[missing, -1] = True
    # keep only the first "self" hit per row
    first = np.argmax(is_self, axis=1)
    keep = np.ones_like(is_self)
    keep[np.arange(n), first] = False
    return idx[keep].reshape(n, k), dist[keep].reshape(n, k)


def neighbors(
    X,
    n_neighbors: int = 15,
    metric: str = "cosine",
    method: str = "auto",
    random_state: int | None = 0,
    n_jobs: int = 1,
    *,
    exact_max: int = EXACT_MAX,
    ids=None,
    clamp: bool = False,
) -> Neighbors:
    """k nearest neighbours of every row of ``X`` (self excluded, nearest first).

    method: ``"exact"`` (brute force, chunked), ``"approx"`` (pynndescent) or
    ``"auto"`` (exact when ``n_samples <= exact_max``). ``n_neighbors > n - 1`` is an
    error, or with ``clamp=True`` lowered to ``n - 1`` with a logged warning; the graph's
    ``params`` record the ``n_neighbors`` used and, when lowered, ``n_neighbors_requested``.
    """
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, (int, np.integer)) or n_neighbors < 1:
        raise ValueError(f"neighbors: n_neighbors={n_neighbors!r} is invalid; allowed: int >= 1")
    if metric not in METRICS:
        raise ValueError(f"neighbors: metric={metric!r} is invalid; allowed: {', '.join(METRICS)}")
    if method not in METHODS:
        raise ValueError(f"neighbors: method={method!r} is invalid; allowed: {', '.join(METHODS)}")
    X = check_features(X, min_samples=2)
    n = X.shape[0]
    k = requested = int(n_neighbors)
    if k > n - 1:
        if not clamp:
            raise ValueError(f"neighbors: n_neighbors={k} needs at least {k + 1} samples; X has {n}")
        k = n - 1
        log.warning("neighbors: n_neighbors=%d needs at least %d samples; using %d on %d samples",
                    requested, requested + 1, k, n)
    Z = _normalise(X) if metric == "cosine" else X
    use = method if method != "auto" else ("exact" if n <= exact_max else "approx")
    if use == "exact":
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(n_neighbors=k + 1, algorithm="brute", metric="euclidean", n_jobs=n_jobs)
        dist, idx = nn.fit(Z).kneighbors(Z)
        if metric == "cosine":
            dist = 0.5 * dist**2  # |a - b|^2 = 2 (1 - cos) on unit vectors
    else:
        from pynndescent import NNDescent

        index = NNDescent(
            Z,
            n_neighbors=k + 1,
            metric=metric,
            random_state=random_state,
            n_jobs=n_jobs,
            low_memory=True,
            compressed=True,
        )
        idx, dist = index.neighbor_graph
    idx, dist = _drop_self(np.asarray(idx), np.asarray(dist), k)
    dist = np.maximum(dist, 0)
    order = np.argsort(dist, axis=1, kind="stable")
    idx = np.take_along_axis(idx, order, axis=1)
    dist = np.take_along_axis(dist, order, axis=1)
    params = {"n_neighbors": k, "metric": metric, "method": use, "random_state": random_state}
    if k != requested:
        params["n_neighbors_requested"] = requested
    return Neighbors(idx, dist, metric, use, None if ids is None else np.asarray(ids).astype(str), params)


def write_neighbors(path: str | os.PathLike, nb: Neighbors) -> None:
    """Write the graph to an ``.npz`` (indices, distances, metric, method, ids, params), atomically."""
    from ..io import _jsonable, atomic_path

    arrays = {
        "indices": nb.indices,
        "distances": nb.distances,
        "metric": np.array(nb.metric),
        "method": np.array(nb.method),
        "params": np.array(json.dumps(_jsonable(nb.params), sort_keys=True)),
    }
    if nb.ids is not None:
        arrays["ids"] = np.asarray(nb.ids).astype(str)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def read_neighbors(path: str | os.PathLike) -> Neighbors:
    with np.load(path, allow_pickle=False) as z:
        return Neighbors(
            z["indices"],
            z["distances"],
            str(z["metric"]),
            str(z["method"]),
            z["ids"] if "ids" in z else None,
            json.loads(str(z["params"])) if "params" in z else {},
        )


def knn_kwargs(path: str | os.PathLike | None) -> dict:
    """``{"knn": graph}`` for a method given the shared graph's file, ``{}`` without one."""
    return {} if path is None else {"knn": read_neighbors(path)}


def resolve_knn(X, knn: Neighbors | None, n_neighbors: int, metric: str, *, who: str,
                random_state=0, n_jobs: int = 1) -> Neighbors:
    """The graph a consumer should use: ``knn`` cut to ``n_neighbors``, or a new one from ``X``."""
    if knn is None:
        if X is None:
            raise ValueError(f"{who} needs X or a kNN graph: compute pp.neighbors first")
        return neighbors(X, n_neighbors=n_neighbors, metric=metric, random_state=random_state,
                         n_jobs=n_jobs)
    if not isinstance(knn, Neighbors):
        raise ValueError(f"{who}: knn must be a pp.Neighbors; got {type(knn).__name__}")
    if knn.metric != metric:
        raise ValueError(f"{who}: metric={metric!r} but the kNN graph was built with {knn.metric!r}")
    if X is not None:
        knn.check_samples(len(X), who=who)
    return knn.head(n_neighbors, who=who)

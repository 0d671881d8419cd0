"""Normalised spectral clustering (Ng, Jordan & Weiss 2002) on the sparse kNN graph (seed 004).

1. ``W``: symmetric sparse affinity from the shared kNN graph (self-tuning Gaussian
   on each point's ``n_neighbors`` nearest neighbours, :meth:`Neighbors.to_sparse_affinity`);
   never a dense n x n matrix, so it scales to 10^5+ images.
2. ``L = I - D^-1/2 W D^-1/2``; its ``n_clusters`` smallest eigenvectors are the largest
   of ``M = D^-1/2 W D^-1/2``, found with ARPACK (``eigsh``) or LOBPCG.
3. Rows of the eigenvector matrix are normalised to unit length (the NJW step) and
   clustered with k-means.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from sklearn.cluster import KMeans
from sklearn.utils import check_random_state

from ..._validation import Interval, Options
from .._base import BaseClusterer


def _top_eigenvectors(M: sp.csr_matrix, k: int, solver: str, rng) -> tuple[np.ndarray, np.ndarray]:
    n = M.shape[0]
    if n <= max(200, 3 * k):  # tiny graphs: dense is cheaper and always converges
        vals, vecs = np.linalg.eigh(M.toarray())
        return vals[::-1][:k], vecs[:, ::-1][:, :k]
    if solver == "lobpcg":
        from scipy.sparse.linalg import lobpcg

        X0 = rng.standard_normal((n, k + 1))
        vals, vecs = lobpcg(M, X0, tol=1e-5, maxiter=500, largest=True)
        order = np.argsort(vals)[::-1][:k]
        return vals[order], vecs[:, order]
    from scipy.sparse.linalg import eigsh

    v0 = rng.uniform(-1, 1, n)
    vals, vecs = eigsh(M, k=k, which="LA", v0=v0, tol=1e-6)
    order = np.argsort(vals)[::-1]
    return vals[order], vecs[:, order]


class SpectralClusterer(BaseClusterer):
    """Ng–Jordan–Weiss spectral clustering on the sparse kNN affinity graph."""

    _parameter_constraints = {
        "n_clusters": [Interval(int, 2, None, closed="left")],
        "n_neighbors": [Interval(int, 2, None, closed="left")],
        "metric": [Options("cosine", "euclidean")],
        "eigen_solver": [Options("arpack", "lobpcg")],
        "n_init": [Interval(int, 1, None, closed="left")],
        "random_state": [int, None],
        "n_jobs": [int],
    }

    def __init__(self, n_clusters=8, *, n_neighbors=15, metric="cosine", eigen_solver="arpack",
                 n_init=10, random_state=42, n_jobs=1):
        self.n_clusters = n_clusters
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.eigen_solver = eigen_solver
        self.n_init = n_init
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X, y=None, *, knn=None):
        from ...pp._neighbors import resolve_knn

        X = self._validate(X)
        n = X.shape[0]
        if self.n_clusters >= n:
            raise ValueError(f"SpectralClusterer: n_clusters={self.n_clusters} must be < n_samples={n}")
        k_nn = min(self.n_neighbors, n - 1)
        nb = resolve_knn(X, knn, k_nn, self.metric, who="SpectralClusterer",
                         random_state=self.random_state, n_jobs=self.n_jobs)
        W = nb.to_sparse_affinity(kernel="adaptive", symmetrize="mean")
        deg = np.asarray(W.sum(axis=1)).ravel()
        dinv = 1.0 / np.sqrt(np.maximum(deg, 1e-12))
        M = sp.diags(dinv) @ W @ sp.diags(dinv)
        rng = check_random_state(self.random_state)
        vals, U = _top_eigenvectors(M.tocsr(), self.n_clusters, self.eigen_solver, rng)
        U = U / np.maximum(np.linalg.norm(U, axis=1, keepdims=True), 1e-12)
        km = KMeans(self.n_clusters, n_init=self.n_init, random_state=self.random_state).fit(U)
        self.eigenvalues_ = 1.0 - vals  # of the normalised Laplacian, ascending
        self.embedding_ = U
        self.n_components_graph_ = int(
            connected_components(W, directed=False, return_labels=False)
        )
        return self._finish(km.labels_)

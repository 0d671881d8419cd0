"""Normalised spectral clustering (Ng, Jordan & Weiss, NIPS 2001) on the sparse kNN graph.

1. ``W``: symmetric sparse affinity from the shared kNN graph (self-tuning Gaussian
   on each point's ``n_neighbors`` nearest neighbours, :meth:`Neighbors.to_sparse_affinity`);
   never a dense n x n matrix, so it scales to 10^5+ images.
2. ``L = I - D^-1/2 W D^-1/2``; its ``n_clusters`` smallest eigenvectors are the largest
   of ``M = D^-1/2 W D^-1/2``, found with ARPACK (``eigsh``) or LOBPCG.
   With ``regularization=tau > 0`` the graph is first regularised (Amini et al. 2013;
   Zhang & Rohe 2018): every pair gets an extra weight ``tau * mean_degree / n``,
   applied implicitly as a rank-one term (still no dense matrix). Without it, small
   disconnected islands of the kNN graph (near-duplicates, outliers) each take an
   eigenvector of eigenvalue 0, and a repeated eigenvalue is one a Lanczos solver
   cannot resolve (hence the default block solver, LOBPCG, which can). Regularising
   hurts elongated clusters (a chain splits in two before two chains separate), so
   it is off by default.
3. Rows of the eigenvector matrix are normalised to unit length (the NJW step) and
   clustered with k-means.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import LinearOperator
from sklearn.cluster import KMeans
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from ..._validation import Interval, Options
from .._base import BaseClusterer, cap_n_clusters, cap_param


def _top_eigenvectors(M, n: int, k: int, solver: str, rng) -> tuple[np.ndarray, np.ndarray]:
    """Largest ``k`` eigenpairs of the symmetric operator ``M`` (a LinearOperator)."""
    if n <= max(200, 3 * k):  # tiny graphs: dense is cheaper and always converges
        vals, vecs = np.linalg.eigh(M @ np.eye(n))
        return vals[::-1][:k], vecs[:, ::-1][:, :k]
    if solver == "lobpcg":
        from scipy.sparse.linalg import lobpcg

        X0 = rng.standard_normal((n, k + 1))
        vals, vecs = lobpcg(M, X0, tol=1e-5, maxiter=500, largest=True)
        order = np.argsort(vals)[::-1][:k]
        return vals[order], vecs[:, order]
    from scipy.sparse.linalg import eigsh

    vals, vecs = eigsh(M, k=k, which="LA", v0=rng.uniform(-1, 1, n), tol=1e-6)
    order = np.argsort(vals)[::-1]
    return vals[order], vecs[:, order]


class SpectralClusterer(BaseClusterer):
    """Ng–Jordan–Weiss spectral clustering on the sparse kNN affinity graph."""

    _parameter_constraints = {
        "n_clusters": [Interval(int, 2, None, closed="left")],
        "n_neighbors": [Interval(int, 2, None, closed="left")],
        "metric": [Options("cosine", "euclidean")],
        "regularization": [Interval(float, 0, None, closed="left")],
        "eigen_solver": [Options("arpack", "lobpcg")],
        "n_init": [Interval(int, 1, None, closed="left")],
        "random_state": [int, None],
        "n_jobs": [int],
    }

    def __init__(self, n_clusters=8, *, n_neighbors=15, metric="cosine", regularization=0.0,
                 eigen_solver="lobpcg", n_init=10, random_state=42, n_jobs=1):
        self.n_clusters = n_clusters
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.regularization = regularization
        self.eigen_solver = eigen_solver
        self.n_init = n_init
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X, y=None, *, knn=None):
        from ...pp._neighbors import resolve_knn

        X = self._validate(X)
        n = X.shape[0]
        k = cap_n_clusters(self, n)
        if float(np.ptp(X, axis=0).max()) == 0.0:
            # all samples identical: the graph has no structure, so one cluster, said plainly
            warnings.warn(f"SpectralClusterer: all {n} samples are identical; returning one cluster", stacklevel=2)
            self.eigenvalues_ = np.zeros(k)
            self.embedding_ = np.zeros((n, k))
            self.n_components_graph_ = 1
            return self._finish(np.zeros(n, dtype=int))
        k_nn = cap_param(self, "n_neighbors", self.n_neighbors, n - 1, n=n, why="n - 1 other samples")
        nb = resolve_knn(X, knn, k_nn, self.metric, who="SpectralClusterer",
                         random_state=self.random_state, n_jobs=self.n_jobs)
        W = nb.to_sparse_affinity(kernel="adaptive", symmetrize="mean")
        deg = np.asarray(W.sum(axis=1)).ravel()
        tau = float(self.regularization) * float(deg.mean())
        dinv = 1.0 / np.sqrt(np.maximum(deg + tau, 1e-12))
        A = (sp.diags(dinv) @ W @ sp.diags(dinv)).tocsr()
        s = dinv * np.sqrt(tau / n)  # rank-one part: D^-1/2 (tau/n) 1 1^T D^-1/2 = s s^T

        def matmat(V):
            V = V.reshape(n, -1)
            return A @ V + np.outer(s, s @ V)

        M = LinearOperator((n, n), matvec=matmat, matmat=matmat, dtype=np.float64)
        rng = check_random_state(self.random_state)
        vals, U = _top_eigenvectors(M, n, k, self.eigen_solver, rng)
        U = U / np.maximum(np.linalg.norm(U, axis=1, keepdims=True), 1e-12)
        with threadpool_limits(1, user_api="blas"):  # sklearn's OpenMP k-means + BLAS threads oversubscribe
            km = KMeans(k, n_init=self.n_init, random_state=self.random_state).fit(U)
        self.eigenvalues_ = 1.0 - vals  # of the normalised Laplacian, ascending
        self.embedding_ = U
        self.n_components_graph_ = int(
            connected_components(W, directed=False, return_labels=False)
        )
        return self._finish(km.labels_)

"""k-means with the Mahalanobis distance (Nogueira & Serapião, n.d., eq. 10).

Lloyd iterations where a point goes to the centre with the smallest
``(x - mu_j)^T V_j^-1 (x - mu_j)``. ``V_j`` is re-estimated from the current
clusters every iteration:

- ``covariance_type="tied"``: one pooled within-cluster covariance for all clusters
  (every cluster the same ellipse; k-means in the space whitened by it).
- ``covariance_type="full"``: one covariance per cluster.

Each ``V_j`` is shrunk towards its mean variance (``reg_covar``) and scaled to unit
determinant (Gustafson & Kessel 1979); without that a cluster with a large
covariance has small distances everywhere and swallows the others. The objective
``sum_i min_j D_ij`` then equals ``d * sum_j n_j |V_j|^(1/d)`` (the within-cluster
scatter determinant), used to pick the best of ``n_init`` starts.

Cost per iteration is ``O(n k d^2)`` (``O(n d^2 + n k d)`` when tied), so run it on
PCA-reduced features (``pp.pca``, 50 dimensions) for large collections.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import kmeans_plusplus
from sklearn.utils import check_random_state

from ..._validation import Interval, Options
from .._base import BaseClusterer, cap_n_clusters


def _shrunk_chol(cov: np.ndarray, reg: float):
    """Cholesky factor of the shrunk covariance scaled to unit determinant, and its log det."""
    d = cov.shape[0]
    scale = max(float(np.trace(cov)) / d, 1e-12)
    V = cov + reg * scale * np.eye(d)
    L = np.linalg.cholesky(V)
    logdet = 2.0 * float(np.log(np.diag(L)).sum())
    return L * np.exp(-logdet / (2 * d)), logdet


class MahalanobisKMeans(BaseClusterer):
    """k-means with per-iteration Mahalanobis distances (tied or per-cluster covariance)."""

    _parameter_constraints = {
        "n_clusters": [Interval(int, 2, None, closed="left")],
        "covariance_type": [Options("tied", "full")],
        "reg_covar": [Interval(float, 0, None, closed="left")],
        "n_init": [Interval(int, 1, None, closed="left")],
        "max_iter": [Interval(int, 1, None, closed="left")],
        "init": [np.ndarray, Options("k-means++", "random")],
        "random_state": [int, None],
    }

    def __init__(self, n_clusters=8, *, covariance_type="tied", reg_covar=1e-3, n_init=10,
                 max_iter=100, init="k-means++", random_state=42):
        self.n_clusters = n_clusters
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.n_init = n_init
        self.max_iter = max_iter
        self.init = init
        self.random_state = random_state

    def _distances(self, X, labels):
        k, (n, d) = self._k, X.shape
        onehot = sp.csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(k, n))
        counts = np.bincount(labels, minlength=k)
        means = np.asarray(onehot @ X) / np.maximum(counts, 1)[:, None]
        D = np.empty((n, k))
        if self.covariance_type == "tied":
            R = X - means[labels]
            L, _ = _shrunk_chol(R.T @ R / n, self.reg_covar)
            Linv = np.linalg.inv(L)
            Z, M = X @ Linv.T, means @ Linv.T
            D[:] = (Z * Z).sum(1)[:, None] + (M * M).sum(1)[None, :] - 2 * Z @ M.T
            covs = [L @ L.T] * k
        else:
            covs = []
            for j in range(k):
                R = X[labels == j] - means[j]
                cov = R.T @ R / len(R) if len(R) > 1 else np.zeros((d, d))
                L, _ = _shrunk_chol(cov, self.reg_covar)
                Z = (X - means[j]) @ np.linalg.inv(L).T
                D[:, j] = (Z * Z).sum(1)
                covs.append(L @ L.T)
        return np.maximum(D, 0), means, counts, covs

    def _run(self, X, C0):
        k = self._k
        D = np.maximum((X * X).sum(1)[:, None] - 2 * X @ C0.T + (C0 * C0).sum(1)[None], 0)
        labels = D.argmin(1)
        n_iter = 0
        for n_iter in range(1, self.max_iter + 1):  # noqa: B007 - read after the loop
            for j in np.flatnonzero(np.bincount(labels, minlength=k) == 0):
                # re-seed an empty cluster with the point its centre serves worst
                worst = int(np.argmax(D[np.arange(len(X)), labels]))
                labels[worst] = j
                D[worst] = 0.0
            D, means, counts, covs = self._distances(X, labels)
            new = D.argmin(1)
            if np.array_equal(new, labels):
                break
            labels = new
        D, means, counts, covs = self._distances(X, labels)
        obj = float(D[np.arange(len(X)), labels].sum())
        return labels, means, covs, obj, n_iter

    def fit(self, X, y=None):
        X = self._validate(X).astype(np.float64)
        n, d = X.shape
        self._k = k = cap_n_clusters(self, n)  # a covariance needs 2 samples per cluster
        rng = check_random_state(self.random_state)
        if isinstance(self.init, np.ndarray):
            if self.init.shape != (k, d):
                raise ValueError(
                    f"MahalanobisKMeans: init has shape {self.init.shape}; expected {(k, d)}"
                )
            starts = [np.asarray(self.init, dtype=np.float64)]
        else:
            starts = []
            for _ in range(self.n_init):
                if self.init == "k-means++":
                    starts.append(kmeans_plusplus(X, k, random_state=rng)[0])
                else:
                    starts.append(X[rng.choice(n, k, replace=False)])
        best = None
        for C0 in starts:
            res = self._run(X, C0)
            if best is None or res[3] < best[3]:
                best = res
        labels, means, covs, obj, n_iter = best
        self.cluster_centers_ = means
        self.covariances_ = np.asarray(covs)
        self.objective_ = obj
        self.n_iter_ = n_iter
        return self._finish(labels)

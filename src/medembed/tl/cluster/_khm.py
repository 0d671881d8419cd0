"""K-Harmonic Means (Zhang et al. 1999) and its RBF-kernel variant (Li et al. 2007).

KHM minimises the harmonic mean of each point's distances to all centres,

    KHM(C) = sum_i k / sum_j d_ij^(-p),

so every point pulls on every centre (membership ``u_ij``) with a weight ``w_i``
that grows for points no centre explains yet. That is what makes it far less
sensitive to the initial centres than k-means (Hamerly & Elkan 2002). The centre
update is ``c_j = sum_i u_ij w_i x_i / sum_i u_ij w_i`` with

    u_ij = d_ij^(-p-2) / sum_l d_il^(-p-2),   w_i = sum_l d_il^(-p-2) / (sum_l d_il^(-p))^2.

(Nogueira & Serapião (n.d.) print these with the exponents fixed to 2 and 1; we use the general
form of Zhang et al. and Hamerly & Elkan with ``p``, default 3.5.)

Kernel KHM replaces the distance by the RBF feature-space distance
``||phi(x)-phi(c)||^2 = 2 (1 - K(x, c))``, ``K = exp(-||x - c||^2 / sigma^2)``; its
objective is ``sum_i 2k / sum_j 1/(1 - K_ij)`` and ``u_ij w_i = K_ij (1-K_ij)^-2 /
(sum_l (1-K_il)^-1)^2``, Nogueira & Serapião's equations (16)-(18).

Both start from k-means++ seeds by default (``init="random"`` draws data points;
an array gives the centres). Kernel KHM needs the good start: a centre that lands
on an isolated point keeps only that point (its kernel is ~0 for everyone else).
On raw 512-d embeddings KHM's harmonic weights become nearly uniform and the
centres collapse; run both on PCA-reduced features (``pp.pca``, 50 dimensions),
the low-dimensional setting in which Nogueira & Serapião and Hamerly & Elkan used them.

Both use ``O(n k d)`` memory and time per iteration; labels are the nearest centre
(argmax ``u_ij``) and the ``probability`` column is ``max_j u_ij``.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import kmeans_plusplus
from sklearn.utils import check_random_state

from ..._validation import Interval, Options
from .._base import BaseClusterer, cap_n_clusters


def _sq_dists(X: np.ndarray, C: np.ndarray, x2: np.ndarray) -> np.ndarray:
    d2 = x2[:, None] + (C * C).sum(1)[None, :] - 2.0 * (X @ C.T)
    return np.maximum(d2, 0.0)


def _init_centers(X, k, init, rng, who):
    if isinstance(init, np.ndarray):
        C = np.asarray(init, dtype=np.float64)
        if C.shape != (k, X.shape[1]):
            raise ValueError(
                f"{who}: init has shape {C.shape}; expected (n_clusters, n_features) = {(k, X.shape[1])}"
            )
        if not np.isfinite(C).all():
            raise ValueError(f"{who}: init has NaN or inf values")
        return C.copy()
    if init == "k-means++":
        C, _ = kmeans_plusplus(X, k, random_state=rng)
        return C.astype(np.float64)
    return X[rng.choice(X.shape[0], size=k, replace=False)].astype(np.float64)


class _KHMBase(BaseClusterer):
    _min_samples = 2

    def _check(self, X):
        X = self._validate(X)
        self._k = cap_n_clusters(self, X.shape[0])
        return X.astype(np.float64)

    def _fit_runs(self, X, step):
        """Run ``n_init`` initialisations of ``step`` and keep the lowest objective."""
        rng = check_random_state(self.random_state)
        n_init = 1 if isinstance(self.init, np.ndarray) else self.n_init
        best = None
        for _ in range(n_init):
            C0 = _init_centers(X, self._k, self.init, rng, type(self).__name__)
            C, obj, n_iter, memb = step(X, C0)
            if best is None or obj < best[1]:
                best = (C, obj, n_iter, memb)
        C, obj, n_iter, memb = best
        self.cluster_centers_ = C
        self.objective_ = float(obj)
        self.n_iter_ = int(n_iter)
        labels = memb.argmax(axis=1)
        return self._finish(labels, {"probability": memb.max(axis=1)})


class KHarmonicMeans(_KHMBase):
    """K-Harmonic Means (Zhang et al. 1999): k-means that barely depends on its start."""

    _parameter_constraints = {
        "n_clusters": [Interval(int, 2, None, closed="left")],
        "p": [Interval(float, 2, None, closed="left")],
        "max_iter": [Interval(int, 1, None, closed="left")],
        "tol": [Interval(float, 0, None, closed="left")],
        "n_init": [Interval(int, 1, None, closed="left")],
        "init": [np.ndarray, Options("random", "k-means++")],
        "random_state": [int, None],
    }

    def __init__(self, n_clusters=8, *, p=3.5, max_iter=300, tol=1e-6, n_init=1, init="k-means++",
                 random_state=42):
        self.n_clusters = n_clusters
        self.p = p
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.init = init
        self.random_state = random_state

    def fit(self, X, y=None):
        X = self._check(X)
        p = float(self.p)
        x2 = (X * X).sum(1)
        # distances below eps are clipped (Nogueira & Serapião's fix for d_ij -> 0)
        eps = 1e-8 * max(float(np.sqrt(x2.max())), 1.0)

        def step(X, C):
            prev = np.inf
            for it in range(1, self.max_iter + 1):  # noqa: B007 - read after the loop
                d = np.sqrt(_sq_dists(X, C, x2))
                m = np.maximum(d.min(axis=1), eps)
                r = np.maximum(d, eps) / m[:, None]          # >= 1: scale-free, no overflow
                inv_p = r ** (-p)
                s = inv_p.sum(1)
                obj = float((self._k * m**p / s).sum())
                inv_p2 = inv_p / (r * r)
                a = inv_p2 * (m ** (p - 2))[:, None] / (s * s)[:, None]   # u_ij * w_i
                Cn = (a.T @ X) / a.sum(0)[:, None]
                if abs(prev - obj) <= self.tol * abs(obj):
                    C = Cn
                    break
                prev, C = obj, Cn
            d = np.sqrt(_sq_dists(X, C, x2))
            r = np.maximum(d, eps) / np.maximum(d.min(axis=1), eps)[:, None]
            memb = r ** (-p - 2)
            memb /= memb.sum(1, keepdims=True)
            m = np.maximum(d.min(axis=1), eps)
            obj = float((self._k * m**p / (r ** (-p)).sum(1)).sum())
            return C, obj, it, memb

        return self._fit_runs(X, step)


class KernelKHarmonicMeans(_KHMBase):
    """Kernel K-Harmonic Means with a Gaussian RBF kernel (Li et al. 2007).

    ``sigma="auto"`` sets the kernel width to the median pairwise distance of up to
    1000 sampled points (the median heuristic); Nogueira & Serapião used ``sigma=1`` on
    its 10-d autoencoder features.
    """

    _parameter_constraints = {
        "n_clusters": [Interval(int, 2, None, closed="left")],
        "sigma": [Options("auto"), Interval(float, 0, None, closed="neither")],
        "max_iter": [Interval(int, 1, None, closed="left")],
        "tol": [Interval(float, 0, None, closed="left")],
        "n_init": [Interval(int, 1, None, closed="left")],
        "init": [np.ndarray, Options("random", "k-means++")],
        "random_state": [int, None],
    }

    def __init__(self, n_clusters=8, *, sigma="auto", max_iter=300, tol=1e-6, n_init=1,
                 init="k-means++", random_state=42):
        self.n_clusters = n_clusters
        self.sigma = sigma
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.init = init
        self.random_state = random_state

    def _sigma(self, X):
        if self.sigma != "auto":
            return float(self.sigma)
        rng = np.random.default_rng(0)
        S = X[rng.choice(X.shape[0], size=min(1000, X.shape[0]), replace=False)]
        s2 = (S * S).sum(1)
        d = np.sqrt(_sq_dists(S, S, s2)[np.triu_indices(len(S), 1)])
        med = float(np.median(d))
        return med if med > 0 else 1.0

    def fit(self, X, y=None):
        X = self._check(X)
        sigma = self._sigma(X)
        self.sigma_ = sigma
        x2 = (X * X).sum(1)
        eps = 1e-10
        k = self._k

        def parts(C):
            K = np.exp(-_sq_dists(X, C, x2) / sigma**2)
            g = np.maximum(1.0 - K, eps)                  # ||phi(x)-phi(c)||^2 / 2
            m = g.min(axis=1)
            t = g / m[:, None]                            # >= 1
            inv = 1.0 / t
            obj = float((2 * k * m / inv.sum(1)).sum())
            return K, t, inv, obj

        def step(X, C):
            prev = np.inf
            for it in range(1, self.max_iter + 1):  # noqa: B007 - read after the loop
                K, t, inv, obj = parts(C)
                a = K * inv * inv / (inv.sum(1) ** 2)[:, None]   # u_ij * w_i, scale-free
                den = a.sum(0)
                Cn = np.where(den[:, None] > 0, (a.T @ X) / np.maximum(den, 1e-300)[:, None], C)
                if abs(prev - obj) <= self.tol * abs(obj):
                    C = Cn
                    break
                prev, C = obj, Cn
            K, t, inv, obj = parts(C)
            memb = K * inv * inv
            memb /= np.maximum(memb.sum(1, keepdims=True), 1e-300)
            return C, obj, it, memb

        return self._fit_runs(X, step)

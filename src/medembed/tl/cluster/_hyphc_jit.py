"""Compiled HypHC optimiser step for the dense regime (numba, cached on disk after the first
compile): the triplet loss, its gradient and one Riemannian Adam update in one pass, with
no torch. Imported only by :class:`medembed.tl.cluster._hyphc._NumbaLeaves`.

It computes exactly what the torch path computes (autograd of
:func:`~medembed.tl.cluster._hyphc.hyphc_triplet_loss` through ``u = e / |e|`` and
``r = clamp(scale, min_scale, max_scale)``, then geoopt's ``RiemannianAdam`` on the
``PoincareBall`` for the leaves and on the Euclidean line for the scale), so the two agree
to rounding (``tests/test_hyphc.py``). A step of 3240 triplets (120 leaves) takes ~0.3 ms,
of 8192 triplets 0.85 ms (1.6 ms before the depth was computed as ``artanh(s cos(theta/2))``),
against ~3.3 ms of torch autograd + geoopt; measured in commit 3d158d4 on 2 CPU cores
(docs/scaling.md lists every HypHC timing and its source).
"""

from __future__ import annotations

import math

import numba
import numpy as np

MIN_NORM = 1e-15
HALF_MIN = 1e-12  # clamp of (1 + cos) / 2 in lca_depth_same_radius
RHO_MAX = 1.0 - 1e-7


#: the depth where rho reaches RHO_MAX: x = 2 rho / (1 + rho^2), d_o = 2 artanh(rho)
X_MAX = 2.0 * RHO_MAX / (1.0 + RHO_MAX * RHO_MAX)
DEPTH_MAX = math.log1p(RHO_MAX) - math.log1p(-RHO_MAX)


@numba.njit(cache=True, nogil=True, inline="always")
def _depth(c, s, ds_dr):  # pragma: no cover - compiled; tested through triplet_loss_grad
    """``lca_depth_same_radius(c, r)`` and its derivatives in ``c`` and ``r``, given
    ``s = 2 r / (1 + r^2)`` and ``ds/dr``.

    The torch formula ``2 artanh(rho)``, ``rho = 1 / (|c| + sqrt(|c|^2 - 1))``,
    ``|c| = 1 / (s cos(theta / 2))``, is ``artanh(x)`` with ``x = s cos(theta / 2) = 1 / |c|``
    (``tanh(a / 2) = tanh(a) / (1 + sqrt(1 - tanh(a)^2))``): one square root and one log per
    pair instead of two and two. Clamps as in torch (no gradient at or beyond a bound):
    ``(1 + cos) / 2 >= 1e-12`` and ``rho <= 1 - 1e-7`` (i.e. ``x <= X_MAX``)."""
    half_arg = 0.5 * (1.0 + c)
    if half_arg > HALF_MIN:
        half = math.sqrt(half_arg)
        dhalf_dc = 0.25 / half
    else:
        half = math.sqrt(HALF_MIN)
        dhalf_dc = 0.0
    x = s * half
    if x >= X_MAX:
        return DEPTH_MAX, 0.0, 0.0
    dd_dx = 1.0 / (1.0 - x * x)
    return 0.5 * math.log((1.0 + x) / (1.0 - x)), dd_dx * s * dhalf_dc, dd_dx * half * ds_dr


@numba.njit(cache=True, nogil=True)
def triplet_loss_grad(E, scale, min_scale, max_scale, t, W, tau):  # pragma: no cover - compiled
    """Mean HypHC loss of triplets ``t`` (B, 3) for leaves ``E`` (n, d) on the radius
    ``clamp(scale, min_scale, max_scale)``, similarities from the table ``W`` (n, n); returns
    ``(loss, dL/dE (n, d), dL/dscale)``."""
    n, d = E.shape
    B = t.shape[0]
    U = np.empty((n, d))
    norm = np.empty(n)
    for a in range(n):
        s2 = 0.0
        for k in range(d):
            s2 += E[a, k] * E[a, k]
        nr = max(math.sqrt(s2), MIN_NORM)
        norm[a] = nr
        for k in range(d):
            U[a, k] = E[a, k] / nr
    r_in = min_scale < scale < max_scale
    r = min(max(scale, min_scale), max_scale)
    s_r = 2.0 * r / (1.0 + r * r)
    ds_dr = 2.0 * (1.0 - r * r) / ((1.0 + r * r) * (1.0 + r * r))
    gU = np.zeros((n, d))
    g_r = 0.0
    total = 0.0
    inv_b = 1.0 / B
    pa = np.empty(3, dtype=np.int64)
    pb = np.empty(3, dtype=np.int64)
    s = np.empty(3)
    z = np.empty(3)
    dc = np.empty(3)
    dr = np.empty(3)
    for b in range(B):
        i, j, k3 = t[b, 0], t[b, 1], t[b, 2]
        pa[0], pb[0] = i, j
        pa[1], pb[1] = i, k3
        pa[2], pb[2] = j, k3
        for p in range(3):
            x, y = pa[p], pb[p]
            s[p] = np.float64(W[x, y])
            dot = 0.0
            for k in range(d):
                dot += U[x, k] * U[y, k]
            clip = 1.0 if -1.0 < dot < 1.0 else 0.0  # e.g. duplicate leaves: cos = 1
            dot = min(max(dot, -1.0), 1.0)
            depth, dcos, ddr = _depth(dot, s_r, ds_dr)
            z[p] = depth / tau
            dc[p] = dcos * clip
            dr[p] = ddr
        zmax = max(z[0], max(z[1], z[2]))
        e0, e1, e2 = math.exp(z[0] - zmax), math.exp(z[1] - zmax), math.exp(z[2] - zmax)
        den = e0 + e1 + e2
        w0, w1, w2 = e0 / den, e1 / den, e2 / den
        sw = s[0] * w0 + s[1] * w1 + s[2] * w2
        total += s[0] + s[1] + s[2] - sw
        for p in range(3):
            w = w0 if p == 0 else (w1 if p == 1 else w2)
            g_depth = -w * (s[p] - sw) / tau * inv_b
            g_r += g_depth * dr[p]
            g_cos = g_depth * dc[p]
            x, y = pa[p], pb[p]
            for k in range(d):
                gU[x, k] += g_cos * U[y, k]
                gU[y, k] += g_cos * U[x, k]
    # through u = e / max(|e|, 1e-15)
    gE = np.empty((n, d))
    for a in range(n):
        ug = 0.0
        for k in range(d):
            ug += U[a, k] * gU[a, k]
        if norm[a] > MIN_NORM:
            for k in range(d):
                gE[a, k] = (gU[a, k] - U[a, k] * ug) / norm[a]
        else:
            for k in range(d):
                gE[a, k] = gU[a, k] / MIN_NORM
    return total * inv_b, gE, g_r if r_in else 0.0


@numba.njit(cache=True, nogil=True)
def riemannian_adam_ball(X, G, M, V, step, lr, beta1, beta2, eps, maxnorm):  # pragma: no cover
    """geoopt ``RiemannianAdam`` on the unit Poincaré ball, in place on rows of ``X`` with
    Euclidean gradient ``G``, first moments ``M`` (n, d) and second moments ``V`` (n,):
    Riemannian gradient ``G / lambda_x^2``, retraction ``project(x - lr * direction)``,
    the first moment carried along by parallel transport."""
    n, d = X.shape
    bc1 = 1.0 - beta1**step
    bc2 = 1.0 - beta2**step
    y = np.empty(d)
    for a in range(n):
        xx = 0.0
        for k in range(d):
            xx += X[a, k] * X[a, k]
        lam_x = 2.0 / max(1.0 - xx, MIN_NORM)
        inv_l2 = 1.0 / (lam_x * lam_x)
        gg = 0.0
        for k in range(d):
            rg = G[a, k] * inv_l2
            M[a, k] = beta1 * M[a, k] + (1.0 - beta1) * rg
            gg += rg * rg
        V[a] = beta2 * V[a] + (1.0 - beta2) * lam_x * lam_x * gg
        denom = math.sqrt(V[a] / bc2) + eps
        yy = 0.0
        for k in range(d):
            y[k] = X[a, k] - lr * (M[a, k] / bc1) / denom
            yy += y[k] * y[k]
        ny = max(math.sqrt(yy), MIN_NORM)
        if ny > maxnorm:
            for k in range(d):
                y[k] = y[k] / ny * maxnorm
            yy = 0.0
            for k in range(d):
                yy += y[k] * y[k]
        # parallel transport of M from x to y: gyr[y, -x] m * lambda_x / lambda_y (k = -1)
        xy = 0.0
        xm = 0.0
        ym = 0.0
        for k in range(d):
            xy += X[a, k] * y[k]
            xm += X[a, k] * M[a, k]
            ym += y[k] * M[a, k]
        ca = -ym * xx - xm + 2.0 * xy * xm  # u = y, v = -x, w = m in geoopt's _gyration
        cb = xm * yy - ym
        dd = max(1.0 - 2.0 * xy + xx * yy, MIN_NORM)
        lam_y = 2.0 / max(1.0 - yy, MIN_NORM)
        f = lam_x / lam_y
        for k in range(d):
            M[a, k] = (M[a, k] + 2.0 * (ca * y[k] - cb * X[a, k]) / dd) * f
            X[a, k] = y[k]


def adam_scalar(x, g, m, v, step, lr, beta1, beta2, eps):
    """(geoopt's Riemannian) Adam on the Euclidean line: new ``(x, m, v)``."""
    m = beta1 * m + (1.0 - beta1) * g
    v = beta2 * v + (1.0 - beta2) * g * g
    denom = math.sqrt(v / (1.0 - beta2**step)) + eps
    return x - lr * (m / (1.0 - beta1**step)) / denom, m, v

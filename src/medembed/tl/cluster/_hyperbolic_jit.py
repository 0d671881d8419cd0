"""Compiled loops of :mod:`medembed.tl.cluster._hyperbolic` (numba, cached on disk after the first
compile). Imported only by the functions that call them, so importing the package does not
import numba."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def merge_sums(a, b, S):  # pragma: no cover - compiled; tested through _hyperbolic._merge_sums
    """In place on ``S`` (a copy of the leaves' rows): for merge ``m`` of children ``a[m]``,
    ``b[m]``, the cluster-sum dot product ``S_A . S_B`` and the merged size; ``S`` then holds
    the running sums (row of the cluster's first leaf)."""
    n, d = S.shape
    row = np.arange(2 * n - 1)
    cnt = np.ones(2 * n - 1)
    cross = np.empty(n - 1)
    for m in range(n - 1):
        ra = row[a[m]]
        rb = row[b[m]]
        dot = 0.0
        for k in range(d):
            dot += S[ra, k] * S[rb, k]
            S[ra, k] += S[rb, k]
        cross[m] = 0.5 * (cnt[a[m]] * cnt[b[m]] + dot)
        row[n + m] = ra
        cnt[n + m] = cnt[a[m]] + cnt[b[m]]
    return cross, cnt[n:]


@numba.njit(cache=True, nogil=True)
def union_find_merges(left, right, n):  # pragma: no cover - compiled; tested through _union_find_linkage
    """Linkage columns (low id, high id, size) of the merges of leaf pairs taken in order
    (Kruskal with path halving and union by size); -1 ids when an edge closes a cycle."""
    parent = np.arange(n)
    cid = np.arange(n)
    size = np.ones(n, dtype=np.int64)
    out = np.empty((n - 1, 3), dtype=np.int64)
    for m in range(n - 1):
        a = left[m]
        b = right[m]
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        if a == b:
            out[m, 0] = -1
            out[m, 1] = -1
            out[m, 2] = 0
            continue
        ca = cid[a]
        cb = cid[b]
        if size[a] < size[b]:
            a, b = b, a
        parent[b] = a
        size[a] += size[b]
        cid[a] = n + m
        out[m, 0] = min(ca, cb)
        out[m, 1] = max(ca, cb)
        out[m, 2] = size[a]
    return out

"""Poincaré-ball maths for hyperbolic hierarchical clustering (HypHC, Chami et al. 2020).

Everything here works on the unit Poincaré ball (curvature -1):

* Möbius addition / scalar multiplication, distances and geodesics;
* the *hyperbolic lowest common ancestor* of two points: the point of their geodesic
  segment closest to the origin, and its depth ``d_o`` (hyperbolic distance to the origin),
  in closed form;
* decoding leaves that share one radius into a binary tree (scipy linkage matrix) by greedy
  merging on LCA depth. For leaves on one radius the LCA depth is a decreasing function of
  the angle between them, so the greedy merge is single linkage on angles: in 2-D the leaves
  are sorted by angle and only adjacent gaps can merge (``O(n log n)`` time, ``O(n)`` memory);
  in higher dimensions Prim's algorithm runs in ``O(n^2 d)`` time and ``O(n d)`` memory.
  No ``n x n`` matrix is built;
* tree utilities (flat cut into exactly ``k`` clusters, Newick export, leaf order) and
  Dasgupta's cost of a linkage: exact in ``O(n d)`` for the cosine similarity
  ``w_ij = (1 + <u_i, u_j>) / 2`` of unit vectors, exact in ``O(n^2)`` for a similarity
  matrix, and unbiased by sampling pairs (``O(n log n + m)``) for anything else.

Closed form of the LCA (derivation in the docstring of :func:`lca`): the geodesic through
``x`` and ``y`` lies on a circle orthogonal to the unit sphere with centre ``c`` in the plane
spanned by ``x`` and ``y``, ``c.x = (1 + |x|^2) / 2`` and ``c.y = (1 + |y|^2) / 2``. Its point
closest to the origin has Euclidean norm ``rho = |c| - sqrt(|c|^2 - 1) = exp(-arccosh|c|)``
and lies on the segment unless the angle of the geodesic triangle (o, x, y) at ``x`` or ``y``
is obtuse, in which case the nearer endpoint is the LCA. For two points of norm ``r`` at
angle ``theta``, ``|c| = (1 + r^2) / (2 r cos(theta / 2))``.
"""

from __future__ import annotations

import sys

import numpy as np

MIN_NORM = 1e-15


def _torch():
    """torch, if something imported it: a tensor argument means it is loaded, so the numpy
    paths (decoding, costs, every numba-backed HypHC job) never import it."""
    return sys.modules.get("torch")


def _is_torch(x) -> bool:
    torch = _torch()
    return torch is not None and isinstance(x, torch.Tensor)


def _sum(x, keepdims=True):
    if _is_torch(x):
        return x.sum(dim=-1, keepdim=keepdims)
    return np.sum(x, axis=-1, keepdims=keepdims)


def _clamp_min(x, lo):
    return x.clamp_min(lo) if _is_torch(x) else np.maximum(x, lo)


def _sqrt(x):
    return _torch().sqrt(x) if _is_torch(x) else np.sqrt(x)


def _where(c, a, b):
    return _torch().where(c, a, b) if _is_torch(c) else np.where(c, a, b)


def _artanh(x):
    return _torch().atanh(x) if _is_torch(x) else np.arctanh(x)


def _tanh(x):
    return _torch().tanh(x) if _is_torch(x) else np.tanh(x)


def _arccosh(x):
    return _torch().acosh(x) if _is_torch(x) else np.arccosh(x)


# --------------------------------------------------------------------------- ball ops


def project(x, eps: float = 1e-5):
    """Pull points with norm above ``1 - eps`` back inside the ball (numpy or torch)."""
    norm = _clamp_min(_sqrt(_sum(x * x)), MIN_NORM)
    maxnorm = 1.0 - eps
    return _where(norm > maxnorm, x / norm * maxnorm, x)


def mobius_add(x, y):
    """Möbius addition ``x (+) y`` on the unit ball."""
    x2, y2, xy = _sum(x * x), _sum(y * y), _sum(x * y)
    num = (1 + 2 * xy + y2) * x + (1 - x2) * y
    den = 1 + 2 * xy + x2 * y2
    return num / _clamp_min(den, MIN_NORM)


def mobius_scalar_mul(t, x):
    """Möbius scalar multiplication ``t (x) x``."""
    norm = _clamp_min(_sqrt(_sum(x * x)), MIN_NORM)
    inner = norm.clamp_max(1 - 1e-15) if _is_torch(norm) else np.minimum(norm, 1 - 1e-15)
    return _tanh(t * _artanh(inner)) * x / norm


def dist0(x):
    """Hyperbolic distance to the origin, ``2 artanh |x|`` (keeps the last axis, size 1)."""
    norm = _sqrt(_sum(x * x))
    if _is_torch(norm):
        return 2 * _torch().atanh(norm.clamp_max(1 - 1e-15))
    return 2 * np.arctanh(np.minimum(norm, 1 - 1e-15))


def dist(x, y):
    """Hyperbolic distance ``arccosh(1 + 2|x-y|^2 / ((1-|x|^2)(1-|y|^2)))``."""
    d2 = _sum((x - y) ** 2)
    den = _clamp_min((1 - _sum(x * x)) * (1 - _sum(y * y)), MIN_NORM)
    return _arccosh(1 + 2 * d2 / den)


def geodesic(x, y, t):
    """Point at fraction ``t`` (0 -> x, 1 -> y) of the geodesic segment from ``x`` to ``y``.

    ``gamma(t) = x (+) (t (x) ((-x) (+) y))``; ``t`` broadcasts against the leading axes.
    """
    return mobius_add(x, mobius_scalar_mul(t, mobius_add(-x, y)))


# --------------------------------------------------------------------------- LCA


def lca(x, y, *, segment: bool = True):
    """Hyperbolic LCA of ``x`` and ``y``: the point of their geodesic closest to the origin.

    Returns ``(point, depth)`` with ``depth = d_o(point) = 2 artanh |point|`` (last axis kept,
    size 1). Works on numpy arrays or torch tensors of shape ``(..., d)``, any ``d >= 2``.

    Derivation. Geodesics of the ball are arcs of circles orthogonal to the unit sphere;
    the one through ``x`` and ``y`` lies in span(x, y) with centre ``c = p x + q y`` such that
    ``|c - x|^2 = |c|^2 - 1``, i.e. ``c.x = A = (1+|x|^2)/2`` and ``c.y = B = (1+|y|^2)/2``.
    Solving the 2x2 Gram system gives ``|c|^2 = |A y - B x|^2 / (|x|^2|y|^2 - (x.y)^2)``.
    The circle's point closest to the origin is at norm ``|c| - R`` along ``c`` with
    ``R^2 = |c|^2 - 1``. If ``x`` and ``y`` are on one diameter (Gram determinant 0) the
    geodesic is that diameter and the foot is the origin. With ``segment=True`` (the HypHC
    definition on the *segment*), when the foot falls outside the segment (angle of the
    geodesic triangle (o, x, y) at ``x`` or ``y`` obtuse: ``cosh d_o(x) > cosh d(x, y)
    cosh d_o(y)`` or vice versa) the nearer endpoint is returned.
    """
    xx, yy, xy = _sum(x * x), _sum(y * y), _sum(x * y)
    A, B = (1 + xx) / 2, (1 + yy) / 2
    det = xx * yy - xy * xy
    # |A y - B x|^2 computed as a vector norm (no cancellation for nearby points)
    num = _sum((A * y - B * x) ** 2)
    tiny = 1e-30
    det_ok = det > tiny * _clamp_min(xx * yy, tiny)
    c2 = num / _clamp_min(det, tiny)
    c = _sqrt(_clamp_min(c2, 1.0))
    rho = 1.0 / (c + _sqrt(_clamp_min(c * c - 1.0, 0.0)))
    rho = _where(det_ok, rho, rho * 0)
    # direction of the centre: det * c = (yy A - xy B) x + (xx B - xy A) y
    ct = (yy * A - xy * B) * x + (xx * B - xy * A) * y
    ct_norm = _clamp_min(_sqrt(_sum(ct * ct)), MIN_NORM)
    point = rho * ct / ct_norm
    point = _where(det_ok, point, point * 0)
    if segment:
        ax = (1 + xx) / _clamp_min(1 - xx, MIN_NORM)  # cosh d_o(x)
        ay = (1 + yy) / _clamp_min(1 - yy, MIN_NORM)
        cxy = 1 + 2 * _sum((x - y) ** 2) / _clamp_min((1 - xx) * (1 - yy), MIN_NORM)
        # nearer endpoint when the perpendicular foot lies outside the segment
        use_y = ax > cxy * ay
        use_x = ay > cxy * ax
        point = _where(use_y, y, _where(use_x, x, point))
    return point, dist0(point)


def lca_depth(x, y, *, segment: bool = True):
    """Depth ``d_o(x v y)`` of the hyperbolic LCA (see :func:`lca`), last axis kept."""
    return lca(x, y, segment=segment)[1]


def lca_depth_same_radius(cos_theta, radius):
    """``d_o`` of the LCA of two points of norm ``radius`` at angle ``arccos(cos_theta)``.

    ``|c| = (1 + r^2) / (2 r cos(theta/2))``, ``rho = 1 / (|c| + sqrt(|c|^2 - 1))`` and
    ``d_o = 2 artanh(rho)``. Monotone decreasing in the angle: ``2 artanh r`` at angle 0,
    0 for antipodal points. Differentiable (torch) and used by the HypHC loss.
    """
    if _is_torch(cos_theta):
        torch = _torch()
        half = torch.sqrt(((1 + cos_theta) / 2).clamp_min(1e-12))
        radius = torch.as_tensor(radius, dtype=cos_theta.dtype, device=cos_theta.device)
        c = ((1 + radius * radius) / (2 * radius * half)).clamp_min(1.0)
        rho = 1.0 / (c + torch.sqrt((c * c - 1.0).clamp_min(0.0)))
        rho = rho.clamp_max(1 - 1e-7)
        return torch.log1p(rho) - torch.log1p(-rho)
    cos_theta = np.asarray(cos_theta, dtype=np.float64)
    half = np.sqrt(np.maximum((1 + cos_theta) / 2, 0.0))
    with np.errstate(divide="ignore"):
        c = np.maximum((1 + radius * radius) / (2 * radius * half), 1.0)
        rho = np.where(np.isfinite(c), 1.0 / (c + np.sqrt(np.maximum(c * c - 1.0, 0.0))), 0.0)
    rho = np.minimum(rho, 1 - 1e-15)
    return np.log1p(rho) - np.log1p(-rho)


# --------------------------------------------------------------------------- decoding


def _union_find_linkage(left, right, heights, n):
    """Linkage from merges of *leaf* pairs already sorted by height (Kruskal on a tree).

    ``left``/``right`` are leaf indices of ``n - 1`` edges of a spanning tree, ascending in
    ``heights``. Returns the ``(n-1, 4)`` scipy linkage matrix. ``O(n alpha(n))``, compiled
    (:mod:`._hyperbolic_jit`; HypHC decodes a tree every time keep_best scores one).
    """
    from ._hyperbolic_jit import union_find_merges

    merges = union_find_merges(np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64), int(n))
    if (merges[:, 0] < 0).any():
        raise RuntimeError("decoding edges do not form a spanning tree")
    Z = np.empty((n - 1, 4), dtype=np.float64)
    Z[:, [0, 1, 3]] = merges
    Z[:, 2] = np.maximum.accumulate(np.maximum(np.asarray(heights, dtype=np.float64), 0.0))  # monotone
    return Z


def _height_from_cos(cos_theta, radius):
    """Merge height ``d_o(leaf) - d_o(LCA)``: 0 for coincident leaves, grows with the angle."""
    r = float(np.clip(radius, 1e-6, 1 - 1e-9))
    return 2 * np.arctanh(r) - lca_depth_same_radius(np.clip(cos_theta, -1.0, 1.0), r)


def decode_angular(emb, radius: float | None = None):
    """Greedy LCA-depth merge of 2-D leaves on one radius, in ``O(n log n)``.

    Sort leaves by angle; the deepest LCA among all pairs of two clusters is always the one
    of two angular neighbours, so single linkage on the ``n`` circular gaps (sorted once)
    with union-find gives the same tree as HypHC's greedy merge over all ``n^2`` pairs.
    Returns ``(Z, order)``: linkage matrix and a leaf order in which every cluster of the
    tree is a contiguous interval (the circle cut at its largest gap).
    """
    emb = np.asarray(emb, dtype=np.float64)
    n = emb.shape[0]
    if emb.ndim != 2 or emb.shape[1] != 2:
        raise ValueError(f"decode_angular needs (n, 2) leaves; got shape {emb.shape}")
    if n < 2:
        raise ValueError("decode_angular needs at least 2 leaves")
    if radius is None:
        radius = float(np.median(np.linalg.norm(emb, axis=1)))
    ang = np.arctan2(emb[:, 1], emb[:, 0])
    order = np.argsort(ang, kind="stable")
    a = ang[order]
    gaps = np.diff(np.concatenate([a, a[:1] + 2 * np.pi]))  # gap p: order[p] -> order[p+1]
    gaps = np.clip(gaps, 0.0, 2 * np.pi)
    # the largest gap is never merged (it is not in the circular "MST"): cut there
    cut = int(np.argmax(gaps))
    shift = (cut + 1) % n
    order = np.roll(order, -shift)
    gaps = np.roll(gaps, -shift)[: n - 1]  # gap p now joins order[p] and order[p+1]
    by = np.argsort(gaps, kind="stable")
    heights = _height_from_cos(np.cos(gaps[by]), radius)
    Z = _union_find_linkage(order[by], order[by + 1], heights, n)
    return Z, order


def decode_prim(emb, radius: float | None = None):
    """Greedy LCA-depth merge for leaves on one radius in any dimension (Prim, exact).

    Single linkage on angles via Prim's algorithm: ``O(n^2 d)`` time, ``O(n d)`` memory
    (one row of cosines at a time, never an ``n x n`` matrix). Returns the linkage matrix.
    """
    emb = np.asarray(emb, dtype=np.float64)
    n = emb.shape[0]
    if n < 2:
        raise ValueError("decode_prim needs at least 2 leaves")
    if radius is None:
        radius = float(np.median(np.linalg.norm(emb, axis=1)))
    u = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), MIN_NORM)
    best = np.full(n, -np.inf)  # best cosine to the tree so far
    src = np.zeros(n, dtype=np.int64)
    in_tree = np.zeros(n, dtype=bool)
    eu, ev, ec = np.empty(n - 1, np.int64), np.empty(n - 1, np.int64), np.empty(n - 1)
    cur = 0
    in_tree[0] = True
    for m in range(n - 1):
        c = u @ u[cur]
        upd = (c > best) & ~in_tree
        best[upd] = c[upd]
        src[upd] = cur
        best_masked = np.where(in_tree, -np.inf, best)
        nxt = int(np.argmax(best_masked))
        eu[m], ev[m], ec[m] = src[nxt], nxt, best[nxt]
        in_tree[nxt] = True
        cur = nxt
    by = np.argsort(-ec, kind="stable")
    heights = _height_from_cos(ec[by], radius)
    return _union_find_linkage(eu[by], ev[by], heights, n)


def decode_tree(emb, radius: float | None = None):
    """Linkage matrix of the HypHC tree of leaves on one radius (2-D: angular, else Prim)."""
    emb = np.asarray(emb)
    if emb.shape[1] == 2:
        return decode_angular(emb, radius)[0]
    return decode_prim(emb, radius)


# --------------------------------------------------------------------------- tree utilities


def leaf_order(Z):
    """Leaf order (left child first) in which every cluster is a contiguous interval."""
    Z = np.asarray(Z)
    n = Z.shape[0] + 1
    left = Z[:, 0].astype(np.int64)
    right = Z[:, 1].astype(np.int64)
    out = np.empty(n, dtype=np.int64)
    stack = [2 * n - 2]
    k = 0
    while stack:
        v = stack.pop()
        if v < n:
            out[k] = v
            k += 1
        else:
            stack.append(int(right[v - n]))
            stack.append(int(left[v - n]))
    return out


def _positions(Z, order):
    """Start position (in ``order``) and size of every node (leaves then merges)."""
    Z = np.asarray(Z)
    n = Z.shape[0] + 1
    start = np.empty(2 * n - 1, dtype=np.int64)
    size = np.ones(2 * n - 1, dtype=np.int64)
    start[order] = np.arange(n)
    size[n:] = Z[:, 3].astype(np.int64)
    a = Z[:, 0].astype(np.int64)
    b = Z[:, 1].astype(np.int64)
    for m in range(n - 1):  # children precede parents
        start[n + m] = min(start[a[m]], start[b[m]])
    return start, size


def _relabel_by_size(roots):
    n = len(roots)
    uniq, inv, counts = np.unique(roots, return_inverse=True, return_counts=True)
    first = np.full(len(uniq), n, dtype=np.int64)
    np.minimum.at(first, inv, np.arange(n))
    rank = np.lexsort((first, -counts))
    relabel = np.empty(len(uniq), dtype=np.int64)
    relabel[rank] = np.arange(len(uniq))
    return relabel[inv]


def cut_linkage(Z, n_clusters: int, min_cluster_size: int = 1):
    """Flat labels with ``n_clusters`` clusters cut from a linkage tree, ``O(n log n)``.

    ``min_cluster_size=1``: undo the last ``k - 1`` merges (scipy's ``maxclust`` without
    its tie issues). ``min_cluster_size=m > 1``: split the tree top-down, highest merge first,
    but a branch with fewer than ``m`` leaves never becomes a cluster of its own: it stays
    with the cluster it splits from (like HDBSCAN's condensed tree), so outlying leaves do
    not use up clusters; fewer than ``k`` clusters are returned only if no split is left.
    Labels are numbered by decreasing cluster size (ties: smallest leaf first).
    """
    import heapq

    Z = np.asarray(Z)
    n = Z.shape[0] + 1
    k = int(n_clusters)
    if not 1 <= k <= n:
        raise ValueError(f"n_clusters={k} must be in [1, {n}]")
    m_min = max(int(min_cluster_size), 1)
    children = Z[:, :2].astype(np.int64)
    size = np.ones(2 * n - 1, dtype=np.int64)
    size[n:] = Z[:, 3].astype(np.int64)
    owner = np.full(2 * n - 1, -1, dtype=np.int64)  # node -> cluster root node (top-down)
    if m_min == 1:
        # the k cluster roots are the children of the last k - 1 merges not merged later
        last_kept = n + (n - k) - 1
        final = {2 * n - 2} if k == 1 else {v for v in children[n - k :].ravel().tolist() if v <= last_kept}
    else:
        heap = [-(2 * n - 2)]
        final, count = set(), 1
        absorbed = {}  # cluster node -> list of small subtrees that fell out of it
        while heap and count < k:
            v = -heapq.heappop(heap)
            if v < n:
                final.add(v)
                continue
            a, b = children[v - n]
            big_a, big_b = size[a] >= m_min, size[b] >= m_min
            if big_a and big_b:
                count += 1
                absorbed[a], absorbed[b] = absorbed.pop(v, []), []
                heapq.heappush(heap, -a)
                heapq.heappush(heap, -b)
            elif big_a or big_b:
                keep, drop = (a, b) if big_a else (b, a)
                absorbed[keep] = absorbed.pop(v, []) + [drop]
                heapq.heappush(heap, -keep)
            else:
                final.add(v)
        final |= {-x for x in heap}
        for c, subs in absorbed.items():
            for s_ in subs:
                owner[s_] = c
    for v in final:
        owner[v] = v
    for v in range(2 * n - 2, n - 1, -1):  # propagate owners down: parents before children
        o = owner[v]
        if o >= 0:
            a, b = children[v - n]
            if owner[a] < 0:
                owner[a] = o
            if owner[b] < 0:
                owner[b] = o
    roots_of_leaves = owner[:n]
    if (roots_of_leaves < 0).any():  # pragma: no cover - every leaf lies under a cluster
        raise RuntimeError("cut_linkage left leaves unassigned")
    return _relabel_by_size(roots_of_leaves)


def linkage_to_newick(Z, labels=None, *, branch_lengths: bool = True) -> str:
    """Newick string of a linkage tree (iterative, ``O(n)``; safe for very deep trees)."""
    Z = np.asarray(Z)
    n = Z.shape[0] + 1
    names = [str(i) for i in range(n)] if labels is None else [str(v) for v in labels]
    if len(names) != n:
        raise ValueError(f"labels has {len(names)} entries; the tree has {n} leaves")
    names = [s.replace("(", "_").replace(")", "_").replace(",", "_").replace(":", "_").replace(";", "_").replace(" ", "_") for s in names]
    height = np.zeros(2 * n - 1)
    height[n:] = Z[:, 2]
    parent_h = np.zeros(2 * n - 1)
    parent_h[Z[:, 0].astype(np.int64)] = Z[:, 2]
    parent_h[Z[:, 1].astype(np.int64)] = Z[:, 2]
    out: list[str] = []
    stack: list = [2 * n - 2]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            out.append(v)
            continue
        bl = f":{max(parent_h[v] - height[v], 0.0):.6g}" if branch_lengths and v != 2 * n - 2 else ""
        if v < n:
            out.append(names[v] + bl)
        else:
            a, b = int(Z[v - n, 0]), int(Z[v - n, 1])
            stack.extend([")" + bl, b, ",", a])
            out.append("(")
    return "".join(out) + ";"


# --------------------------------------------------------------------------- Dasgupta cost


def unit_rows(X, *, standardize: bool = True, dtype=np.float64):
    """Rows z-scored per feature (optional) then L2-normalised: ``w = (1 + u_i.u_j) / 2``."""
    X = np.asarray(X, dtype=dtype)
    if standardize:
        sd = X.std(axis=0)
        X = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    norm = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norm > 0, norm, 1.0)


def _merge_sums(Z, U):
    """Per merge ``sum_{i in A, j in B} (1 + u_i.u_j) / 2`` in ``O(n d)`` (cluster sums).

    Keeps one running sum per live cluster (a copy of ``U``), so memory is ``O(n d)``; the
    loop over merges is compiled (:mod:`._hyperbolic_jit`): in Python it cost ~3 us per
    merge, and HypHC's keep_best scores a tree up to 60 times per epoch.
    """
    from ._hyperbolic_jit import merge_sums

    Z = np.asarray(Z)
    U = np.asarray(U)
    big = U.shape[0] * U.shape[1] > 2e7
    S = np.array(U, dtype=np.float32 if big else np.float64, copy=True, order="C")
    cross, cnt = merge_sums(Z[:, 0].astype(np.int64), Z[:, 1].astype(np.int64), S)
    return cross, cnt


def gram_basis(U):
    """Rows ``V`` (``n x min(n, d)``) with the same inner products as ``U``'s: ``V V^T = U U^T``.

    Dasgupta's cost on ``w_ij = (1 + u_i.u_j) / 2`` depends on the rows only through their
    inner products, so scoring on ``V`` gives the same cost (to rounding) at ``min(n, d) / d``
    of the work: 120 images with 1280-d features become 120 x 120. ``U`` itself when
    ``d <= n``. From the QR decomposition ``U^T = Q R``: ``U U^T = R^T R``.
    """
    U = np.asarray(U, dtype=np.float64)
    n, d = U.shape
    if d <= n:
        return U
    return np.ascontiguousarray(np.linalg.qr(U.T, mode="r").T)


def _sparse_table_max(vals):
    """Sparse table for O(1) range-max queries (``O(n log n)`` ints)."""
    table = [np.asarray(vals)]
    j = 1
    while (1 << j) <= len(vals):
        prev = table[-1]
        half = 1 << (j - 1)
        table.append(np.maximum(prev[:-half], prev[half:]))
        j += 1
    return table


def _range_max(table, lo, hi):
    """max of vals[lo:hi] (hi exclusive, hi > lo), vectorised over arrays lo, hi."""
    length = hi - lo
    j = np.floor(np.log2(length)).astype(np.int64)
    out = np.empty(len(lo), dtype=table[0].dtype)
    for jj in np.unique(j):
        sel = j == jj
        t = table[jj]
        out[sel] = np.maximum(t[lo[sel]], t[hi[sel] - (1 << jj)])
    return out


def lca_sizes(Z, i, j, order=None):
    """Number of leaves under the tree LCA of leaf pairs ``(i, j)`` (vectorised, i != j)."""
    Z = np.asarray(Z)
    n = Z.shape[0] + 1
    order = leaf_order(Z) if order is None else np.asarray(order)
    start, size = _positions(Z, order)
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    # gap p (between order[p], order[p+1]) belongs to the merge that joins the two
    gap_node = np.empty(n - 1, dtype=np.int64)
    a = Z[:, 0].astype(np.int64)
    b = Z[:, 1].astype(np.int64)
    left_child = np.where(start[a] < start[b], a, b)
    gap_node[start[left_child] + size[left_child] - 1] = np.arange(n - 1)
    table = _sparse_table_max(gap_node)
    pi, pj = pos[np.asarray(i)], pos[np.asarray(j)]
    lo, hi = np.minimum(pi, pj), np.maximum(pi, pj)
    m = _range_max(table, lo, hi)
    return Z[m, 3].astype(np.int64)


def dasgupta_cost(Z, *, features=None, similarity=None, n_pairs: int | None = None, random_state=0) -> float:
    """Dasgupta's cost ``sum_{i<j} w_ij |leaves(T[i v j])|`` of a linkage tree.

    * ``features`` (unit rows, e.g. from :func:`unit_rows`): ``w = (1 + u_i.u_j) / 2``;
      exact in ``O(n d)`` via cluster sums (``n_pairs=None``) or estimated from ``n_pairs``
      uniformly sampled pairs (unbiased).
    * ``similarity``: an ``(n, n)`` matrix, or a callable ``f(i, j) -> w`` on index arrays;
      a matrix is exact in ``O(n^2)`` (prefix sums over the leaf-ordered matrix) unless
      ``n_pairs`` is given; a callable always samples ``n_pairs`` pairs (default 1e6).
    """
    Z = np.asarray(Z, dtype=np.float64)
    n = Z.shape[0] + 1
    if (features is None) == (similarity is None):
        raise ValueError("dasgupta_cost needs exactly one of features= or similarity=")
    if features is not None:
        U = np.asarray(features, dtype=np.float64)
        if U.shape[0] != n:
            raise ValueError(f"features has {U.shape[0]} rows; the tree has {n} leaves")
        if n_pairs is None:
            cross, cnt = _merge_sums(Z, U)
            return float(np.sum(cross * cnt))

        def sim(i, j):
            out = np.empty(len(i))
            for s in range(0, len(i), 8192):  # chunks: never gathers m x d at once
                out[s : s + 8192] = np.einsum("ij,ij->i", U[i[s : s + 8192]], U[j[s : s + 8192]])
            return 0.5 * (1.0 + out)

    elif callable(similarity):
        sim = similarity
        n_pairs = int(1e6) if n_pairs is None else n_pairs
    else:
        W = np.asarray(similarity, dtype=np.float64)
        if W.shape != (n, n):
            raise ValueError(f"similarity has shape {W.shape}; expected ({n}, {n})")
        if n_pairs is None:
            order = leaf_order(Z)
            start, size = _positions(Z, order)
            P = np.zeros((n + 1, n + 1))
            P[1:, 1:] = W[np.ix_(order, order)].cumsum(0).cumsum(1)
            a = Z[:, 0].astype(np.int64)
            b = Z[:, 1].astype(np.int64)
            r0, r1 = start[a], start[a] + size[a]
            c0, c1 = start[b], start[b] + size[b]
            block = P[r1, c1] - P[r0, c1] - P[r1, c0] + P[r0, c0]
            return float(np.sum(block * Z[:, 3]))

        def sim(i, j):
            return W[i, j]

    rng = np.random.default_rng(random_state)
    m = int(n_pairs)
    i = rng.integers(0, n, size=m)
    j = rng.integers(0, n - 1, size=m)
    j = j + (j >= i)  # uniform over ordered pairs with i != j
    sizes = lca_sizes(Z, i, j)
    total_pairs = n * (n - 1) / 2
    return float(np.mean(np.asarray(sim(i, j), dtype=np.float64) * sizes) * total_pairs)

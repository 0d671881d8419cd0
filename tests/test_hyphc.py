"""Hyperbolic hierarchical clustering (HypHC) and its learned-similarity variant."""

from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest
from scipy.cluster.hierarchy import is_valid_linkage, linkage
from sklearn.metrics import adjusted_rand_score

from medembed.tl.cluster import _hyperbolic as H
from medembed.tl.cluster import _hyphc
from medembed.tl.cluster._hyphc import (
    HyperbolicHC,
    all_triplets,
    fit_poincare_leaves,
    n_choose_3,
    sample_triplets,
)
from medembed.tl.cluster._hyphc_learned import (
    LearnedHyperbolicHC,
    _triplets_from_labels,
    decode_clouds,
    feasible_margin,
    train_similarity_mlp,
)

FAST = dict(epochs=8, n_triplets=300_000, progress=False, device="cpu")


def _ball_point(rng, d, r):
    v = rng.normal(size=d)
    return v / np.linalg.norm(v) * r


def _brute_force_lca_depth(x, y, grid=4001):
    """min over the geodesic segment of d_o, by dense search then local refinement."""
    t = np.linspace(0.0, 1.0, grid)[:, None]
    d = H.dist0(H.geodesic(x[None], y[None], t))[:, 0]
    i = int(np.argmin(d))
    lo, hi = t[max(i - 1, 0), 0], t[min(i + 1, grid - 1), 0]
    t2 = np.linspace(lo, hi, grid)[:, None]
    return float(H.dist0(H.geodesic(x[None], y[None], t2)).min())


# --------------------------------------------------------------------------- maths


def test_lca_matches_brute_force_geodesic_search():
    rng = np.random.default_rng(0)
    for _ in range(60):
        d = int(rng.integers(2, 5))
        x = _ball_point(rng, d, rng.uniform(0.05, 0.95))
        y = _ball_point(rng, d, rng.uniform(0.05, 0.95))
        point, depth = H.lca(x, y)
        assert depth[0] == pytest.approx(_brute_force_lca_depth(x, y), abs=1e-7)
        # the returned point lies on the geodesic: d(x, p) + d(p, y) == d(x, y)
        assert (H.dist(x, point) + H.dist(point, y))[0] == pytest.approx(H.dist(x, y)[0], abs=1e-6)
    # diameter cases: antipodal -> origin; same ray -> the nearer endpoint
    p, dep = H.lca(np.array([0.5, 0.0]), np.array([-0.3, 0.0]))
    assert dep[0] == pytest.approx(0.0, abs=1e-12)
    p, dep = H.lca(np.array([0.3, 0.0]), np.array([0.6, 0.0]))
    assert np.allclose(p, [0.3, 0.0]) and dep[0] == pytest.approx(2 * np.arctanh(0.3))


def test_lca_same_radius_formula_numpy_and_torch():
    import torch

    rng = np.random.default_rng(1)
    for r in (0.05, 0.5, 0.9, 0.999):
        theta = rng.uniform(0.001, np.pi - 0.001, size=20)
        x = np.stack([np.full_like(theta, r), np.zeros_like(theta)], axis=1)
        y = r * np.stack([np.cos(theta), np.sin(theta)], axis=1)
        general = H.lca_depth(x, y)[:, 0]
        closed = H.lca_depth_same_radius(np.cos(theta), r)
        torched = H.lca_depth_same_radius(torch.tensor(np.cos(theta)), r).numpy()
        assert np.allclose(general, closed, rtol=1e-6, atol=1e-9)
        assert np.allclose(closed, torched, rtol=1e-9)
        assert np.all(np.diff(closed[np.argsort(theta)]) < 0)  # deeper LCA for smaller angles
    assert H.lca_depth_same_radius(1.0, 0.5) == pytest.approx(2 * np.arctanh(0.5))
    assert H.lca_depth_same_radius(-1.0, 0.5) == pytest.approx(0.0, abs=1e-12)


def test_mobius_ops_consistent_with_distance():
    rng = np.random.default_rng(2)
    x, y = _ball_point(rng, 3, 0.4), _ball_point(rng, 3, 0.7)
    # d(x, y) = 2 artanh |(-x) (+) y|, and the geodesic midpoint halves it
    assert H.dist(x, y)[0] == pytest.approx(float(H.dist0(H.mobius_add(-x, y))[0]))
    mid = H.geodesic(x, y, 0.5)
    assert H.dist(x, mid)[0] == pytest.approx(H.dist(mid, y)[0])
    assert np.linalg.norm(H.project(np.array([2.0, 0.0]))) < 1


def _direct_dasgupta(Z, W):
    """sum_{i<j} W_ij |leaves(lca(i, j))| by walking ancestors: O(n^2 depth)."""
    n = Z.shape[0] + 1
    parent = np.full(2 * n - 1, -1)
    for m in range(n - 1):
        parent[int(Z[m, 0])] = parent[int(Z[m, 1])] = n + m
    size = np.ones(2 * n - 1)
    size[n:] = Z[:, 3]
    anc = []
    for i in range(n):
        a, v = [], i
        while v != -1:
            a.append(v)
            v = parent[v]
        anc.append(a)
    total = 0.0
    for i in range(n):
        si = set(anc[i])
        for j in range(i + 1, n):
            lca_node = next(v for v in anc[j] if v in si)
            total += W[i, j] * size[lca_node]
    return total


@pytest.mark.parametrize("tree", ["average", "single", "angular", "caterpillar"])
def test_dasgupta_cost_matches_direct_computation(tree):
    rng = np.random.default_rng(3)
    n = 60
    U = H.unit_rows(rng.normal(size=(n, 4)))
    W = 0.5 * (1 + U @ U.T)
    if tree == "angular":
        ang = rng.uniform(0, 2 * np.pi, n)
        Z = H.decode_angular(0.6 * np.c_[np.cos(ang), np.sin(ang)])[0]
    elif tree == "caterpillar":
        Z = np.array([[0, 1, 1.0, 2]] + [[i + 1, n + i - 1, i + 1.0, i + 2] for i in range(1, n - 1)], dtype=float)
    else:
        Z = linkage(U, tree, metric="cosine")
    direct = _direct_dasgupta(Z, W)
    assert H.dasgupta_cost(Z, features=U) == pytest.approx(direct, rel=1e-10)
    assert H.dasgupta_cost(Z, similarity=W) == pytest.approx(direct, rel=1e-10)
    sampled = H.dasgupta_cost(Z, features=U, n_pairs=300_000, random_state=0)
    assert sampled == pytest.approx(direct, rel=0.02)
    assert H.dasgupta_cost(Z, similarity=lambda i, j: W[i, j], n_pairs=300_000) == pytest.approx(direct, rel=0.02)
    with pytest.raises(ValueError, match="exactly one"):
        H.dasgupta_cost(Z)


def test_gram_basis_keeps_the_cost_at_a_fraction_of_the_columns():
    """HypHC scores trees on ``gram_basis(U)``: the same inner products in min(n, d) columns."""
    rng = np.random.default_rng(4)
    n, d = 40, 300  # wide, like 120 images x 1280 features
    U = H.unit_rows(rng.normal(size=(n, d)))
    V = H.gram_basis(U)
    assert V.shape == (n, n)
    np.testing.assert_allclose(V @ V.T, U @ U.T, atol=1e-12)
    Z = linkage(U, "average", metric="cosine")
    direct = _direct_dasgupta(Z, 0.5 * (1 + U @ U.T))
    assert H.dasgupta_cost(Z, features=V) == pytest.approx(direct, rel=1e-10)
    tall = H.unit_rows(rng.normal(size=(n, 5)))
    assert H.gram_basis(tall) is tall or np.shares_memory(H.gram_basis(tall), tall)  # nothing to gain


def test_triplet_generators():
    t = all_triplets(7)
    assert len(t) == n_choose_3(7) == 35
    assert np.all((t[:, 0] < t[:, 1]) & (t[:, 1] < t[:, 2]))
    s = sample_triplets(5, 5000, np.random.default_rng(0))
    assert np.all((s[:, 0] != s[:, 1]) & (s[:, 0] != s[:, 2]) & (s[:, 1] != s[:, 2]))
    assert set(np.unique(s)) == set(range(5))
    y = np.array([0, 0, 0, 1, 1, 2])
    for max_t in (10**6, 50):  # exhaustive, then sampled
        tr = _triplets_from_labels(y, np.random.default_rng(0), max_t)
        assert np.all(y[tr[:, 0]] == y[tr[:, 1]]) and np.all(tr[:, 0] != tr[:, 1])
        assert np.all(y[tr[:, 0]] != y[tr[:, 2]])
    assert len(_triplets_from_labels(y, np.random.default_rng(0), 10**6)) == 3 * 2 * 3 + 2 * 1 * 4


# --------------------------------------------------------------------------- decoding


def test_decode_angular_equals_single_linkage_on_angles_and_prim():
    rng = np.random.default_rng(4)
    n = 200
    ang = rng.uniform(0, 2 * np.pi, n)
    E = 0.8 * np.c_[np.cos(ang), np.sin(ang)]
    Z, order = H.decode_angular(E)
    assert is_valid_linkage(Z)
    ref = linkage(E / 0.8, "single", metric=lambda a, b: np.arccos(np.clip(a @ b, -1, 1)))
    for k in (2, 3, 7, 20):
        assert adjusted_rand_score(H.cut_linkage(Z, k), H.cut_linkage(ref, k)) == 1.0
        assert len(np.unique(H.cut_linkage(Z, k))) == k
    # every cluster of the tree is contiguous in the returned order
    pos = np.empty(n, int)
    pos[order] = np.arange(n)
    lab = H.cut_linkage(Z, 5)
    for c in range(5):
        p = np.sort(pos[lab == c])
        assert p[-1] - p[0] == len(p) - 1
    # Prim (any dimension) gives the same tree in 2-D
    assert adjusted_rand_score(H.cut_linkage(H.decode_prim(E), 7), H.cut_linkage(Z, 7)) == 1.0
    # merge heights are d_o(leaf) - d_o(LCA) and monotone
    assert np.all(np.diff(Z[:, 2]) >= 0) and Z[-1, 2] <= 2 * np.arctanh(0.8)


def test_decode_is_n_log_n_time_and_linear_memory():
    """20k random 2-D leaves decode in well under a second of CPU time and O(n) memory.

    Decoding is a sort by angle, a sort of the n gaps and n - 1 union-find merges:
    O(n log n) time, O(n) memory. An n x n float64 matrix would need 3.2 GB; the peak
    traced allocation must stay below 400 bytes per leaf (8 MB). Doubling n must not
    quadruple the time (O(n log n), not O(n^2)).
    """
    rng = np.random.default_rng(5)

    def leaves(n):
        ang = rng.uniform(0, 2 * np.pi, n)
        return 0.9 * np.c_[np.cos(ang), np.sin(ang)]

    E20, E40 = leaves(20_000), leaves(40_000)
    H.decode_angular(leaves(1000))  # warm-up
    tracemalloc.start()
    t0 = time.process_time()
    Z, _ = H.decode_angular(E20)
    t20 = time.process_time() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    t0 = time.process_time()
    H.decode_angular(E40)
    t40 = time.process_time() - t0
    assert is_valid_linkage(Z)
    assert t20 < 2.0, t20
    assert peak < 400 * 20_000, peak  # ~8 MB; an n x n matrix would be 3.2 GB
    assert t40 < 3.5 * t20 + 0.05, (t20, t40)
    labels = H.cut_linkage(Z, 10)
    assert len(np.unique(labels)) == 10
    nwk = H.linkage_to_newick(Z)
    assert nwk.endswith(";") and nwk.count(",") == 20_000 - 1


def test_newick_small_tree():
    Z = np.array([[0, 1, 0.5, 2], [2, 3, 1.0, 2], [4, 5, 2.0, 4]], dtype=float)
    assert H.linkage_to_newick(Z, ["a", "b", "c", "d"]) == "((a:0.5,b:0.5):1.5,(c:1,d:1):1);"
    assert H.linkage_to_newick(Z, branch_lengths=False) == "((0,1),(2,3));"


# --------------------------------------------------------------------------- estimator


def planted_hierarchy(n_top=3, n_sub=3, per=12, d=16, seed=0):
    """Clusters of clusters: top centres far apart, sub-centres near their top centre."""
    rng = np.random.default_rng(seed)
    top = rng.normal(size=(n_top, d)) * 5.0
    X, y_top, y_sub = [], [], []
    for t in range(n_top):
        sub = top[t] + rng.normal(size=(n_sub, d)) * 2.0
        for s in range(n_sub):
            X.append(sub[s] + rng.normal(size=(per, d)) * 0.2)
            y_top += [t] * per
            y_sub += [t * n_sub + s] * per
    return np.concatenate(X), np.array(y_top), np.array(y_sub)


def test_planted_hierarchy_recovered_at_both_levels():
    X, y_top, y_sub = planted_hierarchy()
    m = HyperbolicHC(n_clusters=3, random_state=0, **FAST).fit(X)
    assert adjusted_rand_score(y_top, m.labels_) >= 0.9
    assert adjusted_rand_score(y_sub, H.cut_linkage(m.linkage_, 9)) >= 0.9
    assert is_valid_linkage(m.linkage_)
    n = len(X)
    assert m.embeddings_.shape == (n, 2)
    assert np.allclose(np.linalg.norm(m.embeddings_, axis=1), m.radius_) and m.radius_ < 1
    assert set(m.extra_columns_) == {"poincare_x", "poincare_y"}
    assert np.allclose(m.extra_columns_["poincare_x"], m.embeddings_[:, 0])
    assert m.n_clusters_ == 3 and m.labels_.dtype == np.int64
    # HypHC's tree is no worse than average linkage on this easy hierarchy
    U = H.unit_rows(X)  # z-scored, L2-normalised: the similarity HypHC fitted
    avg = H.dasgupta_cost(linkage(U, "average", metric="cosine"), features=U)
    assert m.dasgupta_cost_ <= 1.01 * avg
    assert m.newick().count(",") == n - 1


def test_higher_dimensional_ball_uses_exact_prim_decoder():
    X, y_top, _ = planted_hierarchy(per=8, seed=1)
    m = HyperbolicHC(n_clusters=3, dim=3, random_state=0, **FAST).fit(X)
    assert m.embeddings_.shape == (len(X), 3)
    assert adjusted_rand_score(y_top, m.labels_) >= 0.9


def test_large_input_warm_start_and_block_mode():
    """n > 4096: subsample warm start, then block-sampled triplets; memory O(n d)."""
    rng = np.random.default_rng(6)
    centres = rng.normal(size=(4, 32))
    y = rng.integers(0, 4, size=5000)
    X = centres[y] + 0.3 * rng.normal(size=(5000, 32))
    m = HyperbolicHC(
        n_clusters=4, warm_start=150, epochs=3, n_triplets=600_000, random_state=0, progress=False, device="cpu"
    ).fit(X)
    assert adjusted_rand_score(y, m.labels_) >= 0.95
    assert is_valid_linkage(m.linkage_) and m.embeddings_.shape == (5000, 2)


def test_deterministic_under_random_state():
    X, _, _ = planted_hierarchy(n_top=2, n_sub=2, per=10, seed=2)
    kw = dict(n_clusters=2, epochs=3, n_triplets=50_000, progress=False, device="cpu")
    a = HyperbolicHC(random_state=7, **kw).fit(X)
    b = HyperbolicHC(random_state=7, **kw).fit(X)
    c = HyperbolicHC(random_state=8, **kw).fit(X)
    assert np.array_equal(a.embeddings_, b.embeddings_)
    assert np.array_equal(a.linkage_, b.linkage_) and np.array_equal(a.labels_, b.labels_)
    assert not np.array_equal(a.embeddings_, c.embeddings_)
    # sampled-triplet mode is deterministic too
    kw2 = dict(kw, n_triplets=5000)
    assert np.array_equal(
        HyperbolicHC(random_state=1, **kw2).fit(X).embeddings_,
        HyperbolicHC(random_state=1, **kw2).fit(X).embeddings_,
    )


def _record_budget(monkeypatch):
    """Replace the optimiser by a stub that records its budget and returns random leaves."""
    seen = {}

    def fake(U, **kw):
        seen.update(kw, n=len(U))
        rng = np.random.default_rng(0)
        E = H.unit_rows(rng.normal(size=(len(U), kw["dim"])), standardize=False) * 0.5
        return E, {"history": [], "best_epoch": 0, "radius": 0.5}

    monkeypatch.setattr(_hyphc, "fit_poincare_leaves", fake)
    return seen


def test_default_budget_scales_with_n(monkeypatch):
    """n_triplets=None: an epoch's work grows with n. The old default ran ~1.1e6 triplets
    per epoch at n = 120 (every triplet 4 times; 33.7M over 30 epochs, 36 s on 2 cores)."""
    seen = _record_budget(monkeypatch)
    X = np.random.default_rng(0).normal(size=(120, 8))
    m = HyperbolicHC(n_clusters=6, progress=False, device="cpu").fit(X)
    eff = m.effective_params_
    steps = m.epochs * -(-eff["n_triplets"] // eff["batch_size"])
    assert eff["triplet_visits"] == m.epochs * eff["n_triplets"] == seen["epochs"] * seen["n_triplets"]
    assert eff["triplet_visits"] <= 6_000_000 and steps <= 1800, eff
    assert seen["batch_size"] == eff["batch_size"] <= m.batch_size
    assert seen["evals_per_epoch"] == eff["evals_per_epoch"] >= 1
    # the budget grows with n and is capped by the fixed budget of large inputs
    budgets = [HyperbolicHC.auto_budget(n, 8192) for n in (50, 120, 600, 2000, 4096, 10_000)]
    per_epoch = [b["n_triplets"] for b in budgets]
    assert per_epoch == sorted(per_epoch) and per_epoch[0] < per_epoch[2]
    for n, b in zip((50, 120, 600, 2000, 4096, 10_000), budgets):
        assert b["n_triplets"] <= HyperbolicHC.default_n_triplets(n) and b["batch_size"] <= 8192
    assert budgets[-1]["n_triplets"] == HyperbolicHC.default_n_triplets(10_000)  # block mode: unchanged
    assert HyperbolicHC.auto_budget(120, 512)["batch_size"] == 512  # batch_size is the cap


def test_explicit_budget_is_kept(monkeypatch):
    seen = _record_budget(monkeypatch)
    X = np.random.default_rng(0).normal(size=(120, 8))
    m = HyperbolicHC(n_clusters=6, epochs=7, n_triplets=12_345, batch_size=999, progress=False, device="cpu").fit(X)
    assert (seen["epochs"], seen["n_triplets"], seen["batch_size"], seen["evals_per_epoch"]) == (7, 12_345, 999, 1)
    assert m.effective_params_ == {
        "n_triplets": 12_345, "batch_size": 999, "evals_per_epoch": 1, "epochs": 7, "triplet_visits": 7 * 12_345,
    }
    from medembed.tl._api import result_params

    assert result_params(m)["effective"]["triplet_visits"] == 7 * 12_345
    assert result_params(m)["n_triplets"] == 12_345


def test_more_evaluations_never_keep_a_worse_tree():
    """Scoring the tree within an epoch follows the same trajectory and keeps the best tree."""
    X, _, _ = planted_hierarchy(n_top=2, n_sub=3, per=10, seed=3)
    U = H.unit_rows(X)
    kw = dict(n_triplets=20_000, batch_size=1000, epochs=4, random_state=0, device="cpu", progress=False)
    costs = []
    for evals in (1, 20):
        E, info = fit_poincare_leaves(U, evals_per_epoch=evals, **kw)
        costs.append(H.dasgupta_cost(H.decode_tree(E, info["radius"]), features=U))
        losses = [h["loss"] for h in info["history"]]
        if evals == 1:
            ref = losses
    assert losses == ref  # same optimisation
    assert costs[1] <= costs[0] + 1e-9


# --------------------------------------------------------------------------- backends


@pytest.mark.parametrize("scale, tau", [(0.05, 0.5), (0.7, 0.3), (0.999, 0.1), (0.005, 0.5), (1.2, 0.5)])
def test_numba_gradient_equals_torch_autograd(scale, tau):
    """The compiled step's loss and gradients are autograd's, including where the radius
    clamp (below 1e-2, above max_scale) stops the gradient of the scale."""
    import torch

    from medembed.tl.cluster import _hyphc_jit

    rng = np.random.default_rng(4)
    n = 40
    U = H.unit_rows(rng.normal(size=(n, 6)))
    U[1] = U[0]  # a duplicate point: w = 1, and its leaves may coincide
    W = np.clip(0.5 * (1 + U.astype(np.float32) @ U.astype(np.float32).T), 0, 1)
    E = rng.normal(size=(n, 2)) * rng.uniform(0.01, 0.9, size=(n, 1))
    E[3] = 2 * E[2]  # same direction: cos = 1 exactly, where the clamp stops the gradient
    t = np.vstack([sample_triplets(n, 3000, rng), [[2, 3, 5], [0, 1, 2]]])
    loss, gE, g_scale = _hyphc_jit.triplet_loss_grad(E, scale, 1e-2, 0.999, t, W, tau)

    e = torch.tensor(E, requires_grad=True)
    sc = torch.tensor([scale], dtype=torch.float64, requires_grad=True)
    tt, Wt = torch.as_tensor(t), torch.as_tensor(W)
    s = torch.stack([Wt[tt[:, 0], tt[:, 1]], Wt[tt[:, 0], tt[:, 2]], Wt[tt[:, 1], tt[:, 2]]], -1).double()
    ref = _hyphc.hyphc_triplet_loss(e / e.norm(dim=-1, keepdim=True), sc.clamp(1e-2, 0.999), tt, s, tau)
    ref.backward()
    assert loss == pytest.approx(float(ref.detach()), rel=1e-12)
    assert np.allclose(gE, e.grad.numpy(), rtol=1e-9, atol=1e-12 * np.abs(gE).max())
    assert g_scale == pytest.approx(float(sc.grad), rel=1e-9, abs=1e-15)
    assert (g_scale == 0.0) == (not 1e-2 < scale < 0.999)


@pytest.mark.parametrize("n, n_triplets", [(20, 20_000), (50, 20_000)])  # all triplets / sampled
def test_numba_and_torch_backends_follow_one_trajectory(n, n_triplets):
    """Same start, same triplets: geoopt's RiemannianAdam on the ball and the compiled one
    agree to rounding after 60 steps (losses, leaves, kept epoch)."""
    U = H.unit_rows(np.random.default_rng(n).normal(size=(n, 8)))
    kw = dict(n_triplets=n_triplets, batch_size=1000, epochs=3, anneal_every=1, random_state=0, progress=False,
              evals_per_epoch=5)
    E1, i1 = fit_poincare_leaves(U, backend="numba", **kw)
    E2, i2 = fit_poincare_leaves(U, backend="torch", device="cpu", **kw)
    assert (i1["backend"], i2["backend"]) == ("numba", "torch")
    assert np.allclose([h["loss"] for h in i1["history"]], [h["loss"] for h in i2["history"]], rtol=1e-9)
    assert np.abs(E1 - E2).max() < 1e-7 and i1["best_epoch"] == i2["best_epoch"]
    assert i1["history"][-1]["loss"] < i1["history"][0]["loss"]  # it did optimise


def test_backend_choice():
    assert _hyphc.choose_backend("auto", "auto", block_mode=False) == "numba"
    assert _hyphc.choose_backend("auto", "cuda", block_mode=False) == "torch"
    assert _hyphc.choose_backend("auto", "cpu", block_mode=True) == "torch"
    with pytest.raises(ValueError, match="dense CPU"):
        _hyphc.choose_backend("numba", "cpu", block_mode=True)
    with pytest.raises(ValueError, match="backend='gpu'"):
        _hyphc.choose_backend("gpu", "cpu", block_mode=False)


def test_dense_hyphc_job_does_not_import_torch():
    """A HypHC job up to 4096 leaves runs on numba: no torch import (3 s, 600 MB per job)."""
    script = (
        "import sys, numpy as np; from medembed.tl.cluster._hyphc import HyperbolicHC;"
        "X = np.random.default_rng(0).normal(size=(30, 5));"
        "m = HyperbolicHC(n_clusters=3, epochs=2, progress=False).fit(X);"
        "print(len(set(m.labels_)), 'torch' in sys.modules)"
    )
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == ["3", "False"]


def test_planted_hierarchy_recovered_with_auto_budget():
    """The scaled default budget (n = 108: 60 steps of ~2900 triplets per epoch) still
    recovers both levels of a planted hierarchy."""
    X, y_top, y_sub = planted_hierarchy()
    m = HyperbolicHC(n_clusters=3, epochs=10, random_state=0, progress=False, device="cpu").fit(X)
    assert m.effective_params_["n_triplets"] < 200_000
    assert adjusted_rand_score(y_top, m.labels_) >= 0.9
    assert adjusted_rand_score(y_sub, H.cut_linkage(m.linkage_, 9)) >= 0.9
    U = H.unit_rows(X)
    avg = H.dasgupta_cost(linkage(U, "average", metric="cosine"), features=U)
    assert m.dasgupta_cost_ <= 1.01 * avg


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_clusters": 1}, "n_clusters=1"),
        ({"dim": 1}, "dim=1"),
        ({"temperature": 0.0}, "temperature=0.0"),
        ({"init_size": 1.5}, "init_size=1.5"),
        ({"max_scale": 1.0}, "max_scale=1.0"),
        ({"n_triplets": 0}, "n_triplets=0"),
        ({"epochs": 0}, "epochs=0"),
        ({"device": "tpu"}, "device='tpu'"),
        ({"anneal_factor": 2.0}, "anneal_factor=2.0"),
        ({"standardize": "yes"}, "standardize='yes'"),
        ({"warm_start": 2}, "warm_start=2"),
        ({"min_cluster_size": 0}, "min_cluster_size=0"),
        ({"init_size": 0.5, "max_scale": 0.4}, "max_scale=0.4 must exceed init_size=0.5"),
    ],
)
def test_bad_params_rejected(params, match):
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match=match):
        HyperbolicHC(**params).fit(X)


@pytest.mark.parametrize("cls", [HyperbolicHC, LearnedHyperbolicHC])
def test_every_init_param_is_validated_and_clonable(cls):
    from sklearn.base import clone

    est = cls(n_clusters=3)
    assert set(est.get_params()) == set(cls._parameter_constraints)
    assert clone(est).get_params() == est.get_params()


def test_bad_input_rejected():
    X = np.random.default_rng(0).normal(size=(20, 3))
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        HyperbolicHC(n_clusters=2).fit(X)
    with pytest.raises(ValueError, match="at least 3 needed"):
        HyperbolicHC(n_clusters=2).fit(np.zeros((2, 3)))


# --------------------------------------------------------------------------- learned similarity


def _two_moons_like(n=200, seed=0):
    from sklearn.datasets import make_moons

    X, y = make_moons(n, noise=0.05, random_state=seed)
    return X, y


def test_learned_hyphc_semi_supervised():
    X, y = _two_moons_like()
    y_obj = y.astype(object)
    y_obj[::7] = None  # some labels unknown
    y_obj[1::11] = np.nan
    assert LearnedHyperbolicHC.uses_labels is True
    m = LearnedHyperbolicHC(  # our variant: HypHC on the learned similarity
        n_clusters=2, label_fraction=0.5, mlp_epochs=150, margin=1.0, standardize=True, embedding="hyphc",
        n_layers=2, loss_on="labelled", spread=1.0, mlp_val_fraction=0.0, random_state=0, **FAST,
    ).fit(X, y_obj)
    known = np.array([v is not None and v == v for v in y_obj])
    assert m.label_mask_.sum() <= known.sum() and not m.label_mask_[~known].any()
    assert m.label_mask_.sum() == pytest.approx(0.5 * known.sum(), abs=2)
    assert m.features_.shape == (len(X), 2)
    np.testing.assert_array_equal(m.extra_columns_["label_seen"], m.label_mask_)
    assert adjusted_rand_score(y, m.labels_) >= 0.9
    assert is_valid_linkage(m.linkage_)
    # the default: the paper's recipe (direct decoding of the MLP leaves, 4 hidden layers,
    # HypHC loss over the whole cloud, no spread term)
    m2 = LearnedHyperbolicHC(n_clusters=2, label_fraction=0.5, mlp_epochs=150, random_state=0, **FAST).fit(X, y)
    p = m2.get_params()
    assert (p["embedding"], p["n_layers"], p["loss_on"], p["spread"], p["margin"]) == ("mlp", 4, "all", 0.0, "auto")
    assert m2.margin_ == 1.0  # 2 classes: the paper's margin for circles and moons
    assert adjusted_rand_score(y, m2.labels_) >= 0.9


def test_feasible_margin_gives_the_papers_margins():
    assert feasible_margin(2) == 1.0 and feasible_margin(4) == pytest.approx(1.0)  # circles, moons
    assert feasible_margin(9) == pytest.approx(1 - np.cos(2 * np.pi / 9))  # 0.234; blobs: 0.2
    assert feasible_margin(6) == pytest.approx(0.5)
    assert feasible_margin(6, out_dim=5) == 1.0  # a simplex in 5-D


def test_infeasible_margin_merges_classes_and_auto_does_not():
    """Six classes cannot all be 90 degrees apart on the circle: with margin 1.0 two of them
    share one direction of the MLP output; the feasible margin keeps six directions."""
    from sklearn.datasets import make_blobs
    from sklearn.metrics import normalized_mutual_info_score

    X, y = make_blobs(240, centers=6, n_features=8, cluster_std=1.5, random_state=0)

    def run(margin):
        est = LearnedHyperbolicHC(n_clusters=6, margin=margin, mlp_epochs=50, random_state=0,
                                  progress=False, device="cpu").fit(X, y)
        ang = np.arctan2(est.features_[:, 1], est.features_[:, 0])
        means = np.array([np.angle(np.exp(1j * ang[y == c]).mean()) for c in range(6)])
        gap = np.abs(np.angle(np.exp(1j * (means[:, None] - means[None])))) + 9 * np.eye(6)
        held = ~est.label_mask_
        return np.degrees(gap.min()), normalized_mutual_info_score(y[held], est.labels_[held])

    gap_1, nmi_1 = run(1.0)
    gap_auto, nmi_auto = run("auto")
    assert gap_1 < 10 and gap_auto > 45
    assert nmi_auto > 0.95 and nmi_auto > nmi_1 + 0.1


def test_learned_hyphc_rejects_missing_or_useless_labels():
    X, y = _two_moons_like(40)
    with pytest.raises(ValueError, match="needs labels"):
        LearnedHyperbolicHC(n_clusters=2).fit(X)
    with pytest.raises(ValueError, match="at least 2 classes"):
        LearnedHyperbolicHC(n_clusters=2, **FAST).fit(X, np.zeros(len(X), int))
    with pytest.raises(ValueError, match="label_fraction=0.0"):
        LearnedHyperbolicHC(n_clusters=2, label_fraction=0.0).fit(X, y)
    with pytest.raises(ValueError, match="embedding='tree'"):
        LearnedHyperbolicHC(n_clusters=2, embedding="tree").fit(X, y)
    with pytest.raises(ValueError, match="loss_on='some'"):
        LearnedHyperbolicHC(n_clusters=2, loss_on="some").fit(X, y)
    with pytest.raises(ValueError, match="margin='big'"):
        LearnedHyperbolicHC(n_clusters=2, margin="big").fit(X, y)
    with pytest.raises(ValueError, match="y has 3 entries"):
        LearnedHyperbolicHC(n_clusters=2, **FAST).fit(X, [0, 1, 0])


def test_train_similarity_mlp_on_many_clouds():
    from sklearn.datasets import make_circles

    rng = np.random.default_rng(0)
    clouds, labels = [], []
    for t in range(12):
        x, y = make_circles(int(rng.integers(80, 120)), factor=0.4, noise=0.03, random_state=t)
        clouds.append(x)
        labels.append(y)
    model = train_similarity_mlp(
        clouds[:8], labels[:8], val_clouds=clouds[8:10], val_labels=labels[8:10],
        epochs=25, learning_rate=1e-2, random_state=0, device="cpu", progress=False,
    )
    res = decode_clouds(model, clouds[10:], 2)
    aris = [adjusted_rand_score(y, lab) for (_, lab), y in zip(res, labels[10:])]
    assert np.mean(aris) >= 0.9, aris
    assert 0 < model.radius < 1 and model.leaves(clouds[10]).shape == (len(clouds[10]), 2)


# --------------------------------------------------------------------------- plots


def test_plots_smoke(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from medembed.pl._hyphc import dendrogram_top, poincare_disk

    rng = np.random.default_rng(0)
    ang = rng.uniform(0, 2 * np.pi, 300)
    E = 0.9 * np.c_[np.cos(ang), np.sin(ang)]
    Z = H.decode_tree(E)
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    poincare_disk(axes[0], E, (ang > np.pi).astype(int), title="truth")
    poincare_disk(axes[1], E, H.cut_linkage(Z, 4), title="clusters")
    dendrogram_top(Z, axes[2], p=20, n_clusters=4)
    out = tmp_path / "hyphc.png"
    fig.savefig(out)
    plt.close(fig)
    assert out.stat().st_size > 1000
    ax = poincare_disk(None, E, ang)  # continuous colours, new figure
    plt.close(ax.figure)

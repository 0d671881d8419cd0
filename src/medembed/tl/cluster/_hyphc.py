"""Hyperbolic hierarchical clustering (HypHC; Chami, Gu, Chatziafratis & Ré, NeurIPS 2020).

Leaves are embedded in the Poincaré ball so that a continuous relaxation of Dasgupta's
cost is small, then decoded into a binary tree by greedy merging on the depth of their
hyperbolic lowest common ancestors (LCA), see :mod:`medembed.tl.cluster._hyperbolic`.

* Similarities ``w_ij = (1 + cos(x_i, x_j)) / 2`` of (optionally z-scored) L2-normalised
  features; computed on the fly per triplet batch, so memory is ``O(n d)`` (an ``n x n``
  lookup table is used only when ``n <= 4096``).
* Loss per triplet ``(i, j, k)``: ``w_ij + w_ik + w_jk - (w_ij, w_ik, w_jk) .
  softmax((d_o(i v j), d_o(i v k), d_o(j v k)) / temperature)``, averaged over mini-batches
  of triplets: all ``C(n, 3)`` triplets each epoch when there are at most ``n_triplets``
  of them (each repeated ``round(n_triplets / C(n, 3))`` times, as HypHC's sampler does,
  so that an epoch has about ``n_triplets`` triplets), else ``n_triplets`` triplets drawn
  uniformly anew each epoch. For ``n > 4096`` each mini-batch draws its triplets uniformly
  inside a fresh uniform random block of ``batch_size / 16`` points, so its similarities
  come from one small Gram matrix (BLAS, no per-triplet gathers of ``d``-vectors) and every
  point of the block gets about 50 triplets per step; with plain uniform batches a point
  of a large dataset sees < 1 triplet per step and Adam turns that into a random walk.
* Budget. ``n_triplets=None`` (the default) scales an epoch with ``n`` up to 4096 leaves
  (:meth:`HyperbolicHC.auto_budget`): 60 steps of ``clip(27 n, 1024, batch_size)``
  triplets, capped at ``clip(50 n, 1e6, 5e6)``, and keep_best scores the tree after every
  step up to 512 leaves. On 120 leaves (2 CPU cores) the old fixed 1e6 triplets per
  epoch took 36 s on torch (commit 7af5c09); the scaled budget takes 7.4 s on torch and
  1.8 s on numba (commit 1b61ee5), and the demo's job 1.3 s since the kernel rewrite
  below (commit 05f1762; docs/scaling.md lists every HypHC timing and its source). The
  scaled budget reaches the same or a lower Dasgupta cost on iris, wine, breast_cancer and
  digits
  (benchmarks/hyphc_dasgupta.py --compare [fixed|torch]). Explicit
  ``n_triplets``, ``epochs`` and ``batch_size`` are used as given (one score per epoch).
  The effective values are in ``effective_params_``.
* Leaves live on a shared radius (HypHC's ``normalize_embeddings``): points of the
  Poincaré ball hold the directions, one learnt scale the radius; both are updated by
  geoopt's ``RiemannianAdam`` (in block mode only the block's rows move, with per-row Adam
  moments: a lazy Riemannian Adam). Temperature and learning rate are multiplied by
  ``anneal_factor`` every ``anneal_every`` epochs (coarse to fine).
* Two backends (:func:`choose_backend`). Up to 4096 leaves on the CPU (every job of the
  demo) one compiled numba kernel computes the loss, its gradient and the Riemannian Adam
  update (:mod:`._hyphc_jit`), without torch: a step of 3240 triplets (120 leaves) costs ~0.3 ms
  and one of 8192 triplets 0.85 ms, against ~3.3 ms of torch dispatch (commit 3d158d4), and the job does not pay torch's import (3 s, 600 MB). It is
  autograd + geoopt to rounding (same start and triplets: leaves within 1e-7 after 60
  steps, ``tests/test_hyphc.py``). Block mode and ``device='cuda'`` run on torch + geoopt.
  All randomness comes from one numpy generator, so both follow one trajectory.
* Large inputs (``n > 4096``, unless ``warm_start=None``) start from a coarse solution:
  HypHC on a uniform subsample of ``m = warm_start`` leaves, every leaf initialised at the
  direction of its most similar subsample leaf (``O(n m d)`` chunked matmuls), then all
  leaves are refined (block mode, a tenth of the learning rate). On 2 CPU cores per-leaf
  SGD alone does not sort 10^4-10^5 leaves on the circle in useful time: with 8M triplets
  on 20k planted 512-d leaves a random start stayed scrambled (ARI 0.03-0.7) while the
  warm-started run reached ARI 0.9999 (``benchmarks/hyphc_scale.py --n 20000``).
* The tree is decoded after each epoch (``O(n log n)`` in 2-D) and, with ``keep_best``,
  the epoch with the lowest exact Dasgupta cost (``O(n d)``) is kept, as HypHC does.
* Flat clusters: the tree cut top-down into ``n_clusters`` clusters; branches with fewer
  than ``min_cluster_size`` leaves (default ``max(2, 0.05 n / n_clusters)``) stay with the
  cluster they split from instead of becoming clusters (single-leaf outliers otherwise
  take clusters away); ``min_cluster_size=1`` is the plain cut (undo the last k-1 merges).
"""

from __future__ import annotations

import logging
import math
import sys

import numpy as np

from ..._validation import Interval, Options
from .._base import BaseClusterer, cap_n_clusters
from ._hyperbolic import (
    cut_linkage,
    dasgupta_cost,
    decode_tree,
    gram_basis,
    lca_depth_same_radius,
    linkage_to_newick,
    unit_rows,
)

#: below this many leaves the similarities of a triplet batch come from an n x n table
_DENSE_MAX_N = 4096
#: auto budget (``n_triplets=None``, n <= _DENSE_MAX_N): optimiser steps per epoch, triplets
#: per leaf and step (batch ~ 27 n: each leaf in ~80 triplets per step), smallest batch,
#: and the leaf count x evaluations per epoch of keep_best (every step up to 512 leaves)
AUTO_STEPS_PER_EPOCH = 60
AUTO_TRIPLETS_PER_LEAF = 27
AUTO_MIN_BATCH = 1024
AUTO_EVAL_LEAVES = 512 * AUTO_STEPS_PER_EPOCH
#: smallest shared radius, Adam's (beta1, beta2, eps) as in geoopt's RiemannianAdam, and
#: the largest norm geoopt's PoincareBall projects float64 points to
_MIN_SCALE = 1e-2
_ADAM = (0.9, 0.999, 1e-8)
_BALL_MAXNORM = 1.0 - 1e-5

log = logging.getLogger(__name__)


def n_choose_3(n: int) -> int:
    return n * (n - 1) * (n - 2) // 6


def all_triplets(n: int) -> np.ndarray:
    """Every ``(i < j < k)`` triplet of ``n`` items, shape ``(C(n, 3), 3)``, int64."""
    out = np.empty((n_choose_3(n), 3), dtype=np.int64)
    pos = 0
    for i in range(n - 2):
        j, k = np.triu_indices(n - i - 1, k=1)
        m = len(j)
        out[pos : pos + m, 0] = i
        out[pos : pos + m, 1] = j + i + 1
        out[pos : pos + m, 2] = k + i + 1
        pos += m
    return out


def sample_triplets(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """``m`` triplets of distinct items drawn uniformly (with replacement across triplets)."""
    i = rng.integers(0, n, size=m)
    j = rng.integers(0, n - 1, size=m)
    j = j + (j >= i)
    k = rng.integers(0, n - 2, size=m)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    k = k + (k >= lo)
    k = k + (k >= hi)
    return np.stack([i, j, k], axis=1)


def resolve_device(device: str):
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' requested but CUDA is not available")
    return torch.device(device)


class _Similarity:
    """``w(i, j) = (1 + u_i.u_j) / 2`` for unit rows ``U`` (torch), dense table if small."""

    def __init__(self, U, device):
        import torch

        self.U = torch.as_tensor(np.ascontiguousarray(U), dtype=torch.float32, device=device)
        n = self.U.shape[0]
        self.W = None
        if n <= _DENSE_MAX_N:
            self.W = (0.5 * (1.0 + self.U @ self.U.T)).clamp(0.0, 1.0)

    def __call__(self, i, j):
        if self.W is not None:
            return self.W[i, j]
        return (0.5 * (1.0 + (self.U[i] * self.U[j]).sum(-1))).clamp(0.0, 1.0)

    def triplets(self, t):
        """(B, 3) similarities (w_ij, w_ik, w_jk) of triplets ``t`` (each row gathered once)."""
        if self.W is not None:
            W = self.W
            return torch_stack([W[t[:, 0], t[:, 1]], W[t[:, 0], t[:, 2]], W[t[:, 1], t[:, 2]]])
        ui, uj, uk = self.U[t[:, 0]], self.U[t[:, 1]], self.U[t[:, 2]]
        c = torch_stack([(ui * uj).sum(-1), (ui * uk).sum(-1), (uj * uk).sum(-1)])
        return (0.5 * (1.0 + c)).clamp(0.0, 1.0)


def torch_stack(cols):
    import torch

    return torch.stack(cols, dim=-1)


def hyphc_triplet_loss(u, radius, triplets, sims, temperature):
    """HypHC loss of a batch: ``u`` unit directions (n, d), ``sims`` (B, 3) = (w_ij, w_ik, w_jk)."""
    import torch

    ui, uj, uk = u[triplets[:, 0]], u[triplets[:, 1]], u[triplets[:, 2]]
    cos = torch.stack([(ui * uj).sum(-1), (ui * uk).sum(-1), (uj * uk).sum(-1)], dim=-1)
    depth = lca_depth_same_radius(cos.clamp(-1.0, 1.0), radius)
    weights = torch.softmax(depth / temperature, dim=-1)
    return (sims.sum(-1) - (sims * weights).sum(-1)).mean()


class _NumbaLeaves:
    """Dense-regime optimiser state, numpy + one compiled step (:mod:`._hyphc_jit`): the
    leaves (n, dim) on the Poincaré ball, their shared radius ``clamp(scale, _MIN_SCALE,
    max_scale)``, geoopt's RiemannianAdam moments. No torch import."""

    def __init__(self, U, init, *, init_size, max_scale, learning_rate):
        from . import _hyphc_jit

        self._jit = _hyphc_jit
        U32 = np.ascontiguousarray(U, dtype=np.float32)  # as the torch table: float32
        self.W = np.clip(0.5 * (1.0 + U32 @ U32.T), 0.0, 1.0)
        self.E = np.array(init, dtype=np.float64)
        self.M = np.zeros_like(self.E)
        self.V = np.zeros(len(self.E))
        self.scale, self.m_scale, self.v_scale = float(init_size), 0.0, 0.0
        self.max_scale = float(max_scale)
        self.lr = float(learning_rate)
        self.k = 0

    def step(self, t, tau):
        loss, gE, g_scale = self._jit.triplet_loss_grad(self.E, self.scale, _MIN_SCALE, self.max_scale, t, self.W, tau)
        self.k += 1
        self._jit.riemannian_adam_ball(self.E, gE, self.M, self.V, self.k, self.lr, *_ADAM, _BALL_MAXNORM)
        self.scale, self.m_scale, self.v_scale = self._jit.adam_scalar(
            self.scale, g_scale, self.m_scale, self.v_scale, self.k, self.lr, *_ADAM)
        return loss

    def radius(self) -> float:
        return min(max(self.scale, _MIN_SCALE), self.max_scale)

    def embeddings(self):
        return unit_rows(self.E, standardize=False) * self.radius()

    def anneal(self, factor):
        self.lr *= factor

    def close(self):
        pass


class _TorchLeaves:
    """The same state in torch (geoopt ``ManifoldParameter`` + ``RiemannianAdam``), for a GPU
    and for block mode (``n > 4096``: a lazy Riemannian Adam on the block's rows)."""

    def __init__(self, U, init, *, init_size, max_scale, learning_rate, block_learning_rate, device, block_mode):
        import geoopt
        import torch

        self.torch = torch
        self.dev = resolve_device(device)
        self.dtype = torch.float64 if len(U) <= 20000 else torch.float32
        self.sim = _Similarity(U, self.dev)
        self.emb = geoopt.ManifoldParameter(torch.as_tensor(init, dtype=self.dtype, device=self.dev),
                                            manifold=geoopt.PoincareBall())
        self.scale = torch.nn.Parameter(torch.tensor([init_size], dtype=self.dtype, device=self.dev))
        self.max_scale = float(max_scale)
        # block mode updates only the rows of the current block ("lazy" Riemannian Adam with
        # per-row moments and step counts; for rows of one norm Adam on the ball reduces to
        # this up to the retraction), the radius with RiemannianAdam; else RiemannianAdam on all
        self.block_mode = block_mode
        self.opt = geoopt.optim.RiemannianAdam([self.scale] if block_mode else [self.emb, self.scale], lr=learning_rate)
        self.lr_rows = learning_rate if block_learning_rate is None else block_learning_rate
        if block_mode:
            self.m1 = torch.zeros_like(self.emb.data)
            self.m2 = torch.zeros_like(self.emb.data)
            self.steps = torch.zeros(len(U), 1, dtype=self.dtype, device=self.dev)
        # Per-step tensors are small: on a shared CPU, intra-op threads mostly wait on each
        # other (10x slower when the cores are busy), so the loop runs single-threaded on CPU.
        self.prev_threads = torch.get_num_threads()
        if self.dev.type == "cpu":
            torch.set_num_threads(1)

    def _radius_t(self):
        return self.scale.clamp(_MIN_SCALE, self.max_scale)

    def radius(self) -> float:
        return float(self._radius_t().detach())

    def embeddings(self):
        with self.torch.no_grad():
            u = self.emb / self.emb.norm(dim=-1, keepdim=True).clamp_min(1e-15)
            return (u * self._radius_t()).double().cpu().numpy()

    def _descend(self, u, t, s, tau):
        loss = hyphc_triplet_loss(u, self._radius_t(), t, s, tau)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return float(loss.detach())

    def step(self, t, tau):
        torch = self.torch
        t = torch.as_tensor(t, device=self.dev)
        with torch.no_grad():
            s = self.sim.triplets(t).to(self.dtype)
        u = self.emb / self.emb.norm(dim=-1, keepdim=True).clamp_min(1e-15)
        return self._descend(u, t, s, tau)

    def step_block(self, blk, loc, tau):
        torch = self.torch
        blk = torch.as_tensor(blk, device=self.dev)
        loc = torch.as_tensor(loc, device=self.dev)
        with torch.no_grad():
            Ub = self.sim.U[blk]
            Wb = (0.5 * (1.0 + Ub @ Ub.T)).clamp(0.0, 1.0)
            s = torch_stack([Wb[loc[:, 0], loc[:, 1]], Wb[loc[:, 0], loc[:, 2]], Wb[loc[:, 1], loc[:, 2]]]).to(self.dtype)
        eb = self.emb.detach()[blk].clone().requires_grad_(True)
        loss = self._descend(eb / eb.norm(dim=-1, keepdim=True).clamp_min(1e-15), loc, s, tau)
        beta1, beta2 = _ADAM[0], _ADAM[1]
        with torch.no_grad():
            sq = (eb * eb).sum(-1, keepdim=True)
            g = eb.grad * ((1 - sq) ** 2 / 4)  # Riemannian gradient on the ball
            self.m1[blk] = beta1 * self.m1[blk] + (1 - beta1) * g
            self.m2[blk] = beta2 * self.m2[blk] + (1 - beta2) * g * g
            self.steps[blk] += 1
            k = self.steps[blk]
            upd = (self.m1[blk] / (1 - beta1**k)) / ((self.m2[blk] / (1 - beta2**k)).sqrt() + 1e-12)
            new = eb.detach() - self.lr_rows * upd
            self.emb.data[blk] = new / new.norm(dim=-1, keepdim=True).clamp_min(1e-15) * sq.sqrt()
        return loss

    def anneal(self, factor):
        for g in self.opt.param_groups:
            g["lr"] *= factor
        self.lr_rows *= factor

    def close(self):
        self.torch.set_num_threads(self.prev_threads)


def choose_backend(backend: str, device: str, block_mode: bool) -> str:
    """``numba`` (dense regime, CPU) or ``torch`` (block mode, or an explicit GPU).

    ``auto`` takes numba whenever it can: in the dense regime a step is a few thousand
    triplets on ``n <= 4096`` 2-D leaves, which a GPU spends in kernel launches, so
    ``device='auto'`` does not import torch for it (and gives the same result with or
    without a GPU). ``device='cuda'`` asks for torch.
    """
    if backend not in ("auto", "numba", "torch"):
        raise ValueError(f"backend={backend!r}: expected 'auto', 'numba' or 'torch'")
    if backend == "numba" and (block_mode or device == "cuda"):
        raise ValueError(f"backend='numba' runs dense CPU problems (n <= {_DENSE_MAX_N}, device cpu/auto)")
    if backend == "auto":
        return "torch" if block_mode or device == "cuda" else "numba"
    return backend


def fit_poincare_leaves(
    U,
    *,
    dim: int = 2,
    temperature: float = 0.5,
    init_size: float = 0.05,
    max_scale: float = 0.999,
    n_triplets: int = 1_000_000,
    epochs: int = 30,
    batch_size: int = 8192,
    learning_rate: float = 5e-3,
    anneal_every: int = 5,
    anneal_factor: float = 0.6,
    keep_best: bool = True,
    random_state=None,
    device: str = "auto",
    progress: bool = True,
    desc: str = "HypHC",
    init_directions=None,
    block_learning_rate=None,
    evals_per_epoch: int = 1,
    backend: str = "auto",
):
    """Optimise HypHC leaf embeddings for the cosine similarities of unit rows ``U``.

    Returns ``(embeddings (n, dim) float64 on one shared radius, info dict)``; ``info`` has
    ``history`` (per-epoch mean loss and Dasgupta cost), ``best_epoch``, ``radius`` and
    ``backend``. Deterministic for a given ``random_state``: all randomness (start, triplets,
    permutations) is drawn from one numpy generator, so the ``numba`` and ``torch`` backends
    (:func:`choose_backend`) follow the same trajectory up to rounding.
    """
    from tqdm.auto import tqdm

    U = np.asarray(U)
    n = U.shape[0]
    if n < 3:
        raise ValueError(f"HypHC needs at least 3 samples; got {n}")
    rng = np.random.default_rng(0 if random_state is None else int(random_state))

    total = n_choose_3(n)
    use_all = total <= n_triplets
    triplets_all = all_triplets(n) if use_all else None
    # all triplets: as in HypHC's sampler, small problems repeat every triplet so that an
    # epoch has about n_triplets of them (enough optimiser steps per epoch)
    repeats = max(1, int(round(n_triplets / total))) if use_all else 1
    per_epoch = total * repeats if use_all else int(n_triplets)
    # large n: sample triplets block-wise (see the loop); block of m = batch_size / 16 points
    block_mode = (not use_all) and n > _DENSE_MAX_N
    block = int(min(n, max(64, batch_size // 16)))
    kind = choose_backend(backend, device, block_mode)

    init = rng.standard_normal((n, dim))
    if init_directions is not None:  # warm start: given directions plus a tiny jitter
        init = unit_rows(np.asarray(init_directions, dtype=np.float64), standardize=False) + 1e-3 * init
    init = unit_rows(init, standardize=False) * init_size
    if kind == "numba":
        leaves = _NumbaLeaves(U, init, init_size=init_size, max_scale=max_scale, learning_rate=learning_rate)
    else:
        leaves = _TorchLeaves(U, init, init_size=init_size, max_scale=max_scale, learning_rate=learning_rate,
                              block_learning_rate=block_learning_rate, device=device, block_mode=block_mode)

    tau = float(temperature)
    history = []
    best = (math.inf, None, -1)
    evaluate = keep_best and (dim == 2 or n <= 20000)
    try:
        n_batches = math.ceil(per_epoch / batch_size)
        # with keep_best, the tree is scored after every eval_step-th batch and at epoch end
        eval_step = max(1, n_batches // max(1, int(evals_per_epoch)))

        # the cost depends on U only through U U^T: score on a basis of min(n, d) columns
        U_score = gram_basis(U) if evaluate else None

        def score(best):
            E = leaves.embeddings()
            cost = dasgupta_cost(decode_tree(E, leaves.radius()), features=U_score)
            return cost, (cost, E, epoch) if cost < best[0] else best
        bar = tqdm(total=epochs * n_batches, desc=desc, file=sys.stderr, disable=not progress, leave=False)
        for epoch in range(epochs):
            if use_all:
                perm = np.concatenate([rng.permutation(total) for _ in range(repeats)])
            elif not block_mode:
                trip = sample_triplets(n, per_epoch, rng)
            running = 0.0
            for b in range(n_batches):
                if block_mode:
                    # uniform triplets inside a uniform random block of points: every triplet
                    # is still uniform over all C(n, 3), but the block's similarities come
                    # from one small Gram matrix and each point of the block gets ~3B/m
                    # triplets, hence a low-noise update (see module docstring)
                    blk = rng.choice(n, size=block, replace=False)
                    loc = sample_triplets(block, batch_size, rng)
                    loss, size = leaves.step_block(blk, loc, tau), len(loc)
                else:
                    sl = slice(b * batch_size, (b + 1) * batch_size)
                    t = triplets_all[perm[sl]] if use_all else trip[sl]
                    loss, size = leaves.step(t, tau), len(t)
                running += loss * size
                bar.update(1)
                if evaluate and (b + 1) % eval_step == 0 and b + 1 < n_batches:
                    best = score(best)[1]
            rec = {"epoch": epoch, "loss": running / per_epoch, "temperature": tau}
            if evaluate:
                cost, best = score(best)
                rec["dasgupta"] = cost
                bar.set_postfix(loss=f"{rec['loss']:.4f}", cost=f"{cost:.4g}")
            history.append(rec)
            if anneal_every and (epoch + 1) % anneal_every == 0:
                tau *= anneal_factor
                leaves.anneal(anneal_factor)
        bar.close()
        if evaluate and best[1] is not None:
            E, best_epoch = best[1], best[2]
        else:
            E, best_epoch = leaves.embeddings(), epochs - 1
    finally:
        leaves.close()
    radius = float(np.median(np.linalg.norm(E, axis=1)))
    return E, {"history": history, "best_epoch": best_epoch, "radius": radius, "backend": kind}


def warm_start_directions(U, sub_embeddings, sub_index, *, chunk: int = 8192):
    """Direction of every leaf = that of its most similar subsample leaf (``O(n m d)``, chunked)."""
    U = np.asarray(U)
    Us = np.ascontiguousarray(U[sub_index])
    E = np.asarray(sub_embeddings, dtype=np.float64)
    out = np.empty((U.shape[0], E.shape[1]))
    for s in range(0, U.shape[0], chunk):
        nearest = np.argmax(U[s : s + chunk] @ Us.T, axis=1)
        out[s : s + chunk] = E[nearest]
    out[sub_index] = E
    return out


class HyperbolicHC(BaseClusterer):
    """Hyperbolic hierarchical clustering (HypHC) of feature vectors.

    Attributes after ``fit``: ``labels_`` (tree cut into ``n_clusters``), ``linkage_``
    (scipy linkage of the decoded binary tree), ``embeddings_`` (leaves in the Poincaré
    ball, ``(n, dim)``), ``radius_`` (their shared norm), ``dasgupta_cost_`` (exact, of
    ``linkage_`` for the cosine similarities used), ``history_`` (per epoch loss / cost),
    ``extra_columns_`` with ``poincare_x`` / ``poincare_y`` (first two coordinates).
    ``newick()`` returns the tree in Newick format.
    """

    _parameter_constraints = {
        "n_clusters": [Interval(int, 2, None, closed="left")],
        "min_cluster_size": [Interval(int, 1, None, closed="left"), None],
        "dim": [Interval(int, 2, None, closed="left")],
        "standardize": [Options(True, False)],
        "temperature": [Interval(float, 0, None, closed="neither")],
        "init_size": [Interval(float, 0, 1, closed="neither")],
        "max_scale": [Interval(float, 0, 1, closed="neither")],
        "n_triplets": [Interval(int, 1, None, closed="left"), None],
        "epochs": [Interval(int, 1, None, closed="left")],
        "batch_size": [Interval(int, 1, None, closed="left")],
        "learning_rate": [Interval(float, 0, None, closed="neither")],
        "anneal_every": [Interval(int, 0, None, closed="left")],
        "anneal_factor": [Interval(float, 0, 1, closed="right")],
        "keep_best": [Options(True, False)],
        "warm_start": [Interval(int, 3, None, closed="left"), None],
        "random_state": [int, None],
        "device": [Options("auto", "cpu", "cuda")],
        "progress": [Options(True, False)],
    }
    _min_samples = 3

    def __init__(
        self,
        n_clusters=8,
        *,
        min_cluster_size=None,
        dim=2,
        standardize=True,
        temperature=0.5,
        init_size=0.05,
        max_scale=0.999,
        n_triplets=None,
        epochs=30,
        batch_size=8192,
        learning_rate=5e-3,
        anneal_every=5,
        anneal_factor=0.6,
        keep_best=True,
        warm_start=2048,
        random_state=42,
        device="auto",
        progress=True,
    ):
        self.n_clusters = n_clusters
        self.min_cluster_size = min_cluster_size
        self.dim = dim
        self.standardize = standardize
        self.temperature = temperature
        self.init_size = init_size
        self.max_scale = max_scale
        self.n_triplets = n_triplets
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.anneal_every = anneal_every
        self.anneal_factor = anneal_factor
        self.keep_best = keep_best
        self.warm_start = warm_start
        self.random_state = random_state
        self.device = device
        self.progress = progress

    @staticmethod
    def default_n_triplets(n: int) -> int:
        """The fixed per-epoch cap: ``clip(50 n, 1e6, 5e6)`` (the ``n_triplets=None`` budget
        of ``n > 4096`` leaves and the warm start; smaller inputs get :meth:`auto_budget`)."""
        return int(min(max(50 * n, 1_000_000), 5_000_000))

    @classmethod
    def auto_budget(cls, n: int, batch_size: int) -> dict:
        """Per-epoch budget for ``n_triplets=None``: ``n_triplets``, ``batch_size``, ``evals_per_epoch``.

        Up to 4096 leaves an epoch is ``AUTO_STEPS_PER_EPOCH`` (60) steps of
        ``clip(27 n, 1024, batch_size)`` triplets, capped at :meth:`default_n_triplets`, so
        every leaf is in ~80 triplets per step whatever ``n`` (gradient noise per leaf stays
        as low as with the old fixed 1e6 triplets per epoch at n ~ 150) and an epoch's
        work grows with ``n``: at n = 120 it is 60 x 3240 triplets instead of ~1.1e6. With
        keep_best the tree is scored after every step up to 512 leaves (an O(n d) decode
        and cost), ``60 x 512 / n`` times per epoch above. Larger inputs keep the fixed
        budget (block mode, warm start).
        """
        legacy = cls.default_n_triplets(n)
        if n > _DENSE_MAX_N:
            return {"n_triplets": legacy, "batch_size": int(batch_size), "evals_per_epoch": 1}
        # a small collection has only C(n, 3) distinct triplets: a batch holds each once
        batch = int(min(batch_size, max(AUTO_MIN_BATCH, AUTO_TRIPLETS_PER_LEAF * n), max(1, n_choose_3(n))))
        per_epoch = int(min(legacy, AUTO_STEPS_PER_EPOCH * batch))
        steps = math.ceil(per_epoch / batch)
        evals = int(max(1, min(steps, AUTO_EVAL_LEAVES // n)))
        return {"n_triplets": per_epoch, "batch_size": batch, "evals_per_epoch": evals}

    def _check_common(self, X):
        X = self._validate(X)
        self._k = cap_n_clusters(self, X.shape[0])
        if self.max_scale <= self.init_size:
            raise ValueError(
                f"{type(self).__name__}: max_scale={self.max_scale} must exceed init_size={self.init_size}"
            )
        return X

    def _fit_unit_rows(self, U):
        n = U.shape[0]
        if self.n_triplets is None:
            budget = self.auto_budget(n, self.batch_size)
        else:  # explicit: exactly as given
            budget = {"n_triplets": int(self.n_triplets), "batch_size": int(self.batch_size), "evals_per_epoch": 1}
        n_trip = budget["n_triplets"]
        self.effective_params_ = {
            **self.effective_params_, **budget, "epochs": int(self.epochs), "triplet_visits": int(self.epochs) * n_trip,
        }
        log.info("%s: %d leaves, %d epochs x %d triplets (batches of %d, tree scored %d x per epoch)%s",
                 type(self).__name__, n, self.epochs, n_trip, budget["batch_size"], budget["evals_per_epoch"],
                 " [n_triplets=None: auto budget]" if self.n_triplets is None else "")
        kw = dict(
            dim=self.dim,
            temperature=self.temperature,
            init_size=self.init_size,
            max_scale=self.max_scale,
            epochs=self.epochs,
            learning_rate=self.learning_rate,
            anneal_every=self.anneal_every,
            anneal_factor=self.anneal_factor,
            keep_best=self.keep_best,
            random_state=self.random_state,
            device=self.device,
            progress=self.progress,
        )
        init_dirs, block_lr = None, None
        if self.warm_start is not None and n > _DENSE_MAX_N:
            # coarse-to-fine: embed a uniform subsample, start every leaf at the direction of
            # its most similar subsample leaf, then refine all leaves
            rng = np.random.default_rng(self.random_state)
            m = min(self.warm_start, n // 2)
            sub = np.sort(rng.choice(n, size=m, replace=False))
            Es, _ = fit_poincare_leaves(
                U[sub], **{**kw, "desc": f"{type(self).__name__} warm start"}, batch_size=self.batch_size,
                n_triplets=self.default_n_triplets(m) if self.n_triplets is None else self.n_triplets,
            )
            init_dirs = warm_start_directions(U, Es, sub)
            block_lr = 0.1 * self.learning_rate  # refine, do not undo, the coarse solution
        E, info = fit_poincare_leaves(
            U, init_directions=init_dirs, block_learning_rate=block_lr, n_triplets=n_trip,
            batch_size=budget["batch_size"], evals_per_epoch=budget["evals_per_epoch"],
            desc=type(self).__name__, **kw,
        )
        self.embeddings_ = E
        self.radius_ = info["radius"]
        self.history_ = info["history"]
        self.best_epoch_ = info["best_epoch"]
        self.linkage_ = decode_tree(E, self.radius_)
        self.dasgupta_cost_ = dasgupta_cost(self.linkage_, features=U)
        labels = self._cut(self.linkage_)
        extra = {"poincare_x": E[:, 0].copy(), "poincare_y": E[:, 1].copy()}
        return labels, extra

    def _cut(self, Z):
        n = Z.shape[0] + 1
        m = self.min_cluster_size
        if m is None:
            m = max(2, int(0.05 * n / self._k))
        self.min_cluster_size_ = m
        return cut_linkage(Z, self._k, min_cluster_size=m)

    def fit(self, X, y=None):
        X = self._check_common(X)
        U = unit_rows(X, standardize=self.standardize, dtype=np.float64 if X.shape[0] <= 20000 else np.float32)
        labels, extra = self._fit_unit_rows(U)
        return self._finish(labels, extra)

    def newick(self, labels=None) -> str:
        """The decoded tree in Newick format (leaf names: ``labels`` or sample indices)."""
        return linkage_to_newick(self.linkage_, labels)

"""HypHC at scale: 100,000 leaves of synthetic 512-d features with planted clusters.

Features: ``n_clusters`` random unit centres in ``R^512`` plus isotropic Gaussian noise
(per-coordinate std ``noise``), float32. HyperbolicHC embeds the leaves in the Poincaré
disk from uniformly sampled triplets (similarities computed on the fly per batch, never an
``n x n`` matrix) and decodes the tree in ``O(n log n)`` by angular order. Prints wall-clock
seconds (embedding, decoding), peak resident memory and the ARI of the flat cut at the
planted number of clusters. Targets: <= 600 s and <= 8 GiB on 2 cores.

Usage: ``python benchmarks/hyphc_scale.py [--n 100000] [--dim 512] [--clusters 10]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from medembed.tl.cluster._hyperbolic import cut_linkage, dasgupta_cost, decode_tree, unit_rows  # noqa: E402
from medembed.tl.cluster._hyphc import HyperbolicHC  # noqa: E402

torch.set_num_threads(2)


def peak_rss_gib() -> float:
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def planted(n: int, d: int, k: int, noise: float, seed: int):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    y = rng.integers(0, k, size=n)
    X = centres[y] + rng.normal(scale=noise, size=(n, d)).astype(np.float32)
    return X.astype(np.float32), y


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--clusters", type=int, default=10)
    ap.add_argument("--noise", type=float, default=0.03)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--n-triplets", type=int, default=None, help="triplets per epoch (default: HyperbolicHC's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    X, y = planted(args.n, args.dim, args.clusters, args.noise, args.seed)
    t_data = time.perf_counter() - t0
    print(f"data: {args.n} x {args.dim} float32, {args.clusters} planted clusters, noise sd {args.noise} "
          f"({t_data:.1f}s, peak RSS {peak_rss_gib():.2f} GiB)", flush=True)

    model = HyperbolicHC(
        n_clusters=args.clusters,
        epochs=args.epochs,
        n_triplets=args.n_triplets,
        random_state=args.seed,
        device="cpu",
        progress=not args.no_progress,
    )
    t0 = time.perf_counter()
    model.fit(X)
    t_fit = time.perf_counter() - t0
    # decode again on its own to time the O(n log n) step
    t1 = time.perf_counter()
    Z = decode_tree(model.embeddings_, model.radius_)
    labels = cut_linkage(Z, args.clusters, min_cluster_size=model.min_cluster_size_)
    t_decode = time.perf_counter() - t1
    ari = adjusted_rand_score(y, model.labels_)
    ari_plain = adjusted_rand_score(y, cut_linkage(Z, args.clusters))
    assert np.array_equal(labels, model.labels_)
    U = unit_rows(X, standardize=True, dtype=np.float32)
    t2 = time.perf_counter()
    cost = dasgupta_cost(Z, features=U)
    t_cost = time.perf_counter() - t2
    n_trip = model.n_triplets or HyperbolicHC.default_n_triplets(args.n)
    print(f"triplets: {args.epochs} epochs x {n_trip:,} = {args.epochs * n_trip:,}; best epoch {model.best_epoch_}")
    print(f"fit (embed + decode + cut): {t_fit:.1f} s")
    print(f"decode + cut alone:         {t_decode:.2f} s")
    print(f"exact Dasgupta cost O(nd):  {t_cost:.2f} s ({cost:.4g})")
    order = np.argsort(np.arctan2(model.embeddings_[:, 1], model.embeddings_[:, 0]))
    runs = int(np.sum(y[order] != np.roll(y[order], 1)))
    print(f"planted labels along the circle: {runs} runs (ideal {args.clusters})")
    print(f"peak RSS:                   {peak_rss_gib():.2f} GiB")
    print(f"ARI at k={args.clusters}:              {ari:.4f} (min_cluster_size {model.min_cluster_size_}; plain cut {ari_plain:.4f})")
    ok = t_fit <= 600 and peak_rss_gib() <= 8
    print("within 600 s and 8 GiB" if ok else "OVER BUDGET")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""t-SNE's negative gradient: Barnes-Hut against FFT interpolation, by n (same process).

openTSNE's FFT grid grows with the map's extent, not with n, so it has a fixed cost of
about 10 CPU-seconds per 750 iterations; Barnes-Hut grows as n log n. This prints the CPU
seconds of both on planted clusters (6 Gaussian clusters in 64-d, L2-normalised, affinities
from the shared kNN graph as in the workflow) and the ARI of k-means on each map, and the
ratio bh / fft. ``TSNEReducer(negative_gradient_method="auto")`` takes Barnes-Hut below
10,000 points (openTSNE's own rule).

Measured (2 shared cores, load about 5, one thread each, CPU seconds, ARI of k-means on
the map):

    n       fft            bh             bh / fft
    120     11.25 s 1.000  0.38 s 1.000   0.03
    600     14.05 s 1.000  1.74 s 1.000   0.12
    3000    21.42 s 1.000  13.74 s 1.000  0.64

    python benchmarks/tsne_methods.py [--n 120 600 3000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from openTSNE import TSNE, affinity
from openTSNE.nearest_neighbors import PrecomputedNeighbors
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from medembed import pp


def planted(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 6, n)
    X = (rng.normal(size=(6, 64))[y] + rng.normal(scale=0.7, size=(n, 64))).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True), y


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[120, 600, 3000])
    args = ap.parse_args(argv)
    threadpool_limits(1)
    print(f"{'n':>7} {'fft cpu':>9} {'ARI':>6} {'bh cpu':>9} {'ARI':>6} {'bh/fft':>7}")
    for n in args.n:
        X, y = planted(n)
        g = pp.neighbors(X, n_neighbors=min(90, n - 1))
        out = {}
        for method in ("fft", "bh"):
            aff = affinity.PerplexityBasedNN(
                perplexity=min(30, (n - 1) / 3),
                knn_index=PrecomputedNeighbors(g.indices.astype(np.int64), g.distances.astype(np.float64)),
                n_jobs=1, random_state=42,
            )
            t = time.process_time()
            E = TSNE(n_iter=750, initialization="pca", negative_gradient_method=method,
                     random_state=42, n_jobs=1).fit(X.astype(np.float64), affinities=aff)
            cpu = time.process_time() - t
            ari = adjusted_rand_score(y, KMeans(6, n_init=5, random_state=0).fit_predict(E))
            out[method] = (cpu, ari)
        (tf, af), (tb, ab) = out["fft"], out["bh"]
        print(f"{n:>7} {tf:>8.2f}s {af:>6.3f} {tb:>8.2f}s {ab:>6.3f} {tb / tf:>7.2f}", flush=True)


if __name__ == "__main__":
    main()

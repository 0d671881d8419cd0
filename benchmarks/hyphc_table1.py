"""Table 1 of Gigli, Marcotegui & Velasco-Forero (GSI 2021), MLP rows, on 2 CPU cores.

Protocol (as in the paper and the authors' generators): four families of 2-D point clouds,
circles (k=2, make_circles factor 0.5), moons (k=4: two make_moons, the second shifted by
(2, 2)), blobs (k=9 Gaussians centred on the 3x3 grid {-1, 0, 1}^2) and anisotropic blobs
(k=9, the blobs sheared per cluster and globally by [[0.6, -0.6], [-0.4, 0.8]]). Each cloud
has 200-300 points; 30 % of each class's labels are known. Two difficulty levels: noise 0
vs noise uniform in [0, 0.16] (circles, moons), cluster std 0.08 vs 0.16 (blobs, aniso).
As in the rows compared here, the MLP (hidden 64, LeakyReLU 0.2, batch norm, temperature
0.1, margin 1.0 for circles/moons and 0.2 for blobs/aniso) is trained on 100 clouds of the
harder level with early stopping on 20 validation clouds, and tested on 200 clouds of the
harder level: the tree decoded from the learnt leaves is cut into k clusters and scored
with ARI@k, Purity@k and NMI@k (mean +- sd over test clouds). Single / average / complete /
Ward linkage on the raw coordinates of the same test clouds are scored the same way.

Two training recipes are compared with the paper's numbers:

* ``paper``: the paper's recipe, ``LearnedHyperbolicHC``'s default: 4 hidden layers, the
  HypHC loss over the whole cloud, no extra term, the tree decoded from the MLP's leaves;
* ``ours``: our earlier variant: 2 hidden layers, HypHC loss on the labelled triplets only
  plus a "spread" term (the mean similarity of labelled pairs), decoded directly and, on
  the first ``--hyphc-clouds`` test clouds, by a second HypHC on the learnt similarity
  (``embedding="hyphc"``).

Usage: ``python benchmarks/hyphc_table1.py [--quick] [--datasets circles moons ...]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.cluster.hierarchy import linkage  # noqa: E402
from sklearn.datasets import make_blobs, make_circles, make_moons  # noqa: E402
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score  # noqa: E402

from medembed.tl._metrics import purity_score  # noqa: E402
from medembed.tl.cluster._hyperbolic import cut_linkage, decode_tree, unit_rows  # noqa: E402
from medembed.tl.cluster._hyphc import fit_poincare_leaves  # noqa: E402
from medembed.tl.cluster._hyphc_learned import decode_clouds, train_similarity_mlp  # noqa: E402

torch.set_num_threads(2)

GRID = np.array([[a, b] for a in (-1, 0, 1) for b in (-1, 0, 1)], dtype=float)
ANISO = np.array([[0.6, -0.6], [-0.4, 0.8]])

#: name -> (k, margin, harder-level noise or std, easier level)
DATASETS = {
    "circles": (2, 1.0, "noise<=0.16", "noise=0"),
    "moons": (4, 1.0, "noise<=0.16", "noise=0"),
    "blobs": (9, 0.2, "std=0.16", "std=0.08"),
    "aniso": (9, 0.2, "std=0.16", "std=0.08"),
}

#: Gigli et al. (2021) Table 1, MLP trained on the harder level, tested on the harder level:
#: (ARI@k, sd), (Purity@k, sd), (NMI@k, sd)
PAPER = {
    "circles": ((0.919, 0.18), (0.972, 0.0848), (0.895, 0.187)),
    "moons": ((0.96, 0.0901), (0.971, 0.0751), (0.972, 0.049)),
    "blobs": ((0.985, 0.0246), (0.992, 0.0198), (0.99, 0.0115)),
    "aniso": ((0.952, 0.0503), (0.968, 0.044), (0.972, 0.0189)),
}


def make_cloud(name: str, n: int, rng: np.random.Generator, *, hard: bool = True):
    """One cloud of ``n`` points of family ``name`` at the harder (or easier) level."""
    seed = int(rng.integers(2**31 - 1))
    if name in ("circles", "moons"):
        noise = float(rng.uniform(0.0, 0.16)) if hard else 0.0
        if name == "circles":
            return make_circles(n, factor=0.5, noise=noise, random_state=seed)
        x, y = make_moons(n // 2, noise=noise, random_state=seed)
        x2, y2 = make_moons(n - n // 2, noise=noise, random_state=seed + 1)
        return np.concatenate([x, x2 + (2.0, 2.0)]), np.concatenate([y, y2 + 2])
    std = 0.16 if hard else 0.08
    centers = GRID[rng.permutation(len(GRID))]
    x, y = make_blobs(n, centers=centers, cluster_std=std, random_state=seed)
    if name == "aniso":  # the authors' per-cluster then global shear
        for c in np.unique(y):
            xc = x[y == c]
            x[y == c] = (xc - xc.mean()) @ ANISO + xc
        x = x @ ANISO
    return x, y


def make_set(name: str, count: int, rng: np.random.Generator, hard: bool = True, n_range=(200, 300)):
    clouds, labels = [], []
    for _ in range(count):
        n = int(rng.integers(n_range[0], n_range[1] + 1))
        x, y = make_cloud(name, n, rng, hard=hard)
        clouds.append(x.astype(np.float32))
        labels.append(y.astype(np.int64))
    return clouds, labels


def scores(y, pred):
    return adjusted_rand_score(y, pred), purity_score(y, pred), normalized_mutual_info_score(y, pred)


def fmt(vals):
    v = np.asarray(vals)
    return f"{v.mean():.3f} ± {v.std():.3f}"


#: training recipes: train_similarity_mlp keyword arguments
RECIPES = {
    "paper": dict(n_layers=4, loss_on="all", spread=0.0),
    "ours": dict(n_layers=2, loss_on="labelled", spread=1.0),
}


def run(name: str, n_train: int, n_val: int, n_test: int, epochs: int, seed: int = 0, progress: bool = True,
        lr: float = 1e-3, max_triplets: int = 20000, hyphc_clouds: int = 0, recipes=tuple(RECIPES)):
    k, margin, hard_desc, _ = DATASETS[name]
    rng = np.random.default_rng(seed)
    tr = make_set(name, n_train, rng)
    va = make_set(name, n_val, rng)
    te = make_set(name, n_test, rng)
    rows, info = {}, {}
    for recipe in recipes:
        t0 = time.perf_counter()
        model = train_similarity_mlp(
            tr[0], tr[1], label_fraction=0.3, val_clouds=va[0], val_labels=va[1], hidden=64, out_dim=2,
            negative_slope=0.2, margin=margin, temperature=0.1, epochs=epochs, learning_rate=lr,
            max_triplets=max_triplets, random_state=seed, device="cpu", progress=progress, **RECIPES[recipe],
        )
        info[recipe] = (time.perf_counter() - t0, model.best_epoch)
        res = decode_clouds(model, te[0], k)
        rows[f"MLP {recipe}"] = [scores(y, lab) for (_, lab), y in zip(res, te[1])]
        if hyphc_clouds and recipe == "ours":
            # embedding="hyphc": HypHC on the learnt similarity w_ij = (1 + cos(NN(x_i), NN(x_j))) / 2,
            # on the first test clouds only (slower)
            out = []
            for x, y in zip(te[0][:hyphc_clouds], te[1][:hyphc_clouds]):
                U = unit_rows(model.embed(x), standardize=False)
                E, _ = fit_poincare_leaves(U, epochs=10, n_triplets=200_000, random_state=seed, device="cpu",
                                           progress=False)
                out.append(scores(y, cut_linkage(decode_tree(E), k)))
            rows[f"MLP {recipe}+HypHC ({hyphc_clouds})"] = out
    for method in ("single", "average", "complete", "ward"):
        rows[method] = [scores(y, cut_linkage(linkage(x.astype(np.float64), method), k)) for x, y in zip(*te)]
    return rows, info


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 20 train, 5 val, 20 test clouds, 10 epochs")
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--max-triplets", type=int, default=20000)
    ap.add_argument("--n-train", type=int, default=None)
    ap.add_argument("--n-test", type=int, default=None)
    ap.add_argument("--hyphc-clouds", type=int, default=None,
                    help="also run HypHC on the learnt similarity of this many test clouds (default 10; quick 3)")
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    # 20 epochs x 100 clouds = 2,000 steps per recipe (the paper's protocol allows 60; in our run the
    # best validation epochs were 4-19, and moons, the latest, already beats Table 1); 33 min on 2 busy cores
    n_train, n_val, n_test, epochs = (20, 5, 20, 10) if args.quick else (100, 20, 200, 20)
    if args.epochs is not None:
        epochs = args.epochs
    if args.n_train is not None:
        n_train = args.n_train
    if args.n_test is not None:
        n_test = args.n_test
    hyphc_clouds = args.hyphc_clouds if args.hyphc_clouds is not None else (3 if args.quick else 10)
    t_all = time.perf_counter()
    failures = []
    print(f"Gigli et al. Table 1 protocol: {n_train} train / {n_val} val / {n_test} test clouds, "
          f"200-300 points, 30% labels, {epochs} epochs max\n")
    for name in args.datasets:
        k, margin, hard_desc, _ = DATASETS[name]
        rows, info = run(name, n_train, n_val, n_test, epochs, args.seed, not args.no_progress,
                         args.lr, args.max_triplets, hyphc_clouds, args.recipes)
        trained = ", ".join(f"{r} {t:.0f}s (best epoch {b})" for r, (t, b) in info.items())
        print(f"== {name} (k={k}, trained and tested at {hard_desc}, margin {margin}, temperature 0.1) "
              f"train: {trained}")
        print(f"  {'method':<22} {'ARI@k':>16} {'Purity@k':>16} {'NMI@k':>16}")
        p = PAPER[name]
        print(f"  {'Table 1 (paper) MLP':<22} " + " ".join(f"{m:.3f} ± {s:.3f}".rjust(16) for m, s in p))
        for method, vals in rows.items():
            v = np.asarray(vals)
            print(f"  {method:<22} " + " ".join(fmt(v[:, j]).rjust(16) for j in range(3)))
        for recipe in args.recipes:
            mean = np.asarray(rows[f"MLP {recipe}"]).mean(0)
            for j, metric in enumerate(("ARI@k", "Purity@k", "NMI@k")):
                if mean[j] - p[j][0] < -0.05:
                    failures.append(f"{name} {recipe} {metric}: {mean[j]:.3f} vs paper {p[j][0]:.3f}")
            print(f"  {recipe} - Table 1: " + ", ".join(
                f"{m} {mean[j] - p[j][0]:+.3f}" for j, m in enumerate(("ARI@k", "Purity@k", "NMI@k"))))
        print(flush=True)
    print(f"total {time.perf_counter() - t_all:.0f}s")
    if failures:
        print("NOT within 0.05 of the paper: " + "; ".join(failures))
    else:
        print("every MLP mean is within 0.05 of the paper's or above")
    return 0


if __name__ == "__main__":
    sys.exit(main())

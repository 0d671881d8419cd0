"""Dasgupta cost of HypHC's decoded tree vs classical linkages on four sklearn datasets.

For iris, wine, breast_cancer and digits the features are z-scored per column and
L2-normalised (rows ``u_i``), the similarity is ``w_ij = (1 + u_i.u_j) / 2`` and Dasgupta's
cost ``sum_{i<j} w_ij |leaves(T[i v j])|`` is computed exactly (``O(n d)``) for the tree
decoded by :class:`~medembed.tl.cluster._hyphc.HyperbolicHC` and for single / average /
complete linkage (cosine distance ``1 - u_i.u_j``) and Ward linkage (on ``u``) computed in
the same run. Ratios are relative to average linkage (lower is better; target <= 1).

Usage: ``python benchmarks/hyphc_dasgupta.py [--datasets iris wine ...] [--epochs N]``.
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
from sklearn import datasets  # noqa: E402

from medembed.tl._hyperbolic import dasgupta_cost, unit_rows  # noqa: E402
from medembed.tl.cluster._hyphc import HyperbolicHC  # noqa: E402

torch.set_num_threads(2)

DATASETS = ("iris", "wine", "breast_cancer", "digits")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=None, help="HyperbolicHC learning_rate (default: its own)")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    header = f"{'dataset':<14}{'n':>6}{'single':>9}{'average':>9}{'complete':>9}{'ward':>9}{'HypHC':>9}{'seconds':>9}"
    print("Dasgupta cost / average-linkage cost (lower is better)")
    print(header)
    worse = []
    for name in args.datasets:
        X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
        U = unit_rows(X, standardize=True)
        costs = {}
        for method in ("single", "average", "complete"):
            costs[method] = dasgupta_cost(linkage(U, method, metric="cosine"), features=U)
        costs["ward"] = dasgupta_cost(linkage(U, "ward"), features=U)
        t0 = time.perf_counter()
        extra = {}
        if args.lr is not None:
            extra["learning_rate"] = args.lr
        if args.batch_size is not None:
            extra["batch_size"] = args.batch_size
        model = HyperbolicHC(
            **extra,
            n_clusters=len(np.unique(y)),
            standardize=True,
            epochs=args.epochs,
            random_state=args.seed,
            progress=not args.no_progress,
        ).fit(X)
        secs = time.perf_counter() - t0
        costs["HypHC"] = dasgupta_cost(model.linkage_, features=U)
        r = {k: v / costs["average"] for k, v in costs.items()}
        print(
            f"{name:<14}{len(X):>6}{r['single']:>9.4f}{r['average']:>9.4f}{r['complete']:>9.4f}"
            f"{r['ward']:>9.4f}{r['HypHC']:>9.4f}{secs:>9.1f}",
            flush=True,
        )
        if r["HypHC"] > 1.0:
            worse.append(name)
    print("HypHC at or below average linkage on every dataset" if not worse else f"HypHC above average linkage on: {', '.join(worse)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Dasgupta cost of HypHC's decoded tree vs classical linkages on four sklearn datasets.

For iris, wine, breast_cancer and digits the features are z-scored per column and
L2-normalised (rows ``u_i``), the similarity is ``w_ij = (1 + u_i.u_j) / 2`` and Dasgupta's
cost ``sum_{i<j} w_ij |leaves(T[i v j])|`` is computed exactly (``O(n d)``) for the tree
decoded by :class:`~medembed.tl.cluster._hyphc.HyperbolicHC` and for single / average /
complete linkage (cosine distance ``1 - u_i.u_j``) and Ward linkage (on ``u``) computed in
the same run. Ratios are relative to average linkage (lower is better; target <= 1).

``--compare`` also runs the old fixed budget (``n_triplets = clip(50 n, 1e6, 5e6)``, one
score per epoch) in the same process, alternating which runs first, and prints the cost
and time ratios of the default (scaled) budget to it. Measured on 2 shared cores (another
job running), 30 epochs, HypHC cost / average linkage, seconds:

===============  =====  ==========================  ==========================
dataset          n      seed 0: scaled / fixed      seed 1: scaled / fixed
===============  =====  ==========================  ==========================
iris             150    0.9951 10.4 s / 0.9955 38.8 s  0.9953 8.2 s / 0.9953 33.8 s
wine             178    0.9866 11.6 s / 0.9863 29.1 s  0.9872 9.2 s / 0.9885 28.2 s
breast_cancer    569    0.9901 17.6 s / 0.9909 27.2 s  0.9909 20.3 s / 0.9912 27.1 s
digits           1797   0.9969 25.7 s / 0.9977 29.2 s  0.9989 19.6 s / 0.9992 30.2 s
===============  =====  ==========================  ==========================

Seed-to-seed spread of the fixed budget: 0.0002 (iris), 0.0022 (wine), 0.0003
(breast_cancer), 0.0015 (digits); the scaled budget is lower or equal on 7 of 8 runs and
0.0003 above on wine seed 0. Time ratios 0.24-0.40 (n <= 178), 0.65-0.88 (n >= 569).
Smaller per-epoch budgets tried (e.g. 30-60 steps of 256-1024 triplets, 1-3 s) reached
0.996-1.000 on iris: the cost needs ~80 triplets per leaf and step and many steps.

``--compare torch`` runs the same budget on the torch backend instead (both backends use
one numpy generator, so this is the same optimisation up to rounding; see
``choose_backend``). Measured back to back on 2 cores, default budget, 30 epochs, HypHC cost
/ average linkage and seconds, numba / torch:

===============  =====  ===============================  ===============================
dataset          n      seed 0: numba / torch            seed 1: numba / torch
===============  =====  ===============================  ===============================
iris             150    0.9972 2.8 s / 0.9966 6.9 s      0.9962 1.2 s / 0.9963 6.5 s
wine             178    0.9866 1.4 s / 0.9865 6.4 s      0.9863 1.3 s / 0.9865 5.8 s
breast_cancer    569    0.9901 2.4 s / 0.9904 10.5 s     0.9908 2.4 s / 0.9904 10.2 s
digits           1797   1.0003 4.9 s / 0.9995 10.8 s     0.9967 4.9 s / 0.9974 11.0 s
===============  =====  ===============================  ===============================

Time ratios 0.18-0.45; cost ratios 0.9992-1.0008: the same optimisation, but rounding
differences grow over 1800 steps into a different local optimum. The move to one numpy
generator (and the numba backend) changed the start and the triplets drawn; over seeds 0-7
the mean cost / average linkage went from 0.9964 to 0.9960 (iris) and from 0.9977 to
0.9981 (digits), within the seed-to-seed spread (sd 0.0012 on digits, where both
versions have seeds at or above 0.9997: 0.9997 before, 1.0003 twice now). Over seeds 0-3
wine went from 0.9867 to 0.9865.

Usage: ``python benchmarks/hyphc_dasgupta.py [--datasets iris wine ...] [--epochs N] [--compare [fixed|torch]]``.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.cluster.hierarchy import linkage  # noqa: E402
from sklearn import datasets  # noqa: E402

from medembed.tl.cluster import _hyphc  # noqa: E402
from medembed.tl.cluster._hyperbolic import dasgupta_cost, unit_rows  # noqa: E402
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
    ap.add_argument("--compare", nargs="?", const="fixed", choices=("fixed", "torch"), default=None,
                    help="also run, in the same process, the old fixed budget (n_triplets = clip(50 n, 1e6, 5e6); "
                         "the default) or the same budget on the torch backend ('torch')")
    args = ap.parse_args(argv)
    header = f"{'dataset':<14}{'n':>6}{'single':>9}{'average':>9}{'complete':>9}{'ward':>9}{'HypHC':>9}{'seconds':>9}"
    if args.compare:
        header += f"{args.compare:>9}{'seconds':>9}{'cost x':>9}{'time x':>8}"
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
        extra = {}
        if args.lr is not None:
            extra["learning_rate"] = args.lr
        if args.batch_size is not None:
            extra["batch_size"] = args.batch_size

        def run(n_triplets, backend="auto", X=X, y=y, U=U, extra=extra):
            t0 = time.perf_counter()
            fit = _hyphc.fit_poincare_leaves
            _hyphc.fit_poincare_leaves = functools.partial(fit, backend=backend)
            try:
                model = HyperbolicHC(
                    **extra,
                    n_clusters=len(np.unique(y)),
                    standardize=True,
                    epochs=args.epochs,
                    n_triplets=n_triplets,
                    random_state=args.seed,
                    progress=not args.no_progress,
                ).fit(X)
            finally:
                _hyphc.fit_poincare_leaves = fit
            return dasgupta_cost(model.linkage_, features=U), time.perf_counter() - t0

        fixed = None
        if args.compare:  # alternate which side runs first (the machine is shared)
            if args.compare == "fixed":
                other = functools.partial(run, HyperbolicHC.default_n_triplets(len(X)))
            else:
                other = functools.partial(run, None, "torch")
            if DATASETS.index(name) % 2:
                costs["HypHC"], secs = run(None)
                fixed = other()
            else:
                fixed = other()
                costs["HypHC"], secs = run(None)
        else:
            costs["HypHC"], secs = run(None)
        r = {k: v / costs["average"] for k, v in costs.items()}
        line = (
            f"{name:<14}{len(X):>6}{r['single']:>9.4f}{r['average']:>9.4f}{r['complete']:>9.4f}"
            f"{r['ward']:>9.4f}{r['HypHC']:>9.4f}{secs:>9.1f}"
        )
        if fixed is not None:
            line += f"{fixed[0] / costs['average']:>9.4f}{fixed[1]:>9.1f}{costs['HypHC'] / fixed[0]:>9.4f}{secs / fixed[1]:>8.3f}"
        print(line, flush=True)
        if r["HypHC"] > 1.0:
            worse.append(name)
    print("HypHC at or below average linkage on every dataset" if not worse else f"HypHC above average linkage on: {', '.join(worse)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

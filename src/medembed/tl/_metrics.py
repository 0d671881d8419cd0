"""Quality metrics as tidy rows {label, metric, value}: clusterings against known labels
(:func:`cluster_metrics`), without labels (:func:`internal_metrics`), 2-D maps
(:func:`reduction_metrics`) and outlier scores against known anomalies (:func:`outlier_metrics`).

Everything quadratic runs on a fixed-size random sample, so no n x n matrix is built.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from ._base import NOISE


def purity_score(labels_true, labels_pred) -> float:
    """Fraction of samples whose cluster's majority true label is their own.

    Noise (-1) counts as its own cluster, so labelling everything noise scores the
    majority-class rate, never 1.0.
    """
    ct = pd.crosstab(np.asarray(labels_pred), np.asarray(labels_true))
    return float(ct.max(axis=1).sum() / ct.to_numpy().sum())


_EXTERNAL = {
    "ari": skm.adjusted_rand_score,
    "ami": skm.adjusted_mutual_info_score,
    "nmi": skm.normalized_mutual_info_score,
    "purity": purity_score,
    "homogeneity": skm.homogeneity_score,
    "completeness": skm.completeness_score,
}


#: External metrics that get a bootstrap interval (and a paired tie test between the
#: clusterings of one feature set, :func:`mark_ties`).
INTERVAL_METRICS = ("ari", "nmi", "purity")
#: Bootstrap resamples of the images for those intervals (no refits: the partition is fixed).
N_BOOT = 1000


def bootstrap_weights(n: int, n_boot: int = N_BOOT, *, random_state: int = 0, chunk: int = 100):
    """Yield ``(b, n)`` arrays: how often each of ``n`` items is drawn in a resample with
    replacement of size ``n``; ``n_boot`` rows in all, ``chunk`` at a time. The same
    ``(n, n_boot, random_state)`` always gives the same resamples, so two results scored on
    the same items in the same order are resampled alike (a paired bootstrap)."""
    rng = np.random.default_rng(random_state)
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        idx = rng.integers(0, n, size=(b, n))
        yield np.bincount((idx + (np.arange(b) * n)[:, None]).ravel(), minlength=b * n).reshape(b, n)
        done += b


def contingency_scores(N: np.ndarray) -> dict[str, np.ndarray]:
    """ARI, NMI (arithmetic mean normalisation) and purity of each ``(K, C)`` contingency
    table in ``N`` (``b x K x C``: clusters x classes, counts or weights), as scikit-learn
    computes them from the expanded labels (checked in the tests), vectorised over ``b``."""
    N = np.asarray(N, dtype=np.float64)
    n = N.sum((1, 2))
    a, c = N.sum(2), N.sum(1)  # cluster sizes, class sizes
    k_used, c_used = (a > 0).sum(1), (c > 0).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        # pair confusion counts (sklearn.metrics.cluster.pair_confusion_matrix)
        sq = (N**2).sum((1, 2))
        tp = sq - n
        fp = (a**2).sum(1) - sq
        fn = (c**2).sum(1) - sq
        tn = n**2 - tp - fp - fn - n
        ari = 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))
        ari = np.where((fn == 0) & (fp == 0), 1.0, ari)
        p = N / n[:, None, None]
        pa, pc = a / n[:, None], c / n[:, None]
        outer = pa[:, :, None] * pc[:, None, :]
        mi = np.where(p > 0, p * np.log(np.where(p > 0, p, 1) / np.where(outer > 0, outer, 1)), 0).sum((1, 2))
        mi = np.clip(mi, 0, None)
        ha = -np.where(pa > 0, pa * np.log(np.where(pa > 0, pa, 1)), 0).sum(1)
        hc = -np.where(pc > 0, pc * np.log(np.where(pc > 0, pc, 1)), 0).sum(1)
        nmi = np.where(mi > 0, mi / np.maximum((ha + hc) / 2, np.finfo(float).eps), 0.0)
        nmi = np.where((k_used == c_used) & (k_used <= 1), 1.0, nmi)
        purity = N.max(2).sum(1) / n
    return {"ari": ari, "nmi": nmi, "purity": purity}


def external_replicates(y_true, y_pred, *, n_boot: int = N_BOOT, random_state: int = 0) -> dict[str, np.ndarray]:
    """:data:`INTERVAL_METRICS` of ``n_boot`` bootstrap resamples of the scored items
    (:func:`bootstrap_weights`; the partition is fixed, nothing is refitted)."""
    _, yt = np.unique(np.asarray(y_true).astype(str), return_inverse=True)
    _, yp = np.unique(np.asarray(y_pred), return_inverse=True)
    K, C, n = int(yp.max()) + 1, int(yt.max()) + 1, len(yt)
    cell = yp * C + yt
    out = {m: [] for m in INTERVAL_METRICS}
    for W in bootstrap_weights(n, n_boot, random_state=random_state):
        b = len(W)
        flat = (cell[None, :] + (np.arange(b) * K * C)[:, None]).ravel()
        N = np.bincount(flat, weights=W.ravel(), minlength=b * K * C).reshape(b, K, C)
        for m, v in contingency_scores(N).items():
            out[m].append(v)
    return {m: np.concatenate(v) if v else np.empty(0) for m, v in out.items()}


def percentile_interval(values, level: float = 0.95, *, estimate: float | None = None) -> tuple[float, float]:
    """The percentile interval of the finite ``values`` (NaN, NaN without any).

    Given the full-data ``estimate``, the bias-corrected percentile interval (Efron &
    Tibshirani 1993, ch. 14): the quantiles are shifted by how far the resamples' median
    lies from the estimate. It matters for NMI, whose resamples sit above it (ties among the
    drawn duplicates raise the mutual information), so a plain percentile interval would
    barely cover the value it is reported with. When the estimate lies outside the central
    ``level`` of the resamples the bias is too large to correct, and there is no interval.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return float("nan"), float("nan")
    a = (1 - level) / 2
    lo, hi = a, 1 - a
    if estimate is not None and np.isfinite(estimate):
        from scipy.stats import norm

        share = (np.sum(v < estimate) + 0.5 * np.sum(v == estimate)) / len(v)
        if not a <= share <= 1 - a:
            # the estimate lies outside the central ``level`` of its own resamples: a bias
            # this large is not corrected by a shift (e.g. NMI of a partition into many tiny
            # clusters, where every resample's duplicates raise it): no interval
            return float("nan"), float("nan")
        z0 = norm.ppf(np.clip(share, 1 / (len(v) + 1), len(v) / (len(v) + 1)))
        za = norm.ppf(a)
        lo, hi = float(norm.cdf(2 * z0 + za)), float(norm.cdf(2 * z0 - za))
    return float(np.quantile(v, lo)), float(np.quantile(v, hi))


def boot_budget(n: int, n_boot: int = N_BOOT) -> int:
    """Resamples for ``n`` scored items: ``n_boot`` up to 100,000 items, then fewer (at least
    200) so that one interval costs about as much as at 100,000 (the interval is narrow there)."""
    return n_boot if n <= 100_000 else max(min(200, n_boot), int(n_boot * 100_000 / n))


def cluster_metrics(labels_pred, truth: pd.DataFrame | None = None, *, n_boot: int = N_BOOT,
                    random_state: int = 0, replicates: dict | None = None) -> list[dict]:
    """Rows ``{label, metric, value}``: counts, then every external metric per truth column.

    Samples whose truth is missing are left out of that column's scores. The metrics of
    :data:`INTERVAL_METRICS` also get ``low``/``high``, the 95 % bias-corrected percentile
    interval (:func:`percentile_interval`) of ``n_boot`` bootstrap resamples of the scored
    samples (:func:`external_replicates`, budget :func:`boot_budget`; 0 turns it off). Given a dict, ``replicates[(label, metric)]`` receives the resampled
    values, for a paired comparison of clusterings scored on the same samples in the same
    order (:func:`mark_ties`).
    """
    labels_pred = np.asarray(labels_pred)
    n = len(labels_pred)
    rows = [
        {"label": "", "metric": "n_clusters", "value": float(len(set(labels_pred.tolist()) - {NOISE}))},
        {"label": "", "metric": "noise_fraction", "value": float(np.mean(labels_pred == NOISE)) if n else 0.0},
    ]
    for col in [] if truth is None else truth.columns:
        y = truth[col]
        keep = y.notna().to_numpy()
        if keep.sum() < 2:
            continue
        yt, yp = y[keep].astype(str).to_numpy(), labels_pred[keep]
        boot = (external_replicates(yt, yp, n_boot=boot_budget(len(yt), n_boot), random_state=random_state)
                if n_boot else {})
        for name, fn in _EXTERNAL.items():
            row = {"label": col, "metric": name, "value": float(fn(yt, yp))}
            if name in boot:
                row["low"], row["high"] = percentile_interval(boot[name], estimate=row["value"])
                if replicates is not None and np.isfinite(row["low"]):  # no interval: no tie test
                    replicates[(col, name)] = boot[name]
            rows.append(row)
    return rows


def mark_ties(rows: pd.DataFrame, replicates: dict, *, level: float = 0.95) -> pd.DataFrame:
    """``rows`` (tidy metrics of several clusterings: ``method, label, metric, value``) with
    a boolean ``best`` on the :data:`INTERVAL_METRICS` rows: the highest value of each
    (label, metric), or one not distinguishable from it (the ``level`` percentile interval
    of the paired bootstrap difference contains 0). ``replicates[method][(label, metric)]``
    holds each clustering's resampled values (:func:`cluster_metrics`); a method without
    them (e.g. one scored on other images) takes no part and is not marked."""
    out = rows.copy()
    out["best"] = pd.Series(pd.NA, index=out.index, dtype="boolean")
    sel = out["metric"].isin(INTERVAL_METRICS) & out["method"].isin([m for m, r in replicates.items() if r])
    for (label, metric), sub in out[sel].groupby(["label", "metric"], sort=False):
        sub = sub[sub["value"].notna()]
        if sub.empty:
            continue
        top = sub.index[sub["value"] == sub["value"].max()]
        ref = replicates[out.at[top[0], "method"]].get((label, metric))
        for j in sub.index:
            if j in top:
                out.at[j, "best"] = True
                continue
            other = replicates[out.at[j, "method"]].get((label, metric))
            low = np.nan
            if ref is not None and other is not None and len(ref) == len(other):
                low, _ = percentile_interval(ref - other, level)
            out.at[j, "best"] = bool(np.isfinite(low) and low <= 0)
    return out


def _sample(n: int, sample_size: int | None, random_state) -> np.ndarray:
    if sample_size is not None and (isinstance(sample_size, bool) or not isinstance(sample_size, (int, np.integer)) or sample_size < 2):
        raise ValueError(f"sample_size={sample_size!r} is invalid; allowed: int >= 2 or None")
    if sample_size is None or n <= sample_size:
        return np.arange(n)
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(n, size=sample_size, replace=False))


def _features(X, name: str = "X") -> np.ndarray:
    from .._validation import check_features

    return check_features(X, name=name, min_samples=2)


def internal_metrics(X, labels, sample_size: int | None = 5000, random_state=0) -> list[dict]:
    """Rows ``{label: "", metric, value}`` that need no truth: silhouette (cosine) and Davies–Bouldin.

    Noise (-1) is left out. The silhouette is computed on a fixed random sample of
    ``sample_size`` clustered samples (its cost is quadratic); Davies–Bouldin
    (linear) on all of them. Values are NaN when fewer than 2 clusters remain.
    """
    X = _features(X)
    labels = np.asarray(labels)
    if labels.shape != (X.shape[0],):
        raise ValueError(f"labels has shape {labels.shape}; expected ({X.shape[0]},)")
    keep = labels != NOISE
    Xc, lc = X[keep], labels[keep]
    k = len(np.unique(lc))
    sil = dbi = float("nan")
    if 2 <= k < len(lc):
        dbi = float(skm.davies_bouldin_score(Xc, lc))
        idx = _sample(len(lc), sample_size, random_state)
        if len(np.unique(lc[idx])) >= 2:
            sil = float(skm.silhouette_score(Xc[idx], lc[idx], metric="cosine"))
    return [
        {"label": "", "metric": "silhouette_cosine", "value": sil},
        {"label": "", "metric": "davies_bouldin", "value": dbi},
    ]


def reduction_metrics(
    X, Y, n_neighbors: int = 10, sample_size: int | None = 5000, random_state=0, metric: str = "cosine",
    knn=None,
) -> list[dict]:
    """Rows ``{label: "", metric, value}``: how well a 2-D/3-D map ``Y`` keeps ``X``'s neighbourhoods.

    - ``trustworthiness`` (Venna & Kaski 2001; sklearn) on a random sample of
      ``sample_size`` rows: 1 when no map neighbour is a stranger in ``X``.
    - ``knn_preservation``: mean fraction of each sampled row's ``n_neighbors``
      nearest neighbours in ``X`` (searched among all rows) that are also its
      nearest in ``Y`` (Euclidean). Given the shared graph of ``X`` (``knn``, in
      ``metric``, with at least ``n_neighbors`` columns), ``X``'s neighbours are read from
      it instead of searched again (the same rows on an exact graph; 5,000 x 100,000 x 512
      distances per map saved).
    """
    from sklearn.manifold import trustworthiness
    from sklearn.neighbors import NearestNeighbors

    X, Y = _features(X), _features(Y, "Y")
    n = X.shape[0]
    if Y.shape[0] != n:
        raise ValueError(f"Y has {Y.shape[0]} rows but X has {n}")
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, (int, np.integer)) or n_neighbors < 1:
        raise ValueError(f"n_neighbors={n_neighbors!r} is invalid; allowed: int >= 1")
    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"metric={metric!r} is invalid; allowed: 'cosine', 'euclidean'")
    idx = _sample(n, sample_size, random_state)
    k_tw = min(n_neighbors, len(idx) // 2 - 1)
    if k_tw < 1:
        raise ValueError(f"reduction_metrics needs at least 4 samples; got {len(idx)}")
    tw = float(trustworthiness(X[idx], Y[idx], n_neighbors=k_tw, metric=metric))
    k = min(n_neighbors, n - 1)
    if knn is not None and knn.metric == metric and knn.n_neighbors >= k and knn.n_samples == n:
        ix = np.asarray(knn.indices)[idx, :k]  # self excluded
    else:
        Xs = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12) if metric == "cosine" else X
        ix = NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(Xs).kneighbors(Xs[idx], return_distance=False)
    ny = NearestNeighbors(n_neighbors=k + 1, algorithm="brute" if Y.shape[1] > 3 else "auto").fit(Y)
    iy = ny.kneighbors(Y[idx], return_distance=False)
    overlap = [
        len((set(a.tolist()) - {q}) & (set(b.tolist()) - {q})) / k for q, a, b in zip(idx, ix, iy)
    ]
    return [
        {"label": "", "metric": "trustworthiness", "value": tw},
        {"label": "", "metric": "knn_preservation", "value": float(np.mean(overlap))},
    ]


def outlier_metrics(scores, is_anomaly) -> list[dict]:
    """Rows ``{label: "", metric, value}``: AUROC, average precision and precision at the
    number of true anomalies, for scores where higher = more outlying.

    NaN values when ``is_anomaly`` holds a single class (the metrics are undefined).
    """
    scores = np.asarray(scores, dtype=float)
    truth = np.asarray(is_anomaly)
    if scores.ndim != 1 or truth.shape != scores.shape:
        raise ValueError(f"scores {scores.shape} and is_anomaly {truth.shape} must be 1-D of the same length")
    if not np.isfinite(scores).all():
        raise ValueError(f"scores has {int((~np.isfinite(scores)).sum())} NaN or inf values")
    if truth.dtype != bool:
        if not np.isin(truth, [0, 1]).all():
            raise ValueError("is_anomaly must be boolean or 0/1")
        truth = truth.astype(bool)
    m = int(truth.sum())
    if m == 0 or m == len(truth):
        auroc = ap = p_at = float("nan")
    else:
        auroc = float(skm.roc_auc_score(truth, scores))
        ap = float(skm.average_precision_score(truth, scores))
        top = np.argsort(-scores, kind="stable")[:m]
        p_at = float(truth[top].mean())
    return [
        {"label": "", "metric": "auroc", "value": auroc},
        {"label": "", "metric": "average_precision", "value": ap},
        {"label": "", "metric": "precision_at_n_anomalies", "value": p_at},
    ]


def score_cluster_table(table: pd.DataFrame, truth: pd.DataFrame, *, label_fraction: float | None = None,
                        replicates: dict | None = None) -> list[dict]:
    """External metrics of one cluster table, on held-out rows when the model saw labels.

    ``table``: the cluster table (``cluster`` and, for semi-supervised models, the boolean
    ``label_seen`` column they write); ``truth``: the label columns, row-aligned with
    ``table``. Without ``label_seen`` every row is scored (``supervision="none"``,
    ``scored_on="all"``). With it, only the rows whose label the model did not see are
    scored (``scored_on="held-out"``), so a model cannot score by remembering its training
    labels; ``supervision`` is ``"semi:<fraction>"`` with ``label_fraction`` (default: the
    share of rows seen). Rows are :func:`cluster_metrics`' plus ``n_scored``, each with the
    ``supervision`` and ``scored_on`` fields. ``replicates`` (a dict) receives the bootstrap
    resamples of :func:`cluster_metrics` when every row is scored (see :func:`mark_ties`).
    """
    if len(truth) != len(table):
        raise ValueError(f"truth has {len(truth)} rows but the cluster table has {len(table)}")
    pred = table["cluster"].to_numpy()
    keep = np.ones(len(table), dtype=bool)
    supervision, scored_on = "none", "all"
    if "label_seen" in table:
        seen = table["label_seen"].to_numpy()
        if seen.dtype != bool:
            if not np.isin(seen, [0, 1]).all():
                raise ValueError("label_seen must be boolean")
            seen = seen.astype(bool)
        frac = float(seen.mean()) if label_fraction is None else float(label_fraction)
        supervision, scored_on = f"semi:{round(frac, 2):g}", "held-out"
        keep = ~seen
    # resamples are comparable between clusterings scored on the same rows only
    reps = replicates if scored_on == "all" else None
    rows = cluster_metrics(pred[keep], truth.reset_index(drop=True)[keep], replicates=reps)
    rows.append({"label": "", "metric": "n_scored", "value": float(keep.sum())})
    return [{**r, "supervision": supervision, "scored_on": scored_on} for r in rows]

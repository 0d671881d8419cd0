"""Which embedding fits these images? Label-based probes of one embedding, and their comparison.

For every label column of a dataset, an embedding is scored by what a user of the field
would check first (the comparison no anchor tool offers on the user's own labels):

- ``kmeans_nmi`` / ``kmeans_ari``: k-means with k = the number of classes, against them;
- ``knn_accuracy``: leave-one-out k-nearest-neighbour label accuracy on the shared graph
  (the usual linear-free probe of an embedding; a sample's own label is never used);
- ``label_silhouette``: cosine silhouette of the true labels (on a fixed sample);
- ``linear_balanced_accuracy`` / ``linear_auroc_macro``: a linear probe, logistic
  regression on the standardised frozen features, stratified 5-fold CV with C chosen by an
  inner 3-fold CV (:func:`linear_probe`); the balanced accuracy and the one-vs-rest macro
  AUROC of the out-of-fold predictions;

and, for a dataset with multi-label findings (one binary column per finding, see
:mod:`medembed.tl._enrichment`), instead of those four for each finding:

- ``knn_auroc`` (label: the finding): leave-one-out kNN-probe AUROC on the shared graph,
  the score of an image being the similarity-weighted share of its neighbours that carry
  the finding (:func:`knn_auroc`); NaN ("not applicable") when only one class is known;
- ``knn_auroc_macro`` (label: the source column, e.g. ``Finding Labels``): their mean
  over the findings where it is defined;

plus, per embedding, the ``trustworthiness`` of the default 2-D map and the embedding
throughput (``images_per_s``) and ``dim``. Rows are tidy: ``encoder, features, label,
metric, value, low, high``; ``low``/``high`` is a 95 % bootstrap interval over the images
for the metrics with per-image outcomes (:data:`RESAMPLED`), NaN for the others.
:func:`compare_embeddings` marks, per (label, metric), the ``top`` value and as ``best``
every encoder not distinguishable from it (paired bootstrap of the difference).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd

from ._metrics import percentile_interval

#: Metrics where lower is better (all the others: higher is better).
LOWER_IS_BETTER = frozenset({"embed_seconds"})


def knn_accuracy(knn, labels, n_neighbors: int = 10) -> float:
    """Leave-one-out accuracy of a majority vote over each sample's ``n_neighbors`` neighbours.

    ``knn`` excludes each sample itself; neighbours without a label do not vote, ties go
    to the label of the nearest voter. Samples without a label are not scored. ``k`` is
    at most the smallest class's size minus one: with 5 images a class and 10 voters, no
    class could ever win its own vote, whatever the embedding.
    """
    y, pred = knn_predictions(knn, labels, n_neighbors)
    return float(np.mean(pred[y >= 0] == y[y >= 0])) if (y >= 0).any() else float("nan")


def knn_finding_scores(knn, y, n_neighbors: int = 10, *, weighted: bool = True):
    """Leave-one-out score of each image for a binary finding ``y`` (1/0, NaN unknown).

    The score is the share of the image's ``n_neighbors`` nearest neighbours (``knn``
    excludes the image itself) that carry the finding, among those whose value is known,
    each neighbour weighted by its similarity (``1 - cosine distance`` on a cosine graph;
    plain share on other graphs or with ``weighted=False``). An image none of whose
    neighbours has a known value scores the finding's prevalence.
    """
    y = np.asarray(y, dtype=np.float64)
    idx = np.asarray(knn.indices)[:, : max(1, int(n_neighbors))]
    w = np.ones(idx.shape)
    if weighted and getattr(knn, "metric", "") == "cosine":
        w = np.clip(1.0 - np.asarray(knn.distances, dtype=np.float64)[:, : idx.shape[1]], 1e-6, None)
    vals = y[idx]
    known = np.isfinite(vals)
    num = np.where(known, vals * w, 0.0).sum(1)
    den = np.where(known, w, 0.0).sum(1)
    prevalence = float(np.nanmean(y)) if np.isfinite(y).any() else np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), prevalence)


def knn_auroc(knn, y, n_neighbors: int = 10, *, weighted: bool = True) -> float:
    """AUROC of :func:`knn_finding_scores` over the images whose value of ``y`` is known.

    NaN when fewer than two classes are known (the AUROC is not defined: "not applicable").
    """
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y, dtype=np.float64)
    known = np.isfinite(y)
    if len(np.unique(y[known])) < 2:
        return float("nan")
    scores = knn_finding_scores(knn, y, n_neighbors, weighted=weighted)
    return float(roc_auc_score(y[known].astype(int), scores[known]))


def finding_probe(knn, findings: pd.DataFrame, *, source: str = "findings", n_neighbors: int = 10) -> list[dict]:
    """Tidy rows ``{label, metric, value}``: ``knn_auroc`` per finding column of ``findings``
    (rows aligned with the graph) and their mean as ``knn_auroc_macro`` (label ``source``).

    A finding with a single known class gets an explicit NaN row (not applicable, left out
    of the macro mean); the macro mean is NaN when no finding is applicable.
    """
    from ._enrichment import finding_matrix

    Y = finding_matrix(findings, list(findings.columns))
    rows = [{"label": f, "metric": "knn_auroc", "value": knn_auroc(knn, Y[f].to_numpy(), n_neighbors)}
            for f in Y.columns]
    vals = np.array([r["value"] for r in rows], dtype=float)
    macro = float(np.mean(vals[np.isfinite(vals)])) if np.isfinite(vals).any() else float("nan")
    if rows:
        rows.append({"label": source, "metric": "knn_auroc_macro", "value": macro})
    return rows


# ---- per-image outcomes, the linear probe, bootstrap intervals ------------------------

#: Metrics whose value is computed from per-image outcomes (true class, predicted class,
#: out-of-fold probabilities): they get a bootstrap interval and a paired tie test.
RESAMPLED = frozenset({"knn_accuracy", "linear_balanced_accuracy", "linear_auroc_macro"})
#: Metrics whose interval needs refits (k-means on each bootstrap resample): their
#: per-resample values are kept (outcome ``boot``) for the paired tie test.
REFITTED = frozenset({"kmeans_nmi", "kmeans_ari"})
#: k-means refits per label column for the REFITTED intervals, and the most images one refit sees.
KMEANS_REFITS = 50
KMEANS_SAMPLE = 5000
#: k-means starts of the probe, for the full-data value and for every refit alike: with one
#: start the refits' spread is the starts' local optima (EfficientNet-Lite0 on MedNIST: ARI
#: 0.69-1.00), not the sampling of the images, and a far worse embedding came out tied.
KMEANS_STARTS = 3
#: Rows that describe an encoder but are no quality score: never marked best.
NOT_RANKED = frozenset({"dim", "embed_seconds", "images_per_s"})
#: The linear probe's grid of inverse L2 penalties (features standardised), chosen by inner CV.
LINEAR_CS = (1e-3, 1e-2, 1e-1, 1.0)


def _class_codes(labels) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, classes)``: the known labels' values as str, sorted; -1 where unknown."""
    s = pd.Series(labels, dtype=object)
    known = s.notna().to_numpy()
    classes = np.array(sorted({str(v) for v in s[known]}), dtype=object)
    codes = np.full(len(s), -1, dtype=np.int64)
    codes[known] = np.searchsorted(classes, s[known].astype(str).to_numpy())
    return codes, classes


def knn_predictions(knn, labels, n_neighbors: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """``(y, pred)``: each image's class code and its leave-one-out kNN vote (see :func:`knn_accuracy`).

    Codes index the known labels' values sorted as str; -1 in ``y`` marks an unknown label
    (not scored), -1 in ``pred`` an image none of whose neighbours has a label (scored wrong).
    """
    y, classes = _class_codes(labels)
    counts = np.bincount(y[y >= 0], minlength=len(classes))
    smallest = int(counts[counts > 0].min()) if (y >= 0).any() else 1
    idx = knn.indices[:, : max(1, min(n_neighbors, smallest - 1))]
    votes = y[idx]  # -1 where a neighbour has no label
    pred = np.full(len(y), -1, dtype=np.int64)
    for i in np.flatnonzero(y >= 0):
        v = votes[i][votes[i] >= 0]
        if len(v) == 0:
            continue
        c = np.bincount(v, minlength=len(classes))
        best = np.flatnonzero(c == c.max())
        pred[i] = best[0] if len(best) == 1 else next(x for x in v if x in best)
    return y, pred


def linear_probe(X, labels, *, n_splits: int = 5, Cs=LINEAR_CS, inner_splits: int = 3,
                 max_iter: int = 500, class_weight: str | None = "balanced", random_state: int = 0) -> dict | None:
    """Out-of-fold predictions of a logistic regression on the frozen features.

    Features are standardised inside each fold and the classes weighted inversely to their
    frequency (``class_weight``: the probe is scored by balanced accuracy, so it is trained
    for it); ``C`` is chosen from ``Cs`` by an inner
    stratified ``inner_splits``-fold CV on the training fold (log loss). Images with an
    unknown label are neither trained on nor scored, and neither are the images of a class
    with a single image (no fold could both learn and test it; ``left_out`` names those
    classes). ``n_splits`` is lowered to the size of the smallest class left (a class of 3
    images: 3 folds); returns None ("not applicable") with fewer than two classes of two
    images or more. Otherwise a dict of ``y`` (class codes, -1 unknown or left out),
    ``pred`` (argmax class, -1 where not scored), ``proba`` (n x classes, NaN where not
    scored), ``classes`` and ``left_out``.
    """
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y, classes = _class_codes(labels)
    counts = np.bincount(y[y >= 0], minlength=len(classes))
    keep = np.flatnonzero(counts >= 2)
    if len(keep) < 2:
        return None
    left_out = [str(c) for c in np.asarray(classes)[counts < 2]]
    if left_out:  # single-image classes: their images are not scored; the rest is
        code = np.full(len(classes), -1)
        code[keep] = np.arange(len(keep))
        y = np.where(y >= 0, code[np.maximum(y, 0)], -1)
        classes = np.asarray(classes)[keep]
    known = np.flatnonzero(y >= 0)
    counts = np.bincount(y[known], minlength=len(classes))
    X = np.asarray(X, dtype=np.float32)
    proba = np.full((len(y), len(classes)), np.nan)
    outer = StratifiedKFold(n_splits=min(n_splits, int(counts.min())), shuffle=True, random_state=random_state)
    for train, test in outer.split(known, y[known]):
        tr, te = known[train], known[test]
        inner = min(inner_splits, int(np.bincount(y[tr]).min()))
        if inner >= 2:
            lr = LogisticRegressionCV(Cs=list(Cs), cv=StratifiedKFold(inner), scoring="neg_log_loss",
                                      max_iter=max_iter, class_weight=class_weight)
        else:
            lr = LogisticRegression(C=float(np.median(Cs)), max_iter=max_iter, class_weight=class_weight)
        model = make_pipeline(StandardScaler(), lr)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence and sklearn's API-transition warnings
            model.fit(X[tr], y[tr])
            proba[te] = model.predict_proba(X[te])
    pred = np.where(y >= 0, np.nan_to_num(proba, nan=-1).argmax(1), -1)
    return {"y": y, "pred": pred, "proba": proba, "classes": classes, "left_out": left_out}


def _auroc_rows(pos: np.ndarray, score: np.ndarray) -> np.ndarray:
    """AUROC of each row of ``score`` (B x n) for the binary ``pos`` (B x n); NaN without both classes."""
    from scipy.stats import rankdata

    ranks = rankdata(score, axis=1)
    n1 = pos.sum(1)
    n0 = pos.shape[1] - n1
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * pos).sum(1) - n1 * (n1 + 1) / 2) / (n1 * n0)
    return np.where((n1 > 0) & (n0 > 0), auc, np.nan)


def outcome_scores(metric: str, outcome: dict, idx=None) -> np.ndarray:
    """The ``metric`` (one of :data:`RESAMPLED`) of the scored images of ``outcome``,
    once per row of ``idx`` (B x m positions into the scored images; None: all of them once).

    ``outcome`` holds ``y`` and ``pred`` (class codes) and, for the AUROC, ``proba``; only
    images with ``y >= 0`` count. Balanced accuracy and macro AUROC average over the classes
    present in a resample (one-vs-rest AUROC; a binary column uses the positive class only).
    """
    scored = np.flatnonzero(np.asarray(outcome["y"]) >= 0)
    if idx is None:
        idx = np.arange(len(scored))[None, :]
    rows = scored[np.asarray(idx)]
    y = np.asarray(outcome["y"])[rows]
    if metric == "knn_accuracy":
        return (np.asarray(outcome["pred"])[rows] == y).mean(1)
    if metric == "linear_balanced_accuracy":
        pred = np.asarray(outcome["pred"])[rows]
        recalls = []
        for c in np.unique(y):
            n_c = (y == c).sum(1)
            with np.errstate(invalid="ignore", divide="ignore"):
                recalls.append(np.where(n_c > 0, ((y == c) & (pred == c)).sum(1) / n_c, np.nan))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(np.vstack(recalls), axis=0)
    if metric == "linear_auroc_macro":
        proba = np.asarray(outcome["proba"])
        k = proba.shape[1]
        aucs = [_auroc_rows(y == c, proba[rows, c]) for c in ([1] if k == 2 else range(k))]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample with no class scorable
            return np.nanmean(np.vstack(aucs), axis=0)
    raise ValueError(f"outcome_scores: metric={metric!r} has no per-image outcomes; allowed: {sorted(RESAMPLED)}")


def bootstrap_interval(metric: str, outcome: dict, *, n_boot: int = 1000, level: float = 0.95,
                       random_state: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric`` over the scored images (resampled with
    replacement, ``n_boot`` times; the out-of-fold predictions are reused, nothing is refitted)."""
    m = int((np.asarray(outcome["y"]) >= 0).sum())
    if m == 0 or n_boot < 1:
        return float("nan"), float("nan")
    idx = np.random.default_rng(random_state).integers(0, m, size=(n_boot, m))
    return percentile_interval(outcome_scores(metric, outcome, idx), level)


def paired_difference_interval(metric: str, a: dict, b: dict, *, n_boot: int = 1000, level: float = 0.95,
                               random_state: int = 0) -> tuple[float, float]:
    """Percentile interval of ``metric(a) - metric(b)`` over the same resampled images
    (both outcomes row-aligned on the same images; scored where both know the label)."""
    both = (np.asarray(a["y"]) >= 0) & (np.asarray(b["y"]) >= 0)
    m = int(both.sum())
    if m == 0 or n_boot < 1:
        return float("nan"), float("nan")

    def sub(o):
        return {k: (np.where(both, o[k], -1) if k == "y" else o[k]) for k in ("y", "pred", "proba") if k in o}

    idx = np.random.default_rng(random_state).integers(0, m, size=(n_boot, m))
    return percentile_interval(outcome_scores(metric, sub(a), idx) - outcome_scores(metric, sub(b), idx), level)


def kmeans_replicates(X, y, n_clusters: int, *, n_refits: int = KMEANS_REFITS, sample_size: int = KMEANS_SAMPLE,
                      n_init: int = KMEANS_STARTS, random_state: int = 0) -> dict[str, np.ndarray]:
    """k-means NMI and ARI against ``y`` on ``n_refits`` bootstrap resamples of the rows of
    ``X`` (each of ``min(n, sample_size)`` rows drawn with replacement, refitted with
    ``n_init`` k-means++ starts, as the full-data value is): ``{"kmeans_nmi": (n_refits,), "kmeans_ari": (n_refits,)}``. Resample ``r``
    draws the same row positions for every embedding of the same images, so the values of
    two embeddings pair up."""
    from threadpoolctl import threadpool_limits

    X, y = np.asarray(X), np.asarray(y)
    m = min(len(X), int(sample_size))
    out = {"kmeans_nmi": np.full(n_refits, np.nan), "kmeans_ari": np.full(n_refits, np.nan)}
    # one thread: on at most 5,000 rows a second one costs more in hand-offs than it saves
    # (29 ms against 209 ms a fit on 600 x 1280 on a loaded 2-core machine)
    with threadpool_limits(1):
        _refits(X, y, n_clusters, m, n_init, random_state, out)
    return out


def _refits(X, y, n_clusters, m, n_init, random_state, out) -> None:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    for r in range(len(out["kmeans_nmi"])):
        idx = np.random.default_rng([random_state, r]).integers(0, len(X), size=m)
        if len(np.unique(X[idx], axis=0)) < n_clusters:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # duplicate points: fewer distinct points than clusters
            pred = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=r).fit_predict(X[idx])
        out["kmeans_nmi"][r] = normalized_mutual_info_score(y[idx], pred)
        out["kmeans_ari"][r] = adjusted_rand_score(y[idx], pred)


def embedding_probe(X, knn, truth: pd.DataFrame, *, sample_size: int = 5000, random_state: int = 0,
                    linear: bool = True, n_boot: int = 1000, kmeans_refits: int = KMEANS_REFITS,
                    return_outcomes: bool = False):
    """Tidy rows ``{label, metric, value, low, high}`` for every label column of ``truth``
    (row-aligned with X).

    ``low``/``high`` are the 95 % percentile bootstrap interval (``n_boot`` resamples of the
    images, seeded by ``random_state``; no refits) of the metrics in :data:`RESAMPLED`; for
    k-means NMI/ARI (:data:`REFITTED`) the bias-corrected percentile interval of
    ``kmeans_refits`` refits on resamples (:func:`kmeans_replicates`); NaN for the others. A linear probe (:func:`linear_probe`) adds ``linear_balanced_accuracy``
    and ``linear_auroc_macro``, NaN when it is not applicable (a class of one image). With
    ``return_outcomes``, returns ``(rows, outcomes)``: ``outcomes[(label, metric)]`` is the
    per-image outcome dict (``y``, ``pred``, ``proba``) of every resampled row, the input of
    :func:`compare_embeddings`' paired tie test.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score

    X = np.asarray(X, dtype=np.float32)
    rows, outcomes = [], {}
    rng = np.random.default_rng(random_state)

    def add(col, metric, outcome):
        value = float(outcome_scores(metric, outcome)[0]) if (np.asarray(outcome["y"]) >= 0).any() else np.nan
        low, high = bootstrap_interval(metric, outcome, n_boot=n_boot, random_state=random_state)
        rows.append({"label": col, "metric": metric, "value": value, "low": low, "high": high})
        outcomes[(col, metric)] = outcome

    for col in truth.columns:
        y = truth[col].astype(object).where(truth[col].notna(), None).to_numpy()
        mask = np.array([v is not None for v in y])
        classes = pd.unique(y[mask])
        if len(classes) < 2 or mask.sum() <= len(classes):
            continue
        Xl, yl = X[mask], y[mask].astype(str)
        km = KMeans(n_clusters=len(classes), n_init=KMEANS_STARTS, random_state=random_state).fit(Xl)
        values = {"kmeans_nmi": normalized_mutual_info_score(yl, km.labels_),
                  "kmeans_ari": adjusted_rand_score(yl, km.labels_)}
        boot = kmeans_replicates(Xl, yl, len(classes), n_refits=kmeans_refits, random_state=random_state) \
            if kmeans_refits else {}
        for metric, value in values.items():
            low, high = percentile_interval(boot[metric], estimate=value) if boot else (np.nan, np.nan)
            rows.append({"label": col, "metric": metric, "value": float(value), "low": low, "high": high})
            if boot:
                outcomes[(col, metric)] = {"boot": boot[metric]}
        codes, pred = knn_predictions(knn, y)
        add(col, "knn_accuracy", {"y": codes, "pred": pred})
        pick = np.arange(len(yl)) if len(yl) <= sample_size else rng.choice(len(yl), sample_size, replace=False)
        sil = float("nan")
        if len(np.unique(yl[pick])) >= 2:
            sil = float(silhouette_score(Xl[pick], yl[pick], metric="cosine"))
        rows.append({"label": col, "metric": "label_silhouette", "value": sil})
        if linear:
            lin = linear_probe(X, y, random_state=random_state)
            for metric in ("linear_balanced_accuracy", "linear_auroc_macro"):
                if lin is None:  # not applicable: fewer than two classes of two images or more
                    rows.append({"label": col, "metric": metric, "value": np.nan})
                else:
                    add(col, metric, {k: lin[k] for k in ("y", "pred", "proba")})
    return (rows, outcomes) if return_outcomes else rows


def outcome_arrays(ids, outcomes: dict) -> dict[str, np.ndarray]:
    """``outcomes`` of :func:`embedding_probe` (images ``ids``) as named arrays for one ``.npz``."""
    keys = list(outcomes)
    arrays = {"ids": np.asarray(ids), "keys": np.array(json.dumps([list(k) for k in keys]))}
    for i, k in enumerate(keys):
        for field, a in outcomes[k].items():
            arrays[f"o{i}_{field}"] = np.asarray(a)
    return arrays


def outcomes_from_arrays(arrays) -> tuple[np.ndarray, dict]:
    """Inverse of :func:`outcome_arrays`: ``(ids, outcomes)``."""
    keys = json.loads(str(arrays["keys"]))
    out = {}
    for i, k in enumerate(keys):
        pre = f"o{i}_"
        out[tuple(k)] = {name[len(pre):]: arrays[name] for name in arrays if name.startswith(pre)}
    return np.asarray(arrays["ids"]), out


def _aligned(a: tuple, b: tuple) -> tuple[dict, dict]:
    """Two ``(ids, outcome)`` pairs restricted to their common images, in the same order."""
    (ia, oa), (ib, ob) = a, b
    if len(ia) == len(ib) and np.array_equal(ia, ib):
        return oa, ob
    common, pa, pb = np.intersect1d(ia, ib, return_indices=True)
    return ({k: np.asarray(v)[pa] for k, v in oa.items()}, {k: np.asarray(v)[pb] for k, v in ob.items()})


def compare_embeddings(tables: list[pd.DataFrame], outcomes: list | None = None, *, n_boot: int = 1000,
                       level: float = 0.95, random_state: int = 0) -> pd.DataFrame:
    """One table of every encoder's probe rows, with each (label, metric)'s winners marked.

    ``top``: the best point estimate (all of them when equal). ``best``: top, or not
    distinguishable from it: for a metric of :data:`RESAMPLED` (or :data:`REFITTED`, from the
    kept k-means resamples of the same images) whose per-image outcomes are
    given (``outcomes[i]``: the ``(ids, outcomes)`` of ``tables[i]``, see
    :func:`outcomes_from_arrays`), when the ``level`` paired-bootstrap interval of the
    difference to the top encoder (the same resampled images for both) contains 0. Without
    outcomes ``best`` is ``top``. Rows of :data:`NOT_RANKED` (``dim``, timings) are never
    marked. ``low``/``high`` columns are added (NaN) when a table lacks them.
    """
    if not tables:
        raise ValueError("no probe tables to compare")

    parts = []
    for i, t in enumerate(tables):
        parts.append(t.assign(_src=i))
    df = pd.concat(parts, ignore_index=True)
    for c in ("low", "high"):
        if c not in df:
            df[c] = np.nan
    df["label"] = df["label"].fillna("")
    df["top"] = False
    df["best"] = False
    for (label, metric), sub in df.groupby(["label", "metric"], sort=False):
        vals = sub["value"]
        if metric in NOT_RANKED or vals.notna().sum() == 0:
            continue
        target = vals.min() if metric in LOWER_IS_BETTER else vals.max()
        top = sub.index[vals == target]
        df.loc[top, ["top", "best"]] = True
        if metric not in RESAMPLED | REFITTED or outcomes is None:
            continue
        ref = outcomes[int(df.at[top[0], "_src"])]
        if ref is None or (label, metric) not in ref[1]:
            continue
        for j in sub.index.difference(top):
            other = outcomes[int(df.at[j, "_src"])]
            if other is None or (label, metric) not in other[1] or not np.isfinite(df.at[j, "value"]):
                continue
            if metric in REFITTED:  # the same resamples only for the same images in the same order
                if len(ref[0]) != len(other[0]) or not np.array_equal(ref[0], other[0]):
                    continue
                low, _ = percentile_interval(ref[1][(label, metric)]["boot"] - other[1][(label, metric)]["boot"], level)
            else:
                a, b = _aligned((ref[0], ref[1][(label, metric)]), (other[0], other[1][(label, metric)]))
                low, _ = paired_difference_interval(metric, a, b, n_boot=n_boot, level=level,
                                                    random_state=random_state)
            df.at[j, "best"] = bool(np.isfinite(low) and low <= 0)
    df = df.drop(columns="_src")
    return df.sort_values(["label", "metric", "encoder", "features"], kind="stable").reset_index(drop=True)

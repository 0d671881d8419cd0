"""Which embedding fits these images? Label-based probes of one embedding, and their comparison.

For every label column of a dataset, an embedding is scored by what a user of the field
would check first (the comparison no anchor tool offers on the user's own labels):

- ``kmeans_nmi`` / ``kmeans_ari``: k-means with k = the number of classes, against them;
- ``knn_accuracy``: leave-one-out k-nearest-neighbour label accuracy on the shared graph
  (the usual linear-free probe of an embedding; a sample's own label is never used);
- ``label_silhouette``: cosine silhouette of the true labels (on a fixed sample);

and, for a dataset with multi-label findings (one binary column per finding, see
:mod:`medembed.tl._enrichment`), instead of those four for each finding:

- ``knn_auroc`` (label: the finding): leave-one-out kNN-probe AUROC on the shared graph,
  the score of an image being the similarity-weighted share of its neighbours that carry
  the finding (:func:`knn_auroc`); NaN ("not applicable") when only one class is known;
- ``knn_auroc_macro`` (label: the source column, e.g. ``Finding Labels``): their mean
  over the findings where it is defined;

plus, per embedding, the ``trustworthiness`` of the default 2-D map and the embedding
throughput (``images_per_s``) and ``dim``. Rows are tidy: ``encoder, features, label,
metric, value``; :func:`compare_embeddings` marks the best value of each (label, metric).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Metrics where lower is better (all the others: higher is better).
LOWER_IS_BETTER = frozenset({"embed_seconds"})


def knn_accuracy(knn, labels, n_neighbors: int = 10) -> float:
    """Leave-one-out accuracy of a majority vote over each sample's ``n_neighbors`` neighbours.

    ``knn`` excludes each sample itself; neighbours without a label do not vote, ties go
    to the label of the nearest voter. Samples without a label are not scored. ``k`` is
    at most the smallest class's size minus one: with 5 images a class and 10 voters, no
    class could ever win its own vote, whatever the embedding.
    """
    labels = pd.Series(labels, dtype=object)
    known = labels.notna().to_numpy()
    codes, uniq = pd.factorize(labels)
    smallest = int(np.bincount(codes[codes >= 0]).min()) if (codes >= 0).any() else 1
    idx = knn.indices[:, : max(1, min(n_neighbors, smallest - 1))]
    votes = codes[idx]  # -1 where a neighbour has no label
    n = len(codes)
    correct = []
    for i in np.flatnonzero(known):
        v = votes[i][votes[i] >= 0]
        if len(v) == 0:
            correct.append(False)
            continue
        counts = np.bincount(v, minlength=len(uniq))
        best = np.flatnonzero(counts == counts.max())
        pred = best[0] if len(best) == 1 else next(c for c in v if c in best)
        correct.append(pred == codes[i])
    return float(np.mean(correct)) if correct and n else float("nan")


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


def embedding_probe(X, knn, truth: pd.DataFrame, *, sample_size: int = 5000, random_state: int = 0) -> list[dict]:
    """Tidy rows ``{label, metric, value}`` for every label column of ``truth`` (row-aligned with X)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score

    X = np.asarray(X, dtype=np.float32)
    rows = []
    rng = np.random.default_rng(random_state)
    for col in truth.columns:
        y = truth[col].astype(object).where(truth[col].notna(), None).to_numpy()
        mask = np.array([v is not None for v in y])
        classes = pd.unique(y[mask])
        if len(classes) < 2 or mask.sum() <= len(classes):
            continue
        Xl, yl = X[mask], y[mask].astype(str)
        km = KMeans(n_clusters=len(classes), n_init=3, random_state=random_state).fit(Xl)
        rows.append({"label": col, "metric": "kmeans_nmi", "value": float(normalized_mutual_info_score(yl, km.labels_))})
        rows.append({"label": col, "metric": "kmeans_ari", "value": float(adjusted_rand_score(yl, km.labels_))})
        rows.append({"label": col, "metric": "knn_accuracy", "value": knn_accuracy(knn, y)})
        pick = np.arange(len(yl)) if len(yl) <= sample_size else rng.choice(len(yl), sample_size, replace=False)
        sil = float("nan")
        if len(np.unique(yl[pick])) >= 2:
            sil = float(silhouette_score(Xl[pick], yl[pick], metric="cosine"))
        rows.append({"label": col, "metric": "label_silhouette", "value": sil})
    return rows


def compare_embeddings(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """One table of every encoder's probe rows, with ``best`` marking each (label, metric)'s winner(s)."""
    if not tables:
        raise ValueError("no probe tables to compare")
    df = pd.concat(tables, ignore_index=True)
    df["label"] = df["label"].fillna("")
    best = []
    for (_, metric), sub in df.groupby(["label", "metric"], sort=False):
        vals = sub["value"]
        if vals.notna().sum() == 0:
            best.append(pd.Series(False, index=sub.index))
            continue
        target = vals.min() if metric in LOWER_IS_BETTER else vals.max()
        best.append(vals == target)
    df["best"] = pd.concat(best).reindex(df.index).fillna(False).astype(bool)
    return df.sort_values(["label", "metric", "encoder", "features"], kind="stable").reset_index(drop=True)

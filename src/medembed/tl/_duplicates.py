"""Near-duplicate images from the shared kNN graph, and train/test leakage.

Pairs whose cosine similarity is at least ``threshold`` are read off the cosine kNN
graph (no extra search); they are grouped into duplicate sets by connected
components, so a chain a~b~c is one set even when a and c are not within the
threshold of each other. With a ``split`` column, a set whose members fall in more
than one split (train and test, say) is a leak: the same image is evaluated on
that it was trained on.

A sample with more than ``k`` near-copies (k = the graph's ``n_neighbors``) only
lists its ``k`` nearest pairs, but its set is still found whole through the others.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components


def near_duplicates(knn, threshold: float = 0.98, split=None, *, ids=None):
    """Return ``(pairs, sets, summary)``.

    pairs: one row per unordered pair ``i < j``: ``i``, ``j``, ``similarity`` (and
    ``id_i``, ``id_j`` when ids are known), most similar first.
    sets: one row per sample in a duplicate set: ``index``, ``set``, ``set_size``
    (and ``id``, ``split``, ``crosses_split`` when known), largest sets first.
    summary: ``n_pairs``, ``n_sets``, ``n_samples_in_sets``, ``n_redundant`` (samples
    beyond the first of each set), ``n_cross_split_sets`` / ``n_cross_split_samples``
    (None without ``split``) and ``threshold``.
    """
    from ..pp._neighbors import Neighbors

    if not isinstance(knn, Neighbors):
        raise ValueError(f"near_duplicates: knn must be a pp.Neighbors; got {type(knn).__name__}")
    if knn.metric != "cosine":
        raise ValueError(f"near_duplicates needs a cosine kNN graph; got metric={knn.metric!r}")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not -1 <= threshold <= 1:
        raise ValueError(f"near_duplicates: threshold={threshold!r} is invalid; allowed: float in [-1, 1]")
    n = knn.n_samples
    if ids is None and knn.ids is not None:
        ids = knn.ids
    if ids is not None:
        ids = np.asarray(ids).astype(str)
        if len(ids) != n:
            raise ValueError(f"near_duplicates: {len(ids)} ids for a graph of {n} samples")
    if split is not None:
        split = np.asarray(split)
        if len(split) != n:
            raise ValueError(f"near_duplicates: split has {len(split)} values for a graph of {n} samples")

    sim = 1.0 - knn.distances.astype(np.float64)
    rows, cols = np.nonzero(sim >= threshold)
    i = rows
    j = knn.indices[rows, cols].astype(np.int64)
    s = sim[rows, cols]
    a, b = np.minimum(i, j), np.maximum(i, j)
    pairs = pd.DataFrame({"i": a, "j": b, "similarity": s})
    pairs = pairs[pairs["i"] != pairs["j"]]
    pairs = (
        pairs.groupby(["i", "j"], as_index=False)["similarity"].max()
        .sort_values(["similarity", "i", "j"], ascending=[False, True, True], kind="stable")
        .reset_index(drop=True)
    )
    if ids is not None:
        pairs["id_i"] = ids[pairs["i"].to_numpy()]
        pairs["id_j"] = ids[pairs["j"].to_numpy()]

    G = sp.coo_matrix((np.ones(len(pairs)), (pairs["i"], pairs["j"])), shape=(n, n))
    _, comp = connected_components(G, directed=False)
    size = np.bincount(comp)
    members = np.flatnonzero(size[comp] > 1)
    sets = pd.DataFrame({"index": members, "component": comp[members], "set_size": size[comp[members]]})
    # number sets 0.. by decreasing size, then by first member
    order = (
        sets.groupby("component").agg(set_size=("set_size", "first"), first=("index", "min"))
        .sort_values(["set_size", "first"], ascending=[False, True])
    )
    renum = pd.Series(np.arange(len(order)), index=order.index)
    sets.insert(1, "set", renum.loc[sets["component"]].to_numpy())
    sets = sets.drop(columns="component").sort_values(["set", "index"]).reset_index(drop=True)
    if ids is not None:
        sets.insert(1, "id", ids[sets["index"].to_numpy()])
    n_cross_sets = n_cross_samples = None
    if split is not None:
        sets["split"] = split[sets["index"].to_numpy()]
        n_splits = sets.groupby("set")["split"].transform(lambda v: v.astype(str).nunique())
        sets["crosses_split"] = n_splits.to_numpy() > 1
        n_cross_sets = int(sets.loc[sets["crosses_split"], "set"].nunique())
        n_cross_samples = int(sets["crosses_split"].sum())
    summary = {
        "threshold": float(threshold),
        "n_pairs": int(len(pairs)),
        "n_sets": int(sets["set"].nunique()) if len(sets) else 0,
        "n_samples_in_sets": int(len(sets)),
        "n_redundant": int(len(sets) - (sets["set"].nunique() if len(sets) else 0)),
        "n_cross_split_sets": n_cross_sets,
        "n_cross_split_samples": n_cross_samples,
    }
    if split is not None:
        summary.update(split_leakage(knn, split, threshold))
    return pairs, sets, summary


def split_leakage(knn, split, threshold: float = 0.98, train: str = "train") -> dict:
    """How many evaluation images have a near-duplicate in the training split.

    For every image outside ``train`` (test, validation, ...), its nearest neighbour
    *among the training images* is read off the kNN graph; the image leaks when that
    neighbour's cosine similarity is at least ``threshold``. Returns
    ``leak_share`` (leaking / evaluation images), ``n_leaking``, ``n_eval``, per split
    ``leak_share_by_split``, and ``leak_nn_similarity_median`` (median similarity of
    each evaluation image to its nearest training image, where one is in the graph).
    Without training images in ``split`` the counts are None.
    """
    split = np.asarray(split).astype(str)
    is_train = split == train
    evaluated = ~is_train & (split != "nan") & (split != "None")
    if not is_train.any() or not evaluated.any():
        return {"leak_share": None, "n_leaking": None, "n_eval": int(evaluated.sum()),
                "leak_share_by_split": {}, "leak_nn_similarity_median": None}
    sim = 1.0 - knn.distances.astype(np.float64)
    nb_train = is_train[knn.indices]  # (n, k): is each neighbour a training image
    has = nb_train.any(axis=1)
    first = np.argmax(nb_train, axis=1)
    best = np.where(has, sim[np.arange(len(sim)), first], -np.inf)
    leaks = evaluated & (best >= threshold)
    by_split = {
        s: float(leaks[split == s].mean()) for s in sorted(set(split[evaluated]))
    }
    seen = evaluated & has
    return {
        "leak_share": float(leaks.sum() / evaluated.sum()),
        "n_leaking": int(leaks.sum()),
        "n_eval": int(evaluated.sum()),
        "leak_share_by_split": by_split,
        "leak_nn_similarity_median": float(np.median(best[seen])) if seen.any() else None,
    }

"""Probes that compare embeddings on the dataset's own labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medembed import pp, tl


def test_knn_accuracy_is_leave_one_out(blobs):
    X, y = blobs
    knn = pp.neighbors(X, 10)
    assert tl.knn_accuracy(knn, y) == 1.0  # separated blobs: every neighbour agrees
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(y)
    assert tl.knn_accuracy(knn, shuffled) < 0.5  # labels unrelated to the geometry: chance level
    # A sample's own label never votes: two points, each the other's only neighbour.
    two = pp.neighbors(np.array([[1, 0], [1, 0.01]], dtype=np.float32), 1)
    assert tl.knn_accuracy(two, ["a", "b"], n_neighbors=1) == 0.0


def test_unlabelled_samples_are_not_scored_and_do_not_vote(blobs):
    X, y = blobs
    labels = pd.Series(y, dtype=object)
    labels.iloc[::3] = None
    assert tl.knn_accuracy(pp.neighbors(X, 10), labels) == 1.0


def test_probe_separates_a_good_embedding_from_noise(blobs):
    X, y = blobs
    truth = pd.DataFrame({"class": y.astype(str)})
    good = {r["metric"]: r["value"] for r in tl.embedding_probe(X, pp.neighbors(X, 10), truth)}
    rng = np.random.default_rng(1)
    N = rng.normal(size=X.shape).astype(np.float32)
    bad = {r["metric"]: r["value"] for r in tl.embedding_probe(N, pp.neighbors(N, 10), truth)}
    for m in ("kmeans_nmi", "kmeans_ari", "knn_accuracy", "label_silhouette"):
        assert good[m] > bad[m] + 0.3, m
    assert good["kmeans_ari"] == pytest.approx(1.0)


def test_comparison_marks_the_best_per_column():
    rows = lambda enc, nmi, sec: pd.DataFrame(  # noqa: E731
        [{"encoder": enc, "features": "image", "label": "class", "metric": "kmeans_nmi", "value": nmi},
         {"encoder": enc, "features": "image", "label": "", "metric": "embed_seconds", "value": sec}]
    )
    t = tl.compare_embeddings([rows("a", 0.9, 10.0), rows("b", 0.5, 2.0), rows("pixels", 0.9, 1.0)])
    best = set(map(tuple, t.loc[t["best"], ["encoder", "metric"]].to_numpy().tolist()))
    assert best == {("a", "kmeans_nmi"), ("pixels", "kmeans_nmi"), ("pixels", "embed_seconds")}


def test_knn_vote_is_fair_to_small_classes(blobs):
    """Six classes of five: ten voters would outvote every class, whatever the embedding."""
    X, y = blobs
    keep = np.concatenate([np.flatnonzero(y == c)[:5] for c in range(4)])
    assert tl.knn_accuracy(pp.neighbors(X[keep], 15), y[keep]) == 1.0

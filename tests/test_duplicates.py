"""Near-duplicate pairs and sets from the kNN graph, and train/test leakage."""

from __future__ import annotations

import numpy as np
import pytest

from medembed import pp
from medembed.pp import Neighbors
from medembed.tl._duplicates import near_duplicates


@pytest.fixture(scope="module")
def planted():
    """200 random unit vectors (pairwise cosine ~0) plus near-copies of rows 0, 1, 2 and 3 (twice)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 32))
    copies = X[[0, 1, 2, 3, 3]] + 0.01 * rng.normal(size=(5, 32))
    X = np.vstack([X, copies]).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    split = np.array(["train"] * 205, dtype=object)
    split[[200, 204]] = "test"  # copy of 0 and one copy of 3 leak into test
    return X, split


def test_finds_planted_pairs_sets_and_leaks(planted):
    X, split = planted
    X0 = X.copy()
    g = pp.neighbors(X, 5)
    pairs, sets, summary = near_duplicates(g, 0.98, split)
    got = set(map(tuple, pairs[["i", "j"]].to_numpy().tolist()))
    assert got == {(0, 200), (1, 201), (2, 202), (3, 203), (3, 204), (203, 204)}
    assert (pairs["i"] < pairs["j"]).all() and (pairs["similarity"] >= 0.98).all()
    assert pairs["similarity"].is_monotonic_decreasing
    assert summary["n_pairs"] == 6 and summary["n_sets"] == 4
    assert summary["n_samples_in_sets"] == 9 and summary["n_redundant"] == 5
    first = sets[sets["set"] == 0]  # largest set first: {3, 203, 204}
    assert sorted(first["index"]) == [3, 203, 204] and (first["set_size"] == 3).all()
    assert summary["n_cross_split_sets"] == 2 and summary["n_cross_split_samples"] == 5
    leaking = set(sets.loc[sets["crosses_split"], "index"])
    assert leaking == {0, 200, 3, 203, 204}
    np.testing.assert_array_equal(X, X0)


def test_chain_is_one_set():
    # a~b and b~c above the threshold, a~c below: still one set (connected components)
    idx = np.array([[1, 2], [0, 2], [1, 0], [0, 1]])
    sim = np.array([[0.99, 0.5], [0.99, 0.99], [0.99, 0.5], [0.1, 0.1]])
    g = Neighbors(idx, 1.0 - sim, "cosine", "exact")
    pairs, sets, summary = near_duplicates(g, 0.98)
    assert set(map(tuple, pairs[["i", "j"]].to_numpy().tolist())) == {(0, 1), (1, 2)}
    assert summary["n_sets"] == 1 and sorted(sets["index"]) == [0, 1, 2]
    assert summary["n_cross_split_sets"] is None


def test_threshold_and_ids(planted):
    X, _ = planted
    g = pp.neighbors(X, 3, ids=[f"im{i}" for i in range(len(X))])
    pairs, sets, summary = near_duplicates(g, threshold=1.0)
    assert summary == {
        "threshold": 1.0, "n_pairs": 0, "n_sets": 0, "n_samples_in_sets": 0, "n_redundant": 0,
        "n_cross_split_sets": None, "n_cross_split_samples": None,
    }
    assert len(pairs) == 0 and len(sets) == 0
    pairs, sets, _ = near_duplicates(g, threshold=0.9)
    assert {"id_i", "id_j"} <= set(pairs.columns) and "id" in sets.columns
    assert set(pairs["id_j"]) == {"im200", "im201", "im202", "im203", "im204"}


def test_identical_points_form_one_set():
    X = np.ones((6, 4), dtype=np.float32)
    pairs, sets, summary = near_duplicates(pp.neighbors(X, 5), 0.98)
    assert summary["n_sets"] == 1 and summary["n_samples_in_sets"] == 6 and summary["n_pairs"] == 15


def test_errors(planted):
    X, split = planted
    g = pp.neighbors(X, 3)
    with pytest.raises(ValueError, match="threshold=1.5"):
        near_duplicates(g, 1.5)
    with pytest.raises(ValueError, match="split has 10 values for a graph of 205"):
        near_duplicates(g, 0.98, split[:10])
    with pytest.raises(ValueError, match="needs a cosine kNN graph"):
        near_duplicates(pp.neighbors(X, 3, metric="euclidean"), 0.98)
    with pytest.raises(ValueError, match="knn must be a pp.Neighbors"):
        near_duplicates(X, 0.98)


def test_split_leakage_share_of_test_images_with_a_training_near_copy(planted):
    """Rows 200 (copy of train row 0) and 204 (copy of train row 3) are the only test images."""
    X, split = planted
    s = near_duplicates(pp.neighbors(X, 5), 0.98, split)[2]
    assert s["n_eval"] == 2 and s["n_leaking"] == 2 and s["leak_share"] == 1.0
    split2 = split.copy()
    split2[[10, 11]] = "test"  # two random test images: no training near-copy
    s2 = near_duplicates(pp.neighbors(X, 5), 0.98, split2)[2]
    assert s2["n_eval"] == 4 and s2["n_leaking"] == 2 and s2["leak_share"] == 0.5
    assert s2["leak_share_by_split"] == {"test": 0.5}
    assert 0.98 <= s["leak_nn_similarity_median"] <= 1.0

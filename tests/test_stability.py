"""tl.stability: mean pairwise ARI between seeded runs or subsample runs of one clusterer."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from medembed.tl._stability import stability


@pytest.fixture(scope="module")
def separated():
    X, _ = make_blobs(400, centers=4, n_features=5, cluster_std=0.3, center_box=(-20, 20), random_state=0)
    return X.astype(np.float32)


def test_well_separated_blobs_are_stable(separated):
    out = stability("kmeans", {"n_clusters": 4, "n_init": 1}, separated)
    assert out["scheme"] == "seeds" and out["n_runs"] == 3 and len(out["ari_pairs"]) == 3
    assert out["ari_mean"] == pytest.approx(1.0) and out["ari_min"] == pytest.approx(1.0)


def test_uniform_noise_is_not():
    X = np.random.default_rng(0).uniform(size=(400, 5)).astype(np.float32)
    out = stability("kmeans", {"n_clusters": 5, "n_init": 1}, X)
    assert out["ari_mean"] < 0.8  # no structure: each seed cuts the cube differently
    assert out["ari_min"] <= out["ari_mean"]


def test_deterministic_methods_use_subsamples(separated):
    out = stability("dbscan", {"eps": 1.5, "min_samples": 5, "metric": "euclidean"}, separated)
    assert out["scheme"] == "subsample"
    assert out["ari_mean"] > 0.99
    noise = np.random.default_rng(1).uniform(size=(300, 2))
    weak = stability("dbscan", {"eps": 0.05, "min_samples": 5}, noise)
    assert weak["ari_mean"] < out["ari_mean"] - 0.2


def test_bad_arguments(separated):
    with pytest.raises(ValueError, match="n_runs=1"):
        stability("kmeans", {}, separated, n_runs=1)
    with pytest.raises(ValueError, match="subsample=1.5"):
        stability("dbscan", {}, separated, subsample=1.5)
    with pytest.raises(ValueError, match="bad parameter"):
        stability("kmeans", {"k": 3}, separated)


def test_the_cluster_jobs_labels_stand_in_for_the_first_seeded_run(monkeypatch):
    """The first seeded run is the configured seed's fit: given as ``reference`` it is read,
    not refitted, and the result is the same to the last digit."""
    from medembed.tl import _stability
    from medembed.tl._api import cluster_labels, cluster_table, fit_clusterer, make_clusterer

    X = np.random.default_rng(0).uniform(size=(300, 4)).astype(np.float32)  # seeds disagree here
    params = {"n_clusters": 5, "n_init": 1, "random_state": 7}
    refit = stability("kmeans", params, X)
    model = fit_clusterer(make_clusterer("kmeans", **params), X)
    ids = np.array([f"img{i}" for i in range(len(X))])
    table = cluster_table(ids, model).sample(frac=1.0, random_state=0)  # rows in any order
    reference = cluster_labels(table, ids)
    fits = []
    original = _stability._fit_labels
    monkeypatch.setattr(_stability, "_fit_labels", lambda *a: fits.append(a[1].get("random_state")) or original(*a))
    read = stability("kmeans", params, X, reference=reference)
    assert fits == [8, 9]  # seeds 8 and 9 refitted, 7 read
    assert read["ari_pairs"] == refit["ari_pairs"] and read["ari_mean"] < 0.99
    # subsample runs refit everything (the reference is a fit on all rows)
    fits.clear()
    assert stability("dbscan", {"eps": 0.2}, X) == stability("dbscan", {"eps": 0.2}, X, reference=reference)
    assert fits == [None] * 6  # 3 subsample fits each time
    with pytest.raises(ValueError, match=r"reference has shape \(299,\)"):
        stability("kmeans", params, X, reference=reference[:-1])
    with pytest.raises(ValueError, match="lacks 1 of the 301 samples"):
        cluster_labels(table, np.append(ids, "img_new"))

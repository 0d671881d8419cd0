"""The Medical Image Analysis Tutorial's methods recover planted structure and reject bad parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import KNeighborsClassifier

from medembed import tl
from medembed.workflow import registry

CLUSTER_PARAMS = {
    "kmeans": {"n_clusters": 4},
    "dbscan": {"eps": 0.3, "min_samples": 5},
    "hdbscan": {"min_cluster_size": 10, "min_samples": 3},
    "finch": {"req_clust": 4},
}


@pytest.mark.parametrize("name", sorted(CLUSTER_PARAMS))
def test_clusterer_recovers_planted_blobs(blobs, name):
    X, y = blobs
    X0 = X.copy()
    model = tl.make_clusterer(name, **CLUSTER_PARAMS[name]).fit(X)
    assert adjusted_rand_score(y, model.labels_) >= 0.9
    assert model.n_clusters_ == 4
    np.testing.assert_array_equal(X, X0)  # input untouched


@pytest.mark.parametrize("name", ["kmeans", "finch"])
def test_clusterer_deterministic(blobs, name):
    X, _ = blobs
    a = tl.make_clusterer(name, **CLUSTER_PARAMS[name]).fit(X).labels_
    b = tl.make_clusterer(name, **CLUSTER_PARAMS[name]).fit(X).labels_
    np.testing.assert_array_equal(a, b)


def test_finch_keeps_every_partition(blobs):
    X, _ = blobs
    model = tl.make_clusterer("finch").fit(X)
    table = tl.cluster_table(np.arange(len(X)), model)
    levels = [c for c in table.columns if c.startswith("level_")]
    assert len(levels) == len(model.n_clusters_per_level_) >= 2
    counts = [table[c].nunique() for c in levels]
    assert counts == sorted(counts, reverse=True)  # finest first
    np.testing.assert_array_equal(table["cluster"], table["level_0"])
    with pytest.raises(ValueError, match="level=99"):
        tl.make_clusterer("finch", level=99).fit(X)


def test_hdbscan_keeps_glosh_scores_and_handles_tiny_input(blobs):
    X, _ = blobs
    model = tl.make_clusterer("hdbscan", min_cluster_size=10).fit(X)
    assert {"probability", "outlier_score"} <= set(model.extra_columns_)
    tiny = tl.make_clusterer("hdbscan", min_cluster_size=10).fit(X[:5])
    assert (tiny.labels_ == -1).all() and tiny.n_clusters_ == 0


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("kmeans", {"n_clusters": 1}, "n_clusters=1"),
        ("kmeans", {"n_clusters": 2.5}, "n_clusters=2.5"),
        ("dbscan", {"eps": -0.1}, "eps=-0.1"),
        ("hdbscan", {"min_cluster_size": 1}, "min_cluster_size=1"),
        ("finch", {"distance": "manhattan"}, "distance='manhattan'"),
    ],
)
def test_bad_params_name_the_parameter(blobs, name, params, match):
    with pytest.raises(ValueError, match=match):
        tl.make_clusterer(name, **params).fit(blobs[0])


def test_unknown_method_and_unknown_param():
    with pytest.raises(ValueError, match="unknown cluster method 'kmean'"):
        tl.make_clusterer("kmean")
    with pytest.raises(ValueError, match="bad parameter"):
        tl.make_clusterer("kmeans", k=3)


def test_nan_features_rejected(blobs):
    X = blobs[0].copy()
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="1 rows with NaN"):
        tl.make_clusterer("kmeans", n_clusters=4).fit(X)


def test_kmeans_more_clusters_than_points(blobs):
    with pytest.raises(ValueError, match="exceeds n_samples=3"):
        tl.make_clusterer("kmeans", n_clusters=4).fit(blobs[0][:3])


def test_identical_points_are_one_dbscan_cluster():
    X = np.ones((20, 8), np.float32)
    labels = tl.make_clusterer("dbscan", eps=0.1, min_samples=3).fit(X).labels_
    assert set(labels) == {0}


@pytest.mark.parametrize("name", ["pca", "tsne", "umap", "hnne"])
def test_reducer_keeps_planted_neighbourhoods(blobs, name):
    X, y = blobs
    Y = tl.make_reducer(name).fit_transform(X)
    assert Y.shape == (len(X), 2) and np.isfinite(Y).all()
    # Leave-one-out 5-NN accuracy in the map: planted groups stay together.
    knn = KNeighborsClassifier(5).fit(Y, y)
    assert knn.score(Y, y) >= 0.95


def test_reducer_transform_refuses_new_data(blobs):
    """The maps exist for the fitted samples only; transform must not pretend otherwise."""
    X, _ = blobs
    model = tl.make_reducer("pca").fit(X)
    with pytest.raises(NotImplementedError, match="fit_transform"):
        model.transform(X[:5])


def test_tsne_deterministic(blobs):
    X, _ = blobs
    a = tl.make_reducer("tsne", n_iter=250).fit_transform(X)
    b = tl.make_reducer("tsne", n_iter=250).fit_transform(X)
    np.testing.assert_allclose(a, b)


def test_isolation_forest_finds_planted_outliers(blobs):
    X, _ = blobs
    rng = np.random.default_rng(1)
    far = rng.normal(size=(6, X.shape[1]))
    far /= np.linalg.norm(far, axis=1, keepdims=True)
    Xo = np.vstack([X, far]).astype(np.float32)
    det = tl.make_outlier_detector("isolation_forest", contamination=0.05).fit(Xo)
    table = tl.outlier_table(np.arange(len(Xo)), det)
    top = table.sort_values("rank").head(6)["id"].astype(int)
    assert set(top) == set(range(len(X), len(Xo)))
    assert det.is_outlier_[len(X):].all()


def test_noise_outliers_read_the_cluster_table(blobs):
    X, _ = blobs
    model = tl.make_clusterer("hdbscan", min_cluster_size=10).fit(X)
    table = tl.cluster_table(np.arange(len(X)), model)
    det = tl.make_outlier_detector("hdbscan_noise").fit(X, clusters=table)
    np.testing.assert_array_equal(det.is_outlier_, model.labels_ == -1)
    np.testing.assert_allclose(det.scores_, table["outlier_score"])
    with pytest.raises(ValueError, match="compute the clustering first"):
        tl.make_outlier_detector("dbscan_noise").fit(X)


def test_metrics_match_reference_values():
    truth = pd.DataFrame({"modality": list("aaabbbccc")})
    pred = np.array([0, 0, 0, 1, 1, 1, 1, 1, -1])
    rows = {(r["label"], r["metric"]): r["value"] for r in tl.cluster_metrics(pred, truth)}
    assert rows[("", "n_clusters")] == 2
    assert rows[("", "noise_fraction")] == pytest.approx(1 / 9)
    # purity: clusters {aaa}->3, {bbbcc}->3, {c}->1 => 7/9
    assert rows[("modality", "purity")] == pytest.approx(7 / 9)
    # Reference ARI computed by hand from the contingency table (sum C(n_ij,2)=3+3+1=7,
    # rows 3+10+0=13, cols 3+3+3=9, N choose 2=36): (7-13*9/36)/((13+9)/2-13*9/36)
    expected_ari = (7 - 13 * 9 / 36) / ((13 + 9) / 2 - 13 * 9 / 36)
    assert rows[("modality", "ari")] == pytest.approx(expected_ari)
    perfect = {(r["label"], r["metric"]): r["value"] for r in tl.cluster_metrics(np.repeat([5, 6, 7], 3), truth)}
    assert perfect[("modality", "nmi")] == pytest.approx(1.0)


def test_registry_loads_every_step1_method():
    for stage, names in {
        "cluster": ["kmeans", "dbscan", "hdbscan", "finch"],
        "reduce": ["pca", "tsne", "umap", "hnne"],
        "outliers": ["isolation_forest", "dbscan_noise", "hdbscan_noise"],
    }.items():
        for name in names:
            assert registry.load(stage, name).__name__
            assert registry.module_of(stage, name) in registry.target(stage, name)


def test_evaluate_outliers_against_known_anomalies(blobs):
    X, y = blobs
    rng = np.random.default_rng(2)
    far = rng.normal(size=(6, X.shape[1]))
    Xo = np.vstack([X, far / np.linalg.norm(far, axis=1, keepdims=True)]).astype(np.float32)
    ids = [f"i{k}" for k in range(len(Xo))]
    manifest = pd.DataFrame({"id": ids, "kind": ["normal"] * len(X) + ["artefact"] * 6})
    table = tl.outlier_table(ids, tl.make_outlier_detector("isolation_forest", contamination=0.05).fit(Xo))
    rows = tl.evaluate_outliers(table, manifest, {"column": "kind", "values": ["artefact"]})
    got = dict(zip(rows["metric"], rows["value"]))
    assert got["auroc"] == pytest.approx(1.0) and got["average_precision"] == pytest.approx(1.0)
    assert tl.evaluate_outliers(table, manifest, None).empty
    with pytest.raises(ValueError, match="anomaly column 'nope'"):
        tl.evaluate_outliers(table, manifest, {"column": "nope", "values": ["x"]})


def test_metrics_of_several_results_share_one_table(blobs):
    """evaluate_clustering's job scores every clustering of a feature set in one table:
    each row keyed by kind, method, features and its own params hash."""
    X, y = blobs
    ids = [f"i{k}" for k in range(len(X))]
    manifest = pd.DataFrame({"id": ids, "truth": y.astype(str)})
    parts = []
    for k in (2, 4):
        model = tl.make_clusterer("kmeans", n_clusters=k).fit(X)
        rows = tl.evaluate_clustering(tl.cluster_table(ids, model), manifest, ["truth"])
        parts.append(tl.tag_metrics(rows, kind="cluster", method=f"kmeans{k}", features="image",
                                    params={"n_clusters": k}))
    table = tl.concat_metrics(parts)
    assert list(table.columns[:4]) == ["kind", "method", "features", "params_hash"]
    nmi = table[table["metric"] == "nmi"].set_index("method")["value"]
    assert nmi["kmeans4"] == pytest.approx(1.0) and nmi["kmeans2"] < 0.8
    assert table.groupby("method")["params_hash"].nunique().eq(1).all()
    assert table["params_hash"].nunique() == 2
    empty = tl.concat_metrics([])
    assert empty.empty and list(empty.columns[:4]) == list(table.columns[:4])


def _blobs_and_far_noise():
    from sklearn.datasets import make_blobs

    X, y = make_blobs(600, centers=[(-5, 0), (5, 0), (0, 7)], cluster_std=0.6, random_state=4)
    rng = np.random.default_rng(4)
    ang = rng.uniform(0, 2 * np.pi, 30)
    noise = np.c_[np.cos(ang), np.sin(ang)] * rng.uniform(25, 40, (30, 1))  # far from every blob
    return np.r_[X, noise].astype(np.float32), np.r_[y, -np.ones(30, int)]


def test_dbscan_auto_eps_from_the_k_distance_knee(caplog):
    import logging

    from medembed import pp
    from medembed.tl.cluster._dbscan import DBSCANClusterer, knee

    X, y = _blobs_and_far_noise()
    with caplog.at_level(logging.INFO, logger="medembed.tl.cluster._dbscan"):
        m = DBSCANClusterer(eps="auto", min_samples=5).fit(X)
    assert "eps='auto' chose eps=" in caplog.text
    blob = y >= 0
    assert adjusted_rand_score(y[blob], m.labels_[blob]) >= 0.9
    assert (m.labels_[~blob] == -1).mean() >= 0.9  # the far points are noise
    assert m.effective_params_ == {"eps": m.eps_, "neighbourhoods": "exact search"} and m.get_params()["eps"] == "auto"
    # the knee is read from the sorted 4th-neighbour distances (5 with the point itself)
    from sklearn.neighbors import NearestNeighbors

    d4 = np.sort(NearestNeighbors(n_neighbors=5).fit(X).kneighbors(X)[0][:, 4])
    assert m.eps_ == pytest.approx(d4[knee(d4)], rel=1e-5)
    # the same from the shared graph (Euclidean), and from a cosine graph on unit rows
    g = pp.neighbors(X, 10, metric="euclidean")
    assert DBSCANClusterer(eps="auto").fit(X, knn=g).eps_ == pytest.approx(m.eps_, rel=1e-5)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    gc = pp.neighbors(U, 10, metric="cosine")
    a = DBSCANClusterer(eps="auto").fit(U, knn=gc)
    b = DBSCANClusterer(eps="auto").fit(U)
    assert a.eps_ == pytest.approx(b.eps_, rel=1e-3)
    with pytest.raises(ValueError, match="eps='fast'"):
        DBSCANClusterer(eps="fast").fit(X)
    # knee of a curve: flat bulk then a jump
    assert knee(np.r_[np.linspace(1, 1.1, 90), np.linspace(5, 9, 10)]) == 89


def test_tsne_picks_barnes_hut_for_small_n_and_keeps_an_explicit_method():
    """The FFT grid has a fixed cost of about 10 CPU-seconds whatever n is: below
    10,000 points ``auto`` takes Barnes-Hut (openTSNE's rule), an explicit choice is kept."""
    from medembed.tl.reduce._tsne import BH_BELOW, TSNEReducer

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    X = (rng.normal(size=(3, 16))[y] * 3 + rng.normal(size=(120, 16))).astype(np.float32)
    auto = TSNEReducer(perplexity=10, n_iter=250).fit(X)
    assert auto.negative_gradient_method_ == "bh" and 120 < BH_BELOW
    assert auto.effective_params_["negative_gradient_method"] == "bh"
    assert auto.get_params()["negative_gradient_method"] == "auto"
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    pred = KMeans(3, n_init=5, random_state=0).fit_predict(auto.embedding_)
    assert adjusted_rand_score(y, pred) == pytest.approx(1.0)
    fft = TSNEReducer(perplexity=10, n_iter=1, negative_gradient_method="fft").fit(X)
    assert fft.negative_gradient_method_ == "fft"
    with pytest.raises(ValueError, match="negative_gradient_method"):
        TSNEReducer(negative_gradient_method="exact").fit(X)


def test_tsne_perplexity_clamp_is_logged_and_recorded(caplog):
    import logging

    from medembed.tl.reduce._tsne import TSNEReducer

    X = np.random.default_rng(0).normal(size=(40, 5)).astype(np.float32)
    with caplog.at_level(logging.WARNING):
        r = TSNEReducer(n_components=3, perplexity=30.0, n_iter=1).fit(X)  # 3-D: Barnes-Hut, fast on 40 points
    assert "perplexity=30 needs more than 90 samples; using perplexity=13" in caplog.text
    assert r.perplexity_ == 13.0 and r.get_params()["perplexity"] == 30.0
    assert r.effective_params_ == {"perplexity": 13.0, "n_neighbors": 39, "negative_gradient_method": "bh"}
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        ok = TSNEReducer(n_components=3, perplexity=5.0, n_iter=1).fit(X)
    assert caplog.text == "" and ok.effective_params_ == {"perplexity": 5.0, "n_neighbors": 15, "negative_gradient_method": "bh"}


def test_neighbors_clamp_is_logged_and_recorded(caplog):
    import logging

    from medembed import pp

    X = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="n_neighbors=90 needs at least 91 samples"):
        pp.neighbors(X, 90)
    with caplog.at_level(logging.WARNING):
        g = pp.neighbors(X, 90, clamp=True)
    assert "n_neighbors=90 needs at least 91 samples; using 29" in caplog.text
    assert g.n_neighbors == 29
    assert g.params["n_neighbors"] == 29 and g.params["n_neighbors_requested"] == 90
    assert "n_neighbors_requested" not in pp.neighbors(X, 10, clamp=True).params

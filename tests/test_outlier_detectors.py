"""Outlier detectors from Malheiros (n.d.) (GMM density, PCA reconstruction), kNN distance, LOF, consensus.

Modules: medembed.tl.outliers._gmm_density, ._pca_error, ._knn, ._consensus (isolation forest
and the noise detectors: test_tl_basic.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import from_benchmarks
from sklearn.datasets import make_blobs
from sklearn.metrics import roc_auc_score
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import LocalOutlierFactor

from medembed import pp
from medembed.tl import outlier_table
from medembed.tl.outliers._consensus import consensus, top_outliers
from medembed.tl.outliers._gmm_density import GMMDensityOutliers
from medembed.tl.outliers._knn import KNNDistanceOutliers, LOFOutliers
from medembed.tl.outliers._pca_error import PCAReconstructionOutliers
from medembed.workflow import registry

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def planted():
    """Unit-norm clusters that live near a 4-d subspace of R^20, plus 15 random-direction outliers."""
    rng = np.random.default_rng(0)
    Z, _ = make_blobs(485, centers=4, n_features=4, cluster_std=0.6, random_state=1)
    basis = np.linalg.qr(rng.normal(size=(20, 4)))[0]
    inl = Z @ basis.T + 0.05 * rng.normal(size=(485, 20))
    out = rng.normal(size=(15, 20))
    X = np.vstack([inl, out]).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    truth = np.r_[np.zeros(485, bool), np.ones(15, bool)]
    return X, truth


def detectors():
    return {
        "gmm_density": GMMDensityOutliers(n_components=4),
        "pca_error": PCAReconstructionOutliers(n_components=4),
        "knn_distance": KNNDistanceOutliers(),
        "lof": LOFOutliers(),
    }


@pytest.mark.parametrize("name", list(detectors()))
def test_finds_planted_outliers(name, planted):
    X, truth = planted
    X0 = X.copy()
    det = detectors()[name].fit(X)
    assert roc_auc_score(truth, det.scores_) > 0.97
    assert det.is_outlier_.sum() == 20  # 4 % of 500, Malheiros's threshold
    assert det.is_outlier_[truth].mean() >= 0.8
    again = detectors()[name].fit(X)
    np.testing.assert_array_equal(det.scores_, again.scores_)
    np.testing.assert_array_equal(X, X0)


@pytest.mark.parametrize("name", list(detectors()))
def test_degenerate_inputs(name, planted):
    X, _ = planted
    bad = X.copy()
    bad[7, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        detectors()[name].fit(bad)
    with pytest.raises(ValueError, match=r"n_components=4 exceeds|at least 3 needed|n_neighbors=\d+ needs"):
        detectors()[name].fit(X[:2])
    same = np.tile(X[:1], (40, 1))
    det = (GMMDensityOutliers(n_components=1) if name == "gmm_density" else detectors()[name]).fit(same)
    assert not det.is_outlier_.any()  # identical samples: nobody is an outlier


@pytest.mark.parametrize(
    "est, match",
    [
        (GMMDensityOutliers(contamination=0.0), "contamination=0.0"),
        (GMMDensityOutliers(covariance_type="block"), "covariance_type='block'"),
        (GMMDensityOutliers(refit="yes"), "refit='yes'"),
        (GMMDensityOutliers(k_range=(3, 1)), r"k_range=\(3, 1\)"),
        (PCAReconstructionOutliers(n_components=1.5), "n_components=1.5"),
        (PCAReconstructionOutliers(contamination=0.7), "contamination=0.7"),
        (KNNDistanceOutliers(aggregate="median"), "aggregate='median'"),
        (KNNDistanceOutliers(n_neighbors=0), "n_neighbors=0"),
        (LOFOutliers(metric="manhattan"), "metric='manhattan'"),
    ],
)
def test_bad_params(est, match, planted):
    with pytest.raises(ValueError, match=match):
        est.fit(planted[0])


def test_gmm_density_is_the_seed_rule(planted):
    X, _ = planted
    det = GMMDensityOutliers(n_components=3, covariance_type="full", contamination=0.04).fit(X)
    gm = GaussianMixture(n_components=3, covariance_type="full", n_init=10, random_state=42).fit(
        X.astype(np.float64)
    )
    dens = gm.score_samples(X.astype(np.float64))
    np.testing.assert_allclose(det.scores_, -dens, rtol=1e-6)
    np.testing.assert_array_equal(det.is_outlier_, dens < np.percentile(dens, 4.0))
    assert det.source_ == "fixed" and not det.refitted_


def _seed_003_data():
    """Malheiros's (n.d.) data set: two sheared blobs and a round one (k=3, full covariances)."""
    X1, _ = make_blobs(n_samples=1000, centers=((4, -4), (0, 0)), random_state=42)
    X1 = X1.dot(np.array([[0.374, 0.95], [0.732, 0.598]]))
    X2, _ = make_blobs(n_samples=250, centers=1, random_state=42)
    return np.r_[X1, X2 + [6, -8]]


def test_gmm_density_chooses_k_and_covariance_type_by_bic():
    X = _seed_003_data()
    det = GMMDensityOutliers(k_range=(2, 4)).fit(X)
    # Malheiros's search over k in 1..10 and four covariance types finds k=3, full
    assert (det.n_components_, det.covariance_type_, det.source_) == (3, "full", "bic")
    assert set(det.bic_) == {(k, t) for k in range(2, 5) for t in ("full", "diag", "tied", "spherical")}
    assert min(det.bic_, key=det.bic_.get) == (3, "full")
    assert det.is_outlier_.sum() == 50  # 4 % of 1250
    # small n against d: "full" (and "tied") have more parameters than samples and are skipped
    Xs = np.random.default_rng(0).normal(size=(60, 12))
    small = GMMDensityOutliers(k_range=(1, 2)).fit(Xs)
    assert {t for _, t in small.bic_} == {"diag", "spherical"}


def test_gmm_density_scores_with_the_gmm_clusterers_mixture(tmp_path):
    from medembed.tl.cluster._gmm import GMMClusterer

    X = _seed_003_data()
    gmm = GMMClusterer(k_range=(2, 4), covariance_type="full").fit(X)
    names = ("weights_", "means_", "covariances_", "precisions_cholesky_", "covariance_type_")
    np.savez(tmp_path / "gmm.model.npz", **{n.rstrip("_"): np.asarray(getattr(gmm, n)) for n in names})
    with np.load(tmp_path / "gmm.model.npz") as saved:
        det = GMMDensityOutliers().fit(X, mixture=saved)
    assert det.source_ == "given" and det.bic_ == {}
    np.testing.assert_allclose(det.scores_, -gmm.extra_columns_["log_density"], rtol=1e-10)
    dens = gmm.model_.score_samples(X)
    np.testing.assert_array_equal(det.is_outlier_, dens < np.percentile(dens, 4.0))
    with pytest.raises(ValueError, match="dimension 2 but X has 3 features"):
        GMMDensityOutliers().fit(np.c_[X, X[:, :1]], mixture=gmm.model_)


def test_gmm_density_refit_follows_the_seeds_tip():
    rng = np.random.default_rng(3)
    inl, _ = make_blobs(900, centers=3, n_features=4, cluster_std=1.0, random_state=3)
    X = np.r_[inl, rng.uniform(-40, 40, size=(60, 4))]
    one = GMMDensityOutliers(n_components=3, covariance_type="full").fit(X)
    two = GMMDensityOutliers(n_components=3, covariance_type="full", refit=True).fit(X)
    assert two.refitted_ and not one.refitted_
    # reference: fit, drop the flagged 4 %, refit from the first mixture, rescore everything
    keep = ~one.is_outlier_
    ref = GaussianMixture(3, covariance_type="full", weights_init=one.model_.weights_,
                          means_init=one.model_.means_, precisions_init=one.model_.precisions_,
                          random_state=42).fit(X[keep])
    np.testing.assert_allclose(two.scores_, -ref.score_samples(X), rtol=1e-5)
    # the refitted mixture no longer stretches its covariances over the outliers
    assert np.linalg.det(two.model_.covariances_).sum() < np.linalg.det(one.model_.covariances_).sum()


def test_pca_error_is_reconstruction_mse(planted):
    X, _ = planted
    det = PCAReconstructionOutliers(n_components=0.9).fit(X)
    from sklearn.decomposition import PCA

    pca = PCA(n_components=0.9, random_state=42).fit(X)
    mse = np.square(pca.inverse_transform(pca.transform(X)) - X).mean(axis=1)
    np.testing.assert_allclose(det.scores_, mse, rtol=1e-4, atol=1e-9)
    assert det.n_components_ == pca.n_components_


def test_lof_matches_sklearn_and_knn_reads_graph(planted):
    X, _ = planted
    g = pp.neighbors(X, 25, method="exact")
    ours = LOFOutliers(n_neighbors=20).fit(None, knn=g)
    ref = LocalOutlierFactor(n_neighbors=20, metric="cosine", algorithm="brute").fit(X)
    np.testing.assert_allclose(ours.scores_, -ref.negative_outlier_factor_, rtol=1e-4)
    kth = KNNDistanceOutliers(n_neighbors=5, aggregate="kth").fit(X, knn=g)
    np.testing.assert_allclose(kth.scores_, g.distances[:, 4], rtol=1e-6)
    mean = KNNDistanceOutliers(n_neighbors=5).fit(None, knn=g)
    np.testing.assert_allclose(mean.scores_, g.distances[:, :5].mean(1), rtol=1e-5)
    with pytest.raises(ValueError, match="needs n_neighbors=30 but the kNN graph has only 25"):
        LOFOutliers(n_neighbors=30).fit(X, knn=g)
    with pytest.raises(ValueError, match="compute pp.neighbors first"):
        LOFOutliers().fit(None)


def _table(scores, flags=None):
    df = pd.DataFrame({"id": [f"s{i}" for i in range(len(scores))], "score": scores})
    if flags is not None:
        df["is_outlier"] = flags
    return df


def test_consensus_mean_of_rank_normalised_scores():
    a = _table([0.1, 5.0, 0.3, 0.2], [False, True, False, False])
    b = _table([-10.0, 100.0, 50.0, -20.0], [False, True, True, False])
    # names of one's own: detectors=None weighs every table; order does not matter
    c = consensus({"a": a, "b": b.iloc[::-1].reset_index(drop=True)}, detectors=None)
    assert list(c["id"]) == ["s0", "s1", "s2", "s3"]
    np.testing.assert_allclose(c["a"], [0, 1, 2 / 3, 1 / 3])
    np.testing.assert_allclose(c["b"], [1 / 3, 1, 2 / 3, 0])
    np.testing.assert_allclose(c["score"], [1 / 6, 1, 2 / 3, 1 / 6])
    assert list(c["rank"]) == [3, 1, 2, 4]
    assert list(c["n_flagged"]) == [0, 2, 1, 0]
    assert list(c["is_outlier"]) == [False, True, False, False]
    top = top_outliers(c, 2)
    assert list(top["id"]) == ["s1", "s2"]
    with pytest.raises(ValueError, match="n=0"):
        top_outliers(c, 0)


def test_consensus_errors():
    a = _table([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="at least one"):
        consensus({})
    with pytest.raises(ValueError, match="lacks column"):
        consensus({"a": a, "b": a.drop(columns="score")}, detectors=None)
    other = a.assign(id=["s0", "s1", "x"])
    with pytest.raises(ValueError, match="do not match"):
        consensus({"a": a, "b": other}, detectors=None)
    with pytest.raises(ValueError, match="NaN scores"):
        consensus({"a": a.assign(score=[0.1, np.nan, 0.2])}, detectors=None)


def test_consensus_of_real_detectors(planted):
    X, truth = planted
    ids = np.arange(len(X))
    tables = {name: outlier_table(ids, det.fit(X)) for name, det in detectors().items()}
    c = consensus(tables)
    assert roc_auc_score(truth, c["score"]) > 0.97
    assert set(top_outliers(c, 10)["id"].astype(int)) <= set(np.flatnonzero(truth))


# ------------------------------------------------------------------ planted-outlier check
def _default_outliers():
    import yaml

    from medembed.workflow.config import consensus_detectors

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    demo = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    assert cfg["outliers"] == demo["outliers"] and cfg["pca"] == demo["pca"]
    return cfg, consensus_detectors(cfg)


@pytest.fixture(scope="module")
def off_subspace():
    """benchmarks/scale.py's planted data, small: 4 clusters in 128-d, 1 % outliers in random
    directions (off the subspace PCA keeps, the failure of HDBSCAN on PCA-50), near-copies."""
    scale = from_benchmarks("scale")
    X, labels, is_out, _, _ = scale.make_embeddings(1500, 128, 4, seed=1)
    return X, labels, is_out


def test_every_default_detector_finds_outliers_off_the_pca_subspace(off_subspace):
    bench = from_benchmarks("scale", "outliers_planted")
    X, _, is_out = off_subspace
    cfg, _ = _default_outliers()
    cfg = {**cfg, "neighbors": {"n_neighbors": 30, "metric": "cosine"},
           "cluster": {k: v for k, v in cfg["cluster"].items() if k in ("dbscan", "hdbscan", "gmm")}}
    cfg["cluster"]["gmm"] = {**cfg["cluster"]["gmm"], "k_range": [3, 5], "covariance_type": "diag"}
    results, models = bench.run_detectors(X, is_out, cfg, registry.USES_KNN, {}, n_jobs=1)
    assert set(results) == set(cfg["outliers"])
    auroc = {name: round(r[0], 3) for name, r in results.items()}
    assert min(auroc.values()) >= 0.9, auroc
    assert "hdbscan" in registry.USES_KNN and "hdbscan" not in cfg["pca"]["methods"]


def test_hdbscan_on_the_pca_subspace_misses_them(off_subspace):
    """The reason hdbscan reads the graph: on PCA the random-direction outliers form a cluster."""
    X, labels, is_out = off_subspace
    from medembed.tl.cluster._hdbscan import HDBSCANClusterer

    on_pca = HDBSCANClusterer(10).fit(pp.pca(X, 10))
    on_graph = HDBSCANClusterer(10).fit(X, knn=pp.neighbors(X, n_neighbors=30))
    assert roc_auc_score(is_out, on_graph.extra_columns_["outlier_score"]) >= 0.95
    assert roc_auc_score(is_out, on_pca.extra_columns_["outlier_score"]) < 0.8
    keep = labels >= 0
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(labels[keep], on_graph.labels_[keep]) >= 0.95


def test_hdbscan_on_the_graph_matches_the_hdbscan_package():
    """The same tree as hdbscan.HDBSCAN(metric="precomputed") on the sparse kNN distances."""
    import hdbscan

    from medembed.tl.cluster._hdbscan import HDBSCANClusterer

    X, y = make_blobs(400, centers=4, n_features=8, cluster_std=3.0, random_state=0)  # one component
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    g = pp.neighbors(X, n_neighbors=20)
    ours = HDBSCANClusterer(10, min_samples=3).fit(X, knn=g)
    D = g.to_sparse_distances().astype(np.float64)
    D = D.maximum(D.T)
    # the package counts a sparse row's entries without the sample itself: one fewer
    ref = hdbscan.HDBSCAN(min_cluster_size=10, min_samples=2, metric="precomputed").fit(D)
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(ref.labels_, ours.labels_) >= 0.99
    assert np.corrcoef(ours.extra_columns_["outlier_score"], np.nan_to_num(ref.outlier_scores_))[0, 1] > 0.99
    assert ours.effective_params_ == {"metric": "cosine"}
    with pytest.raises(ValueError, match="metric='euclidean' but the kNN graph was built with 'cosine'"):
        HDBSCANClusterer(10, metric="euclidean").fit(X, knn=g)
    with pytest.raises(ValueError, match="kNN graph has 400 samples but X has 100"):
        HDBSCANClusterer(10).fit(X[:100], knn=g)


def test_hdbscan_on_a_disconnected_graph():
    """Groups the kNN graph does not connect are separate clusters, not an error."""
    from medembed.tl.cluster._hdbscan import HDBSCANClusterer

    rng = np.random.default_rng(0)
    a = np.r_[np.eye(6)[0]] + 0.01 * rng.normal(size=(50, 6))
    b = np.r_[np.eye(6)[3]] + 0.01 * rng.normal(size=(50, 6))
    X = np.vstack([a, b])
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    model = HDBSCANClusterer(5).fit(X, knn=pp.neighbors(X, n_neighbors=10))
    assert model.n_clusters_ == 2
    assert len(set(model.labels_[:50])) == 1 and model.labels_[0] != model.labels_[50]


# ------------------------------------------------------------------ consensus: validated only
def test_consensus_ignores_a_detector_that_is_not_validated(planted, monkeypatch):
    from medembed.tl.outliers import _consensus

    X, truth = planted
    ids = np.arange(len(X))
    good = outlier_table(ids, LOFOutliers().fit(X))
    bad = outlier_table(ids, LOFOutliers().fit(X)).assign(score=-good["score"])  # misses every outlier
    monkeypatch.setattr(_consensus, "CONSENSUS_OUTLIERS", {"lof": "any"})
    c = consensus({"lof": good, "knn_distance": bad})
    assert "knn_distance" not in c and roc_auc_score(truth, c["score"]) > 0.97
    pd.testing.assert_frame_equal(c, consensus({"lof": good}))
    with pytest.raises(ValueError, match="detector 'knn_distance' is not validated for the consensus"):
        consensus({"lof": good, "knn_distance": bad}, detectors=["lof", "knn_distance"])
    with pytest.raises(ValueError, match="none of the tables"):
        consensus({"knn_distance": bad})
    # None: every table, under any name (scores of one's own)
    assert "knn_distance" in consensus({"lof": good, "knn_distance": bad}, detectors=None)


def test_config_consensus_detectors(monkeypatch):
    from medembed.workflow import config as wconfig

    cfg, chosen = _default_outliers()
    assert chosen == [m for m in cfg["outliers"] if m in registry.CONSENSUS_OUTLIERS]
    assert set(registry.CONSENSUS_OUTLIERS) <= set(registry.names("outliers"))
    monkeypatch.setattr(registry, "CONSENSUS_OUTLIERS", {"lof": "any", "pca_error": "features",
                                                         "isolation_forest": "pca"})
    assert wconfig.consensus_detectors(cfg) == ["isolation_forest", "pca_error", "lof"]
    raw = {**cfg, "pca": {**cfg["pca"], "methods": ["pca_error"]}}
    assert wconfig.consensus_detectors(raw) == ["lof"]  # each left out on the wrong input
    with pytest.raises(wconfig.ConfigError, match="'isolation_forest' is validated on PCA features only"):
        wconfig.consensus_detectors({**raw, "consensus": {"detectors": ["isolation_forest"]}})
    cfg = {**cfg, "consensus": {"detectors": ["lof", "knn_distance"]}}
    with pytest.raises(wconfig.ConfigError, match="^config consensus.detectors: 'knn_distance' is not validated"):
        wconfig.consensus_detectors(cfg)
    cfg["consensus"]["detectors"] = ["lof", "spectral"]
    with pytest.raises(wconfig.ConfigError, match="'spectral' is not a configured outlier detector"):
        wconfig.consensus_detectors(cfg)


def test_dbscan_noise_is_ranked_by_the_core_distance(off_subspace):
    """DBSCAN's table carries k-distance / eps: the noise flag plus a ranking inside it."""
    from medembed import tl

    X, _, is_out = off_subspace
    g = pp.neighbors(X, n_neighbors=30)
    model = tl.make_clusterer("dbscan", eps="auto", min_samples=5).fit(X, knn=g)
    table = tl.cluster_table(np.arange(len(X)), model)
    score = table["outlier_score"].to_numpy()
    np.testing.assert_allclose(score * model.eps_, np.linalg.norm(X - X[g.indices[:, 3]], axis=1), rtol=1e-4)
    assert (score[model.labels_ == -1] > 1).all()  # noise points are not core points
    det = tl.make_outlier_detector("dbscan_noise").fit(X, clusters=table)
    assert roc_auc_score(is_out, det.scores_) >= roc_auc_score(is_out, det.is_outlier_) - 1e-9
    assert roc_auc_score(is_out, det.scores_) >= 0.95

"""Mahalanobis k-means, KHM, kernel KHM (Nogueira & Serapião, n.d.), GMM (Malheiros, n.d.), spectral (Ng et al. 2001).

Modules: medembed.tl.cluster._mahalanobis, ._khm, ._gmm, ._spectral (kmeans, dbscan, hdbscan and
finch: test_tl_basic.py; the HypHC pair: test_hyphc.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs, make_moons
from sklearn.metrics import adjusted_rand_score

from medembed import pp
from medembed.tl.cluster._gmm import GMMClusterer
from medembed.tl.cluster._khm import KernelKHarmonicMeans, KHarmonicMeans
from medembed.tl.cluster._mahalanobis import MahalanobisKMeans
from medembed.tl.cluster._spectral import SpectralClusterer

K = 4


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(400, centers=K, n_features=6, cluster_std=1.0, random_state=7)
    return X.astype(np.float32), y


def make(name, **kw):
    return {
        "kmeans_mahalanobis": lambda: MahalanobisKMeans(n_clusters=K, n_init=3, **kw),
        "khm": lambda: KHarmonicMeans(n_clusters=K, **kw),
        "kernel_khm": lambda: KernelKHarmonicMeans(n_clusters=K, **kw),
        "gmm": lambda: GMMClusterer(n_components=K, **kw),
        "spectral": lambda: SpectralClusterer(n_clusters=K, n_init=3, metric="euclidean", **kw),
    }[name]()


NAMES = ["kmeans_mahalanobis", "khm", "kernel_khm", "gmm", "spectral"]


@pytest.mark.parametrize("name", NAMES)
def test_recovers_planted_clusters_deterministically(name, blobs):
    X, y = blobs
    X0 = X.copy()
    a = make(name).fit(X)
    assert a.n_clusters_ == K
    assert adjusted_rand_score(y, a.labels_) > 0.95
    b = make(name).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(X, X0)


@pytest.mark.parametrize("name", NAMES)
def test_degenerate_inputs(name, blobs):
    X, _ = blobs
    bad = X.copy()
    bad[5, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        make(name).fit(bad)
    with pytest.raises(ValueError, match=r"n_clusters=4|n_components=4"):
        make(name).fit(X[:3])
    same = np.ones((30, 3), dtype=np.float32)
    with pytest.warns(Warning) if name in ("gmm", "spectral") else _nothing():
        model = make(name).fit(same)
    assert len(set(model.labels_.tolist())) == 1  # identical points never split


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize(
    "est, match",
    [
        (MahalanobisKMeans(n_clusters=1), "n_clusters=1"),
        (MahalanobisKMeans(covariance_type="spherical"), "covariance_type='spherical'"),
        (MahalanobisKMeans(reg_covar=-1.0), "reg_covar=-1.0"),
        (KHarmonicMeans(p=1.0), "p=1.0"),
        (KHarmonicMeans(init="kmeans"), "init='kmeans'"),
        (KHarmonicMeans(max_iter=0), "max_iter=0"),
        (KernelKHarmonicMeans(sigma=0.0), "sigma=0.0"),
        (KernelKHarmonicMeans(sigma="median"), "sigma='median'"),
        (GMMClusterer(criterion="icl"), "criterion='icl'"),
        (GMMClusterer(k_range=(5, 2)), r"k_range=\(5, 2\)"),
        (GMMClusterer(covariance_type="block"), "covariance_type='block'"),
        (SpectralClusterer(n_neighbors=1), "n_neighbors=1"),
        (SpectralClusterer(eigen_solver="amg"), "eigen_solver='amg'"),
        (SpectralClusterer(regularization=-0.5), "regularization=-0.5"),
    ],
)
def test_bad_params(est, match, blobs):
    with pytest.raises(ValueError, match=match):
        est.fit(blobs[0])


def test_khm_init_shape_checked(blobs):
    with pytest.raises(ValueError, match=r"init has shape \(3, 6\)"):
        KHarmonicMeans(n_clusters=K, init=np.zeros((3, 6))).fit(blobs[0])


def test_khm_less_sensitive_to_bad_init_than_kmeans():
    """Nogueira & Serapião / Zhang et al.: from the same bad starts, KHM lands near the truth far more often."""
    X, y = make_blobs(800, centers=5, n_features=2, cluster_std=1.0, random_state=3)
    rng = np.random.default_rng(0)
    ari_km, ari_khm = [], []
    for _ in range(15):
        # a bad start: all five centres drawn from the points of only two true clusters
        pool = np.flatnonzero(np.isin(y, rng.choice(5, 2, replace=False)))
        C0 = X[rng.choice(pool, 5, replace=False)]
        ari_km.append(adjusted_rand_score(y, KMeans(5, init=C0, n_init=1).fit_predict(X)))
        ari_khm.append(adjusted_rand_score(y, KHarmonicMeans(5, init=C0).fit(X).labels_))
    assert np.mean(ari_khm) > np.mean(ari_km) + 0.05
    assert np.std(ari_khm) < np.std(ari_km)
    assert np.min(ari_khm) > np.min(ari_km)


def test_khm_objective_is_harmonic_mean():
    X, _ = make_blobs(60, centers=3, n_features=2, random_state=0)
    m = KHarmonicMeans(3, p=3.5, max_iter=50).fit(X)
    d = np.linalg.norm(X[:, None, :] - m.cluster_centers_[None], axis=2)
    assert m.objective_ == pytest.approx(float((3 / (d**-3.5).sum(1)).sum()), rel=1e-6)


def test_mahalanobis_handles_elongated_clusters():
    """sklearn's anisotropic-blobs example: Euclidean k-means cuts across the ellipses."""
    X, y = make_blobs(1500, centers=3, random_state=170)
    X = X @ np.array([[0.6, -0.6], [-0.4, 0.8]])
    km = adjusted_rand_score(y, KMeans(3, n_init=10, random_state=0).fit_predict(X))
    for cov in ("tied", "full"):
        maha = adjusted_rand_score(y, MahalanobisKMeans(3, covariance_type=cov).fit(X).labels_)
        assert maha > 0.95 > 0.8 > km


def test_gmm_bic_aic_and_bayesian_choose_k(blobs):
    X, y = blobs
    bic = GMMClusterer(k_range=(2, 7), criterion="bic").fit(X)
    assert bic.n_components_ == K
    assert set(bic.criterion_scores_) == set(range(2, 8))
    assert adjusted_rand_score(y, bic.labels_) > 0.95
    # AIC penalises parameters less, so it never picks a simpler mixture than BIC (Malheiros, n.d.)
    aic = GMMClusterer(k_range=(2, 7), criterion="aic").fit(X)
    assert aic.n_components_ >= K and aic.criterion_scores_ != bic.criterion_scores_
    b = GMMClusterer(k_range=(2, 8), bayesian=True, covariance_type="full").fit(X)
    assert b.n_clusters_ <= 8 and adjusted_rand_score(y, b.labels_) > 0.9
    assert {"probability", "log_density"} <= set(b.extra_columns_)
    sub = GMMClusterer(k_range=(2, 6), sample_size=150).fit(X)  # selection on a subsample
    assert sub.n_components_ == K


def test_spectral_separates_moons_where_kmeans_fails():
    X, y = make_moons(600, noise=0.05, random_state=0)
    km = adjusted_rand_score(y, KMeans(2, n_init=10, random_state=0).fit_predict(X))
    sc = SpectralClusterer(2, n_neighbors=10, metric="euclidean").fit(X)
    assert adjusted_rand_score(y, sc.labels_) > 0.99 > 0.6 > km
    assert sc.n_components_graph_ == 2  # two separate moons: a repeated eigenvalue 0
    np.testing.assert_allclose(sc.eigenvalues_, 0, atol=1e-4)


def test_spectral_reuses_graph():
    X, y = make_blobs(300, centers=3, n_features=8, random_state=2)
    X = X.astype(np.float32)
    g = pp.neighbors(X, 20)
    a = SpectralClusterer(3, n_neighbors=15).fit(X, knn=g)
    b = SpectralClusterer(3, n_neighbors=15).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert adjusted_rand_score(y, a.labels_) > 0.95
    with pytest.raises(ValueError, match="needs n_neighbors=25 but the kNN graph has only 20"):
        SpectralClusterer(3, n_neighbors=25).fit(X, knn=g)
    with pytest.raises(ValueError, match="kNN graph has 300 samples but X has 200"):
        SpectralClusterer(3).fit(X[:200], knn=g)


def test_gmm_auto_covariance_and_mixture_rebuilt_from_artifacts():
    from medembed.tl.cluster._gmm import mixture_artifacts, mixture_from_artifacts

    X1, y1 = make_blobs(n_samples=1000, centers=((4, -4), (0, 0)), random_state=42)
    X1 = X1.dot(np.array([[0.374, 0.95], [0.732, 0.598]]))  # Malheiros's sheared blobs
    X2, _ = make_blobs(n_samples=250, centers=1, random_state=42)
    X = np.r_[X1, X2 + [6, -8]]
    m = GMMClusterer(k_range=(2, 4), covariance_type="auto").fit(X)
    assert (m.n_components_, m.covariance_type_) == (3, "full")
    assert set(m.criterion_scores_) == {(k, t) for k in (2, 3, 4) for t in ("full", "diag", "tied", "spherical")}
    for gm in (m.model_, GMMClusterer(n_components=3, covariance_type="spherical").fit(X).model_):
        arts = mixture_artifacts(gm)
        again = mixture_from_artifacts(arts)
        np.testing.assert_allclose(again.score_samples(X), gm.score_samples(X), rtol=1e-12)
        np.testing.assert_array_equal(again.predict(X), gm.predict(X))
        del arts["precisions_cholesky"]  # recomputed from the covariances
        np.testing.assert_allclose(mixture_from_artifacts(arts).score_samples(X), gm.score_samples(X), rtol=1e-8)
    assert m.covariances_.shape == (3, 2, 2) and m.precisions_cholesky_.shape == (3, 2, 2)
    with pytest.raises(ValueError, match="missing"):
        mixture_from_artifacts({"weights": m.weights_})
    with pytest.raises(ValueError, match="do not fit"):
        mixture_from_artifacts({**mixture_artifacts(m.model_), "covariance_type": np.asarray("diag")})

"""The shared kNN graph (pp.neighbors), its affinities and IO, pp.pca/combine, and reducers reusing it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from medembed import pp
from medembed.tl.reduce._tsne import TSNEReducer
from medembed.tl.reduce._umap import UMAPReducer


def unit_blobs(n=300, k=4, d=16, seed=0, std=1.0):
    X, y = make_blobs(n, centers=k, n_features=d, cluster_std=std, random_state=seed)
    X = X.astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True), y


def brute_cosine_knn(X, k):
    Z = X / np.linalg.norm(X, axis=1, keepdims=True)
    D = 1.0 - Z @ Z.T
    np.fill_diagonal(D, np.inf)
    idx = np.argsort(D, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(D, idx, axis=1)


def test_exact_matches_brute_force_and_contract():
    X, _ = unit_blobs(200)
    X0 = X.copy()
    nb = pp.neighbors(X, n_neighbors=7, method="exact")
    idx, dist = brute_cosine_knn(X.astype(np.float64), 7)
    assert nb.indices.shape == (200, 7) and nb.indices.dtype == np.int32
    assert nb.distances.dtype == np.float32
    assert not (nb.indices == np.arange(200)[:, None]).any()  # self excluded
    assert (np.diff(nb.distances, axis=1) >= 0).all()  # nearest first
    np.testing.assert_allclose(nb.distances, dist, atol=1e-5)
    assert (nb.indices == idx).mean() > 0.99  # ties may swap
    assert nb.metric == "cosine" and nb.method == "exact"
    np.testing.assert_array_equal(X, X0)


def test_euclidean_metric_distances():
    X, _ = unit_blobs(100, d=5)
    nb = pp.neighbors(X * 3, n_neighbors=4, metric="euclidean")
    i = 17
    d = np.linalg.norm(X * 3 - X[i] * 3, axis=1)
    d[i] = np.inf
    np.testing.assert_allclose(nb.distances[i], np.sort(d)[:4], rtol=1e-4)


def test_approx_recall_and_determinism():
    X, _ = unit_blobs(1500, k=5, d=24, std=2.0)
    exact = pp.neighbors(X, 10, method="exact")
    a = pp.neighbors(X, 10, method="approx", random_state=3)
    b = pp.neighbors(X, 10, method="approx", random_state=3)
    assert a.method == "approx"
    np.testing.assert_array_equal(a.indices, b.indices)
    recall = np.mean([len(set(p) & set(q)) / 10 for p, q in zip(exact.indices, a.indices)])
    assert recall > 0.9
    assert not (a.indices == np.arange(1500)[:, None]).any()


def test_auto_switches_at_exact_max():
    X, _ = unit_blobs(120)
    assert pp.neighbors(X, 5, exact_max=200).method == "exact"
    assert pp.neighbors(X, 5, exact_max=100).method == "approx"


def test_identical_points_exclude_self():
    X = np.ones((6, 3), dtype=np.float32)
    nb = pp.neighbors(X, 3)
    assert not (nb.indices == np.arange(6)[:, None]).any()
    assert np.all(nb.distances == 0)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"n_neighbors": 0}, "n_neighbors=0"),
        ({"n_neighbors": 2.5}, "n_neighbors=2.5"),
        ({"metric": "manhattan"}, "metric='manhattan'"),
        ({"method": "faiss"}, "method='faiss'"),
    ],
)
def test_bad_params(kw, match):
    X, _ = unit_blobs(50)
    with pytest.raises(ValueError, match=match):
        pp.neighbors(X, **kw)


def test_degenerate_inputs():
    X, _ = unit_blobs(10)
    with pytest.raises(ValueError, match="n_neighbors=10 needs at least 11 samples"):
        pp.neighbors(X, n_neighbors=10)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pp.neighbors(bad, 3)
    zero = X.copy()
    zero[2] = 0
    with pytest.raises(ValueError, match="zero norm"):
        pp.neighbors(zero, 3)
    with pytest.raises(ValueError, match="2-D"):
        pp.neighbors(X[0], 3)


def test_sparse_affinity_symmetric_and_local():
    X, y = unit_blobs(200, k=4)
    nb = pp.neighbors(X, 10)
    for kernel in ("adaptive", "binary"):
        for sym in ("mean", "max", "fuzzy"):
            W = nb.to_sparse_affinity(kernel=kernel, symmetrize=sym)
            assert W.shape == (200, 200)
            assert abs(W - W.T).max() < 1e-12
            assert W.diagonal().sum() == 0
            assert W.nnz <= 2 * 200 * 10
            assert W.data.min() > 0 and W.data.max() <= 1
    W = nb.to_sparse_affinity(5)
    assert W.nnz <= 2 * 200 * 5
    rows, cols = W.nonzero()
    assert np.mean(y[rows] == y[cols]) > 0.99  # edges stay inside the planted clusters
    with pytest.raises(ValueError, match="kernel='cosine'"):
        nb.to_sparse_affinity(kernel="cosine")
    with pytest.raises(ValueError, match="needs n_neighbors=11 but the kNN graph has only 10"):
        nb.head(11)


def test_write_read_roundtrip(tmp_path):
    X, _ = unit_blobs(40)
    ids = [f"img{i}" for i in range(40)]
    nb = pp.neighbors(X, 4, ids=ids)
    path = tmp_path / "knn" / "graph.npz"
    pp.write_neighbors(path, nb)
    back = pp.read_neighbors(path)
    np.testing.assert_array_equal(back.indices, nb.indices)
    np.testing.assert_array_equal(back.distances, nb.distances)
    assert back.metric == "cosine" and back.method == nb.method
    assert list(back.ids) == ids and back.params["n_neighbors"] == 4
    assert [p.name for p in path.parent.iterdir()] == ["graph.npz"]  # no temp file left


def test_pca_helper():
    X, _ = unit_blobs(80, d=16)
    X0 = X.copy()
    Y = pp.pca(X, 5)
    assert Y.shape == (80, 5) and Y.dtype == np.float32
    np.testing.assert_array_equal(pp.pca(X, 5), Y)
    assert pp.pca(X, 50).shape == (80, 16)  # capped at n_features
    np.testing.assert_array_equal(X, X0)
    with pytest.raises(ValueError, match="n_components=0"):
        pp.pca(X, 0)


def test_combine_averages_block_cosines():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(20, 8)) * 5, rng.normal(size=(20, 3))
    Z = pp.combine(A, B)
    assert Z.shape == (20, 11)
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1, atol=1e-6)
    an = A / np.linalg.norm(A, axis=1, keepdims=True)
    bn = B / np.linalg.norm(B, axis=1, keepdims=True)
    np.testing.assert_allclose(Z @ Z.T, (an @ an.T + bn @ bn.T) / 2, atol=1e-5)
    with pytest.raises(ValueError, match="image_X has 20 rows but text_X has 19"):
        pp.combine(A, B[:19])
    B[4] = 0
    with pytest.raises(ValueError, match="text_X has 1 rows of zero norm"):
        pp.combine(A, B)


def _ari_of_map(Y, y, k):
    return adjusted_rand_score(y, KMeans(k, n_init=3, random_state=0).fit_predict(Y))


def test_tsne_reuses_graph():
    X, y = unit_blobs(240, k=3, std=1.5)
    g = pp.neighbors(X, 30)
    r = TSNEReducer(perplexity=10.0, n_iter=150, random_state=1)
    a = r.fit_transform(X, knn=g)
    assert r.n_neighbors_ == 30
    b = TSNEReducer(perplexity=10.0, n_iter=150, random_state=1).fit_transform(X)  # builds its own
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert a.shape == (240, 2) and _ari_of_map(a, y, 3) > 0.95
    e3 = TSNEReducer(n_components=3, perplexity=10.0, n_iter=100).fit_transform(X, knn=g)
    assert e3.shape == (240, 3) and np.isfinite(e3).all()
    with pytest.raises(ValueError, match="needs n_neighbors=90 but the kNN graph has only 30"):
        TSNEReducer().fit(X, knn=g)
    with pytest.raises(ValueError, match="kNN graph has 240 samples but X has 100"):
        TSNEReducer(perplexity=5.0).fit(X[:100], knn=g)
    with pytest.raises(ValueError, match="perplexity=-1"):
        TSNEReducer(perplexity=-1.0).fit(X)


def test_umap_reuses_graph():
    X, y = unit_blobs(240, k=3, std=1.5)
    X0 = X.copy()
    g = pp.neighbors(X, 20)
    a = UMAPReducer(n_neighbors=10, random_state=0).fit_transform(X, knn=g)
    b = UMAPReducer(n_neighbors=10, random_state=0).fit_transform(X)
    np.testing.assert_allclose(a, b, atol=1e-4)
    assert _ari_of_map(a, y, 3) > 0.95
    assert UMAPReducer(n_components=3, n_neighbors=10).fit_transform(X, knn=g).shape == (240, 3)
    np.testing.assert_array_equal(X, X0)
    with pytest.raises(ValueError, match="needs n_neighbors=29 but the kNN graph has only 20"):
        UMAPReducer(n_neighbors=30).fit(X, knn=g)
    with pytest.raises(ValueError, match="built with 'cosine'"):
        UMAPReducer(metric="euclidean").fit(X, knn=g)

"""Methods that read the shared kNN graph instead of searching neighbours again (step 13):
their results must equal the ones of their own search."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import DBSCAN
from sklearn.datasets import make_blobs

from medembed import pp
from medembed.tl.cluster._dbscan import DBSCANClusterer, radius_graph
from medembed.tl.cluster._finch import FINCHClusterer, finch_from_graph


def _unit(X):
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(1500, centers=6, n_features=24, cluster_std=2.5, random_state=2)
    rng = np.random.default_rng(0)
    X = np.vstack([X, rng.normal(scale=30, size=(40, 24))])  # scattered noise points
    return _unit(X)


@pytest.mark.parametrize("eps", [0.35, 0.42, "auto"])
def test_dbscan_on_the_graph_equals_dbscan_on_the_features(blobs, eps):
    """Small eps: every ball fits in the graph (no search); larger: the balls that may not
    are searched exactly; 'auto' (the knee): most are, and everything is searched. In every
    case the labels are scikit-learn's DBSCAN on the raw features, label for label."""
    knn = pp.neighbors(blobs, 30)
    model = DBSCANClusterer(eps, min_samples=5).fit(blobs, knn=knn)
    ref = DBSCAN(eps=model.eps_, min_samples=5).fit_predict(blobs)
    np.testing.assert_array_equal(model.labels_, ref)
    how = model.effective_params_["neighbourhoods"]
    expected = {0.35: "shared kNN graph", 0.42: "shared kNN graph + exact search of", "auto": "exact search ("}
    assert how.startswith(expected[eps]), how
    assert len(set(ref) - {-1}) >= 2 and (ref == -1).any()  # a real clustering with noise


def test_radius_graph_rows_are_the_exact_eps_balls(blobs):
    from sklearn.neighbors import NearestNeighbors

    knn = pp.neighbors(blobs, 30)
    eps = 0.42
    G, how = radius_graph(blobs, knn, eps, "euclidean", exact_share=1.0)
    assert "exact search of" in how  # some balls exceed 30 neighbours and were searched
    exact = NearestNeighbors(radius=eps).fit(blobs).radius_neighbors_graph(blobs, mode="connectivity")
    exact.setdiag(0)
    exact.eliminate_zeros()
    got = G.copy()
    got.data[:] = 1
    assert (got != exact).nnz == 0
    # with a budget of 0 searched balls, the whole search is left to scikit-learn
    assert radius_graph(blobs, knn, eps, "euclidean", exact_share=0.0)[0] is None


@pytest.mark.parametrize("req_clust", [None, 6, 4])
def test_finch_from_the_graph_equals_finchs_own_search(blobs, req_clust):
    from finch import FINCH

    knn = pp.neighbors(blobs, 10)
    c, num, req = finch_from_graph(blobs, knn, req_clust=req_clust)
    c_ref, num_ref, req_ref = FINCH(data=blobs, req_clust=req_clust, distance="cosine", verbose=False)
    assert num == list(num_ref)
    np.testing.assert_array_equal(c, np.asarray(c_ref).reshape(len(blobs), -1))
    if req_clust is not None:
        np.testing.assert_array_equal(req, req_ref)
    model = FINCHClusterer(level=0).fit(blobs, knn=knn)
    assert model.effective_params_["first_neighbours"] == "shared kNN graph"
    np.testing.assert_array_equal(model.labels_, np.asarray(c_ref).reshape(len(blobs), -1)[:, 0])


def test_dbscan_graph_mode_is_knn_dbscan_and_recovers_planted_clusters(blobs):
    """neighbourhoods='graph' never searches: on planted blobs it finds the same clusters
    as exact DBSCAN at the same eps (ARI 1 on the clustered points), and its edges are the
    graph's within eps, both ways."""
    from sklearn.metrics import adjusted_rand_score

    from medembed.tl.cluster._dbscan import graph_eps_edges

    knn = pp.neighbors(blobs, 30)
    exact = DBSCANClusterer("auto", min_samples=5).fit(blobs, knn=knn)
    graph = DBSCANClusterer("auto", min_samples=5, neighbourhoods="graph").fit(blobs, knn=knn)
    assert graph.effective_params_["neighbourhoods"].startswith("shared kNN graph only")
    both = (exact.labels_ >= 0) & (graph.labels_ >= 0)
    assert both.mean() > 0.9 and adjusted_rand_score(exact.labels_[both], graph.labels_[both]) == 1.0
    G = graph_eps_edges(blobs, knn, exact.eps_, "euclidean")
    assert (G != G.T).nnz == 0 and G.max() <= exact.eps_


def test_hnne_from_the_graph_draws_the_same_map(blobs):
    """h-NNE's FINCH (no early exit) from the graph's first neighbours: the same hierarchy,
    so the same 2-D map as h-NNE's own search, and h-NNE's module is left as it was."""
    from hnne import projector

    from medembed.tl.reduce._hnne import HNNEReducer

    own = projector.FINCH
    knn = pp.neighbors(blobs, 10)
    a = HNNEReducer().fit(blobs, knn=knn)
    b = HNNEReducer().fit(blobs)
    assert a.effective_params_["first_neighbours"] == "shared kNN graph"
    np.testing.assert_allclose(a.embedding_, b.embedding_, atol=1e-5)
    assert projector.FINCH is own


def test_map_metrics_read_the_features_neighbours_from_the_graph(blobs):
    from medembed.tl._metrics import reduction_metrics

    rng = np.random.default_rng(1)
    Y = blobs[:, :2] + rng.normal(scale=0.05, size=(len(blobs), 2))
    knn = pp.neighbors(blobs, 15)
    searched = reduction_metrics(blobs, Y, sample_size=500)
    read = reduction_metrics(blobs, Y, sample_size=500, knn=knn)
    assert read == searched and 0 < read[1]["value"] < 1
    # a graph of other samples, or too few columns, is not used
    assert reduction_metrics(blobs, Y, sample_size=500, knn=pp.neighbors(blobs, 5)) == searched

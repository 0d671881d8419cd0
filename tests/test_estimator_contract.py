"""scikit-learn's estimator contract, for every registered reduce, cluster and outlier method.

The contract (SK: ``doc/developers/develop.rst``; ``medembed.tl._base``): ``__init__`` only
stores its arguments, ``get_params``/``set_params``/``clone`` round-trip them, ``fit`` leaves
them untouched and sets only attributes ending in ``_`` (reducers ``embedding_``, clusterers
``labels_``, detectors ``scores_``/``is_outlier_``), and a fixed ``random_state`` gives the
same result twice.

scikit-learn's own checks used here (``sklearn.utils.estimator_checks``), because they need
nothing but the constructor: ``check_parameters_default_constructible``,
``check_no_attributes_set_in_init``, ``check_get_params_invariance``, ``check_set_params``,
``check_estimator_cloneable``, ``check_estimator_repr``,
``check_do_not_raise_errors_in_init_or_set_params``, ``check_mixin_order``,
``check_valid_tag_types`` and ``check_estimator_tags_renamed``.

Left out: every check that fits on scikit-learn's own data (``check_estimators_overwrite_params``,
``check_dont_overwrite_parameters``, ``check_fit_idempotent``, ``check_fit2d_1sample``, the dtype,
pickle, ``predict``/``transform``-on-new-data and ``n_features_in_`` checks). Our methods
are not inductive (they describe the collection they were fitted on; ``transform`` returns
``embedding_``), several need the shared kNN graph, a clustering or labels passed to ``fit``,
and a tiny input is a "not applicable" result by design rather than an error. The two
checks that matter among them (fit does not change params; fit adds only ``_`` attributes)
and determinism are written out below on planted data with the fit arguments the workflow
passes.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
from sklearn.base import clone, is_outlier_detector
from sklearn.datasets import make_blobs
from sklearn.utils import estimator_checks as sk_checks

from medembed import pp
from medembed.tl import cluster_table
from medembed.workflow import registry

STAGES = ("reduce", "cluster", "outliers")
METHODS = [(stage, name) for stage in STAGES for name in registry.names(stage)]
IDS = [f"{stage}:{name}" for stage, name in METHODS]
K = 3
N_NEIGHBORS = 15

#: Small, fast settings per method (everything else at its default).
FAST: dict[str, dict] = {
    "tsne": dict(perplexity=5.0, n_iter=250),
    "umap": dict(n_neighbors=10),
    "kmeans": dict(n_clusters=K, n_init=2),
    "kmeans_mahalanobis": dict(n_clusters=K, n_init=2),
    "khm": dict(n_clusters=K),
    "kernel_khm": dict(n_clusters=K),
    "gmm": dict(n_components=K),
    "spectral": dict(n_clusters=K, n_init=2, n_neighbors=10),
    "hdbscan": dict(min_cluster_size=5),
    "hyphc": dict(n_clusters=K, epochs=2, n_triplets=5_000, progress=False, device="cpu"),
    "hyphc_learned": dict(
        n_clusters=K, mlp_epochs=10, mlp_triplets=2_000, epochs=2, n_triplets=5_000,
        progress=False, device="cpu",
    ),
    "gmm_density": dict(n_components=K),
    "pca_error": dict(n_components=K),
    "isolation_forest": dict(n_estimators=20),
    "lof": dict(n_neighbors=10),
}

#: The attributes ``fit`` must set, by stage (tl/_base.py).
FITTED = {
    "reduce": ("embedding_", "effective_params_"),
    "cluster": ("labels_", "n_clusters_", "extra_columns_", "effective_params_"),
    "outliers": ("scores_", "is_outlier_"),
}


@pytest.fixture(scope="module")
def planted():
    """Three Gaussian blobs, 60 x 8, L2-normalised (the pipeline's embeddings are unit rows)."""
    X, y = make_blobs(60, centers=K, n_features=8, cluster_std=0.6, random_state=3)
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    return X, y, pp.neighbors(X, N_NEIGHBORS)


def make(stage: str, name: str):
    return registry.load(stage, name)(**FAST.get(name, {}))


def fit_args(stage: str, name: str, planted) -> tuple[tuple, dict]:
    """``(args, kwargs)`` of ``fit`` as the workflow's script for ``stage`` passes them."""
    X, y, knn = planted
    kw = {"knn": knn} if name in registry.USES_KNN else {}
    if name in registry.OUTLIERS_FROM_CLUSTER:
        source = registry.OUTLIERS_FROM_CLUSTER[name]
        clusterer = make("cluster", source)
        fit("cluster", source, clusterer, planted)
        kw["clusters"] = cluster_table([str(i) for i in range(len(X))], clusterer)
    # OUTLIERS_FROM_MODEL methods also fit on their own (a fresh BIC search), which is the contract
    # under test; reading the clusterer's mixture is tested in test_outlier_detectors.py.
    return ((X, y) if name in registry.SEMI_SUPERVISED else (X,)), kw


def fit(stage: str, name: str, est, planted):
    """Fit ``est`` the way the workflow's script for ``stage`` does; returns the fitted estimator."""
    args, kw = fit_args(stage, name, planted)
    if name in registry.SEMI_SUPERVISED:
        return est.fit(*args, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small-n caps and convergence notes are not under test
        return est.fit(*args, **kw)


RESULT = {"reduce": "embedding_", "cluster": "labels_", "outliers": "scores_"}


def result(stage: str, est) -> np.ndarray:
    return getattr(est, RESULT[stage])


SK_CHECKS = [
    sk_checks.check_parameters_default_constructible,
    sk_checks.check_no_attributes_set_in_init,
    sk_checks.check_get_params_invariance,
    sk_checks.check_set_params,
    sk_checks.check_estimator_cloneable,
    sk_checks.check_estimator_repr,
    sk_checks.check_do_not_raise_errors_in_init_or_set_params,
    sk_checks.check_mixin_order,
    sk_checks.check_valid_tag_types,
    sk_checks.check_estimator_tags_renamed,
]


@pytest.mark.parametrize("check", SK_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("stage, name", METHODS, ids=IDS)
def test_sklearn_checks(stage, name, check):
    check(name, make(stage, name))


@pytest.mark.parametrize("stage, name", METHODS, ids=IDS)
def test_init_stores_params_unchanged(stage, name):
    cls = registry.load(stage, name)
    defaults = cls().get_params(deep=False)
    # sentinel objects: any validation, conversion or copy in __init__ would lose their identity
    sentinels = {key: object() for key in defaults}
    est = cls(**sentinels)
    assert all(getattr(est, key) is value for key, value in sentinels.items())
    assert all(est.get_params(deep=False)[key] is value for key, value in sentinels.items())


@pytest.mark.parametrize("stage, name", METHODS, ids=IDS)
def test_clone_and_params_round_trip(stage, name):
    est = make(stage, name)
    params = est.get_params()
    twin = clone(est)
    assert twin is not est and type(twin) is type(est)
    assert twin.get_params() == params
    other = registry.load(stage, name)()
    assert other.set_params(**params) is other
    assert other.get_params() == params


@pytest.mark.parametrize("stage, name", METHODS, ids=IDS)
def test_fit_sets_underscore_attributes_only(stage, name, planted):
    X = planted[0]
    X0 = X.copy()
    est = make(stage, name)
    params = copy.deepcopy(est.get_params())  # a copy: fit must not mutate a list/dict param either
    before = set(vars(est))
    for attr in FITTED[stage]:
        assert not hasattr(est, attr)
    assert fit(stage, name, est, planted) is est
    added = set(vars(est)) - before
    public = {a for a in added if not a.startswith("_")}
    assert all(a.endswith("_") for a in public), f"fit set public attributes without '_': {sorted(public)}"
    for attr in FITTED[stage]:
        assert hasattr(est, attr), attr
    assert len(result(stage, est)) == len(X)
    if stage == "outliers":
        assert est.is_outlier_.dtype == bool and est.is_outlier_.shape == (len(X),)
    if stage == "reduce":
        assert est.embedding_.shape[0] == len(X)
        # these maps cannot place new samples: transform says so instead of returning embedding_
        with pytest.raises(NotImplementedError, match="cannot transform new data"):
            est.transform(X)
    # fit does not change the parameters (check_estimators_overwrite_params) nor the data
    assert est.get_params() == params
    np.testing.assert_array_equal(X, X0)


@pytest.mark.parametrize("stage, name", METHODS, ids=IDS)
def test_fixed_random_state_is_deterministic(stage, name, planted):
    est = make(stage, name)
    a = fit(stage, name, est, planted)
    b = fit(stage, name, clone(est), planted)
    np.testing.assert_array_equal(result(stage, a), result(stage, b))
    if stage == "outliers":
        np.testing.assert_array_equal(a.is_outlier_, b.is_outlier_)


@pytest.mark.parametrize("name", registry.names("outliers"))
def test_outlier_fit_predict_follows_sklearn(name, planted):
    """As scikit-learn's outlier detectors: ``fit_predict`` returns -1 (outlier) / 1 (inlier),
    for the same samples that ``is_outlier_`` (bool) marks True; no ``predict`` on new data."""
    est = make("outliers", name)
    assert is_outlier_detector(est)
    args, kw = fit_args("outliers", name, planted)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = est.fit_predict(*args, **kw)
    assert pred.dtype.kind == "i" and pred.shape == (len(args[0]),)
    assert set(np.unique(pred).tolist()) <= {-1, 1}
    np.testing.assert_array_equal(pred == -1, est.is_outlier_)
    assert not hasattr(est, "predict")

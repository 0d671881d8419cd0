"""Small collections never fail: every method runs with its parameters capped to what n
allows (recorded in ``effective_params_``) or gives an explicit "not applicable at n = ..."
result; and a workflow run on 5 to 100 real images (and on 30 without labels) succeeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, SMALL_FAILED, SMALL_FAILED_ONLY
from sklearn.metrics import adjusted_rand_score

from medembed import io, pp, tl
from medembed.tl._api import applicable, fit_outlier_detector, fit_reducer, not_applicable
from medembed.tl._base import NotApplicable
from medembed.workflow import registry

DEMO = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
SIZES = (5, 10, 30, 49, 100)
FAST = {"hyphc": {"epochs": 3}, "hyphc_learned": {"epochs": 3, "mlp_epochs": 20}}


def planted(n: int, d: int = 64, seed: int = 0):
    """Two well separated groups (alternating rows) in ``d`` dimensions."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = (rng.normal(size=(2, d)) * 3)[y] + rng.normal(size=(n, d)) * 0.5
    return X.astype(np.float32), y


def features(n):
    X, y = planted(n)
    return X, pp.pca(X, DEMO["pca"]["n_components"]), pp.neighbors(X, n_neighbors=90, clamp=True), y


def method_features(method, X, P):
    return P if method in DEMO["pca"]["methods"] else X


def fit_kw(method, knn):
    return {"knn": knn} if method in registry.USES_KNN else {}


def params(stage, method):
    kw = {**(DEMO[stage][method] or {}), **FAST.get(method, {})}
    if "hyphc" in method:
        kw["progress"] = False
    return kw


def outcome(model) -> str:
    """"n.a." for a not-applicable result, "capped" when a parameter was capped, else "ok"."""
    if not_applicable(model):
        assert not_applicable(model).startswith("not applicable at n = "), not_applicable(model)
        return "n.a."
    capped = set(getattr(model, "effective_params_", {}) or {}) - {"eps", "perplexity", "n_neighbors",
                                                                   "negative_gradient_method", "n_triplets",
                                                                   "batch_size", "evals_per_epoch", "epochs",
                                                                   "triplet_visits"}
    return "capped" if capped or _tsne_capped(model) else "ok"


def _tsne_capped(model) -> bool:
    eff = getattr(model, "effective_params_", {}) or {}
    return "perplexity" in eff and eff["perplexity"] != model.get_params().get("perplexity")


#: what each method does at each size on the planted data (n.a. = explicit not-applicable)
EXPECTED_NA = {
    ("reduce", "hnne"): {5, 10},  # FINCH's first level has 2 clusters: h-NNE needs 3
    ("cluster", "gmm"): {5},  # no 2-component mixture has fewer parameters than 5 samples
    ("outliers", "gmm_density"): {5},
}


@pytest.mark.parametrize("n", SIZES)
def test_every_method_caps_or_is_marked_not_applicable(n):
    """Every method of config/demo.yaml runs at n, capped, or writes an explicit marker."""
    X, P, knn, y = features(n)
    ids = np.arange(n).astype(str)
    tables, scores = {}, {}
    for method in DEMO["reduce"]:
        model = tl.make_reducer(method, **params("reduce", method))
        Y = fit_reducer(model, method_features(method, X, P), **fit_kw(method, knn))
        assert Y.shape == (n, 2) and np.isfinite(Y).all()
        assert (outcome(model) == "n.a.") == (n in EXPECTED_NA.get(("reduce", method), ())), (method, n)
    for method in DEMO["cluster"]:
        model = tl.make_clusterer(method, **params("cluster", method))
        tl.fit_clusterer(model, method_features(method, X, P), y.astype(str), **fit_kw(method, knn))
        table = tl.cluster_table(ids, model)
        assert len(table) == n and (outcome(model) == "n.a.") == (n in EXPECTED_NA.get(("cluster", method), ()))
        if outcome(model) == "n.a.":
            assert (table["cluster"] == tl.NOISE).all() and tl.result_params(model)["not_applicable"]
        tables[method] = (model, table)
    for method in DEMO["outliers"]:
        kw = fit_kw(method, knn)
        if method in registry.OUTLIERS_FROM_CLUSTER:
            kw = {"clusters": tables[registry.OUTLIERS_FROM_CLUSTER[method]][1]}
        if method == "gmm_density":
            kw = {"mixture": tl.model_artifacts(tables["gmm"][0])}
        model = tl.make_outlier_detector(method, **params("outliers", method))
        fit_outlier_detector(model, method_features(method, X, P), **kw)
        scores[method] = out = tl.outlier_table(ids, model)
        assert np.isfinite(out["score"]).all() and len(out) == n
        assert (outcome(model) == "n.a.") == (n in EXPECTED_NA.get(("outliers", method), ())), (method, n)
    consensus = tl.consensus(scores)
    assert len(consensus) == n and np.isfinite(consensus["score"]).all()
    assert ("gmm_density" in consensus) == (n not in EXPECTED_NA[("outliers", "gmm_density")])


@pytest.mark.parametrize("n", [5, 10])
def test_capped_values_are_reported(n):
    """The values a small n forced are in effective_params_ and in the written params."""
    X, P, knn, y = features(n)
    k = n // 2
    cases = [
        (tl.make_clusterer("kmeans", n_clusters=8), X, {}, {"n_clusters": k}),
        (tl.make_clusterer("kmeans_mahalanobis", n_clusters=6), P, {}, {"n_clusters": k}),
        (tl.make_clusterer("khm", n_clusters=6), P, {}, {"n_clusters": k}),
        (tl.make_clusterer("spectral", n_clusters=6), X, {"knn": knn}, {"n_clusters": k, "n_neighbors": n - 1}),
        (tl.make_clusterer("hyphc", n_clusters=6, epochs=2, progress=False), X, {}, {"n_clusters": k}),
        (tl.make_clusterer("hdbscan", min_cluster_size=6, min_samples=6), P, {},
         {"min_cluster_size": k, "min_samples": k}),
        (tl.make_outlier_detector("lof", n_neighbors=20), X, {"knn": knn}, {"n_neighbors": n - 1}),
        (tl.make_outlier_detector("knn_distance", n_neighbors=10), X, {"knn": knn}, {"n_neighbors": n - 1}),
        (tl.make_outlier_detector("pca_error", n_components=50), X, {}, {"n_components": n - 2}),
        (tl.make_reducer("umap", n_neighbors=15), X, {"knn": knn}, {"n_neighbors": n - 1}),
    ]
    for model, F, kw, expected in cases:
        if isinstance(model, tl.BaseClusterer):
            tl.fit_clusterer(model, F, **kw)
        elif isinstance(model, tl.BaseReducer):
            fit_reducer(model, F, **kw)
        else:
            fit_outlier_detector(model, F, **kw)
        assert not not_applicable(model), (type(model).__name__, not_applicable(model))
        eff = tl.result_params(model)["effective"]
        assert {key: eff[key] for key in expected} == expected, type(model).__name__
    # HypHC's triplet budget: a batch holds each of the C(n, 3) triplets once
    hyphc = cases[4][0]
    assert hyphc.effective_params_["batch_size"] == n * (n - 1) * (n - 2) // 6


def test_capping_is_logged(caplog):
    X, _ = planted(10)
    with caplog.at_level("WARNING"):
        tl.fit_clusterer(tl.make_clusterer("kmeans", n_clusters=8), X)
    assert "n_clusters=8 needs more than 10 samples; using n_clusters=5" in caplog.text


def test_planted_groups_still_recovered_at_30():
    """Capping keeps the methods useful: two planted groups of 15 come back."""
    X, P, knn, y = features(30)
    for method, F, kw in [
        ("gmm", P, {}),  # fitted on 7 leading components instead of failing
        ("hdbscan", P, {}),
        ("dbscan", X, {"knn": knn}),
        ("kmeans", X, {}),
    ]:
        cfg = {**params("cluster", method), **({"n_clusters": 2} if method == "kmeans" else {})}
        model = tl.fit_clusterer(tl.make_clusterer(method, **cfg), F, **kw)
        assert adjusted_rand_score(y, model.labels_) > 0.95, method
    gmm = tl.fit_clusterer(tl.make_clusterer("gmm", **params("cluster", "gmm")), P)
    assert 0 < gmm.effective_params_["n_features"] < P.shape[1]
    # gmm_density scores with that very mixture, in its projected space
    det = tl.make_outlier_detector("gmm_density", contamination=0.1)
    fit_outlier_detector(det, P, mixture=tl.model_artifacts(gmm))
    assert det.source_ == "given" and not not_applicable(det) and det.is_outlier_.sum() >= 1
    assert det.effective_params_["n_features"] == gmm.effective_params_["n_features"]


def test_gmm_at_49_samples_in_49_dimensions():
    """The failure measured on main: PCA-50 of 49 images (49 dims) had no fitting mixture."""
    X, y = planted(49, d=49)
    model = tl.fit_clusterer(tl.make_clusterer("gmm", k_range=[2, 12], covariance_type="auto"), X)
    assert not not_applicable(model) and adjusted_rand_score(y, model.labels_) > 0.95
    assert model.effective_params_["n_features"] < 49


def test_not_applicable_below_what_a_method_needs():
    X, _ = planted(3)
    for make, name in [(tl.make_clusterer, "kmeans"), (tl.make_clusterer, "hdbscan"), (tl.make_clusterer, "gmm")]:
        model = tl.fit_clusterer(make(name), X)
        assert not_applicable(model).startswith("not applicable at n = 3:"), name
    with pytest.raises(NotApplicable, match="not applicable at n = 3"):
        tl.make_reducer("umap").fit(X)
    # a semi-supervised method on a dataset without labels
    model = tl.fit_clusterer(tl.make_clusterer("hyphc_learned", progress=False), planted(10)[0], None)
    assert "needs a label column" in not_applicable(model)


def test_not_applicable_flows_downstream():
    """Metrics, noise outliers, consensus and stability read a not-applicable result."""
    X, _ = planted(5)
    ids = np.arange(5).astype(str)
    gmm = tl.fit_clusterer(tl.make_clusterer("gmm"), X)
    table = tl.cluster_table(ids, gmm)
    manifest = pd.DataFrame({"id": ids, "class": list("aabab")})
    rows = tl.evaluate_clustering(table, manifest, ["class"])
    assert rows["metric"].tolist() == ["not_applicable"] and rows["note"][0].startswith("not applicable at n = 5")
    noise = tl.make_outlier_detector("dbscan_noise")
    fit_outlier_detector(noise, X, clusters=table)
    assert "not applicable at n = 5" in not_applicable(noise)
    scores = tl.outlier_table(ids, noise)
    assert tl.evaluate_outliers(scores, manifest, None)["metric"].tolist() == ["not_applicable"]
    lof = fit_outlier_detector(tl.make_outlier_detector("lof", n_neighbors=2), X)
    both = tl.consensus({"dbscan_noise": scores, "lof": tl.outlier_table(ids, lof)})
    assert "dbscan_noise" not in both and np.isfinite(both["score"]).all()
    assert list(applicable({"dbscan_noise": scores, "lof": tl.outlier_table(ids, lof)})) == ["lof"]
    res = tl.stability("gmm", {}, X, reference=table["cluster"].to_numpy())
    assert res["not_applicable"].startswith("not applicable at n = 5")
    assert tl.stability_table(res, "image")["metric"].tolist() == ["not_applicable"]
    ok = tl.stability("finch", {}, X)  # deterministic: subsamples of 4 of the 5
    assert np.isfinite(ok["ari_mean"])


def test_pca_is_capped_at_n_minus_1():
    X, _ = planted(10)
    Y = pp.pca(X, 50)
    assert Y.shape == (10, 9)
    assert pp.pca_params(50, Y) == {"n_components": 50, "effective": {"n_components": 9}}


# ---- the workflow, through snakemake ---------------------------------------------------


def _metrics(work, dataset):
    return io.read_table(work / "results" / dataset / "pixels" / "image" / "metrics.tsv")


@pytest.mark.workflow
def test_small_collections_run_through_the_workflow(small_run):
    """One run on 5, 10, 30 (without labels), 49 and 100 real images succeeds: every method
    has metrics or an explicit "not applicable at n = ..." row, capped parameters are
    written, and the figures of the smallest set say what does not apply."""
    work = small_run.work
    print(f"small-collection run: {small_run.wall:.0f} s")
    cfg = yaml.safe_load((work / "config.yaml").read_text())
    for n in SMALL_FAILED_ONLY:  # the four methods that stopped runs of 10-49 images
        analysis = work / "results" / f"n{n}" / "pixels" / "image"
        for stage, methods in SMALL_FAILED.items():
            for m in methods:
                table = io.read_table(analysis / stage / f"{m}.parquet")
                assert "not_applicable" not in table or table["not_applicable"].isna().all(), (n, m)
    sized = [d for d in cfg["datasets"] if d[1:].isdigit()]  # "planted" is test_issues.py's
    for ds in [d for d in sized if int(d[1:]) not in SMALL_FAILED_ONLY]:
        m = _metrics(work, ds)
        stages = [("cluster", "cluster"), ("reduce", "reduce")]
        if "anomaly" in cfg["datasets"][ds]:
            stages.append(("outliers", "outliers"))
        for kind, stage in stages:
            have = set(m.loc[m["kind"] == kind, "method"])
            assert have == set(cfg[stage]), (ds, kind, set(cfg[stage]) - have)
        na = m[m["metric"] == "not_applicable"]
        n = len(io.read_table(work / "results" / ds / "manifest.parquet"))
        assert na.empty or na["note"].str.startswith(f"not applicable at n = {n}: ").all(), na
        analysis = work / "results" / ds / "pixels" / "image"
        assert (analysis / "duplicates" / "summary.json").exists()
        for method in cfg["outliers"]:
            assert io.read_table(analysis / "outliers" / f"{method}.parquet")["score"].notna().all()
        for method in cfg["reduce"]:
            assert (analysis / "reduce" / f"{method}.npz").exists()
    # capped values are written with the results
    n10 = work / "results" / "n10" / "pixels" / "image"
    assert io.read_table_params(n10 / "cluster" / "kmeans_mahalanobis.parquet")["effective"]["n_clusters"] == 5
    assert io.read_table_params(n10 / "outliers" / "lof.parquet")["effective"]["n_neighbors"] == 9
    assert io.read_table_params(n10 / "outliers" / "knn_distance.parquet")["effective"]["n_neighbors"] == 9
    assert io.read_array(n10 / "pca.npz").params["effective"]["n_components"] == 9
    assert io.read_array(n10 / "reduce" / "tsne.npz").params["effective"]["perplexity"] == 3.0
    n49 = work / "results" / "n49" / "pixels" / "image"
    assert io.read_table_params(n49 / "cluster" / "gmm.parquet")["effective"]["n_features"] < 49
    n100 = work / "results" / "n100" / "pixels" / "image"
    assert io.read_table_params(n100 / "cluster" / "gmm.parquet")["effective"]["n_features"] < 50
    # on 5 images h-NNE (FINCH's first level has 2 clusters) and GMM (no mixture fits) are
    # not applicable, said in metrics.tsv, and so are the detectors and stability that read them
    m5 = _metrics(work, "n5")
    na5 = m5[m5["metric"] == "not_applicable"]
    assert {("reduce", "hnne"), ("cluster", "gmm"), ("outliers", "gmm_density")} <= set(
        zip(na5["kind"], na5["method"], strict=True)
    ), na5
    assert (work / "results" / "n5" / "pixels" / "image" / "explorer" / "index.html").exists()
    # the unlabelled dataset still gets maps, clusters, outliers and duplicates; the
    # semi-supervised method says it has no labels to learn from
    nl = _metrics(work, "n30")
    clu = nl[nl["kind"] == "cluster"]
    assert clu.loc[clu["method"] != "hyphc_learned", "metric"].ne("not_applicable").all()
    note = clu.loc[(clu["method"] == "hyphc_learned") & (clu["metric"] == "not_applicable"), "note"]
    assert len(note) == 1 and "label" in note.iloc[0], clu

"""Internal clustering metrics, map (reduction) metrics and outlier metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import silhouette_score

from medembed import tl
from medembed.tl._metrics import (
    cluster_metrics,
    internal_metrics,
    outlier_metrics,
    reduction_metrics,
)


def as_dict(rows):
    return {r["metric"]: r["value"] for r in rows}


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(600, centers=3, n_features=10, random_state=0)
    return X.astype(np.float32), y


def test_cluster_metrics_unchanged(blobs):
    _, y = blobs
    rows = cluster_metrics(y, pd.DataFrame({"truth": y}))
    m = {(r["label"], r["metric"]): r["value"] for r in rows}
    assert m[("", "n_clusters")] == 3 and m[("", "noise_fraction")] == 0
    assert m[("truth", "ari")] == pytest.approx(1.0)
    assert {r["metric"] for r in rows} >= {"ari", "ami", "nmi", "purity", "homogeneity", "completeness"}


def test_internal_metrics_rank_good_over_random(blobs):
    X, y = blobs
    X0 = X.copy()
    good = as_dict(internal_metrics(X, y))
    rand = as_dict(internal_metrics(X, np.random.default_rng(0).integers(0, 3, len(y))))
    assert good["silhouette_cosine"] > 0.5 > rand["silhouette_cosine"]
    assert good["davies_bouldin"] < rand["davies_bouldin"]
    assert good["silhouette_cosine"] == pytest.approx(silhouette_score(X, y, metric="cosine"), rel=1e-5)
    np.testing.assert_array_equal(X, X0)


def test_internal_metrics_sample_and_noise(blobs):
    X, y = blobs
    a = as_dict(internal_metrics(X, y, sample_size=200, random_state=1))
    b = as_dict(internal_metrics(X, y, sample_size=200, random_state=1))
    assert a == b
    full = as_dict(internal_metrics(X, y))
    assert abs(a["silhouette_cosine"] - full["silhouette_cosine"]) < 0.05
    noisy = y.copy()
    noisy[:100] = -1  # noise is left out
    ref = silhouette_score(X[100:], y[100:], metric="cosine")
    assert as_dict(internal_metrics(X, noisy))["silhouette_cosine"] == pytest.approx(ref, rel=1e-5)


def test_internal_metrics_degenerate(blobs):
    X, _ = blobs
    one = as_dict(internal_metrics(X, np.zeros(len(X), int)))
    assert np.isnan(one["silhouette_cosine"]) and np.isnan(one["davies_bouldin"])
    with pytest.raises(ValueError, match=r"labels has shape \(5,\)"):
        internal_metrics(X, np.zeros(5))
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        internal_metrics(bad, np.zeros(len(X)))
    with pytest.raises(ValueError, match="sample_size=1"):
        internal_metrics(X, np.arange(len(X)) % 2, sample_size=1)


def test_reduction_metrics_identity_vs_random():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 2)).astype(np.float32)
    ident = as_dict(reduction_metrics(X, X * 2.0, n_neighbors=10, metric="euclidean"))
    assert ident["trustworthiness"] == pytest.approx(1.0)
    assert ident["knn_preservation"] == pytest.approx(1.0)
    rand = as_dict(reduction_metrics(X, rng.normal(size=(500, 2)), n_neighbors=10, metric="euclidean"))
    assert rand["trustworthiness"] < 0.7 and rand["knn_preservation"] < 0.2
    sampled = as_dict(reduction_metrics(X, X, n_neighbors=5, sample_size=100, metric="euclidean"))
    assert sampled["knn_preservation"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="Y has 10 rows but X has 500"):
        reduction_metrics(X, X[:10])
    with pytest.raises(ValueError, match="n_neighbors=0"):
        reduction_metrics(X, X, n_neighbors=0)
    with pytest.raises(ValueError, match="metric='l1'"):
        reduction_metrics(X, X, metric="l1")


def test_outlier_metrics():
    truth = np.r_[np.zeros(90, bool), np.ones(10, bool)]
    perfect = as_dict(outlier_metrics(truth.astype(float) + 0.01 * np.arange(100), truth))
    assert perfect == pytest.approx({"auroc": 1.0, "average_precision": 1.0, "precision_at_n_anomalies": 1.0})
    worst = as_dict(outlier_metrics(-truth.astype(float), truth.astype(int)))
    assert worst["auroc"] == 0.0 and worst["precision_at_n_anomalies"] == 0.0
    single = as_dict(outlier_metrics(np.arange(100.0), np.zeros(100, bool)))
    assert all(np.isnan(v) for v in single.values())
    with pytest.raises(ValueError, match="NaN or inf"):
        outlier_metrics(np.r_[np.nan, np.ones(99)], truth)
    with pytest.raises(ValueError, match="same length"):
        outlier_metrics(np.ones(5), truth)
    with pytest.raises(ValueError, match="boolean or 0/1"):
        outlier_metrics(np.ones(100), np.full(100, 2))


def test_held_out_scoring_differs_from_all_points_when_labels_leak():
    """A 'model' that memorises the labels it saw and guesses the rest: all-points scores
    reward the leak, held-out scores show it learnt nothing."""
    from medembed.tl._metrics import score_cluster_table

    rng = np.random.default_rng(0)
    n = 3000
    y = rng.integers(0, 6, n)
    seen = np.zeros(n, bool)
    seen[rng.choice(n, size=int(0.3 * n), replace=False)] = True
    cluster = np.where(seen, y, rng.integers(0, 6, n))
    table = pd.DataFrame({"id": [f"s{i}" for i in range(n)], "cluster": cluster, "label_seen": seen})
    truth = pd.DataFrame({"class": y.astype(str)})
    held = score_cluster_table(table, truth, label_fraction=0.3)
    full = score_cluster_table(table.drop(columns="label_seen"), truth)
    h = {r["metric"]: r for r in held if r["label"] in ("class", "")}
    f = {r["metric"]: r for r in full if r["label"] in ("class", "")}
    assert {r["supervision"] for r in held} == {"semi:0.3"} and {r["scored_on"] for r in held} == {"held-out"}
    assert {r["supervision"] for r in full} == {"none"} and {r["scored_on"] for r in full} == {"all"}
    assert h["n_scored"]["value"] == n - seen.sum() and f["n_scored"]["value"] == n
    # reference values: sklearn on exactly the rows scored
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    assert h["ari"]["value"] == pytest.approx(adjusted_rand_score(y[~seen], cluster[~seen]))
    assert f["nmi"]["value"] == pytest.approx(normalized_mutual_info_score(y, cluster))
    assert f["ari"]["value"] > 0.05 and f["purity"]["value"] > 0.4  # the leak looks like skill
    assert abs(h["ari"]["value"]) < 0.01 and h["purity"]["value"] < 0.22  # chance on held-out rows
    # the default fraction is the share of rows seen
    assert score_cluster_table(table, truth)[0]["supervision"] == "semi:0.3"
    with pytest.raises(ValueError, match="truth has 2 rows"):
        score_cluster_table(table, truth.iloc[:2])


def test_contingency_scores_equal_sklearn_on_expanded_labels():
    """The vectorised ARI / NMI / purity of bootstrap contingency tables equal scikit-learn's
    on the labels they stand for, including the degenerate one-cluster / one-class cases."""
    from sklearn import metrics as skm

    rng = np.random.default_rng(3)
    for _ in range(100):
        n, k, c = int(rng.integers(2, 50)), int(rng.integers(1, 6)), int(rng.integers(1, 5))
        yp, yt = rng.integers(0, k, n), rng.integers(0, c, n)
        N = np.zeros((1, yp.max() + 1, yt.max() + 1))
        np.add.at(N[0], (yp, yt), 1)
        got = tl.contingency_scores(N)
        assert np.isclose(got["ari"][0], skm.adjusted_rand_score(yt, yp))
        assert np.isclose(got["nmi"][0], skm.normalized_mutual_info_score(yt, yp))
        assert np.isclose(got["purity"][0], tl.purity_score(yt, yp))


def test_cluster_metric_intervals_cover_and_shrink_and_ties_are_paired():
    rng = np.random.default_rng(0)
    widths = []
    for n in (200, 3200):
        yt = rng.integers(0, 5, n)
        yp = np.where(rng.random(n) < 0.7, yt, rng.integers(0, 5, n))
        rows = {r["metric"]: r for r in tl.cluster_metrics(yp, pd.DataFrame({"c": yt}))}
        for m in ("ari", "nmi", "purity"):
            assert rows[m]["low"] <= rows[m]["value"] <= rows[m]["high"], (n, m, rows[m])
        assert "low" not in rows["ami"]
        widths.append(rows["ari"]["high"] - rows["ari"]["low"])
    assert widths[1] < widths[0] / 2.5  # ~ 1 / sqrt(n): 16x the images, 4x narrower
    # ties: a copy of the best clustering with three images moved is tied; a noisy one is not
    n = 600
    yt = rng.integers(0, 4, n)
    best = np.where(rng.random(n) < 0.9, yt, rng.integers(0, 4, n))
    close = best.copy()
    close[:3] = (close[:3] + 1) % 4
    noisy = np.where(rng.random(n) < 0.5, yt, rng.integers(0, 4, n))
    reps, tables = {}, []
    for name, pred in (("best", best), ("close", close), ("noisy", noisy)):
        reps[name] = {}
        rows = tl.cluster_metrics(pred, pd.DataFrame({"c": yt}), replicates=reps[name])
        tables.append(pd.DataFrame(rows).assign(method=name))
    reps["semi"] = {}
    tables.append(pd.DataFrame(tl.cluster_metrics(yt, pd.DataFrame({"c": yt}))).assign(method="semi"))
    marked = tl.mark_ties(pd.concat(tables, ignore_index=True), reps).query("metric == 'ari'").set_index("method")
    assert marked.loc["best", "best"] and marked.loc["close", "best"] and not marked.loc["noisy", "best"]
    assert pd.isna(marked.loc["semi", "best"])  # scored on other images: no part in the comparison


def test_no_interval_when_the_resamples_miss_the_estimate():
    """120 clusters of 5 on 600 images (FINCH's first partition on the MedNIST demo): every
    resample's duplicates raise the NMI above the full-data value, which no shift corrects,
    so the row has no interval (and takes no part in the tie test) instead of one that
    does not contain its own value."""
    rng = np.random.default_rng(0)
    yt = np.repeat(np.arange(6), 100)
    yp = np.arange(600) // 5
    rng.shuffle(yp[:300])
    reps = {}
    rows = {r["metric"]: r for r in tl.cluster_metrics(yp, pd.DataFrame({"c": yt}), replicates=reps)}
    assert np.isnan(rows["nmi"]["low"]) and np.isnan(rows["nmi"]["high"]) and ("c", "nmi") not in reps
    # where an interval is given, it holds its value (here the pair counts of ARI and purity's
    # majority vote are inflated by the duplicates as well)
    for m in ("ari", "purity"):
        assert np.isnan(rows[m]["low"]) or rows[m]["low"] <= rows[m]["value"] <= rows[m]["high"]

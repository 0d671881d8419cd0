"""Probes that compare embeddings on the dataset's own labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medembed import pp, tl


def test_knn_accuracy_is_leave_one_out(blobs):
    X, y = blobs
    knn = pp.neighbors(X, 10)
    assert tl.knn_accuracy(knn, y) == 1.0  # separated blobs: every neighbour agrees
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(y)
    assert tl.knn_accuracy(knn, shuffled) < 0.5  # labels unrelated to the geometry: chance level
    # A sample's own label never votes: two points, each the other's only neighbour.
    two = pp.neighbors(np.array([[1, 0], [1, 0.01]], dtype=np.float32), 1)
    assert tl.knn_accuracy(two, ["a", "b"], n_neighbors=1) == 0.0


def test_unlabelled_samples_are_not_scored_and_do_not_vote(blobs):
    X, y = blobs
    labels = pd.Series(y, dtype=object)
    labels.iloc[::3] = None
    assert tl.knn_accuracy(pp.neighbors(X, 10), labels) == 1.0


def test_probe_separates_a_good_embedding_from_noise(blobs):
    X, y = blobs
    truth = pd.DataFrame({"class": y.astype(str)})
    good = {r["metric"]: r["value"] for r in tl.embedding_probe(X, pp.neighbors(X, 10), truth)}
    rng = np.random.default_rng(1)
    N = rng.normal(size=X.shape).astype(np.float32)
    bad = {r["metric"]: r["value"] for r in tl.embedding_probe(N, pp.neighbors(N, 10), truth)}
    for m in ("kmeans_nmi", "kmeans_ari", "knn_accuracy", "label_silhouette"):
        assert good[m] > bad[m] + 0.3, m
    assert good["kmeans_ari"] == pytest.approx(1.0)


def test_comparison_marks_the_best_per_column():
    rows = lambda enc, nmi, sec: pd.DataFrame(  # noqa: E731
        [{"encoder": enc, "features": "image", "label": "class", "metric": "kmeans_nmi", "value": nmi},
         {"encoder": enc, "features": "image", "label": "", "metric": "embed_seconds", "value": sec}]
    )
    t = tl.compare_embeddings([rows("a", 0.9, 10.0), rows("b", 0.5, 2.0), rows("pixels", 0.9, 1.0)])
    best = set(map(tuple, t.loc[t["best"], ["encoder", "metric"]].to_numpy().tolist()))
    # Timings and dim describe an encoder, they do not score it: never marked.
    assert best == {("a", "kmeans_nmi"), ("pixels", "kmeans_nmi")}
    assert set(t.loc[t["top"], "encoder"]) == {"a", "pixels"}


def test_knn_vote_is_fair_to_small_classes(blobs):
    """Six classes of five: ten voters would outvote every class, whatever the embedding."""
    X, y = blobs
    keep = np.concatenate([np.flatnonzero(y == c)[:5] for c in range(4)])
    assert tl.knn_accuracy(pp.neighbors(X[keep], 15), y[keep]) == 1.0


def test_linear_probe_on_separable_blobs_and_on_random_labels(blobs):
    X, y = blobs
    truth = pd.DataFrame({"class": y.astype(str)})
    good = {r["metric"]: r for r in tl.embedding_probe(X, pp.neighbors(X, 10), truth)}
    assert good["linear_balanced_accuracy"]["value"] == pytest.approx(1.0, abs=0.02)
    assert good["linear_auroc_macro"]["value"] == pytest.approx(1.0, abs=0.01)
    rng = np.random.default_rng(3)
    N = rng.normal(size=(400, 64)).astype(np.float32)
    coin = pd.DataFrame({"coin": rng.choice(["heads", "tails"], 400)})
    chance = {r["metric"]: r for r in tl.embedding_probe(N, pp.neighbors(N, 10), coin)}
    assert chance["linear_balanced_accuracy"]["value"] == pytest.approx(0.5, abs=0.1)
    assert chance["linear_auroc_macro"]["value"] == pytest.approx(0.5, abs=0.1)


def test_linear_probe_skips_unknown_labels_and_leaves_out_a_singleton_class(blobs):
    X, y = blobs
    labels = pd.Series(y.astype(str), dtype=object)
    labels.iloc[::4] = None
    out = tl.linear_probe(X, labels)
    assert (out["pred"][::4] == -1).all() and np.isnan(out["proba"][::4]).all()
    assert (out["y"][1::4] >= 0).all() and np.isfinite(out["proba"][1::4]).all()
    # a class of one image (SLAKE's "Neck") is left out; the other classes are still probed
    single = labels.copy()
    single.iloc[1] = "lonely"
    out = tl.linear_probe(X, single)
    assert out["left_out"] == ["lonely"] and "lonely" not in list(out["classes"])
    assert out["pred"][1] == -1 and out["y"][1] == -1 and np.isnan(out["proba"][1]).all()
    rows = tl.embedding_probe(X, pp.neighbors(X, 10), pd.DataFrame({"c": single}))
    lin = {r["metric"]: r["value"] for r in rows if r["metric"].startswith("linear_")}
    assert lin["linear_balanced_accuracy"] > 0.9 and lin["linear_auroc_macro"] > 0.9
    # one class of two images or more: explicit "not applicable"
    one = pd.Series(["a"] * (len(X) - 1) + ["b"], dtype=object)
    assert tl.linear_probe(X, one) is None
    rows = tl.embedding_probe(X, pp.neighbors(X, 10), pd.DataFrame({"c": one}))
    lin = [r for r in rows if r["metric"].startswith("linear_")]
    assert len(lin) == 2 and all(np.isnan(r["value"]) for r in lin)
    # Three images a class: fewer folds, still scored.
    keep = np.concatenate([np.flatnonzero(y == c)[:3] for c in np.unique(y)])
    assert tl.linear_probe(X[keep], y[keep]) is not None


def _noisy_outcome(n, acc, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < acc, y, 1 - y)
    return {"y": y, "pred": pred}


def test_interval_contains_the_estimate_and_shrinks_with_n():
    widths = []
    for n in (100, 1000):
        o = _noisy_outcome(n, 0.8, 0)
        value = float(tl.outcome_scores("knn_accuracy", o)[0])
        low, high = tl.bootstrap_interval("knn_accuracy", o)
        assert low <= value <= high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2  # ~ 1/sqrt(n)
    o = _noisy_outcome(300, 0.8, 1)
    assert tl.bootstrap_interval("linear_balanced_accuracy", o) == tl.bootstrap_interval("linear_balanced_accuracy", o)


def test_probe_rows_carry_intervals_only_where_resampled(blobs):
    X, y = blobs
    rows = pd.DataFrame(tl.embedding_probe(X, pp.neighbors(X, 10), pd.DataFrame({"c": y.astype(str)}), n_boot=200))
    has = rows.set_index("metric")[["low", "high"]].notna().all(axis=1)
    assert set(has[has].index) == set(tl._probe.RESAMPLED | tl._probe.REFITTED)
    for metric in ("linear_auroc_macro", "kmeans_nmi", "kmeans_ari"):
        r = rows.set_index("metric").loc[metric]
        assert r["low"] <= r["value"] <= r["high"], metric


def test_kmeans_refits_pair_up_and_separate_a_worse_embedding():
    """k-means NMI/ARI intervals come from refits on resamples; resample r draws the same
    images for every embedding, so an embedding with its clusters blurred is not tied with
    the clean one, while the same embedding (reordered columns: the same geometry) is."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 60)
    centres = rng.normal(size=(4, 16)) * 4
    clean = centres[y] + rng.normal(size=(len(y), 16))
    blurred = centres[y] * 0.08 + rng.normal(size=(len(y), 16))
    truth = pd.DataFrame({"c": y.astype(str)})
    tables, outs = [], []
    for enc, X in (("clean", clean), ("same", clean[:, ::-1].copy()), ("blurred", blurred)):
        rows, o = tl.embedding_probe(X, pp.neighbors(X, 10), truth, n_boot=100, linear=False, return_outcomes=True)
        tables.append(pd.DataFrame(rows).assign(encoder=enc, features="image"))
        outs.append((np.arange(len(y)).astype(str), o))
    a = tl.kmeans_replicates(clean, y, 4, n_refits=5)
    b = tl.kmeans_replicates(clean, y, 4, n_refits=5)
    np.testing.assert_array_equal(a["kmeans_ari"], b["kmeans_ari"])  # seeded
    t = tl.compare_embeddings(tables, outs).query("metric == 'kmeans_ari'").set_index("encoder")
    assert t.loc["clean", "value"] > 0.9 > t.loc["blurred", "high"]
    assert t.loc["clean", "best"] and t.loc["same", "best"] and not t.loc["blurred", "best"]


def _table(enc, value):
    return pd.DataFrame([{"encoder": enc, "features": "image", "label": "c", "metric": "knn_accuracy", "value": value},
                         {"encoder": enc, "features": "image", "label": "", "metric": "dim", "value": 4096.0}])


def test_identical_outcomes_tie_and_clearly_different_ones_do_not():
    ids = np.arange(400).astype(str)
    strong, weak = _noisy_outcome(400, 0.9, 0), _noisy_outcome(400, 0.6, 0)
    same = {k: v.copy() for k, v in strong.items()}
    tables, outs = [], []
    for enc, o in (("a", strong), ("b", same), ("c", weak)):
        tables.append(_table(enc, float(tl.outcome_scores("knn_accuracy", o)[0])))
        outs.append((ids, {("c", "knn_accuracy"): o}))
    t = tl.compare_embeddings(tables, outs)
    knn = t[t["metric"] == "knn_accuracy"].set_index("encoder")
    assert knn.loc["a", "best"] and knn.loc["b", "best"] and not knn.loc["c", "best"]
    # A small, noise-sized difference (a few images of 400) is a tie; the top is still one.
    close = strong.copy()
    close["pred"] = strong["pred"].copy()
    wrong_now = np.flatnonzero(strong["pred"] == strong["y"])[:3]
    close["pred"][wrong_now] = 1 - close["y"][wrong_now]
    tables[1] = _table("b", float(tl.outcome_scores("knn_accuracy", close)[0]))
    outs[1] = (ids[::-1].copy(), {("c", "knn_accuracy"): {k: v[::-1].copy() for k, v in close.items()}})
    t = tl.compare_embeddings(tables, outs).query("metric == 'knn_accuracy'").set_index("encoder")
    assert list(t.index[t["top"]]) == ["a"] and t.loc["b", "best"] and not t.loc["c", "best"]
    assert not tl.compare_embeddings(tables, outs).query("metric == 'dim'")[["best", "top"]].any().any()


def test_outcomes_round_trip_through_arrays(tmp_path):
    from medembed import io

    o = {("Finding Labels", "linear_auroc_macro"): {"y": np.array([0, 1, -1]), "pred": np.array([0, 1, -1]),
                                                     "proba": np.array([[0.9, 0.1], [0.2, 0.8], [np.nan, np.nan]])}}
    io.write_arrays(tmp_path / "o.npz", tl.outcome_arrays(["x", "y", "z"], o))
    ids, back = tl.outcomes_from_arrays(io.read_arrays(tmp_path / "o.npz"))
    assert list(ids) == ["x", "y", "z"] and set(back) == set(o)
    np.testing.assert_array_equal(back[next(iter(o))]["proba"], o[next(iter(o))]["proba"])


def test_encoders_table_shows_intervals_and_the_tied_marking():
    from medembed import report

    t = pd.DataFrame([
        {"encoder": "a", "features": "image", "label": "c", "metric": "knn_accuracy", "value": 0.962,
         "low": 0.948, "high": 0.975, "top": True, "best": True},
        {"encoder": "b", "features": "image", "label": "c", "metric": "knn_accuracy", "value": 0.958,
         "low": 0.94, "high": 0.97, "top": False, "best": True},
        {"encoder": "c", "features": "image", "label": "", "metric": "dim", "value": 512.0,
         "low": np.nan, "high": np.nan, "top": False, "best": False}])
    html = report.encoders_table(t)
    assert "<td class='best'>0.962 [0.948, 0.975]</td>" in html
    assert "<td class='best'>0.958 [0.940, 0.970]</td>" in html
    assert "<td>512</td>" in html


def test_linear_probe_is_trained_for_the_balanced_accuracy_it_is_scored_by():
    """A rare class (10 %) with a real but weak signal: unweighted, the probe answers the
    majority almost always (balanced accuracy near chance); with balanced class weights,
    the default, it finds the rare class."""
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(270, int), np.ones(30, int)].astype(str)
    X = rng.normal(size=(300, 20))
    X[:, 0] += 1.2 * (y == "1")
    score = {cw: float(tl.outcome_scores("linear_balanced_accuracy", tl.linear_probe(X, y, class_weight=cw))[0])
             for cw in (None, "balanced")}
    assert score[None] < 0.56 and score["balanced"] > score[None] + 0.08
    assert tl.linear_probe(X, y)["pred"].tolist() == tl.linear_probe(X, y, class_weight="balanced")["pred"].tolist()


def test_kmeans_refits_use_the_values_starts_so_the_spread_is_sampling_not_local_optima():
    """12 well-separated blobs: the full-data k-means (3 starts) finds them; refits with the
    same starts do on every resample, while single-start refits sometimes merge two (the
    interval would then measure the starts' luck, and far worse embeddings come out tied)."""
    from sklearn.datasets import make_blobs

    X, y = make_blobs(400, centers=12, n_features=8, cluster_std=1.0, random_state=3)
    default = tl.kmeans_replicates(X, y, 12, n_refits=30)["kmeans_ari"]
    single = tl.kmeans_replicates(X, y, 12, n_refits=30, n_init=1)["kmeans_ari"]
    assert default.min() > 0.99 and single.min() < 0.95

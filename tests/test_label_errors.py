"""Label errors (``tl.label_issues``): confident learning by hand, planted flips recovered."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import tomllib
from conftest import ROOT, from_benchmarks
from sklearn.datasets import make_blobs

from medembed import pp, tl
from medembed.tl._label_errors import ISSUE_COLUMNS

# A small case worked by hand. Images 2 (labelled a, looks b) and 5 (labelled b, looks c)
# are the errors; image 6 (labelled c, p_c = 0.8 below t_c) is above no threshold.
HAND_LABELS = ["a", "a", "a", "b", "b", "b", "c", "c"]
HAND_P = np.array([
    [0.90, 0.05, 0.05],
    [0.70, 0.20, 0.10],
    [0.10, 0.80, 0.10],
    [0.10, 0.80, 0.10],
    [0.20, 0.70, 0.10],
    [0.05, 0.05, 0.90],
    [0.10, 0.10, 0.80],
    [0.00, 0.10, 0.90],
])


def test_confident_joint_by_hand():
    C, t = tl.confident_joint(HAND_LABELS, HAND_P, ["a", "b", "c"], calibrate=False)
    # t_j = mean p_j over the images labelled j
    np.testing.assert_allclose(t, [(0.9 + 0.7 + 0.1) / 3, (0.8 + 0.7 + 0.05) / 3, (0.8 + 0.9) / 2])
    # a: 0, 1 -> a; 2 -> b.  b: 3, 4 -> b; 5 -> c.  c: 7 -> c (6 is above no threshold)
    np.testing.assert_array_equal(C, [[2, 1, 0], [0, 2, 1], [0, 0, 1]])
    Cc, _ = tl.confident_joint(HAND_LABELS, HAND_P, ["a", "b", "c"])
    # calibrated: each row sums to the number of images with that label (c: 1 counted of 2)
    np.testing.assert_allclose(Cc, [[2, 1, 0], [0, 2, 1], [0, 0, 2]])


@pytest.mark.parametrize("filter_by", ["prune_by_noise_rate", "prune_by_class", "both", "confident_joint"])
def test_find_label_issues_by_hand(filter_by):
    mask = tl.find_label_issues(HAND_LABELS, HAND_P, ["a", "b", "c"], filter_by=filter_by)
    assert np.flatnonzero(mask).tolist() == [2, 5]


def test_find_label_issues_ranks_by_margin_and_keeps_predicted_labels():
    # three images labelled a, one cell of n Q = 1: only the largest margin p_b - p_a is pruned
    labels = ["a", "a", "a", "a", "b", "b", "b"]
    P = np.array([[.9, .1], [.8, .2], [.3, .7], [.45, .55], [.2, .8], [.1, .9], [.3, .7]])
    C, t = tl.confident_joint(labels, P, ["a", "b"], calibrate=False)
    np.testing.assert_allclose(t, [(.9 + .8 + .3 + .45) / 4, .8])
    # 2: p_b = .7 < t_b = .8 and p_a = .3 < t_a: counted nowhere; 3 likewise. Only b's 5 above t_b.
    np.testing.assert_array_equal(C, [[2, 0], [0, 2]])
    assert not tl.find_label_issues(labels, P, ["a", "b"]).any()
    # self-confidence ranks 2 and 3 first all the same
    s = tl.self_confidence(labels, P, ["a", "b"])
    assert np.argsort(s, kind="stable")[:2].tolist() == [2, 3]


def test_unknown_and_foreign_labels_are_never_issues():
    labels = [*HAND_LABELS, None, "", float("nan"), "zzz"]
    P = np.vstack([HAND_P, [[0.0, 1.0, 0.0]] * 4])
    mask = tl.find_label_issues(labels, P, ["a", "b", "c"])
    assert np.flatnonzero(mask).tolist() == [2, 5]
    assert np.isnan(tl.self_confidence(labels, P, ["a", "b", "c"])[8:]).all()


def test_bad_parameters():
    with pytest.raises(ValueError, match="filter_by='nope'"):
        tl.find_label_issues(HAND_LABELS, HAND_P, ["a", "b", "c"], filter_by="nope")
    with pytest.raises(ValueError, match=r"P has shape \(8, 3\); expected \(8, 2\)"):
        tl.find_label_issues(HAND_LABELS, HAND_P, ["a", "b"])
    X = np.random.default_rng(0).normal(size=(8, 3))
    with pytest.raises(ValueError, match="n_splits=1"):
        tl.out_of_fold_probabilities(X, HAND_LABELS, n_splits=1)
    with pytest.raises(ValueError, match="C=0"):
        tl.out_of_fold_probabilities(X, HAND_LABELS, C=0)
    with pytest.raises(ValueError, match="needs X .* or knn"):
        tl.label_issues(None, None, HAND_LABELS)


def _planted(n=400, centers=4, rate=0.1, seed=0, unknown=0.0):
    X, y = make_blobs(n_samples=n, centers=centers, n_features=16, cluster_std=1.0, center_box=(-10, 10),
                      random_state=seed)
    names = np.array([f"class{c}" for c in y], dtype=object)
    rng = np.random.default_rng(seed)
    flip = rng.choice(n, int(rate * n), replace=False)
    given = names.copy()
    for i in flip:
        given[i] = rng.choice([c for c in np.unique(names) if c != names[i]])
    if unknown:
        given[rng.choice(n, int(unknown * n), replace=False)] = None
    truth = np.zeros(n, bool)
    truth[flip] = True
    return X, names, given, truth


def _precision_recall(found: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    return truth[found].mean() if found.any() else 0.0, found[truth].mean()


def test_planted_flips_recovered_on_blobs():
    X, _, given, truth = _planted()
    knn = pp.neighbors(X, n_neighbors=10)
    X0, given0 = X.copy(), given.copy()
    ids = [f"img{i}" for i in range(len(X))]
    df = tl.label_issues(X, knn, pd.Series(given, name="organ"), ids=ids)
    assert list(df.columns) == list(ISSUE_COLUMNS)
    assert (df["issue"] == "label_error").all() and (df["detail"] == "organ").all()
    assert df["rank"].tolist() == list(range(1, len(df) + 1))
    assert df["score"].is_monotonic_decreasing and df["score"].between(0, 1).all()
    found = np.isin(ids, df.loc[df["flagged"], "id"])
    precision, recall = _precision_recall(found, truth)
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)
    top = np.isin(ids, df["id"][: truth.sum()])
    assert truth[top].mean() >= 0.9
    # each view alone finds them too
    for P, classes in [tl.out_of_fold_probabilities(X, given),
                       (tl.knn_label_probabilities(knn, given, sorted(set(given))), sorted(set(given)))]:
        precision, recall = _precision_recall(tl.find_label_issues(given, P, classes), truth)
        assert precision >= 0.9 and recall >= 0.9, (precision, recall)
    np.testing.assert_array_equal(X, X0)
    assert (given == given0).all()
    again = tl.label_issues(X, knn, pd.Series(given, name="organ"), ids=ids)
    pd.testing.assert_frame_equal(df, again)


def test_unknown_labels_get_predictions_but_no_rows():
    X, names, given, truth = _planted(unknown=0.15, seed=1)
    unknown = np.array([g is None for g in given])
    P, classes = tl.out_of_fold_probabilities(X, given)
    assert P.shape == (len(X), 4) and list(classes) == [f"class{c}" for c in range(4)]
    np.testing.assert_allclose(P.sum(1), 1.0, rtol=1e-6)
    # the fold models (fitted on known images only) predict the unknown images' true class
    assert (classes[P[unknown].argmax(1)] == names[unknown]).mean() > 0.95
    knn = pp.neighbors(X, n_neighbors=10)
    assert not tl.find_label_issues(given, P, classes)[unknown].any()
    df = tl.label_issues(X, knn, given, ids=np.arange(len(X)))
    assert len(df) == (~unknown).sum() and not set(df["id"]) & set(np.flatnonzero(unknown))
    pd_labels = pd.Series(given).where(~unknown, np.nan)
    assert len(tl.label_issues(X, knn, pd_labels)) == (~unknown).sum()


def test_one_class_is_not_applicable():
    X, _ = make_blobs(n_samples=30, centers=2, n_features=4, random_state=0)
    labels = ["CT"] * 25 + [None] * 5
    with pytest.raises(tl.NotApplicable, match="not applicable at n = 25: .*at least 2 known classes.*only 'CT'"):
        tl.out_of_fold_probabilities(X, labels)
    knn = pp.neighbors(X, n_neighbors=5)
    with pytest.raises(tl.NotApplicable, match="only 'CT'"):
        tl.label_issues(X, knn, labels)
    with pytest.raises(tl.NotApplicable, match="only 'CT'"):
        tl.label_issues(None, knn, labels)


def test_rare_classes_do_not_crash():
    X, _, given, _ = _planted(n=200, seed=2)
    given = given.copy()
    given[:2] = "rare"  # 2 members, fewer than the 5 folds
    given[2] = "single"  # 1 member: judged by models that never saw it
    knn = pp.neighbors(X, n_neighbors=10)
    P, classes = tl.out_of_fold_probabilities(X, given)
    assert "rare" in classes and "single" in classes and np.isfinite(P).all()
    df = tl.label_issues(X, knn, given)
    assert len(df) == 200
    single = df[df["given"] == "single"].iloc[0]
    assert not single["flagged"] and "the only image labelled single" in single["evidence"]
    # two classes of 2 and 1 images: 2 folds, the singleton's fold trains on one class
    P, classes = tl.out_of_fold_probabilities(X[:3], ["x", "x", "y"])
    assert P.shape == (3, 2) and np.isfinite(P).all()


def test_evidence_strings():
    # 6 points: two groups of three; image 2 is labelled b but sits with the a's
    knn = pp.Neighbors(
        indices=[[1, 2], [0, 2], [0, 1], [4, 5], [3, 5], [3, 4]],
        distances=np.full((6, 2), 0.1),
    )
    labels = ["a", "a", "b", "b", "b", "b"]
    df = tl.label_issues(None, knn, labels, ids=list("uvwxyz"), column="modality")
    top = df.iloc[0]
    assert (top["id"], top["given"], top["suggested"], top["rank"]) == ("w", "b", "a", 1)
    assert top["evidence"] == "labelled b; 2 of 2 neighbours a"
    assert top["score"] == 1.0 and df["detail"].eq("modality").all()
    # with the logistic view: its own out-of-fold p, formatted to 2 decimals
    X, _, given, _ = _planted(n=120, seed=3)
    knn = pp.neighbors(X, n_neighbors=10)
    P, classes = tl.out_of_fold_probabilities(X, given)
    df = tl.label_issues(X, knn, given, knn_weight=0.0)
    for _, r in df.head(5).iterrows():
        i, g, s = int(r["id"]), list(classes).index(r["given"]), list(classes).index(r["suggested"])
        assert s != g and r["score"] == pytest.approx(1 - P[i, g])
        votes = int((given[knn.indices[i]] == r["suggested"]).sum())
        assert r["evidence"] == (f"labelled {r['given']}; out-of-fold p({r['given']}) = {P[i, g]:.2f}, "
                                 f"p({r['suggested']}) = {P[i, s]:.2f}; {votes} of 10 neighbours {r['suggested']}")
    last = df.iloc[-1]  # a confident one: the runner-up class is named instead
    i, g = int(last["id"]), list(classes).index(last["given"])
    q = P[i].copy()
    q[g] = -1
    assert last["evidence"] == (f"labelled {last['given']}; out-of-fold p({last['given']}) = {P[i, g]:.2f}, "
                                f"p({classes[q.argmax()]}) = {q.max():.2f}; 10 of 10 neighbours {last['given']}")


def test_finding_issues_recovers_flipped_findings():
    X, y = make_blobs(n_samples=300, centers=3, n_features=16, center_box=(-10, 10), random_state=4)
    rng = np.random.default_rng(4)
    effusion = np.where(y == 0, "1", "0").astype(object)
    flip = rng.choice(300, 30, replace=False)
    effusion[flip] = np.where(effusion[flip] == "1", "0", "1")
    nodule = np.where(y == 1, 1.0, 0.0)
    nodule[rng.choice(300, 60, replace=False)] = np.nan  # unknown: no rows
    findings = pd.DataFrame({"Effusion": effusion, "Nodule": nodule, "Hernia": "0"})
    knn = pp.neighbors(X, n_neighbors=10)
    df = tl.finding_issues(X, knn, findings, ids=np.arange(300))
    assert list(df.columns) == list(ISSUE_COLUMNS)
    assert set(df["detail"]) == {"Effusion", "Nodule"}  # Hernia: never present, skipped
    assert df.groupby("detail").size().to_dict() == {"Effusion": 300, "Nodule": 240}
    assert df["rank"].is_monotonic_increasing
    eff = df[df["detail"] == "Effusion"]
    found = np.isin(np.arange(300), eff.loc[eff["flagged"], "id"])
    truth = np.isin(np.arange(300), flip)
    precision, recall = _precision_recall(found, truth)
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)
    assert not df[df["detail"] == "Nodule"]["flagged"].any()  # nothing planted there
    r = eff[eff["given"] == "absent"].iloc[0]
    assert r["suggested"] == "present"
    assert re.fullmatch(r"Effusion marked absent; out-of-fold p\(present\) = \d\.\d\d; "
                        r"\d+ of 10 neighbours present", r["evidence"])
    empty = tl.finding_issues(X, knn, findings[["Hernia"]])
    assert empty.empty and list(empty.columns) == list(ISSUE_COLUMNS)


def test_benchmark_quick_runs():
    """``benchmarks/label_errors.py --quick`` (digits, one seed; cleanlab left out on purpose)."""
    table = from_benchmarks("label_errors").main(["--quick", "--no-cleanlab"])
    combined = table[table["probabilities"] == "combined"].iloc[0]
    assert combined["p_at_k"] >= 0.9 and combined["cl_precision"] >= 0.9, combined.to_dict()
    assert table["jaccard"].isna().all()


def test_cleanlab_is_no_dependency():
    """cleanlab is AGPL-3.0: neither the package nor its dependencies may name it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = [*project.get("dependencies", []), *sum(project.get("optional-dependencies", {}).values(), [])]
    assert not [d for d in deps if d.lower().startswith("cleanlab")]
    users = [p for p in (ROOT / "src").rglob("*.py") if re.search(r"^\s*(import|from)\s+cleanlab", p.read_text(), re.M)]
    assert not users


def test_wide_graph_votes_with_ten_and_series_index_gives_ids():
    X, _, given, _ = _planted(n=120, seed=5)
    wide = pp.neighbors(X, n_neighbors=40)  # e.g. a graph built for t-SNE
    labels = pd.Series(given, index=[f"img{i}" for i in range(120)], name="organ")
    df = tl.label_issues(None, wide, labels)
    assert df["id"].str.startswith("img").all() and (df["detail"] == "organ").all()
    assert df["evidence"].str.fullmatch(r"labelled class\d; \d+ of 10 neighbours class\d").all()
    pd.testing.assert_frame_equal(df, tl.label_issues(None, wide.head(10), labels))

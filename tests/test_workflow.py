"""The workflow end to end through snakemake's CLI, reruns checked by its own dry run."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import copy_workflow, make_folder_subset, make_slake_subset, scheduled_jobs, snakemake
from PIL import Image

from medembed import io, pp

pytestmark = pytest.mark.workflow

CONFIG = {
    "datasets": {
        "slake_small": {"reader": "slake", "path": "data/slake"},
        "folder_small": {
            "reader": "folder",
            "path": "data/folder",
            "label_name": "class",
            # One class stands in for known anomalies so the detectors get AUROC/AP.
            "anomaly": {"column": "class", "values": ["Hand"]},
        },
    },
    "encoder": {"name": "efficientnet_lite0", "batch_size": 16},
    "features": ["image"],
    "reduce": {"pca": {}, "tsne": {"perplexity": 10}, "umap": {"n_neighbors": 10}, "hnne": {}},
    "cluster": {
        "dbscan": {"eps": 0.5, "min_samples": 5},
        "hdbscan": {"min_cluster_size": 5, "min_samples": 3},
        "kmeans": {"n_clusters": 6, "n_init": 10},
        "finch": {"level": 0},
        "spectral": {"n_clusters": 6},
        "gmm": {"k_range": [2, 6]},
        "hyphc": {"n_clusters": 6, "epochs": 3, "n_triplets": 20000},
        "hyphc_learned": {"n_clusters": 6, "epochs": 3, "n_triplets": 20000, "mlp_epochs": 30},
    },
    "outliers": {
        "dbscan_noise": {},
        "hdbscan_noise": {},
        "isolation_forest": {"contamination": 0.1},
        "lof": {"n_neighbors": 10},
        "gmm_density": {"n_components": 3},
    },
    "neighbors": {"n_neighbors": 30},
    "pca": {"n_components": 10, "methods": ["gmm", "gmm_density"]},
    "plot": {"map": "tsne", "color_by": "kmeans"},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A copy of the workflow and a full run on small copies of both demo datasets."""
    base = tmp_path_factory.mktemp("wf")
    wf, work = copy_workflow(base / "workflow"), base / "work"
    make_slake_subset(work / "data" / "slake", per_modality=10)
    make_folder_subset(work / "data" / "folder", per_class=10, corrupt=True)
    (work / "config.yaml").write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    proc = snakemake(wf, work)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return wf, work


def test_every_artifact_is_complete_and_aligned(run):
    _, work = run
    for ds, n, labels in (("slake_small", 30, ["modality", "location"]), ("folder_small", 60, ["class"])):
        manifest = io.read_table(work / f"results/{ds}/manifest.parquet")
        assert len(manifest) == n
        assert io.read_table_params(work / f"results/{ds}/manifest.parquet")["label_columns"] == labels
        base = work / f"results/{ds}/efficientnet_lite0/image"
        emb = io.read_array(work / f"results/{ds}/efficientnet_lite0/image.npz")
        assert emb.X.shape == (n, 1280)
        np.testing.assert_allclose(np.linalg.norm(emb.X, axis=1), 1, atol=1e-5)
        assert list(emb.ids) == list(manifest["id"])
        for m in CONFIG["reduce"]:
            arr = io.read_array(base / f"reduce/{m}.npz")
            assert arr.X.shape == (n, 2) and np.isfinite(arr.X).all()
            assert list(arr.ids) == list(manifest["id"])
        for m in CONFIG["cluster"]:
            t = io.read_table(base / f"cluster/{m}.parquet")
            assert list(t["id"]) == list(manifest["id"]) and t["cluster"].dtype.kind == "i"
        for m in CONFIG["outliers"]:
            t = io.read_table(base / f"outliers/{m}.parquet")
            assert list(t["id"]) == list(manifest["id"])
            assert np.isfinite(t["score"]).all() and t["is_outlier"].dtype == bool
        metrics = io.read_table(base / "metrics.tsv")
        scored = set(CONFIG["outliers"]) if "anomaly" in CONFIG["datasets"][ds] else set()
        assert set(metrics["method"]) == set(CONFIG["cluster"]) | set(CONFIG["reduce"]) | scored
        assert {"features", "params_hash", "kind"} <= set(metrics.columns)
        red = metrics[metrics["kind"] == "reduce"]
        assert set(red["metric"]) >= {"trustworthiness", "knn_preservation"}
        assert (red["value"].between(0, 1)).all()
        assert {"silhouette_cosine", "davies_bouldin"} <= set(metrics["metric"])
        out_rows = metrics[metrics["kind"] == "outliers"]
        if ds == "folder_small":
            assert set(out_rows["method"]) == set(CONFIG["outliers"])
            assert set(out_rows["metric"]) >= {"auroc", "average_precision"}
            assert out_rows["value"].between(0, 1).all()
        else:
            assert out_rows.empty  # no known anomalies: nothing scored
        knn = pp.read_neighbors(base / "neighbors.npz")
        assert knn.indices.shape == (n, min(30, n - 1)) and list(knn.ids) == list(manifest["id"])
        assert io.read_array(base / "pca.npz").X.shape == (n, 10)
        top = io.read_table(base / "outliers_top.tsv")
        assert len(top) == 20 and list(top["rank"]) == list(range(1, 21)) and top["path"].notna().all()
        dup = io.read_json(base / "duplicates" / "summary.json")
        assert dup["n_pairs"] >= 0 and dup["threshold"] == 0.98
        assert set(metrics["label"].dropna()) == set(labels)
        # Only internal metrics may be undefined, and only for a partition of < 2 clusters
        # (DBSCAN at the tutorial's eps leaves these features all noise).
        nan = metrics[metrics["value"].isna()]
        assert set(nan["metric"]) <= {"silhouette_cosine", "davies_bouldin"}
        k = metrics[metrics["metric"] == "n_clusters"].set_index("method")["value"]
        assert all(k[m] < 2 for m in nan["method"])
        pngs = [base / "figures" / f for f in ("clusters.png", "reductions.png", "outliers.png")]
        pngs += [base / "figures" / "samples" / f"{m}.png" for m in CONFIG["cluster"]]
        pngs += [base / "figures" / "tree" / f"{m}.png" for m in ("hyphc", "hyphc_learned")]
        for png in pngs:
            with Image.open(png) as im:
                im.load()
                assert im.width > 300 and im.height > 100
    html = (work / "results/report.html").read_text()
    assert "slake_small" in html and "folder_small" in html and html.count("<img") >= 14


def test_hierarchical_methods_export_their_tree(run):
    from scipy.cluster.hierarchy import is_valid_linkage

    _, work = run
    base = work / "results/slake_small/efficientnet_lite0/image/cluster"
    for m in ("hyphc", "hyphc_learned"):
        model = io.read_arrays(base / f"{m}.model.npz")
        assert model["linkage"].shape == (29, 4) and is_valid_linkage(model["linkage"])
        assert str(model["newick"]).endswith(";")
        table = io.read_table(base / f"{m}.parquet")
        r = np.hypot(table["poincare_x"], table["poincare_y"])
        assert (r < 1).all()  # leaves inside the unit disk
        assert table["cluster"].nunique() <= 6
    kmeans = io.read_arrays(base / "kmeans.model.npz")
    assert kmeans["cluster_centers"].shape == (6, 1280)


def test_real_labels_are_recovered(run):
    """ImageNet features separate MedNIST classes: k-means agrees with the folder labels."""
    _, work = run
    m = io.read_table(work / "results/folder_small/efficientnet_lite0/image/metrics.tsv")
    nmi = m[(m.method == "kmeans") & (m.label == "class") & (m.metric == "nmi")]["value"].item()
    assert nmi >= 0.8


def test_corrupt_files_are_skipped_and_listed(run):
    _, work = run
    skipped = pd.read_csv(work / "results/folder_small/skipped.tsv", sep="\t")
    assert sorted(skipped["id"]) == ["CXR/notes", "Hand/truncated", "HeadCT/empty"]
    assert "3 unreadable" in (work / "results/report.html").read_text()


def test_one_graph_per_feature_set_shared_by_its_users(run, tmp_path):
    """A fresh plan: build_knn runs once per dataset and feature set, and every graph user reads it."""
    wf, work = run
    proc = snakemake(wf, work, "-n", "--forceall")
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout + proc.stderr
    jobs = scheduled_jobs(text)
    assert sorted(o for r, o, _ in jobs if r == "build_knn") == sorted(
        f"results/{ds}/efficientnet_lite0/image/neighbors.npz" for ds in CONFIG["datasets"]
    )
    blocks = re.split(r"\n(?=(?:local)?rule \w+:)", text)
    users = [
        b for b in blocks
        if re.match(r"rule (reduce|cluster|detect_outliers):", b)
        and re.search(r"method=(tsne|umap|spectral|lof)\b", b)
    ]
    assert len(users) == 2 * 4
    assert all("neighbors.npz" in b.split("output:")[0] for b in users)


def test_noop_rerun_schedules_nothing(run):
    wf, work = run
    proc = snakemake(wf, work, "-n")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert scheduled_jobs(proc.stdout + proc.stderr) == []
    assert "Nothing to be done" in proc.stdout + proc.stderr


def _expected_after_kmeans_change() -> set[tuple[str, str]]:
    out = {("make_report", "results/report.html"), ("all", "")}
    for ds in CONFIG["datasets"]:
        b = f"results/{ds}/efficientnet_lite0/image"
        out |= {
            ("cluster", f"{b}/cluster/kmeans.parquet"),
            ("evaluate_clustering", f"{b}/metrics/cluster/kmeans.tsv"),
            ("gather_metrics", f"{b}/metrics.tsv"),
            ("plot_clusters", f"{b}/figures/clusters.png"),
            ("plot_cluster_samples", f"{b}/figures/samples/kmeans.png"),
            ("plot_reductions", f"{b}/figures/reductions.png"),
        }
    return out


def test_changing_kmeans_k_reruns_only_kmeans_and_its_dependents(run):
    wf, work = run
    cfg = yaml.safe_load((work / "config.yaml").read_text())
    cfg["cluster"]["kmeans"]["n_clusters"] = 4
    (work / "config_k4.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    proc = snakemake(wf, work, "-n", config="config_k4.yaml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = scheduled_jobs(proc.stdout + proc.stderr)
    assert {(r, o) for r, o, _ in jobs} == _expected_after_kmeans_change()
    reasons = {r for rule, o, r in jobs if rule == "cluster"}
    assert all("params" in r.lower() for r in reasons), reasons


def test_editing_a_method_module_reruns_only_that_method(run):
    wf, work = run
    module = wf / "src/medembed/tl/cluster/_kmeans.py"
    original = module.read_text()
    try:
        module.write_text(original + "\n# a code change\n")
        proc = snakemake(wf, work, "-n")
        assert proc.returncode == 0, proc.stderr[-3000:]
        jobs = scheduled_jobs(proc.stdout + proc.stderr)
        assert {(r, o) for r, o, _ in jobs} == _expected_after_kmeans_change()
    finally:
        module.write_text(original)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["cluster"]["kmeans"].update(n_clusters=1), "cluster.kmeans.n_clusters=1"),
        (lambda c: c["cluster"]["dbscan"].update(eps=-0.5), "cluster.dbscan.eps=-0.5"),
        (lambda c: c["cluster"].update(kmeanz={}), "unknown key(s) ['kmeanz']"),
        (lambda c: c["datasets"]["slake_small"].update(path="data/nowhere"), "datasets.slake_small.path='data/nowhere'"),
        (lambda c: c["plot"].update(map="isomap"), "plot.map='isomap'"),
    ],
)
def test_invalid_config_is_rejected_with_the_key_named(run, change, message):
    wf, work = run
    cfg = yaml.safe_load((work / "config.yaml").read_text())
    change(cfg)
    (work / "config_bad.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    proc = snakemake(wf, work, "-n", config="config_bad.yaml")
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr

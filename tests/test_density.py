"""Density clusterers read the shared kNN graph in the shipped configs; the tutorial benchmark runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import from_benchmarks

from medembed.workflow import registry

ROOT = Path(__file__).resolve().parents[1]
#: dbscan reads the shared graph for eps: auto; hdbscan builds its tree on it: on PCA-50 the
#: planted outliers form a cluster (benchmarks/outliers_planted.py)
DENSITY = ("dbscan", "hdbscan")


@pytest.mark.parametrize("name", ["config.yaml", "demo.yaml"])
def test_shipped_configs_put_density_clusterers_on_the_graph(name):
    cfg = yaml.safe_load((ROOT / "config" / name).read_text())
    pca = set(cfg["pca"]["methods"])
    for method in ("dbscan", "hdbscan"):
        assert method in cfg["cluster"]
        assert method in pca or method in registry.USES_KNN, (name, method)
    for method in DENSITY:
        assert method in registry.USES_KNN and method not in pca, (name, method)
    assert cfg["pca"]["n_components"] == 50


def test_tutorial_benchmark_quick_recovers_planted_clusters():
    tutorial = from_benchmarks("scale", "tutorial")

    lines = []
    res = tutorial.run(n=600, d=32, k=4, warmup=0, skip=("tsne",), out=lines.append)
    rows = {r["call"]: r for r in res["rows"]}
    assert {"normalize", "dbscan", "hdbscan", "kmeans", "finch", "pca", "umap", "hnne"} <= set(rows)
    assert "tsne" not in rows
    # no tutorial call reads PCA-50 any more (hdbscan reads the graph), so no PCA row is counted
    assert not any(c.startswith("PCA-") for c in rows) and any(c.startswith("kNN graph") for c in rows)
    # hdbscan on the kNN graph finds the planted clusters as the tutorial's raw HDBSCAN does
    assert rows["hdbscan"]["ari_ours"] >= 0.95
    assert rows["hdbscan"]["ari_ours"] >= rows["hdbscan"]["ari_tutorial"] - 0.01
    assert rows["umap"]["ari_ours"] >= 0.95
    assert res["ratio"] == pytest.approx(res["ours"] / res["tutorial"])
    assert any("ratio ours/tutorial" in line for line in lines)


def test_scale_overrides_are_only_the_data_dependent_ones():
    import scale

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    over = scale.overrides(cfg, n=100_000, k=10, skip=scale.SKIP)
    assert over[("cluster", "kmeans")] == {"n_clusters": 10}
    assert over[("cluster", "finch")] == {"req_clust": 10}
    assert over[("cluster", "hdbscan")] == {"min_cluster_size": 100}
    assert ("cluster", "dbscan") not in over and ("cluster", "gmm") not in over
    assert not any(name in scale.SKIP for _, name in over)
    science, runtime = scale.method_params(cfg, "cluster", "hdbscan", over, 2)
    assert science == {"min_cluster_size": 100, "min_samples": 3}
    assert runtime["core_dist_n_jobs"] == 2

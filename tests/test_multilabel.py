"""Multi-label findings: enrichment per cluster, kNN-probe AUROC per finding, the heatmap,
the report's pieces, the explorer's colourings, and the workflow's findings jobs (dry run)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import DEMO_CONFIG, ROOT, copy_workflow, scheduled_jobs, snakemake
from PIL import Image
from scipy.stats import false_discovery_control, fisher_exact, hypergeom

from medembed import io, pl, pp, report, tl
from medembed.explore import explorer_data


def _as_manifest(values) -> list:
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(int(v)) for v in values]


@pytest.fixture
def planted():
    """300 images in 4 clusters; finding A is frequent in cluster 2 only, B and C are
    random (same rate everywhere), D is never present; B has unknown values."""
    rng = np.random.default_rng(0)
    clusters = np.repeat([0, 1, 2, 3], 75)
    clusters[:6] = -1
    a = np.where(clusters == 2, rng.random(300) < 0.6, rng.random(300) < 0.08).astype(float)
    b = (rng.random(300) < 0.3).astype(float)
    b[rng.choice(300, 40, replace=False)] = np.nan
    c = (rng.random(300) < 0.2).astype(float)
    findings = pd.DataFrame({"A": _as_manifest(a), "B": _as_manifest(b), "C": _as_manifest(c),
                             "D": ["0"] * 300})
    return clusters, findings


# ---- the manifest contract ------------------------------------------------------------

def test_multilabel_accessor_tolerates_datasets_without_findings():
    assert tl.multilabel({}) == {} and tl.multilabel({"multilabel": None}) == {}
    assert tl.finding_columns({"label_columns": ["class"]}) == []
    spec = {"multilabel": {"source": "Finding Labels", "findings": ["Effusion", "No Finding"]}}
    assert tl.multilabel(spec) == {"source": "Finding Labels", "findings": ["Effusion", "No Finding"]}
    m = tl.finding_matrix(pd.DataFrame({"F": ["1", "0", None, "", "-1", 1, True]}), ["F"])
    assert m["F"].tolist()[:2] == [1.0, 0.0] and m["F"].isna().tolist()[2:5] == [True] * 3
    assert m["F"].tolist()[5:] == [1.0, 1.0]


# ---- enrichment -----------------------------------------------------------------------

def test_enrichment_matches_scipy_fisher_and_hypergeom(planted):
    clusters, findings = planted
    t = tl.finding_enrichment(clusters, findings)
    assert list(t.columns) == list(tl._enrichment.ENRICHMENT_COLUMNS)
    assert len(t) == 5 * 4  # noise + 4 clusters, x 4 findings
    for r in t[t["finding"] != "D"].itertuples():
        y = tl.finding_matrix(findings, [r.finding])[r.finding].to_numpy()
        known = np.isfinite(y)
        inside = (clusters == r.cluster) & known
        k, n = int(y[inside].sum()), int(inside.sum())
        K, N = int(np.nansum(y)), int(known.sum())
        table = [[k, n - k], [K - k, (N - n) - (K - k)]]
        assert (r.count, r.n_cluster, r.count_dataset, r.n_dataset) == (k, n, K, N)
        assert np.isclose(r.p, fisher_exact(table, alternative="greater").pvalue, rtol=1e-9)
        assert np.isclose(r.p, hypergeom.sf(k - 1, N, K, n), rtol=1e-9)
        assert np.isclose(r.prevalence, k / n) and np.isclose(r.fold_change, (k / n) / (K / N))
    never = t[t["finding"] == "D"]  # never present: no fold change, nothing enriched
    assert never["fold_change"].isna().all() and (never["p"] == 1).all()
    np.testing.assert_allclose(t["q"], false_discovery_control(t["p"]), rtol=1e-12)


def test_benjamini_hochberg_by_hand():
    p = np.array([0.01, 0.04, 0.03, 0.20, np.nan])
    # sorted 0.01, 0.03, 0.04, 0.20 (m = 4): 0.04, 0.06, 0.0533.., 0.20 -> monotone from the top
    expected = [0.04, 0.16 / 3, 0.16 / 3, 0.20, np.nan]
    np.testing.assert_allclose(tl.benjamini_hochberg(p), expected, rtol=1e-12)
    assert np.isnan(tl.benjamini_hochberg([np.nan])).all()


def test_planted_enrichment_is_recovered(planted):
    clusters, findings = planted
    t = tl.finding_enrichment(clusters, findings)
    sig = t[t["q"] < 0.05]
    assert set(zip(sig["cluster"], sig["finding"])) == {(2, "A")}
    a2 = t[(t["cluster"] == 2) & (t["finding"] == "A")].iloc[0]
    assert a2["fold_change"] > 2.5 and a2["log2_fold_change"] > 1.3
    # unknown values of B are left out of its counts, not counted as negatives
    b = t[t["finding"] == "B"]
    assert b["n_dataset"].iloc[0] == findings["B"].notna().sum() < 300


def test_findings_heatmap_and_report_table(planted, tmp_path):
    clusters, findings = planted
    t = tl.finding_enrichment(clusters, findings)
    values, prev, q = pl.findings_matrix(t)
    assert values.index[0].startswith("cluster ") and values.index[-1].startswith("noise")
    assert values.shape == (5, 4) and (q.to_numpy() < 0.05).sum() == 1
    png = tmp_path / "findings.png"
    pl.findings_heatmap(t, path=png, method="kmeans")
    with Image.open(png) as im:
        assert im.width > 300 and im.height > 200
    pl.findings_heatmap(t.iloc[0:0], path=tmp_path / "empty.png", method="kmeans")
    assert (tmp_path / "empty.png").stat().st_size > 0
    html = report.findings_table(t, method="kmeans")
    assert "1 cluster x finding cells" in html and "<td>A</td>" in html
    assert "e-" in html.split("<td>A</td>")[1].split("</tr>")[0]  # q in scientific notation, not 0.000
    none = report.findings_table(t.assign(q=1.0), method="kmeans")
    assert "no cluster over-represents" in none


def test_heatmap_leaves_out_clusters_without_a_known_finding(planted, tmp_path):
    """A cluster whose images all have unknown findings (e.g. an unlabelled split) has no
    counts: no empty "cluster k (0)" row in the heatmap."""
    clusters, findings = planted
    clusters = clusters.copy()
    clusters[:20] = 9  # a new cluster ...
    findings = findings.copy()
    findings.iloc[:20] = np.nan  # ... whose findings are all unknown
    t = tl.finding_enrichment(clusters, findings)
    assert (t.loc[t["cluster"] == 9, "n_cluster"] == 0).all()
    values, _, _ = pl.findings_matrix(t)
    assert not [r for r in values.index if r.startswith("cluster 9")]
    assert len(values) == 4  # the planted clusters (the noise images became cluster 9)
    only = t[t["cluster"] == 9]
    assert pl.findings_matrix(only)[0].empty
    pl.findings_heatmap(only, path=tmp_path / "none.png", method="kmeans")  # a message, no crash
    assert (tmp_path / "none.png").stat().st_size > 0


def test_report_section_shows_the_colour_by_heatmap_and_its_table(planted, tmp_path):
    clusters, findings = planted
    t = tl.finding_enrichment(clusters, findings)
    base = tmp_path / "results/ds/enc/image"
    pngs = {m: base / f"figures/findings/{m}.png" for m in ("kmeans", "hdbscan")}
    for m, p in pngs.items():
        pl.findings_heatmap(t, path=p, method=m)
    tsv = base / "cluster/kmeans_findings.tsv"
    io.write_table(tsv, t)
    summary = {k: tmp_path / f"results/run/{k}.html" for k in ("data", "run")}
    for k, p in summary.items():
        io.write_text(p, report.table_fragment(f"<p>{k}</p>", title=k))
    captions = {p.stem: p.read_text() for p in (ROOT / "report").glob("*.rst")}
    layout = [{"name": "ds", "tables": {}, "figures": {}, "zero_shot": {}, "sections": [{
        "encoder": "enc", "features": "image", "explorer": None, "figures": {},
        "tables": {"findings": str(tsv)},
        "per_method": {"findings": {m: str(p) for m, p in pngs.items()}}}]}]
    out = tmp_path / "results/report.html"
    report.write_report(out, inputs=[*map(str, pngs.values()), str(tsv), *map(str, summary.values())],
                        summary={k: str(v) for k, v in summary.items()}, datasets=layout, captions=captions,
                        config={"plot": {"map": "tsne", "color_by": "kmeans"}}, inline=["kmeans"])
    text = out.read_text()
    assert "Findings per cluster (multi-label)" in text and text.count("data:image/jpeg;base64,") == 1
    assert "href='ds/enc/image/figures/findings/hdbscan.png'" in text
    assert "1 cluster x finding cells over-represented" in text


def test_data_summary_lists_findings_on_one_line(tmp_path):
    manifest = pd.DataFrame({"id": list("abcd"), "path": ["x"] * 4, "view": ["PA", "AP", "PA", "PA"],
                             "Effusion": ["1", "0", None, "1"], "No Finding": ["0", "1", "0", "0"]})
    params = {"label_columns": ["view", "Effusion", "No Finding"], "path": None, "reader": "table",
              "multilabel": {"source": "Finding Labels", "findings": ["Effusion", "No Finding"]}}
    io.write_table(tmp_path / "m.parquet", manifest, params=params)
    io.write_table(tmp_path / "s.tsv", pd.DataFrame(columns=["id", "path", "reason"]))
    out = report.data_summary({"ds": {"manifest": tmp_path / "m.parquet", "skipped": tmp_path / "s.tsv"}}, {})
    assert "Findings from <code>Finding Labels</code> (2, images with each): Effusion 2 (1 unknown), No Finding 1" in out
    assert "Label <code>view</code>" in out and "Label <code>Effusion</code>" not in out and "None" not in out
    assert "not in the table" not in out
    io.write_table(tmp_path / "m.parquet", manifest, params={**params, "n_unlisted": 7, "table": "t.csv"})
    out = report.data_summary({"ds": {"manifest": tmp_path / "m.parquet", "skipped": tmp_path / "s.tsv"}}, {})
    assert "4 images read from <code>t.csv</code>" in out
    assert "7 image file(s) on disk are not in the table and were ignored" in out


def test_duplicates_table_reports_patient_leakage():
    leak = {"patient_column": "Patient ID", "split_column": "split", "n_patients": 10, "n_leaking_patients": 2,
            "n_images_of_leaking_patients": 7, "split_pairs": {"test|train": 2}}
    html = report.duplicates_table({"n_pairs": 0, "threshold": 0.98, "patient_leakage": leak}, pd.DataFrame())
    assert "2 of 10 patients" in html and "Patient ID" in html and "test|train 2" in html
    assert "Patient-level" not in report.duplicates_table({"n_pairs": 0}, pd.DataFrame())


# ---- kNN-probe AUROC ------------------------------------------------------------------

def test_knn_auroc_follows_a_feature_direction_not_noise():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 8)).astype(np.float32)
    X[:, 0] *= 3
    knn = pp.neighbors(X, n_neighbors=15)
    follows = (X[:, 0] > 1.5).astype(float)
    random = (rng.random(400) < 0.3).astype(float)
    assert tl.knn_auroc(knn, follows) > 0.9
    assert abs(tl.knn_auroc(knn, random) - 0.5) < 0.1
    assert abs(tl.knn_auroc(knn, follows, weighted=False) - tl.knn_auroc(knn, follows)) < 0.05
    # leave-one-out: a point's own value never scores it (isolated positives score 0)
    lonely = np.zeros(400)
    lonely[rng.choice(400, 5, replace=False)] = 1
    scores = tl.knn_finding_scores(knn, lonely)
    assert scores[lonely == 1].max() < 1

    findings = pd.DataFrame({"Follows": _as_manifest(follows), "Random": _as_manifest(random),
                             "Never": ["0"] * 400})
    findings.loc[:50, "Random"] = None  # unknown values: not scored, do not vote
    rows = tl.finding_probe(knn, findings, source="Finding Labels")
    by = {(r["label"], r["metric"]): r["value"] for r in rows}
    assert by[("Follows", "knn_auroc")] > 0.9 and np.isnan(by[("Never", "knn_auroc")])
    assert np.isclose(by[("Finding Labels", "knn_auroc_macro")],
                      np.mean([by[("Follows", "knn_auroc")], by[("Random", "knn_auroc")]]))
    assert np.isnan(tl.finding_probe(knn, findings[["Never"]])[-1]["value"])  # none applicable


def test_comparison_and_report_table_show_findings():
    rows = []
    for enc, good in (("a", 0.95), ("b", 0.7)):
        rows += [{"encoder": enc, "features": "image", "label": "Effusion", "metric": "knn_auroc", "value": good},
                 {"encoder": enc, "features": "image", "label": "Hernia", "metric": "knn_auroc", "value": np.nan},
                 {"encoder": enc, "features": "image", "label": "Finding Labels", "metric": "knn_auroc_macro",
                  "value": good},
                 {"encoder": enc, "features": "image", "label": "", "metric": "dim", "value": 8.0}]
    comp = tl.compare_embeddings([pd.DataFrame(rows)])
    best = comp[comp["best"]]
    assert set(zip(best["encoder"], best["label"], best["metric"])) >= {
        ("a", "Effusion", "knn_auroc"), ("a", "Finding Labels", "knn_auroc_macro")}
    assert not comp[comp["label"] == "Hernia"]["best"].any()  # not applicable: no winner
    html = report.encoders_table(comp)
    assert html.count("<table") == 2 and "Finding Labels knn_auroc_macro" in html
    assert "<th>Effusion</th>" in html and "n/a" in html


# ---- the explorer ---------------------------------------------------------------------

def test_explorer_groups_many_findings_apart():
    rng = np.random.default_rng(0)
    n, names = 60, [f"Finding {k:02d}" for k in range(22)]
    ids = np.array([f"i{i}" for i in range(n)])
    manifest = pd.DataFrame({"id": ids, "path": [f"/x/{i}.png" for i in ids], "view": rng.choice(["PA", "AP"], n)})
    for f in names:
        manifest[f] = _as_manifest(np.where(rng.random(n) < 0.1, np.nan, rng.random(n) < 0.3))
    data = explorer_data(manifest, {"pca": io.Array(rng.normal(size=(n, 2)).astype(np.float32), ids)},
                         label_columns=["view", *names], findings=names)
    groups = {c["name"]: c["group"] for c in data["colorings"]}
    assert groups["view"] == "label" and all(groups[f] == "finding" for f in names)
    assert data["default_color"] == "view"  # the ordinary label first, not a finding
    one = next(c for c in data["colorings"] if c["name"] == names[0])
    assert one["cats"][:2] == ["absent", "present"] and one["colors"][1] != one["colors"][0]


# ---- the workflow ---------------------------------------------------------------------

def _dry_run_jobs(wf, work, multilabel) -> set[tuple[str, str]]:
    (work / "data" / "folder").mkdir(parents=True)
    cfg = {k: v for k, v in DEMO_CONFIG.items() if k not in ("outliers",)}
    cfg = yaml.safe_load(yaml.safe_dump(cfg))
    cfg["datasets"] = {"cxr": {"reader": "folder", "path": "data/folder", "label_name": "class"}}
    cfg["reduce"] = {"pca": {}}
    cfg["cluster"] = {"kmeans": {"n_clusters": 3}, "hdbscan": {"min_cluster_size": 5}}
    cfg["outliers"] = {}
    cfg["stability"] = {"methods": ["kmeans"], "n_runs": 2}
    cfg["pca"] = {"n_components": 4, "methods": []}
    cfg["plot"] = {"map": "pca", "color_by": "kmeans"}
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    ids = [f"CXR/{i}.png" for i in range(12)]
    manifest = pd.DataFrame({"id": ids, "path": [f"data/folder/{i}" for i in ids], "class": "CXR",
                             "sha256": [f"{i:064x}" for i in range(12)],
                             "Effusion": ["1", "0"] * 6, "No Finding": ["0", "1"] * 6})
    params = {"reader": "folder", "path": "data/folder", "label_columns": ["class", "Effusion", "No Finding"]}
    if multilabel:
        params["multilabel"] = {"source": "Finding Labels", "findings": ["Effusion", "No Finding"]}
    io.write_table(work / "results/cxr/manifest.parquet", manifest, params=params)
    # make_manifest's other outputs and the shard plan: the checkpoint's output exists, so
    # the DAG reads the findings from this manifest (its benchmark files are missing, so
    # the dry run lists make_manifest again; a real run re-reads the rewritten manifest)
    io.write_table(work / "results/cxr/skipped.tsv", pd.DataFrame(columns=["id", "path", "reason"]))
    io.write_table(work / "results/cxr/qa.parquet", pd.DataFrame({"id": pd.Series([], dtype=str)}))
    from medembed import embed

    io.write_table(work / "results/cxr/shards.tsv", embed.plan_shards(manifest, 16))
    proc = snakemake(wf, work, "-n")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {(r, o) for r, o, _ in scheduled_jobs(proc.stdout + proc.stderr)}


def test_dry_run_lists_findings_jobs_only_for_datasets_with_findings(tmp_path):
    wf = copy_workflow(tmp_path / "wf")
    jobs = _dry_run_jobs(wf, tmp_path / "with", multilabel=True)
    base = "results/cxr/efficientnet_lite0/image"
    assert {o for r, o in jobs if r == "cluster_findings"} == {
        f"{base}/cluster/{m}_findings.tsv" for m in ("kmeans", "hdbscan")}
    assert ("make_report", "results/report.html") in jobs
    without = _dry_run_jobs(wf, tmp_path / "without", multilabel=False)
    assert not [j for j in without if j[0] == "cluster_findings"]
    assert ("make_report", "results/report.html") in without

"""The workflow end to end through snakemake's CLI, reruns checked by its own dry run."""

from __future__ import annotations

import contextlib
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import DEMO_CONFIG as CONFIG
from conftest import scheduled_jobs, snakemake
from PIL import Image

from medembed import io, pp

pytestmark = pytest.mark.workflow

def test_every_artifact_is_complete_and_aligned(demo_run):
    _, work = demo_run
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
        # (DBSCAN at the Medical Image Analysis Tutorial's eps leaves these features all noise).
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


def test_hierarchical_methods_export_their_tree(demo_run):
    from scipy.cluster.hierarchy import is_valid_linkage

    _, work = demo_run
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


def test_real_labels_are_recovered(demo_run):
    """ImageNet features separate MedNIST classes: k-means agrees with the folder labels."""
    _, work = demo_run
    m = io.read_table(work / "results/folder_small/efficientnet_lite0/image/metrics.tsv")
    nmi = m[(m.method == "kmeans") & (m.label == "class") & (m.metric == "nmi")]["value"].item()
    assert nmi >= 0.8


def test_corrupt_files_are_skipped_and_listed(demo_run):
    _, work = demo_run
    skipped = pd.read_csv(work / "results/folder_small/skipped.tsv", sep="\t")
    assert sorted(skipped["id"]) == ["CXR/notes", "Hand/truncated", "HeadCT/empty"]
    assert "3 unreadable" in (work / "results/report.html").read_text()


def test_issue_table_and_look_at_these_first(demo_run):
    """Every analysed section has issues.tsv; the corrupt files are its unreadable rows;
    the report opens both datasets with "Look at these first"."""
    _, work = demo_run
    for ds in ("slake_small", "folder_small"):
        base = work / f"results/{ds}/efficientnet_lite0/image"
        issues = io.read_table(base / "issues.tsv")
        assert list(issues.columns) == ["id", "path", "issue", "detail", "score", "rank", "evidence", "other_id"]
        assert issues["score"].between(0, 1).all() and issues["evidence"].notna().all()
        summary = io.read_table(base / "issues_summary.tsv").set_index("issue")
        assert summary.loc["any", "images"] == issues["id"].nunique()
    unreadable = issues[issues["issue"] == "unreadable"]
    assert sorted(unreadable["id"]) == ["CXR/notes", "Hand/truncated", "HeadCT/empty"]
    html = (work / "results/report.html").read_text()
    assert html.count("Look at these first") == 2
    assert html.index("Look at these first") < html.index("slake_small · efficientnet_lite0 · image")


def test_one_graph_per_feature_set_shared_by_its_users(demo_run, tmp_path):
    """A fresh plan: build_knn runs once per dataset and feature set, and every graph user reads it."""
    wf, work = demo_run
    proc = snakemake(wf, work, "-n", "--forceall")
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout + proc.stderr
    jobs = scheduled_jobs(text)
    assert sorted(o for r, o, _ in jobs if r == "build_knn") == sorted(
        f"results/{ds}/efficientnet_lite0/image/neighbors.npz" for ds in CONFIG["datasets"]
    )
    blocks = re.split(r"\n(?=\s*(?:local)?(?:rule|checkpoint) \w+:)", text)
    users = [
        b for b in blocks
        if re.match(r"rule (reduce|cluster|detect_outliers):", b.strip())
        and re.search(r"method=(tsne|umap|spectral|lof|dbscan)\b", b)
    ]
    assert len(users) == 2 * 5
    assert all("neighbors.npz" in b.split("output:")[0] for b in users)


def test_noop_rerun_schedules_nothing(demo_run):
    wf, work = demo_run
    proc = snakemake(wf, work, "-n")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert scheduled_jobs(proc.stdout + proc.stderr) == []
    assert "Nothing to be done" in proc.stdout + proc.stderr


ENC = "efficientnet_lite0"


def _started_jobs(work) -> list[tuple[str, int]]:
    """(rule, threads) of every job the shared run started, from snakemake's own log (the
    first one: later tests may run again in the same directory)."""
    log = min((work / ".snakemake" / "log").glob("*.snakemake.log"), key=lambda p: p.stat().st_mtime)
    jobs = []
    for line in log.read_text().splitlines():
        m = re.match(r"^(?:local)?(?:rule|checkpoint) (\w+):$", line.strip())
        if m:
            jobs.append((m.group(1), 1))  # snakemake prints "threads:" only above one
        elif jobs and line.startswith("    threads:"):
            jobs[-1] = (jobs[-1][0], int(line.split(":")[1]))
    return jobs


def test_small_jobs_take_one_thread_so_two_run_side_by_side(demo_run):
    """Threads come from the features' rows when a job starts (medembed.workflow.jobsize): on 30-60
    images every per-method job takes one of the 2 cores. The dry run, before the features
    exist, shows the rule's maximum."""
    wf, work = demo_run
    sized = {"cluster", "cluster_stability", "detect_outliers", "reduce", "build_knn", "compute_pca", "probe_embedding"}
    started = [(r, t) for r, t in _started_jobs(work) if r in sized]
    assert {r for r, _ in started} == sized
    assert {t for _, t in started} == {1}, started
    (work / "dry").mkdir(exist_ok=True)
    shutil.copy(work / "config.yaml", work / "dry" / "config.yaml")
    with contextlib.suppress(FileExistsError):
        (work / "dry" / "data").symlink_to(work / "data")
    proc = snakemake(wf, work / "dry", "-n")
    assert proc.returncode == 0, proc.stderr[-3000:]
    planned = re.findall(r"rule cluster:\n(?:    .*\n)*?    threads: (\d+)", proc.stdout + proc.stderr)
    assert planned and set(planned) == {"2"}


def _dry_run(wf, work, config="config.yaml") -> set[tuple[str, str]]:
    proc = snakemake(wf, work, "-n", config=config)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {(r, o) for r, o, _ in scheduled_jobs(proc.stdout + proc.stderr)}


def _with_config(work, name, change) -> str:
    cfg = yaml.safe_load((work / "config.yaml").read_text())
    change(cfg)
    (work / name).write_text(yaml.safe_dump(cfg, sort_keys=False))
    return name


#: Jobs that read every result of a run: any rerun reaches them.
RUN_WIDE = {("make_report", "results/report.html"), ("all", ""), ("summarize_run", "results/run/data.html")}


def _metrics_jobs(b: str) -> set[tuple[str, str]]:
    """The metrics table of one analysis folder ``b`` and what shows it."""
    return {
        ("gather_metrics", f"{b}/metrics.tsv"),
        ("plot_metrics", f"{b}/figures/metrics.png"),
        ("table_metrics", f"{b}/tables/metrics.html"),
    }


def _expected_after_cluster_change(*methods: str) -> set[tuple[str, str]]:
    """A clustering and exactly what reads it: its metrics, its figures, the report."""
    out = set(RUN_WIDE)
    for ds in CONFIG["datasets"]:
        b = f"results/{ds}/{ENC}/image"
        out |= _metrics_jobs(b) | {
            ("plot_cluster_maps", f"{b}/figures/clusters.png"),
            ("make_explorer", f"{b}/explorer"),
            # the issue table reads every clustering (clusters a metadata column explains)
            ("find_issues", f"{b}/issues.tsv"),
            ("plot_issues", f"{b}/figures/issues/label_error.png"),
        }
        for m in methods:
            out |= {
                ("cluster", f"{b}/cluster/{m}.parquet"),
                # one scoring job reads every clustering of the feature set
                ("evaluate_clustering", f"{b}/metrics/clusterings.tsv"),
                ("plot_cluster_details", f"{b}/figures/samples/{m}.png"),
            }
            if m == "finch":
                out.add(("plot_finch", f"{b}/figures/finch.png"))
            if m in CONFIG["stability"]["methods"]:
                out.add(("cluster_stability", f"{b}/metrics/stability/{m}.tsv"))
            if m == CONFIG["plot"]["color_by"]:
                out.add(("plot_reductions", f"{b}/figures/reductions.png"))
            if m == CONFIG["plot"]["color_by"] or m in CONFIG["plot"].get("cards", []):
                out.add(("cluster_cards", f"{b}/cards/{m}/cluster_cards.tsv"))
            if m in ("hyphc", "hyphc_learned"):
                out.add(("plot_tree", f"{b}/figures/tree/{m}.png"))
    return out


def test_changing_kmeans_k_reruns_only_kmeans_and_its_dependents(demo_run):
    wf, work = demo_run
    config = _with_config(work, "config_k4.yaml", lambda c: c["cluster"]["kmeans"].update(n_clusters=4))
    proc = snakemake(wf, work, "-n", config=config)
    jobs = scheduled_jobs(proc.stdout + proc.stderr)
    assert {(r, o) for r, o, _ in jobs} == _expected_after_cluster_change("kmeans")
    reasons = {r for rule, o, r in jobs if rule == "cluster"}
    assert all("params" in r.lower() for r in reasons), reasons


@contextlib.contextmanager
def _edited(path):
    """Append a comment to a source file for the duration of the block."""
    original = path.read_text()
    try:
        path.write_text(original + "\n# a code change\n")
        yield
    finally:
        path.write_text(original)


def test_editing_a_method_module_reruns_only_that_method(demo_run):
    wf, work = demo_run
    with _edited(wf / "src/medembed/tl/cluster/_kmeans.py"):
        assert _dry_run(wf, work) == _expected_after_cluster_change("kmeans")


def test_editing_a_shared_module_reruns_every_method_that_imports_it(demo_run):
    """_hyperbolic.py is imported by both HypHC modules, not named by the registry."""
    wf, work = demo_run
    with _edited(wf / "src/medembed/tl/cluster/_hyperbolic.py"):
        assert _dry_run(wf, work) == _expected_after_cluster_change("hyphc", "hyphc_learned")


def test_editing_the_metrics_module_reruns_only_the_evaluation(demo_run):
    wf, work = demo_run
    expected = set(RUN_WIDE)
    for ds in CONFIG["datasets"]:
        b = f"results/{ds}/{ENC}/image"
        expected |= _metrics_jobs(b)
        expected |= {("evaluate_clustering", f"{b}/metrics/clusterings.tsv"),
                     ("evaluate_outliers", f"{b}/metrics/outliers.tsv")}
        expected |= {("evaluate_reduction", f"{b}/metrics/reduce/{m}.tsv") for m in CONFIG["reduce"]}
        # the encoder comparison reads the default map's trustworthiness from these metrics
        expected |= {("probe_embedding", f"{b}/probe.tsv"), ("compare_encoders", f"results/{ds}/encoders.tsv")}
    with _edited(wf / "src/medembed/tl/_metrics.py"):
        assert _dry_run(wf, work) == expected


def test_editing_a_plotting_module_reruns_only_its_figures(demo_run):
    wf, work = demo_run
    expected = set(RUN_WIDE)
    for ds in CONFIG["datasets"]:
        b = f"results/{ds}/{ENC}/image/figures/samples"
        expected |= {("plot_cluster_details", f"{b}/{m}.png") for m in CONFIG["cluster"]}
    with _edited(wf / "src/medembed/pl/_samples.py"):
        assert _dry_run(wf, work) == expected


@pytest.mark.parametrize(
    ("change", "args"),
    [
        (lambda c: c["encoder"].update(batch_size=3), ()),
        (lambda c: c["encoder"].update(device="cpu"), ()),
        (lambda c: c["cluster"]["hyphc"].update(device="cpu", progress=False), ()),
        (lambda c: None, ("--set-threads", "reduce=1", "cluster=1", "build_knn=1")),
    ],
    ids=["batch_size", "device", "hyphc_device", "threads"],
)
def test_runtime_keys_rerun_nothing(demo_run, change, args):
    """Batch size, device and threads change how a job runs, not its result (the model's
    local_dir is checked where the encoder has one: test_workflow_biomedclip)."""
    wf, work = demo_run
    proc = snakemake(wf, work, "-n", *args, config=_with_config(work, "config_runtime.yaml", change))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert scheduled_jobs(proc.stdout + proc.stderr) == []


def test_changing_the_encoder_reruns_embedding_and_after_but_not_the_data(demo_run):
    wf, work = demo_run
    jobs = _dry_run(wf, work, _with_config(work, "config_enc.yaml", lambda c: c["encoder"].update(name="biomedclip")))
    rules = {r for r, _ in jobs}
    assert not rules & {"download_dataset", "make_manifest", "plan_shards"}
    assert {"embed_shard", "embed_images", "build_knn", "reduce", "cluster", "make_report"} <= rules
    shared = ("all", "make_report", "compare_encoders", "summarize_run")  # read every encoder
    assert all("/biomedclip/" in o for r, o in jobs if r not in shared)
    n_shards = sum(len(io.read_table(work / f"results/{ds}/shards.tsv")) for ds in CONFIG["datasets"])
    assert sum(r == "embed_shard" for r, _ in jobs) == n_shards


def test_shards_gather_in_manifest_order(demo_run):
    _, work = demo_run
    for ds in CONFIG["datasets"]:
        plan = io.read_table(work / f"results/{ds}/shards.tsv")
        manifest = io.read_table(work / f"results/{ds}/manifest.parquet")
        assert len(plan) >= 2 and plan["n_images"].sum() == len(manifest)
        parts = [io.read_array(work / f"results/{ds}/{ENC}/shards/image-{k}.npz") for k in plan["shard"]]
        emb = io.read_array(work / f"results/{ds}/{ENC}/image.npz")
        np.testing.assert_array_equal(np.concatenate([p.ids for p in parts]), manifest["id"])
        np.testing.assert_array_equal(np.concatenate([p.X for p in parts]), emb.X)


def test_adding_an_image_reembeds_only_its_shard(demo_run, tmp_path):
    """The manifest notices the new file; after the shard plan is redone, only the shard
    that holds the new image is embedded again (the plan is a checkpoint, so the dry run
    can list shard jobs only once it has run)."""
    wf, shared = demo_run
    work = tmp_path / "work"
    shutil.copytree(shared, work, symlinks=True)  # copy2 keeps mtimes: the copy is up to date
    assert _dry_run(wf, work) == set()
    folder = work / "data/folder/Hand"
    (folder / "zz_added.jpeg").write_bytes(next(p for p in sorted(folder.iterdir()) if p.suffix == ".jpeg").read_bytes())
    jobs = _dry_run(wf, work)
    assert ("make_manifest", "results/folder_small/manifest.parquet") in jobs
    assert not any("slake_small" in o for _, o in jobs)
    proc = snakemake(wf, work, "--until", "plan_shards")
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = _dry_run(wf, work)
    shards = [o for r, o in jobs if r == "embed_shard"]
    n_shards = len(io.read_table(work / "results/folder_small/shards.tsv"))
    assert len(shards) == 1 and n_shards >= 3, (shards, n_shards)  # the others are reused
    assert ("embed_images", f"results/folder_small/{ENC}/image.npz") in jobs


def test_semi_supervised_clustering_is_scored_on_held_out_images_only(demo_run):
    _, work = demo_run
    for ds, n in (("slake_small", 30), ("folder_small", 60)):
        base = work / f"results/{ds}/{ENC}/image"
        table = io.read_table(base / "cluster/hyphc_learned.parquet")
        seen = table["label_seen"].to_numpy()
        assert seen.dtype == bool and 0 < seen.sum() < n
        m = io.read_table(base / "metrics.tsv")
        semi = m[m["method"] == "hyphc_learned"]
        external = semi[semi["metric"].isin(["ari", "nmi", "purity"])]
        assert (external["scored_on"] == "held-out").all() and (semi["supervision"] == "semi:0.3").all()
        n_scored = semi.loc[semi["metric"] == "n_scored", "value"].item()
        assert n_scored == n - seen.sum()
        others = m[~m["method"].isin(["hyphc_learned"])]
        assert (others["supervision"] == "none").all() and (others["scored_on"] == "all").all()


def test_stability_is_reported_for_the_configured_clusterings(demo_run):
    _, work = demo_run
    m = io.read_table(work / f"results/folder_small/{ENC}/image/metrics.tsv")
    stab = m[m["metric"] == "stability_ari"].set_index("method")
    assert set(stab.index) == set(CONFIG["stability"]["methods"])
    assert stab.loc["kmeans", "scheme"] == "seeds x3" and stab.loc["dbscan", "scheme"] == "subsample x3"
    assert stab["value"].between(-1, 1).all()
    assert stab.loc["kmeans", "value"] > 0.5  # k-means on MedNIST classes comes back across seeds


def test_split_leakage_is_summarised_where_a_split_exists(demo_run):
    _, work = demo_run
    s = io.read_json(work / f"results/slake_small/{ENC}/image/duplicates/summary.json")
    assert s["n_eval"] >= 0 and (s["leak_share"] is None or 0 <= s["leak_share"] <= 1)
    assert "leak_share" not in io.read_json(work / f"results/folder_small/{ENC}/image/duplicates/summary.json")


def test_gmm_density_scores_with_the_mixture_gmm_selected(demo_run):
    wf, work = demo_run
    proc = snakemake(wf, work, "-n", "--forceall")
    blocks = re.split(r"\n(?=\s*(?:local)?(?:rule|checkpoint) \w+:)", proc.stdout + proc.stderr)
    dens = [b for b in blocks if b.strip().startswith("rule detect_outliers") and "method=gmm_density" in b]
    assert len(dens) == 2 and all("cluster/gmm.model.npz" in b.split("output:")[0] for b in dens)


def test_encoder_comparison_table_and_figure(demo_run):
    _, work = demo_run
    for ds in CONFIG["datasets"]:
        t = io.read_table(work / f"results/{ds}/encoders.tsv")
        assert set(t["encoder"]) == {ENC}
        assert {"kmeans_nmi", "knn_accuracy", "label_silhouette", "trustworthiness", "images_per_s"} <= set(t["metric"])
        ranked = ~t["metric"].isin(["dim", "embed_seconds", "images_per_s"]) & t["value"].notna()
        assert t.loc[ranked, "best"].all() and not t.loc[~ranked, "best"].any()  # one encoder: best wherever ranked
        assert {"linear_balanced_accuracy", "linear_auroc_macro"} <= set(t["metric"])
        probes = t[t["metric"].isin(["knn_accuracy", "linear_balanced_accuracy"]) & t["value"].notna()]
        assert ((probes["low"] <= probes["value"]) & (probes["value"] <= probes["high"])).all()
    m = io.read_table(work / f"results/folder_small/{ENC}/image/probe.tsv").set_index(["label", "metric"])["value"]
    assert m[("class", "knn_accuracy")] >= 0.8  # ImageNet features know MedNIST's classes
    with Image.open(work / "results/folder_small/encoders.png") as im:
        assert im.width > 300


def test_adding_an_encoder_schedules_only_that_encoder_and_the_comparison(demo_run):
    wf, work = demo_run

    def two_encoders(c):
        first = c.pop("encoder")
        c["encoders"] = [first, {**first, "id": "lite0_again"}]

    jobs = _dry_run(wf, work, _with_config(work, "config_two.yaml", two_encoders))
    assert ("compare_encoders", "results/folder_small/encoders.tsv") in jobs
    for rule, out in jobs:
        if rule in ("all", "make_report", "compare_encoders", "summarize_run"):
            continue
        assert "/lite0_again/" in out, (rule, out)
    assert {"embed_shard", "embed_images", "cluster", "reduce", "probe_embedding"} <= {r for r, _ in jobs}

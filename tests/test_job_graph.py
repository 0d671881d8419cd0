"""The job graph is declared once (medembed.workflow.graph.STAGES): rule all's targets, the report's
layout and inputs, the report() captions and the run summary's benchmark list all come
from it, and agree with the DAG snakemake builds."""

import re

import pandas as pd
import pytest
import yaml
from conftest import DEMO_CONFIG, copy_workflow, snakemake

from medembed import embed, io
from medembed.workflow import graph

# ---- the declaration, expanded in Python -------------------------------------------------


def _config(**over):
    cfg = yaml.safe_load(yaml.safe_dump(DEMO_CONFIG))
    cfg.update(over)
    return cfg


def _text_config():
    """Two datasets (a folder one with findings, a SLAKE one with texts), a text-tower
    encoder analysed in full, two compared encoders, zero-shot and three feature sets."""
    cfg = _config()
    cfg["datasets"] = {"cxr": {"reader": "folder", "path": "data/cxr", "label_name": "class"},
                       "sl": {"reader": "slake", "path": "data/sl"}}
    cfg.pop("encoder")
    cfg["encoders"] = [{"name": "biomedclip"}, {"name": "efficientnet_lite0", "analysis": "compare"},
                       {"name": "pixels", "analysis": "compare"}]
    cfg["features"] = ["image", "text", "image_text"]
    cfg["zero_shot"] = {"modality": {"CT": "a CT", "MRI": "an MRI"}}
    cfg["phrases"] = "config/phrases.txt"  # found in the workflow's folder from any workdir
    return cfg


def _path(rule, key, wc):
    return "/".join([rule, key, *(f"{k}={v}" for k, v in sorted(wc.items()))])


def test_every_stage_is_well_formed():
    rules = [s.rule for s in graph.STAGES]
    assert len(rules) == len(set(rules)), "a rule is declared twice"
    for s in graph.STAGES:
        assert s.scope in graph.SCOPES
        for key, show in s.outputs.items():
            assert show is None or show.place in graph.PLACES, (s.rule, key)
            if show is not None and show.category is not None:
                meta = graph.report_meta(s.rule, key)
                assert meta["caption"].startswith("../report/")
    with pytest.raises(KeyError, match="not declared"):
        graph.stage("no_such_rule")


def test_plan_expands_scopes_methods_and_conditions():
    plan = graph.Plan(_text_config())
    has = {"cxr": True, "sl": False}
    jobs = plan.jobs(shard_keys=lambda ds: ["a" * 16, "b" * 16], findings=has.get)
    by_rule = {}
    for j in jobs:
        by_rule.setdefault(j.rule, []).append(j.wildcards)
    assert plan.features_of[("sl", "biomedclip")] == ["image", "text", "image_text"]
    assert plan.features_of[("cxr", "biomedclip")] == ["image"]  # no texts without the slake reader
    assert plan.features_of[("sl", "pixels")] == ["image"]  # no text tower
    assert len(by_rule["embed_shard"]) == 2 * 3 * 2  # datasets x encoders x shards
    assert {(w["dataset"], w["encoder"]) for w in by_rule["zero_shot"]} == {("cxr", "biomedclip"), ("sl", "biomedclip")}
    assert {(w["dataset"], w["encoder"]) for w in by_rule["embed_texts"]} == {("sl", "biomedclip")}  # QA texts
    assert [w["dataset"] for w in by_rule["combine_features"]] == ["sl"]
    # search phrases: text-tower encoders (analysed: the explorers read them), every dataset
    assert {(w["dataset"], w["encoder"]) for w in by_rule["embed_phrases"]} == {("cxr", "biomedclip"), ("sl", "biomedclip")}
    no_phrases = graph.Plan({**_text_config(), "phrases": None})
    assert not [j for j in no_phrases.jobs(shard_keys=lambda ds: [], findings=has.get) if j.rule == "embed_phrases"]
    # compared encoders: the default map only; analysed ones: every map
    maps = {(w["encoder"], w["method"]) for w in by_rule["reduce"] if w["dataset"] == "cxr"}
    assert maps == {("efficientnet_lite0", "tsne"), ("pixels", "tsne"),
                    *(("biomedclip", m) for m in DEMO_CONFIG["reduce"])}
    assert {w["encoder"] for w in by_rule["cluster"]} == {"biomedclip"}
    assert {w["dataset"] for w in by_rule["cluster_findings"]} == {"cxr"}  # findings only where present
    assert {w["method"] for w in by_rule["plot_tree"]} == {"hyphc", "hyphc_learned"}
    assert "download_dataset" not in by_rule


def test_layout_places_each_shown_output_once():
    plan = graph.Plan(_text_config())
    layout = plan.layout(_path, findings={"cxr": True, "sl": False}.get)
    assert [d["name"] for d in layout] == ["cxr", "sl"]
    cxr, sl = layout
    assert cxr["tables"]["encoders"] == _path("compare_encoders", "table", {"dataset": "cxr"})
    assert set(cxr["zero_shot"]) == {"biomedclip"}
    assert [(s["encoder"], s["features"]) for s in sl["sections"]] == [
        ("biomedclip", "image"), ("biomedclip", "text"), ("biomedclip", "image_text")]
    sec = cxr["sections"][0]
    assert set(sec["figures"]) == {"clusters", "reductions", "outliers", "outlier_gallery", "duplicates",
                                   "metrics", "finch"}
    assert set(sec["tables"]) == {"metrics", "outliers", "duplicates", "findings", "issues", "issues_summary",
                                  "cards"}
    assert set(sec["issues"]) == set(graph.ISSUE_TYPES)
    assert set(sec["per_method"]["samples"]) == set(DEMO_CONFIG["cluster"])
    assert set(sec["per_method"]["trees"]) == {"hyphc", "hyphc_learned"}
    # the findings table of the colouring clustering only; heatmaps of every clustering
    assert sec["tables"]["findings"].endswith("method=kmeans")
    assert set(sec["per_method"]["findings"]) == set(DEMO_CONFIG["cluster"])
    assert "findings" not in sl["sections"][0]["per_method"]
    # cluster cards: the colouring clustering's by default, its table in the section
    assert set(sec["per_method"]["cards"]) == {"kmeans"}
    assert sec["tables"]["cards"].startswith("cluster_cards/table/") and sec["tables"]["cards"].endswith("method=kmeans")
    # every path once; the static layout leaves the manifest-dependent outputs out
    paths = graph.layout_paths(layout)
    assert len(paths) == len(set(paths))
    static = graph.layout_paths(plan.layout(_path, findings=None, dynamic=False))
    assert set(paths) - set(static) == {p for p in paths if p.startswith("cluster_findings/")}


def test_without_outliers_or_finch_their_outputs_leave_everything():
    cfg = _config(outliers={})
    cfg["cluster"] = {k: v for k, v in cfg["cluster"].items() if k != "finch"}
    plan = graph.Plan(cfg)
    rules = {r for r, _ in plan.jobs(shard_keys=lambda ds: ["a" * 16], findings=lambda ds: False)}
    assert not rules & {"detect_outliers", "evaluate_outliers", "outlier_consensus", "plot_outliers",
                        "plot_outlier_gallery", "table_outliers", "plot_finch"}
    sec = plan.layout(_path, findings=lambda ds: False)[0]["sections"][0]
    assert "outliers" not in sec["figures"] and "finch" not in sec["figures"]


def test_a_stage_declared_once_reaches_targets_layout_and_jobs():
    new = graph.Stage("plot_extra", "section", methods="cluster", outputs={
        "png": graph.Show("per_method", "extra", "Clusters", "samples", "extra {method}")})
    plan = graph.Plan(_config(), stages=(*graph.STAGES, new))
    no = dict(findings=lambda ds: False)
    assert {m["method"] for r, k, m in plan.targets(**no) if r == "plot_extra"} == set(DEMO_CONFIG["cluster"])
    assert {j.wildcards["method"] for j in plan.jobs(shard_keys=lambda ds: [], **no) if j.rule == "plot_extra"} \
        == set(DEMO_CONFIG["cluster"])
    assert set(plan.layout(_path, **no)[0]["sections"][0]["per_method"]["extra"]) == set(DEMO_CONFIG["cluster"])
    assert graph.report_meta("plot_extra", "png", (new,))["labels"]["figure"] == "extra {method}"


# ---- the same through snakemake's own DAG ------------------------------------------------


def _jobs(text: str) -> list[dict]:
    """Every job of a ``snakemake -n`` listing: rule, input, output, benchmark."""
    jobs, cur = [], None
    for line in text.splitlines():
        m = re.match(r"^\s*(?:local)?(?:rule|checkpoint) (\w+):$", line)
        if m:
            cur = {"rule": m.group(1)}
            jobs.append(cur)
        elif cur is not None and (m := re.match(r"^\s+(input|output|benchmark): (.*)$", line)):
            cur[m.group(1)] = m.group(2).split(", ")
        elif not line.strip():
            cur = None
    return jobs


def _fake_manifest(work, ds, reader, findings):
    ids = [f"CXR/{i}.png" for i in range(12)]
    m = pd.DataFrame({"id": ids, "path": [f"x/{i}" for i in ids], "class": "CXR",
                      "sha256": [f"{i:064x}" for i in range(12)], "Effusion": ["1", "0"] * 6})
    params = {"reader": reader, "path": f"data/{ds}", "label_columns": ["class", "Effusion"]}
    if findings:
        params["multilabel"] = {"source": "Finding Labels", "findings": ["Effusion"]}
    # the checkpoint's outputs exist, so the DAG reads findings and shards from them
    io.write_table(work / f"results/{ds}/manifest.parquet", m, params=params)
    io.write_table(work / f"results/{ds}/skipped.tsv", pd.DataFrame(columns=["id", "path", "reason"]))
    io.write_table(work / f"results/{ds}/qa.parquet", pd.DataFrame({"id": pd.Series([], dtype=str)}))
    io.write_table(work / f"results/{ds}/shards.tsv", embed.plan_shards(m, 5))


def _dry_run(wf, work, cfg, findings):
    for d in cfg["datasets"].values():
        (work / d["path"]).mkdir(parents=True, exist_ok=True)
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    for ds, d in cfg["datasets"].items():
        _fake_manifest(work, ds, d["reader"], ds in findings)
    proc = snakemake(wf, work, "-n", "-R", "all", "summarize_run", "make_report")
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = _jobs(proc.stdout + proc.stderr)
    one = {j["rule"]: j for j in jobs if j["rule"] in ("all", "summarize_run", "make_report")}
    return jobs, one


@pytest.fixture(scope="module")
def wf(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("graph") / "wf")


def test_benchmark_list_is_exactly_the_dag(wf, tmp_path):
    """summarize_run reads the benchmark file of every job the run makes, and no other
    (a listed file no job makes would pull in a job the run does not need)."""
    jobs, one = _dry_run(wf, tmp_path, _text_config(), findings={"cxr"})
    made = {b for j in jobs if j["rule"] not in ("all", "summarize_run", "make_report") for b in j["benchmark"]}
    listed = {p for p in one["summarize_run"]["input"] if p.startswith("logs/benchmarks/")}
    assert listed == made
    assert {j["rule"] for j in jobs} >= {"cluster_findings", "zero_shot", "combine_features", "embed_shard"}
    # the text search: phrases embedded by the text-tower encoder only, read by its explorers
    # with the image embedding (whatever feature set the explorer maps)
    phrases = sorted(j["output"][0] for j in jobs if j["rule"] == "embed_phrases")
    assert phrases == ["results/cxr/biomedclip/phrases.npz", "results/sl/biomedclip/phrases.npz"]
    explorers = [j for j in jobs if j["rule"] == "make_explorer"]
    assert {j["output"][0].split("/")[3] for j in explorers} == {"image", "text", "image_text"}
    for j in explorers:
        ds = j["output"][0].split("/")[1]
        assert {f"results/{ds}/biomedclip/phrases.npz", f"results/{ds}/biomedclip/image.npz"} <= set(j["input"])
    # rule all asks for the report and every output the report shows
    assert set(one["make_report"]["input"]) <= set(one["all"]["input"]) | set(one["summarize_run"]["output"])


def test_new_output_declared_once_reaches_all_three(wf, tmp_path):
    """A rule and one Stage line: rule all, the report and the run summary all pick it up."""
    new = copy_workflow(tmp_path / "wf")
    src = new / "src/medembed/workflow/graph.py"
    text = src.read_text()
    anchor = '    Stage("make_explorer", "section", outputs={"explorer": Show("explorer")}),\n'
    assert anchor in text
    src.write_text(text.replace(anchor, anchor + '    Stage("plot_extra", "section", outputs={\n'
                                "        \"png\": _section(\"Maps\", \"reductions\", \"extra\", kind=\"extra\")}),\n"))
    with open(new / "rules/plot.smk", "a") as f:
        f.write('\n\nrule plot_extra:\n    input:\n        map=map_file,\n    output:\n'
                '        png=report(f"{ANALYSIS}/figures/extra.png", **report_output("plot_extra", "png")),\n'
                '    benchmark:\n        f"{BENCH}/plot_extra.tsv"\n    shell:\n        "touch {output.png}"\n')
    cfg = _config()
    cfg["datasets"] = {"cxr": {"reader": "folder", "path": "data/cxr", "label_name": "class"}}
    jobs, one = _dry_run(new, tmp_path / "work", cfg, findings=set())
    png = "results/cxr/efficientnet_lite0/image/figures/extra.png"
    assert png in one["all"]["input"]
    assert png in one["make_report"]["input"]
    assert "logs/benchmarks/cxr/efficientnet_lite0/image/plot_extra.tsv" in one["summarize_run"]["input"]

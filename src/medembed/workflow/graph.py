"""The workflow's job graph, declared once.

:data:`STAGES` lists every job the workflow runs, by rule, in flow order: at which scope
it runs (per dataset, shard, encoder, feature set or analysed section), over which methods,
under which condition, and which of its outputs a person reads, with where the report
shows them (:class:`Show`). Three things are derived from it, so they cannot disagree:

- ``rule all``'s targets (:meth:`Plan.targets`): every output listed in ``outputs``;
- the report page's layout and inputs (:meth:`Plan.layout`), and the ``snakemake --report``
  caption, category and labels of each output (:func:`report_meta`);
- the run summary's benchmark list (:meth:`Plan.jobs`): every job the run makes.

Paths stay with their producers: a :class:`Job` names a rule, an output key and the
wildcards; ``rules/common.smk`` turns them into paths through the rules themselves.
Pure Python, no snakemake: the declaration and its expansion are unit-tested.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from ..tl._issues import ISSUE_TYPES
from . import config as _config
from . import registry

#: Where a stage runs: per dataset, per embedding shard, per dataset x encoder (every
#: encoder), per feature set of every encoder, per feature set of an analysed encoder.
SCOPES = ("dataset", "shard", "encoder", "features", "section")

#: Report places: at dataset level ``tables`` / ``figures`` (scope ``dataset``) and
#: ``zero_shot`` (scope ``encoder``); in a section ``figures``, ``tables``, ``explorer``,
#: ``per_method`` (a figure per method) and ``issues`` (a gallery per issue type);
#: ``None``: a ``snakemake --report`` output only.
PLACES = ("figures", "tables", "zero_shot", "per_method", "issues", "explorer", None)


@dataclass(frozen=True)
class Show:
    """Where an output appears: its place and key in the report page (``kind``), and how
    ``snakemake --report`` files it (``category``, ``caption`` = ``report/<caption>.rst``,
    ``label``; no ``category``: not a report() output). ``method``: the one method (a key
    of ``config["plot"]``, e.g. ``color_by``) whose output a section-level place shows."""

    place: str | None
    kind: str = ""
    category: str | None = None
    caption: str | None = None
    label: str = ""
    method: str | None = None


@dataclass(frozen=True)
class Stage:
    """One rule's jobs: ``scope`` (see :data:`SCOPES`), ``methods`` (a list of
    :meth:`Plan.methods`, one job per method), ``when`` (a condition of
    :meth:`Plan.holds`), ``outputs`` (output key -> :class:`Show`, or ``None`` for a
    target the report does not show)."""

    rule: str
    scope: str
    methods: str | None = None
    when: str | None = None
    outputs: Mapping[str, Show | None] = field(default_factory=dict)


class Job(NamedTuple):
    rule: str
    wildcards: dict


def _section(category, caption, label, kind=None, place="figures"):
    return Show(place, kind or caption, category, caption, label)


STAGES: tuple[Stage, ...] = (
    # data
    Stage("download_dataset", "dataset", when="download"),
    Stage("make_manifest", "dataset"),
    Stage("plan_shards", "dataset"),
    Stage("make_thumbnails", "dataset"),
    # embeddings
    Stage("embed_shard", "shard"),
    Stage("embed_images", "encoder"),
    Stage("embed_texts", "encoder", when="texts"),
    Stage("combine_features", "encoder", when="image_text"),
    Stage("embed_phrases", "encoder", when="phrases"),
    Stage("zero_shot", "encoder", when="zero_shot", outputs={
        "accuracy": Show("zero_shot", "zero_shot", "Zero-shot", "zero_shot", "zero-shot accuracy")}),
    # every encoder: the shared graph, the default map and the probes it is compared by
    Stage("build_knn", "features"),
    Stage("probe_embedding", "features"),
    Stage("compute_pca", "features", when="pca"),
    Stage("reduce", "features", methods="maps"),
    Stage("evaluate_reduction", "features", methods="maps"),
    Stage("compare_encoders", "dataset", outputs={
        "table": Show("tables", "encoders", "Embeddings", "encoders", "encoder comparison"),
        "png": Show("figures", "encoders", "Embeddings", "encoders", "encoder comparison")}),
    # analysed encoders: clusters, outliers, metrics
    Stage("cluster", "section", methods="cluster"),
    Stage("cluster_stability", "section", methods="stable"),
    Stage("detect_outliers", "section", methods="outliers"),
    Stage("evaluate_clustering", "section"),
    Stage("evaluate_outliers", "section", when="outliers"),
    Stage("gather_metrics", "section", outputs={
        "table": Show(None, category="Metrics", caption="metrics", label="metrics (TSV)")}),
    Stage("outlier_consensus", "section", when="outliers", outputs={
        "top": Show(None, category="Outliers", caption="outliers_top", label="consensus top (TSV)")}),
    Stage("find_duplicates", "section", outputs={"summary": None}),
    Stage("find_issues", "section", outputs={
        "issues": Show("tables", "issues"), "summary": Show("tables", "issues_summary")}),
    Stage("cluster_findings", "section", methods="cluster", when="findings", outputs={
        "png": _section("Clusters", "findings", "findings {method}", place="per_method"),
        "table": Show("tables", "findings", method="color_by")}),
    Stage("cluster_cards", "section", methods="cards", outputs={
        "png": _section("Clusters", "cards", "cards {method}", place="per_method"),
        "table": Show("tables", "cards", method="color_by"),
        "enrichment": None}),
    # figures and tables of the report
    Stage("plot_cluster_maps", "section", outputs={
        "png": _section("Clusters", "clusters", "clusterings on the map")}),
    Stage("plot_cluster_details", "section", methods="cluster", outputs={
        "samples": _section("Clusters", "samples", "samples {method}", place="per_method"),
        "contingency": _section("Clusters", "contingency", "contingency {method}", place="per_method")}),
    Stage("plot_reductions", "section", outputs={
        "png": _section("Maps", "reductions", "maps by labels")}),
    Stage("plot_outliers", "section", when="outliers", outputs={
        "png": _section("Outliers", "outliers", "detectors on the map")}),
    Stage("plot_outlier_gallery", "section", when="outliers", outputs={
        "png": _section("Outliers", "outlier_gallery", "outlier gallery")}),
    Stage("plot_duplicates", "section", outputs={
        "png": _section("Duplicates", "duplicates", "near-duplicate sets")}),
    Stage("plot_metrics", "section", outputs={
        "png": _section("Metrics", "metrics_heatmap", "metrics heatmap", kind="metrics")}),
    Stage("plot_finch", "section", when="finch", outputs={
        "png": _section("Hierarchy", "finch", "FINCH partitions")}),
    Stage("plot_tree", "section", methods="trees", outputs={
        "png": _section("Hierarchy", "tree", "tree {method}", kind="trees", place="per_method")}),
    Stage("table_metrics", "section", outputs={
        "html": _section("Metrics", "metrics", "metrics table", place="tables")}),
    Stage("table_outliers", "section", when="outliers", outputs={
        "html": _section("Outliers", "outliers_top", "consensus table", kind="outliers", place="tables")}),
    Stage("table_duplicates", "section", outputs={
        "html": _section("Duplicates", "duplicates", "near-duplicate table", place="tables")}),
    Stage("plot_issues", "section", outputs={
        kind: _section("Issues", "issues", kind.replace("_", " "), kind=kind, place="issues")
        for kind in ISSUE_TYPES}),
    Stage("make_explorer", "section", outputs={"explorer": Show("explorer")}),
)

#: Conditions that read a dataset's manifest (known once the shard-plan checkpoint ran).
DYNAMIC = frozenset({"findings"})

_WILDCARDS = {
    "dataset": ("dataset",),
    "shard": ("dataset", "encoder"),
    "encoder": ("dataset", "encoder"),
    "features": ("dataset", "encoder", "features"),
    "section": ("dataset", "encoder", "features"),
}


def stage(rule: str, stages: tuple[Stage, ...] = STAGES) -> Stage:
    """The declared stage of ``rule`` (KeyError naming the rule if it is not declared)."""
    for s in stages:
        if s.rule == rule:
            return s
    raise KeyError(f"rule {rule!r} is not declared in medembed.workflow.graph.STAGES")


def report_meta(rule: str, key: str, stages: tuple[Stage, ...] = STAGES) -> dict:
    """``report()`` keyword arguments of output ``key`` of ``rule``: caption, category,
    subcategory and labels, from the declaration (captions relative to ``rules/``)."""
    show = stage(rule, stages).outputs.get(key)
    if show is None or show.category is None:
        raise KeyError(f"output {key!r} of rule {rule!r} is not declared as a report output")
    scope = stage(rule, stages).scope
    labels = {w: "{" + w + "}" for w in _WILDCARDS[scope] if scope != "shard"}
    labels["figure"] = show.label
    return {"caption": f"../report/{show.caption}.rst", "category": show.category,
            "subcategory": "{dataset}", "labels": labels}


class Plan:
    """The declaration expanded over one config: which jobs run with which wildcards.

    ``shard_keys(dataset)`` and ``findings(dataset)`` read the shard plan and the
    manifest; the workflow passes functions that go through its checkpoint.
    """

    def __init__(self, config: Mapping, stages: tuple[Stage, ...] = STAGES):
        self.config, self.stages = config, stages
        self.datasets = sorted(config["datasets"])
        self.encoders = _config.encoders(config)
        self.analysed = [e for e, c in self.encoders.items() if c.get("analysis", "full") == "full"]
        self.features_of = {
            (ds, enc): [f for f in config["features"] if f == "image" or self.has_texts(ds, enc)]
            for ds in self.datasets for enc in self.encoders
        }
        cluster = list(config["cluster"])
        plot = config.get("plot") or {}
        stable = config["stability"]["methods"]
        self._methods = {
            "reduce": list(config["reduce"]),
            "cluster": cluster,
            "outliers": list(config.get("outliers") or {}),
            "trees": [m for m in cluster if m in registry.HIERARCHICAL],
            "stable": cluster if stable == "all" else [m for m in stable if m in cluster],
            # the colouring clustering, then those plot.cards lists
            "cards": [m for m in dict.fromkeys([plot.get("color_by"), *(plot.get("cards") or [])]) if m in cluster],
        }

    # ---- facts the rules read ------------------------------------------------------

    def has_text_tower(self, encoder: str) -> bool:
        return self.encoders[encoder]["name"] in registry.ENCODERS_WITH_TEXT

    def has_texts(self, dataset: str, encoder: str) -> bool:
        """QA texts exist (slake reader) and the encoder can embed them."""
        return self.has_text_tower(encoder) and self.config["datasets"][dataset]["reader"] == "slake"

    def methods(self, name: str, encoder: str | None = None) -> list[str]:
        """A method list: ``reduce``, ``cluster``, ``outliers``, ``trees`` (hierarchical
        clusterers), ``stable`` (stability runs), ``cards`` (clusterings with cluster cards:
        ``plot.color_by``, then ``plot.cards``); ``maps``: every map of an analysed
        encoder, the default map of a compared one."""
        if name == "maps":
            return self._methods["reduce"] if encoder in self.analysed else [self.config["plot"]["map"]]
        return self._methods[name]

    def holds(self, when: str, dataset: str, encoder: str | None = None, features: str | None = None,
              *, findings: Callable[[str], bool]) -> bool:
        """Condition ``when`` of a stage at these wildcards."""
        cfg = self.config
        zero_shot = bool(cfg.get("zero_shot"))
        if when == "download":
            return "download" in cfg["datasets"][dataset]
        if when == "findings":
            return bool(findings(dataset))
        if when == "outliers":
            return bool(self._methods["outliers"])
        if when == "finch":
            return "finch" in self._methods["cluster"]
        if when == "zero_shot":
            return zero_shot and self.has_text_tower(encoder)
        if when == "phrases":  # the explorer's text search (explorers: analysed encoders only)
            return bool(cfg.get("phrases")) and self.has_text_tower(encoder) and encoder in self.analysed
        feats = self.features_of[(dataset, encoder)]
        if when == "texts":
            return bool(set(feats) - {"image"}) or (zero_shot and self.has_texts(dataset, encoder))
        if when == "image_text":
            return "image_text" in feats
        if when == "pca":
            pca = set(cfg["pca"]["methods"])
            if encoder not in self.analysed:
                return cfg["plot"]["map"] in pca
            return bool(pca & {m for k in ("reduce", "cluster", "outliers") for m in self._methods[k]})
        raise ValueError(f"unknown stage condition {when!r}")

    # ---- the expansion -------------------------------------------------------------

    def _places(self, scope: str, shard_keys) -> Iterator[dict]:
        for ds in self.datasets:
            if scope == "dataset":
                yield {"dataset": ds}
                continue
            for enc in self.encoders if scope != "section" else self.analysed:
                if scope == "encoder":
                    yield {"dataset": ds, "encoder": enc}
                elif scope == "shard":
                    for key in shard_keys(ds):
                        yield {"dataset": ds, "encoder": enc, "shard": key}
                else:
                    for feat in self.features_of[(ds, enc)]:
                        yield {"dataset": ds, "encoder": enc, "features": feat}

    def _stage_jobs(self, st: Stage, *, shard_keys, findings) -> Iterator[Job]:
        if st.scope not in SCOPES:
            raise ValueError(f"stage {st.rule}: unknown scope {st.scope!r}")
        for wc in self._places(st.scope, shard_keys):
            if st.when and not self.holds(st.when, wc["dataset"], wc.get("encoder"),
                                          wc.get("features"), findings=findings):
                continue
            if st.methods is None:
                yield Job(st.rule, wc)
            else:
                for m in self.methods(st.methods, wc.get("encoder")):
                    yield Job(st.rule, {**wc, "method": m})

    def _selected(self, dynamic: bool | None) -> list[Stage]:
        """The stages: all (``None``), those known before any job ran (``False``) or those
        that wait for a manifest (``True``)."""
        return [s for s in self.stages if dynamic is None or (s.when in DYNAMIC) == dynamic]

    def jobs(self, *, shard_keys: Callable[[str], list], findings: Callable[[str], bool]) -> list[Job]:
        """Every job the run makes (the run summary reads their benchmark files)."""
        return [j for s in self.stages for j in self._stage_jobs(s, shard_keys=shard_keys, findings=findings)]

    def targets(self, *, findings: Callable[[str], bool], dynamic: bool | None = None) -> list[tuple[str, str, dict]]:
        """``(rule, output key, wildcards)`` of every output a person reads (rule all)."""
        out = []
        for s in self._selected(dynamic):
            if not s.outputs:
                continue
            for job in self._stage_jobs(s, shard_keys=_no_shards, findings=findings):
                out += [(s.rule, key, job.wildcards) for key in s.outputs]
        return out

    def layout(self, path: Callable[[str, str, dict], str], *, findings: Callable[[str], bool],
               dynamic: bool = True) -> list[dict]:
        """The report page's layout (see ``medembed.report.write_report``): per dataset its
        tables, figures, zero-shot tables and one section per analysed encoder x feature
        set. ``path(rule, key, wildcards)`` gives a file; ``dynamic=False`` leaves out the
        outputs that wait for a manifest."""
        layout, sections = [], {}
        for ds in self.datasets:
            d = {"name": ds, "tables": {}, "figures": {}, "zero_shot": {}, "sections": []}
            layout.append(d)
            for enc in self.analysed:
                for feat in self.features_of[(ds, enc)]:
                    s = {"encoder": enc, "features": feat, "figures": {}, "tables": {}, "per_method": {},
                         "issues": {}}
                    d["sections"].append(s)
                    sections[(ds, enc, feat)] = s
        by_name = {d["name"]: d for d in layout}
        plot = self.config.get("plot", {})
        for st in self._selected(None if dynamic else False):
            shown = {k: v for k, v in st.outputs.items() if v is not None and v.place is not None}
            if not shown:
                continue
            for job in self._stage_jobs(st, shard_keys=_no_shards, findings=findings):
                wc = job.wildcards
                for key, show in shown.items():
                    if show.method and wc.get("method") != plot.get(show.method):
                        continue
                    p = path(st.rule, key, wc)
                    if st.scope == "dataset":
                        by_name[wc["dataset"]][show.place][show.kind] = p
                    elif show.place == "zero_shot":
                        by_name[wc["dataset"]]["zero_shot"][wc["encoder"]] = p
                    else:
                        sec = sections[(wc["dataset"], wc["encoder"], wc["features"])]
                        if show.place == "explorer":
                            sec["explorer"] = p
                        elif show.place == "per_method":
                            sec["per_method"].setdefault(show.kind, {})[wc["method"]] = p
                        else:
                            sec[show.place][show.kind] = p
        return layout


def _no_shards(dataset: str) -> list:
    raise AssertionError("shard-scoped stages have no outputs a person reads")


def layout_paths(node) -> list[str]:
    """Every file of a :meth:`Plan.layout` (its nested dicts and lists), in order."""
    if isinstance(node, dict):
        return [p for k, v in node.items() if k not in ("name", "encoder", "features") for p in layout_paths(v)]
    if isinstance(node, list):
        return [p for v in node for p in layout_paths(v)]
    return [node] if isinstance(node, str) else []

import functools
import json
import sys
from pathlib import Path

from snakemake.utils import validate

# The workflow machinery (medembed.workflow) is dependency-free: read it without importing
# the heavy package. io needs only numpy and pandas, which snakemake has already imported
# (8 ms more at parse time).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from medembed import io as medembed_io  # noqa: E402
from medembed.embed import _phrases as medembed_phrases  # noqa: E402
from medembed.workflow import config as medembed_config  # noqa: E402
from medembed.workflow import fsstate, graph, jobsize, registry  # noqa: E402

# One clear line naming the key for a bad value, then snakemake's own validation,
# which also fills in the defaults.
medembed_config.check_schema(config, Path(workflow.basedir) / "config" / "schema.yaml")
medembed_config.check_raw(config)
# The download keys each dataset's config names (before the schema fills in SLAKE's
# defaults, which a table download must not inherit).
DOWNLOAD_KEYS = {
    name: set(ds.get("download") or {}) for name, ds in config["datasets"].items()
}
validate(config, schema="../config/schema.yaml")
medembed_config.check_consistency(config)

# The job graph, declared once (medembed.workflow.graph.STAGES) and expanded over this config:
# rule all's targets, the report's layout and the run summary's benchmark list.
PLAN = graph.Plan(config)
# Encoders by id (the {encoder} wildcard): `encoder:` is the one-entry form of `encoders:`.
ENCODERS = PLAN.encoders
SCRIPTS = Path(workflow.basedir) / "scripts"
DATASETS = PLAN.datasets
FEATURES = config["features"]
# Encoders analysed in full (the others only enter the encoder comparison).
ANALYSED = PLAN.analysed
# Feature sets per dataset and encoder: text-based sets only where texts can be embedded.
FEATURES_OF = PLAN.features_of
REDUCE = PLAN.methods("reduce")
CLUSTER = PLAN.methods("cluster")
OUTLIERS = PLAN.methods("outliers")
# The detectors the consensus weighs: configured and validated (registry.CONSENSUS_OUTLIERS).
CONSENSUS = medembed_config.consensus_detectors(config)
TREES = PLAN.methods("trees")
STABLE = PLAN.methods("stable")
# Clusterings with cluster cards: plot.color_by, then plot.cards (rules/cards.smk).
CARDS = PLAN.methods("cards")
ISSUE_TYPES = graph.ISSUE_TYPES


# Prefix of every analysis result: one folder per dataset, encoder and feature set.
ANALYSIS = "results/{dataset}/{encoder}/{features}"
LOGS = "logs/{dataset}/{encoder}/{features}"
BENCH = "logs/benchmarks/{dataset}/{encoder}/{features}"


wildcard_constraints:
    dataset="|".join(DATASETS),
    encoder="|".join(ENCODERS),
    features="|".join(FEATURES),
    shard="[0-9a-f]{16}",


def phrase_file(path):
    """The phrase file of config key ``phrases``: a relative path is looked up in the
    working directory, then in the workflow's folder (where config/phrases.txt ships).
    """
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    shipped = Path(workflow.basedir) / p
    return shipped if shipped.exists() else p


# The explorer's search texts, embedded by embed_phrases: the phrase file plus every zero-shot
# prompt, read once here. A param of the job, so editing the file reruns it.
PHRASE_TEXTS = (
    medembed_phrases.search_texts(
        medembed_phrases.read_phrases(phrase_file(config["phrases"])),
        config.get("zero_shot"),
    )
    if config.get("phrases")
    else []
)


def science_config():
    """The config without runtime keys: what the run summary shows as its producer."""
    return medembed_config.science_config(config)


def method_params(stage):
    """Params: the job's own slice of the config, without its runtime keys (tracked)."""

    def _params(wildcards):
        return registry.split_runtime("method", config[stage][wildcards.method])[0]

    return _params


def method_settings(stage):
    """Resource ``settings``: the method's runtime keys (device, progress) as JSON.

    Resources, unlike params, do not trigger reruns: these keys change how a job runs,
    not what it computes (see registry.RUNTIME_KEYS and config/README.md).
    """

    def _settings(wildcards):
        return json.dumps(
            registry.split_runtime("method", config[stage][wildcards.method])[1]
        )

    return _settings


def code(script, stage=None, name=None):
    """Param ``code``: hash of ``script`` and every package module it imports.

    With ``stage``, the module registered for the job's method (``name(wildcards)``,
    default the ``{method}`` wildcard) is hashed too: the registry loads it by name.
    """
    path = SCRIPTS / script
    if stage is None:
        return registry.code_version(path)
    name = name or (lambda wildcards: wildcards.method)
    return lambda wildcards: registry.code_version(path, stage, name(wildcards))


def reader_of(wildcards):
    return config["datasets"][wildcards.dataset]["reader"]


def encoder_params(wildcards):
    """Params: what defines the encoder's output (name and model parameters)."""
    cfg = ENCODERS[wildcards.encoder]
    return {
        "name": cfg["name"],
        "params": registry.split_runtime("encoder.params", cfg.get("params"))[0],
    }


def encoder_settings(wildcards):
    """Resource ``settings``: batch size, device and model location (no rerun)."""
    cfg = ENCODERS[wildcards.encoder]
    runtime = registry.split_runtime("encoder", cfg)[1]
    runtime.update(registry.split_runtime("encoder.params", cfg.get("params"))[1])
    return json.dumps(runtime)


def encoder_gpu(wildcards):
    return gpu_request(ENCODERS[wildcards.encoder].get("device", "auto"))


def encoder_name(wildcards):
    """The registry name of the job's encoder (its id may differ)."""
    return ENCODERS[wildcards.encoder]["name"]


def has_phrases(wildcards):
    """Search phrases are embedded for this dataset and encoder (rule embed_phrases)."""
    return PLAN.holds("phrases", wildcards.dataset, wildcards.encoder, findings=None)


def explorer_search(wildcards):
    """make_explorer's (and cluster_cards') search inputs: the phrase vectors and the image embedding they are
    compared with (the image one, whatever feature set is explored); none without phrases.
    """
    if not has_phrases(wildcards):
        return {}
    return {
        "phrases": rules.embed_phrases.output.phrases.format(**wildcards),
        "image": rules.embed_images.output.emb.format(**wildcards),
    }


def text_settings(wildcards):
    """Resource ``settings`` of embed_texts: the encoder's plus the text batch size."""
    runtime = json.loads(encoder_settings(wildcards))
    texts = registry.split_runtime("texts", config["texts"])[1]
    if "batch_size" in texts:
        runtime["text_batch_size"] = texts["batch_size"]
    return json.dumps(runtime)


def gpu_request(device):
    """GPUs a job asks for: 1 when the device is pinned to CUDA, else 0 (CPU clusters).

    Maps to sbatch --gpus through the SLURM executor and to local ``--resources gpu=N``.
    ``auto`` asks for none: it uses a GPU only where the job happens to land on one.
    """
    return 1 if str(device).startswith("cuda") else 0


def method_gpu(stage):
    def _gpu(wildcards):
        return gpu_request(
            (config[stage][wildcards.method] or {}).get("device", "auto")
        )

    return _gpu


def sized_threads(most):
    """Threads: one per 4,096 rows of the job's features, 1 to ``most`` (medembed.workflow.jobsize).

    Re-evaluated when the job starts, once its features exist: small jobs then take one
    core each and run side by side instead of one at a time.
    """
    return lambda wildcards, input: jobsize.threads_for(
        jobsize.n_rows(input.features), most
    )


def scaled_mem(base_mb, factor):
    """Resource ``mem_mb``: at least ``base_mb``, or ``factor`` x the job's input size."""
    return lambda wildcards, input: int(max(base_mb, factor * input.size_mb))


def shard_plan(path):
    """The shard plan TSV that plan_shards writes, read by medembed.io (keys stay text)."""
    return medembed_io.read_table(path)


def shard_runtime(wildcards, input):
    """Minutes for one embedding shard: 10 plus 1 per 100 images (CPU: ~2-20 images/s)."""
    plan = shard_plan(input.plan)
    n = plan.loc[plan["shard"] == wildcards.shard, "n_images"]
    return 10 + int(n.iloc[0]) // 100 if len(n) else 120


def image_shards(wildcards):
    """Input of embed_images: every shard's embedding (the plan is a checkpoint)."""
    return expand(
        rules.embed_shard.output.emb,
        dataset=wildcards.dataset,
        encoder=wildcards.encoder,
        shard=shard_keys(wildcards.dataset),
    )


def supervision_column(wildcards):
    """The label column a semi-supervised clusterer learns from (None for the others)."""
    if wildcards.method not in registry.SEMI_SUPERVISED:
        return None
    ds = config["datasets"][wildcards.dataset]
    default = {
        "slake": "modality",
        "folder": ds.get("label_name"),
        "table": next(iter(ds.get("labels") or []), None),
    }[ds["reader"]]
    return ds.get("supervision_label", default)


def anomaly_params(wildcards):
    """The dataset's known-anomaly definition, or None."""
    return config["datasets"][wildcards.dataset].get("anomaly")


def dataset_params(wildcards):
    """Reader settings; a downloaded dataset is read from where download_dataset put it."""
    params = dict(config["datasets"][wildcards.dataset])
    params.pop("supervision_label", None)
    params.pop("anomaly", None)
    reader = params["reader"]
    if reader != "table":
        for key in medembed_config.TABLE_KEYS:
            params.pop(key, None)
    if params.pop("download", None) is not None:
        params["path"] = rules.download_dataset.output.dataset.format(**wildcards)
        if reader == "table":  # what fetch_hub_table writes
            params["table"] = str(Path(params["path"]) / "table.parquet")
            params["root"] = params["path"]
            params["split_column"] = params.get("split_column") or "split"
    return params


def folder_state(wildcards):
    """Param of make_manifest: what the image folder holds (paths, sizes, mtimes).

    Adding, removing or rewriting an image reruns the manifest; the content-keyed
    shards then re-embed only the images that changed. Downloaded datasets are tracked
    through their directory instead.
    """
    ds = config["datasets"][wildcards.dataset]
    if "download" in ds:
        return None
    if ds["reader"] == "table":
        return fsstate.tree_signature(
            ds.get("root") or ds.get("path") or Path(ds["table"]).parent
        )
    return fsstate.tree_signature(ds["path"])


def table_file(wildcards):
    """The label table of a table dataset on disk (an input: editing it reruns the manifest)."""
    ds = config["datasets"][wildcards.dataset]
    return ds["table"] if ds["reader"] == "table" and "download" not in ds else []


def download_config(dataset):
    """The dataset's download keys; a table download keeps only the keys its config names
    (the schema's defaults describe SLAKE) and never SLAKE's expected counts; SLAKE's
    never gets the table download's keys."""
    download = dict(config["datasets"][dataset]["download"])
    if config["datasets"][dataset]["reader"] == "table":
        named = DOWNLOAD_KEYS[dataset] - set(medembed_config.SLAKE_DOWNLOAD_KEYS)
        return {k: v for k, v in download.items() if k in named}
    return {
        k: v
        for k, v in download.items()
        if k not in medembed_config.TABLE_DOWNLOAD_KEYS
    }


def download_params(wildcards):
    return registry.split_runtime("download", download_config(wildcards.dataset))[0]


def download_settings(wildcards):
    """Resource ``settings``: timeout, expected counts, lock-file location (no rerun)."""
    return json.dumps(
        registry.split_runtime("download", download_config(wildcards.dataset))[1]
    )


def dataset_dir(wildcards):
    """The downloaded dataset directory, when the dataset is fetched by the workflow."""
    if "download" in config["datasets"][wildcards.dataset]:
        return rules.download_dataset.output.dataset.format(**wildcards)
    return []


def features_file(wildcards):
    """The feature matrix a feature set is read from (produced by embed_* or combine)."""
    return "results/{dataset}/{encoder}/{features}.npz".format(**wildcards)


def method_inputs(wildcards):
    """A method's inputs: its features (PCA ones if configured), the shared graph if it uses it."""
    if wildcards.method in config["pca"]["methods"]:
        inputs = {"features": rules.compute_pca.output.pca.format(**wildcards)}
    else:
        inputs = {"features": features_file(wildcards)}
    if wildcards.method in registry.USES_KNN:
        inputs["knn"] = rules.build_knn.output.knn.format(**wildcards)
    return inputs


def outlier_inputs(wildcards):
    """Method inputs, plus the cluster table for outlier methods that read noise points,
    and the fitted mixture of ``gmm`` for ``gmm_density`` (one BIC selection, as in Malheiros, n.d.).
    """
    inputs = method_inputs(wildcards)
    src = registry.OUTLIERS_FROM_CLUSTER.get(wildcards.method)
    if src is not None:
        inputs["clusters"] = analysis_expand(
            rules.cluster.output.labels, wildcards, method=src
        )[0]
    model = registry.OUTLIERS_FROM_MODEL.get(wildcards.method)
    pca_methods = config["pca"]["methods"]
    if model in CLUSTER and (model in pca_methods) == (wildcards.method in pca_methods):
        inputs["mixture"] = analysis_expand(
            rules.cluster.output.model, wildcards, method=model
        )[0]
    return inputs


def analysis_expand(pattern, wildcards, **kw):
    return expand(
        pattern,
        dataset=wildcards.dataset,
        encoder=wildcards.encoder,
        features=wildcards.features,
        **kw,
    )


def all_clusterings(wildcards):
    return analysis_expand(rules.cluster.output.labels, wildcards, method=CLUSTER)


def all_reductions(wildcards):
    return analysis_expand(rules.reduce.output.emb, wildcards, method=REDUCE)


def all_outliers(wildcards):
    return analysis_expand(
        rules.detect_outliers.output.scores, wildcards, method=OUTLIERS
    )


def consensus_outliers(wildcards):
    """The score tables of the detectors the consensus weighs (``CONSENSUS``)."""
    return analysis_expand(
        rules.detect_outliers.output.scores, wildcards, method=CONSENSUS
    )


def issue_inputs(wildcards):
    """find_issues' optional inputs: the outlier consensus and the detectors it weighs."""
    if not OUTLIERS:
        return {}
    return {
        "consensus": analysis_expand(rules.outlier_consensus.output.table, wildcards)[
            0
        ],
        "scores": consensus_outliers(wildcards),
    }


def all_metrics(wildcards):
    """Every clustering's, map's and outlier detector's metrics table."""
    return (
        analysis_expand(rules.evaluate_clustering.output.metrics, wildcards)
        + analysis_expand(
            rules.evaluate_reduction.output.metrics, wildcards, method=REDUCE
        )
        + (
            analysis_expand(rules.evaluate_outliers.output.metrics, wildcards)
            if OUTLIERS
            else []
        )
        + analysis_expand(
            rules.cluster_stability.output.metrics, wildcards, method=STABLE
        )
    )


def map_file(wildcards):
    return analysis_expand(
        rules.reduce.output.emb, wildcards, method=config["plot"]["map"]
    )[0]


def map_metrics_file(wildcards):
    """The metrics of the default map (its trustworthiness goes into the comparison)."""
    return analysis_expand(
        rules.evaluate_reduction.output.metrics, wildcards, method=config["plot"]["map"]
    )[0]


def color_clustering(wildcards):
    return analysis_expand(
        rules.cluster.output.labels, wildcards, method=config["plot"]["color_by"]
    )[0]


def probe_outputs(wildcards, name):
    """One output (``name``) of every encoder's probe of one dataset, encoders in order."""
    return [
        getattr(rules.probe_embedding.output, name).format(
            dataset=wildcards.dataset, encoder=enc, features=feat
        )
        for enc in ENCODERS
        for feat in FEATURES_OF[(wildcards.dataset, enc)]
    ]


def probe_tables(wildcards):
    """Every encoder's probe table of one dataset (the comparison's input)."""
    return probe_outputs(wildcards, "table")


def probe_outcomes(wildcards):
    """Every encoder's per-image probe outcomes, in the order of :func:`probe_tables`."""
    return probe_outputs(wildcards, "outcomes")


# ---- cluster cards (rules/cards.smk) ---------------------------------------------------


def card_inputs(wildcards):
    """cluster_cards' optional inputs: the clustering's stability (when it is measured),
    and the phrase vectors plus the image embedding of the zero-shot names (when the
    encoder's phrases are embedded, see explorer_search)."""
    inputs = dict(explorer_search(wildcards))
    if wildcards.method in STABLE:
        inputs["stability"] = rules.cluster_stability.output.metrics.format(**wildcards)
    return inputs


def card_tables(wildcards):
    """Every cards table of a section (the map writes their names)."""
    return analysis_expand(rules.cluster_cards.output.table, wildcards, method=CARDS)


# ---- multi-label findings (rules/findings.smk) ----------------------------------------


def dataset_findings(dataset):
    """The finding columns of a dataset's manifest (its param ``multilabel``), [] without.

    Read from the manifest itself, so a dataset gets findings jobs exactly when its
    reader wrote findings. Only inside input (or params) functions: the manifest is known
    to exist once plan_shards, a checkpoint that reads it, has run.
    """
    checkpoints.plan_shards.get(dataset=dataset)
    return _manifest_findings(
        rules.make_manifest.output.manifest.format(dataset=dataset)
    )


@functools.lru_cache(maxsize=None)
def _findings_at(path, mtime):
    from medembed.io import read_table_params
    from medembed.tl._enrichment import finding_columns

    return tuple(finding_columns(read_table_params(path)))


def _manifest_findings(path):
    return list(_findings_at(path, Path(path).stat().st_mtime_ns))


# ---- the report (rules/plot.smk, rules/report.smk) --------------------------------------


def finch_labels(wildcards):
    """FINCH's cluster table (every level) of the job's dataset, encoder and feature set."""
    return analysis_expand(rules.cluster.output.labels, wildcards, method="finch")[0]


def has_findings(dataset):
    return bool(dataset_findings(dataset))


def output_path(rule, key, wildcards):
    """The file of output ``key`` of ``rule`` at ``wildcards`` (the rule owns the path)."""
    return expand(getattr(rules, rule).output[key], **wildcards)[0]


def targets(dynamic):
    """Rule all's targets: every output the declaration lists. ``dynamic``: only those
    that wait for a manifest (an input function), else only those known at parse time.
    """
    return [
        output_path(rule, key, wc)
        for rule, key, wc in PLAN.targets(findings=has_findings, dynamic=dynamic)
    ]


def report_layout(wildcards=None):
    """What make_report shows (its ``layout`` param): one structure gives its inputs too
    (:func:`report_files`), so a method removed from the config leaves the report with it.
    Reads the manifests (findings): from an input or params function only."""
    return PLAN.layout(output_path, findings=has_findings)


def report_files(wildcards):
    """make_report's input: every figure, table and explorer of :func:`report_layout`."""
    return graph.layout_paths(report_layout())


def shard_keys(dataset):
    """The shard keys of a dataset (plan_shards is a checkpoint)."""
    plan = checkpoints.plan_shards.get(dataset=dataset).output.plan
    return shard_plan(plan)["shard"].tolist()


def benchmark_inputs(wildcards):
    """Named inputs of summarize_run (``bench_<rule>``): the benchmark file of every job
    of the declaration (each job the run makes, and only those)."""
    out = {}
    for rule, wc in PLAN.jobs(shard_keys=shard_keys, findings=has_findings):
        bench = expand(getattr(rules, rule).benchmark, **wc)
        out.setdefault(f"bench_{rule}", []).extend(bench)
    return out


def report_output(rule, key):
    """``report()`` arguments of an output (caption, category, labels): declared once."""
    return graph.report_meta(rule, key)


def encoder_feature_files():
    """{dataset: {encoder: image features}}: summarize_run reads each encoder's dimension."""
    return {
        ds: {
            enc: expand(rules.embed_images.output.emb, dataset=ds, encoder=enc)[0]
            for enc in ENCODERS
        }
        for ds in DATASETS
    }


def caption_texts():
    """{kind: text} of every report/<kind>.rst: the captions make_report renders (as a
    param, so editing a caption rewrites the report)."""
    folder = Path(workflow.basedir) / "report"
    return {p.stem: p.read_text() for p in sorted(folder.glob("*.rst"))}


def quality_file(wildcards):
    """The dataset's pixel-quality measures (made in the thumbnail pass, rules/explore.smk)."""
    return rules.make_thumbnails.output.quality.format(dataset=wildcards.dataset)


def thumbnails_dir(wildcards):
    """The dataset's shared thumbnails (rules/explore.smk is included after the plots)."""
    return rules.make_thumbnails.output.thumbnails.format(dataset=wildcards.dataset)

import sys
from pathlib import Path

from snakemake.utils import validate

# The registry is dependency-free: read it without importing the heavy package.
sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from medembed import config as medembed_config  # noqa: E402
from medembed import registry  # noqa: E402

# One clear line naming the key for a bad value, then snakemake's own validation,
# which also fills in the defaults.
medembed_config.check_schema(config, Path(workflow.basedir) / "config" / "schema.yaml")
validate(config, schema="../config/schema.yaml")
medembed_config.check_consistency(config)

ENCODER = config["encoder"]["name"]
DATASETS = sorted(config["datasets"])
FEATURES = config["features"]
HAS_TEXT_TOWER = ENCODER in registry.ENCODERS_WITH_TEXT


def has_texts(dataset):
    """QA texts exist (slake reader) and the encoder can embed them."""
    return HAS_TEXT_TOWER and config["datasets"][dataset]["reader"] == "slake"


# Feature sets per dataset: text-based sets only where texts can be embedded.
FEATURES_OF = {
    ds: [f for f in FEATURES if f == "image" or has_texts(ds)] for ds in DATASETS
}
REDUCE = list(config["reduce"])
CLUSTER = list(config["cluster"])
OUTLIERS = list(config.get("outliers", {}))
TREES = [m for m in CLUSTER if m in registry.HIERARCHICAL]

# Prefix of every analysis result: one folder per dataset, encoder and feature set.
ANALYSIS = "results/{dataset}/{encoder}/{features}"
LOGS = "logs/{dataset}/{encoder}/{features}"
BENCH = "logs/benchmarks/{dataset}/{encoder}/{features}"


wildcard_constraints:
    dataset="|".join(DATASETS),
    encoder=ENCODER,
    features="|".join(FEATURES),


def method_params(stage):
    """Input function: the job's own slice of the config (tracked by snakemake)."""

    def _params(wildcards):
        return dict(config[stage][wildcards.method] or {})

    return _params


def code_version(stage):
    """Input function: hash of the source implementing the method, so code edits rerun it."""

    def _version(wildcards):
        return registry.code_version(stage, wildcards.method)

    return _version


def supervision_column(wildcards):
    """The label column a semi-supervised clusterer learns from (None for the others)."""
    if wildcards.method not in registry.SEMI_SUPERVISED:
        return None
    ds = config["datasets"][wildcards.dataset]
    default = "modality" if ds["reader"] == "slake" else ds.get("label_name")
    return ds.get("supervision_label", default)


def anomaly_params(wildcards):
    """The dataset's known-anomaly definition, or None."""
    return config["datasets"][wildcards.dataset].get("anomaly")


def dataset_params(wildcards):
    """Reader settings; a downloaded dataset is read from where download_dataset put it."""
    params = dict(config["datasets"][wildcards.dataset])
    params.pop("supervision_label", None)
    params.pop("anomaly", None)
    if params.pop("download", None) is not None:
        params["path"] = rules.download_dataset.output.dataset.format(**wildcards)
    return params


def download_params(wildcards):
    return dict(config["datasets"][wildcards.dataset]["download"])


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
    """Method inputs, plus the cluster table for outlier methods that read noise points."""
    inputs = method_inputs(wildcards)
    src = registry.OUTLIERS_FROM_CLUSTER.get(wildcards.method)
    if src is not None:
        inputs["clusters"] = analysis_expand(
            rules.cluster.output.labels, wildcards, method=src
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


def all_metrics(wildcards):
    """Every clustering's, map's and outlier detector's metrics table."""
    return (
        analysis_expand(
            rules.evaluate_clustering.output.metrics, wildcards, method=CLUSTER
        )
        + analysis_expand(
            rules.evaluate_reduction.output.metrics, wildcards, method=REDUCE
        )
        + analysis_expand(
            rules.evaluate_outliers.output.metrics, wildcards, method=OUTLIERS
        )
    )


def map_file(wildcards):
    return analysis_expand(
        rules.reduce.output.emb, wildcards, method=config["plot"]["map"]
    )[0]


def color_clustering(wildcards):
    return analysis_expand(
        rules.cluster.output.labels, wildcards, method=config["plot"]["color_by"]
    )[0]


def analysis_outputs(wildcards=None):
    """Per dataset and feature set: the figures and tables a person reads."""
    out = []
    for dataset in DATASETS:
        if config.get("zero_shot") and HAS_TEXT_TOWER:
            out += expand(
                rules.zero_shot.output.accuracy, dataset=dataset, encoder=ENCODER
            )
        for features in FEATURES_OF[dataset]:
            kw = dict(dataset=dataset, encoder=ENCODER, features=features)
            out += expand(rules.gather_metrics.output.table, **kw)
            out += expand(rules.plot_clusters.output.png, **kw)
            out += expand(rules.plot_reductions.output.png, **kw)
            out += expand(rules.plot_cluster_samples.output.png, **kw, method=CLUSTER)
            out += expand(rules.plot_tree.output.png, **kw, method=TREES)
            out += expand(rules.find_duplicates.output.summary, **kw)
            if OUTLIERS:
                out += expand(rules.plot_outliers.output.png, **kw)
                out += expand(rules.outlier_consensus.output.top, **kw)
    return out


def final_outputs():
    return [*analysis_outputs(), rules.make_report.output.html]

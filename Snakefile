# medembed: embeddings, 2-D maps, clusters, outliers and figures for a collection of
# medical images. Stages are included in flow order; see README.md.
from snakemake.utils import min_version

min_version("9.0")


# The default config, unless the command line names its own (--configfile replaces it
# whole, so a dataset or method of the default never leaks into another run).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/embed.smk"
include: "rules/preprocess.smk"
include: "rules/reduce.smk"
include: "rules/cluster.smk"
include: "rules/outliers.smk"
include: "rules/evaluate.smk"
include: "rules/plot.smk"
include: "rules/findings.smk"
include: "rules/cards.smk"
include: "rules/issues.smk"
include: "rules/explore.smk"
include: "rules/report.smk"


# Every output the declaration lists (medembed._graph.STAGES) and the report; the
# findings outputs wait for the manifests (an input function).
rule all:
    default_target: True
    input:
        targets(dynamic=False),
        rules.make_report.output.html,
        findings=lambda wildcards: targets(dynamic=True),

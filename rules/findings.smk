# Multi-label findings (a manifest with the param `multilabel`, e.g. NIH ChestX-ray14's
# "Finding Labels"): per clustering, each finding's prevalence and enrichment per cluster,
# and its cluster x finding heatmap. Jobs exist only for datasets with findings (see
# dataset_findings in common.smk): the manifest says so once it is written.


# One job per clustering writes the table and draws its heatmap: the figure reads only
# that table, and a job's start-up costs more than either.
rule cluster_findings:
    input:
        labels=rules.cluster.output.labels,
        manifest=rules.make_manifest.output.manifest,
    output:
        table=f"{ANALYSIS}/cluster/{{method}}_findings.tsv",
        png=report(
            f"{ANALYSIS}/figures/findings/{{method}}.png",
            **report_output("cluster_findings", "png"),
        ),
    log:
        f"{LOGS}/cluster_findings/{{method}}.log",
    benchmark:
        f"{BENCH}/cluster_findings/{{method}}.tsv"
    wildcard_constraints:
        method="|".join(CLUSTER),
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=scaled_mem(2000, 10),
        runtime=10,
    params:
        code=code("cluster_findings.py"),
        max_clusters=config["plot"]["max_clusters_shown"],
    script:
        "../scripts/cluster_findings.py"

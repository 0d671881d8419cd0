# Thumbnails (once per dataset, shared by the report and the explorers) and the
# interactive explorer of each dataset x encoder x feature set.


rule make_thumbnails:
    input:
        manifest=rules.make_manifest.output.manifest,
    output:
        thumbnails=directory("results/{dataset}/thumbnails"),
    log:
        "logs/{dataset}/make_thumbnails.log",
    benchmark:
        "logs/benchmarks/{dataset}/make_thumbnails.tsv"
    conda:
        "../envs/medembed.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        code=code("make_thumbnails.py"),
    script:
        "../scripts/make_thumbnails.py"


def explorer_inputs(wildcards):
    """Everything the explorer shows; the outlier tables only when detectors are configured."""
    inputs = {
        "manifest": rules.make_manifest.output.manifest.format(**wildcards),
        "thumbnails": rules.make_thumbnails.output.thumbnails.format(**wildcards),
        "maps": all_reductions(wildcards),
        "clusters": all_clusterings(wildcards),
        "knn": rules.build_knn.output.knn.format(**wildcards),
        "sets": rules.find_duplicates.output.sets.format(**wildcards),
    }
    if OUTLIERS:
        inputs["outliers"] = all_outliers(wildcards)
        inputs["consensus"] = rules.outlier_consensus.output.table.format(**wildcards)
        inputs["top"] = rules.outlier_consensus.output.top.format(**wildcards)
    return inputs


rule make_explorer:
    input:
        unpack(explorer_inputs),
    output:
        explorer=directory(f"{ANALYSIS}/explorer"),
    log:
        f"{LOGS}/make_explorer.log",
    benchmark:
        f"{BENCH}/make_explorer.tsv"
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=scaled_mem(2000, 10),
        runtime=20,
    params:
        code=code("make_explorer.py"),
        map_name=config["plot"]["map"],
    script:
        "../scripts/make_explorer.py"


def explorer_outputs(wildcards=None):
    """Every explorer of the run (for the final targets)."""
    return [
        rules.make_explorer.output.explorer.format(
            dataset=dataset, encoder=encoder, features=features
        )
        for dataset in DATASETS
        for encoder in ENCODERS
        for features in FEATURES_OF[(dataset, encoder)]
    ]

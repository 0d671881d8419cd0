rule detect_outliers:
    input:
        unpack(outlier_inputs),
    output:
        scores=f"{ANALYSIS}/outliers/{{method}}.parquet",
    log:
        f"{LOGS}/outliers/{{method}}.log",
    benchmark:
        f"{BENCH}/outliers/{{method}}.tsv"
    wildcard_constraints:
        method="|".join(OUTLIERS) if OUTLIERS else "^$",
    conda:
        "../envs/medembed.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        kwargs=method_params("outliers"),
        code=code_version("outliers"),
    script:
        "../scripts/detect_outliers.py"


rule outlier_consensus:
    input:
        scores=all_outliers,
        manifest=rules.make_manifest.output.manifest,
    output:
        table=f"{ANALYSIS}/outliers_consensus.parquet",
        top=report(
            f"{ANALYSIS}/outliers_top.tsv",
            caption="../report/outliers_top.rst",
            category="Outliers",
            subcategory="{dataset}",
            labels={
                "dataset": "{dataset}",
                "features": "{features}",
                "table": "top outliers",
            },
        ),
    log:
        f"{LOGS}/outlier_consensus.log",
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        top_n=config["consensus"]["top_n"],
    script:
        "../scripts/outlier_consensus.py"


rule find_duplicates:
    input:
        knn=rules.build_knn.output.knn,
        manifest=rules.make_manifest.output.manifest,
    output:
        pairs=f"{ANALYSIS}/duplicates/pairs.tsv",
        sets=f"{ANALYSIS}/duplicates/sets.tsv",
        summary=f"{ANALYSIS}/duplicates/summary.json",
    log:
        f"{LOGS}/find_duplicates.log",
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        kwargs=config["duplicates"],
        code=registry.module_version("tl/_duplicates.py"),
    script:
        "../scripts/find_duplicates.py"

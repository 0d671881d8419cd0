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
    threads: sized_threads(2)
    resources:
        mem_mb=scaled_mem(4000, 20),
        runtime=60,
        settings=method_settings("outliers"),
    params:
        kwargs=method_params("outliers"),
        code=code("detect_outliers.py", "outliers"),
    script:
        "../scripts/detect_outliers.py"


rule outlier_consensus:
    input:
        scores=consensus_outliers,
        manifest=rules.make_manifest.output.manifest,
    output:
        table=f"{ANALYSIS}/outliers_consensus.parquet",
        top=report(
            f"{ANALYSIS}/outliers_top.tsv",
            **report_output("outlier_consensus", "top"),
        ),
    log:
        f"{LOGS}/outlier_consensus.log",
    benchmark:
        f"{BENCH}/outlier_consensus.tsv"
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        top_n=config["consensus"]["top_n"],
        detectors=CONSENSUS,
        code=code("outlier_consensus.py"),
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
    benchmark:
        f"{BENCH}/find_duplicates.tsv"
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        kwargs=config["duplicates"],
        code=code("find_duplicates.py"),
    script:
        "../scripts/find_duplicates.py"

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

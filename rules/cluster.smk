rule cluster:
    input:
        features=features_file,
        manifest=rules.make_manifest.output.manifest,
    output:
        labels=f"{ANALYSIS}/cluster/{{method}}.parquet",
    log:
        f"{LOGS}/cluster/{{method}}.log",
    benchmark:
        f"{BENCH}/cluster/{{method}}.tsv"
    wildcard_constraints:
        method="|".join(CLUSTER),
    conda:
        "../envs/medembed.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        kwargs=method_params("cluster"),
        code=code_version("cluster"),
    script:
        "../scripts/cluster.py"

rule cluster:
    input:
        unpack(method_inputs),
        manifest=rules.make_manifest.output.manifest,
    output:
        labels=f"{ANALYSIS}/cluster/{{method}}.parquet",
        model=f"{ANALYSIS}/cluster/{{method}}.model.npz",
    log:
        f"{LOGS}/cluster/{{method}}.log",
    benchmark:
        f"{BENCH}/cluster/{{method}}.tsv"
    wildcard_constraints:
        method="|".join(CLUSTER),
    conda:
        "../envs/medembed.yaml"
    threads: sized_threads(2)
    resources:
        mem_mb=scaled_mem(4000, 20),
        runtime=60,
        gpu=method_gpu("cluster"),
        settings=method_settings("cluster"),
    params:
        kwargs=method_params("cluster"),
        code=code("cluster.py", "cluster"),
        label_column=supervision_column,
    script:
        "../scripts/cluster.py"

rule reduce:
    input:
        unpack(method_inputs),
    output:
        emb=f"{ANALYSIS}/reduce/{{method}}.npz",
    log:
        f"{LOGS}/reduce/{{method}}.log",
    benchmark:
        f"{BENCH}/reduce/{{method}}.tsv"
    wildcard_constraints:
        method="|".join(REDUCE),
    conda:
        "../envs/medembed.yaml"
    threads: sized_threads(2)
    resources:
        mem_mb=scaled_mem(4000, 20),
        runtime=60,
        settings=method_settings("reduce"),
    params:
        kwargs=method_params("reduce"),
        code=code("reduce.py", "reduce"),
    script:
        "../scripts/reduce.py"

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
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        kwargs=method_params("reduce"),
        code=code_version("reduce"),
    script:
        "../scripts/reduce.py"

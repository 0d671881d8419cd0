rule make_manifest:
    output:
        manifest="results/{dataset}/manifest.parquet",
        skipped="results/{dataset}/skipped.tsv",
    log:
        "logs/{dataset}/make_manifest.log",
    benchmark:
        "logs/benchmarks/{dataset}/make_manifest.tsv"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        dataset=dataset_params,
        code=registry.code_version("readers", "slake"),
    script:
        "../scripts/make_manifest.py"

rule download_dataset:
    output:
        dataset=directory("resources/datasets/{dataset}"),
    log:
        "logs/{dataset}/download_dataset.log",
    localrule: True
    conda:
        "../envs/medembed.yaml"
    params:
        download=download_params,
        code=registry.module_version("datasets/_download.py", "_hub.py"),
    script:
        "../scripts/download_dataset.py"


rule make_manifest:
    input:
        dataset=dataset_dir,
    output:
        manifest="results/{dataset}/manifest.parquet",
        skipped="results/{dataset}/skipped.tsv",
        qa="results/{dataset}/qa.parquet",
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
        code=registry.module_version(
            "datasets/_slake.py",
            "datasets/_folder.py",
            "datasets/_images.py",
            "datasets/_manifest.py",
        ),
    script:
        "../scripts/make_manifest.py"

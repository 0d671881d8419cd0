rule download_dataset:
    output:
        dataset=directory("resources/datasets/{dataset}"),
    log:
        "logs/{dataset}/download_dataset.log",
    benchmark:
        "logs/benchmarks/{dataset}/download_dataset.tsv"
    localrule: True
    conda:
        "../envs/medembed.yaml"
    resources:
        settings=download_settings,
    params:
        reader=reader_of,
        download=download_params,
        code=code("download_dataset.py"),
    script:
        "../scripts/download_dataset.py"


rule make_manifest:
    input:
        dataset=dataset_dir,
        table=table_file,
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
    threads: 2
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        dataset=dataset_params,
        folder=folder_state,
        code=code("make_manifest.py", "readers", reader_of),
    script:
        "../scripts/make_manifest.py"


# The shard plan: which manifest rows each embedding job takes. A checkpoint, because
# the number of shards is known only once the images are listed.
checkpoint plan_shards:
    input:
        manifest=rules.make_manifest.output.manifest,
    output:
        plan="results/{dataset}/shards.tsv",
    log:
        "logs/{dataset}/plan_shards.log",
    benchmark:
        "logs/benchmarks/{dataset}/plan_shards.tsv"
    localrule: True
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        shard_size=config["embed"]["shard_size"],
        code=code("plan_shards.py"),
    script:
        "../scripts/plan_shards.py"

rule embed_shard:
    input:
        # ancient: a shard is keyed by its images' content, so a rewritten manifest with the
        # same rows for this shard does not make it stale.
        manifest=ancient(str(rules.make_manifest.output.manifest)),
        plan=ancient(str(rules.plan_shards.output.plan)),
    output:
        emb="results/{dataset}/{encoder}/shards/image-{shard}.npz",
    log:
        "logs/{dataset}/{encoder}/embed_shard/{shard}.log",
    benchmark:
        "logs/benchmarks/{dataset}/{encoder}/embed_shard/{shard}.tsv"
    conda:
        "../envs/medembed.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=shard_runtime,
        gpu=encoder_gpu,
        settings=encoder_settings,
    params:
        encoder=encoder_params,
        code=code("embed_shard.py", "encoders", encoder_name),
    script:
        "../scripts/embed_shard.py"


rule embed_images:
    input:
        manifest=rules.make_manifest.output.manifest,
        shards=image_shards,
    output:
        emb="results/{dataset}/{encoder}/image.npz",
    log:
        "logs/{dataset}/{encoder}/embed_images.log",
    benchmark:
        "logs/benchmarks/{dataset}/{encoder}/embed_images.tsv"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=scaled_mem(2000, 3),
        runtime=30,
    params:
        encoder=encoder_params,
        code=code("embed_images.py", "encoders", encoder_name),
    script:
        "../scripts/embed_images.py"


rule embed_texts:
    input:
        manifest=rules.make_manifest.output.manifest,
        qa=rules.make_manifest.output.qa,
    output:
        texts="results/{dataset}/{encoder}/texts.parquet",
        emb="results/{dataset}/{encoder}/texts.npz",
        features="results/{dataset}/{encoder}/text.npz",
    log:
        "logs/{dataset}/{encoder}/embed_texts.log",
    benchmark:
        "logs/benchmarks/{dataset}/{encoder}/embed_texts.tsv"
    conda:
        "../envs/medembed.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=encoder_gpu,
        settings=text_settings,
    params:
        encoder=encoder_params,
        texts=registry.split_runtime("texts", config["texts"])[0],
        code=code("embed_texts.py", "encoders", encoder_name),
    script:
        "../scripts/embed_texts.py"


rule combine_features:
    input:
        image=rules.embed_images.output.emb,
        text=rules.embed_texts.output.features,
    output:
        features="results/{dataset}/{encoder}/image_text.npz",
    log:
        "logs/{dataset}/{encoder}/combine_features.log",
    benchmark:
        "logs/benchmarks/{dataset}/{encoder}/combine_features.tsv"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        code=code("combine_features.py"),
    script:
        "../scripts/combine_features.py"


# The explorer's search phrases (config/phrases.txt and the zero-shot prompts), embedded
# once per text-tower encoder: unit rows, ids = the texts.
rule embed_phrases:
    output:
        phrases="results/{dataset}/{encoder}/phrases.npz",
    log:
        "logs/{dataset}/{encoder}/embed_phrases.log",
    benchmark:
        "logs/benchmarks/{dataset}/{encoder}/embed_phrases.tsv"
    conda:
        "../envs/medembed.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=30,
        gpu=encoder_gpu,
        settings=text_settings,
    params:
        encoder=encoder_params,
        texts=PHRASE_TEXTS,
        code=code("embed_phrases.py", "encoders", encoder_name),
    script:
        "../scripts/embed_phrases.py"


rule zero_shot:
    input:
        emb=rules.embed_images.output.emb,
        manifest=rules.make_manifest.output.manifest,
    output:
        scores="results/{dataset}/{encoder}/zero_shot.parquet",
        accuracy=report(
            "results/{dataset}/{encoder}/zero_shot_accuracy.tsv",
            **report_output("zero_shot", "accuracy"),
        ),
    log:
        "logs/{dataset}/{encoder}/zero_shot.log",
    benchmark:
        "logs/benchmarks/{dataset}/{encoder}/zero_shot.tsv"
    conda:
        "../envs/medembed.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=30,
        gpu=encoder_gpu,
        settings=encoder_settings,
    params:
        encoder=encoder_params,
        prompts=config["zero_shot"],
        code=code("zero_shot.py", "encoders", encoder_name),
    script:
        "../scripts/zero_shot.py"

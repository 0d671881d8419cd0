rule embed_images:
    input:
        manifest=rules.make_manifest.output.manifest,
    output:
        emb="results/{dataset}/{encoder}/image.npz",
    log:
        "logs/{dataset}/{encoder}/embed_images.log",
    benchmark:
        "logs/benchmarks/{dataset}/{encoder}/embed_images.tsv"
    conda:
        "../envs/medembed.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=0,
    params:
        encoder=config["encoder"],
        code=registry.code_version("encoders", ENCODER),
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
        gpu=0,
    params:
        encoder=config["encoder"],
        texts=config["texts"],
        code=registry.module_version(
            "embed/_texts.py", "embed/_openclip.py", "_hub.py", "features.py"
        ),
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
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        code=registry.module_version("features.py", "pp/_pca.py"),
    script:
        "../scripts/combine_features.py"


rule zero_shot:
    input:
        emb=rules.embed_images.output.emb,
        manifest=rules.make_manifest.output.manifest,
    output:
        scores="results/{dataset}/{encoder}/zero_shot.parquet",
        accuracy=report(
            "results/{dataset}/{encoder}/zero_shot_accuracy.tsv",
            caption="../report/zero_shot.rst",
            category="Zero-shot",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}"},
        ),
    log:
        "logs/{dataset}/{encoder}/zero_shot.log",
    conda:
        "../envs/medembed.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        encoder=config["encoder"],
        prompts=config["zero_shot"],
        code=registry.module_version(
            "embed/_zeroshot.py", "embed/_openclip.py", "_hub.py"
        ),
    script:
        "../scripts/zero_shot.py"

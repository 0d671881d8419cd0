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

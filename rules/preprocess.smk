rule build_knn:
    input:
        features=features_file,
    output:
        knn=f"{ANALYSIS}/neighbors.npz",
    log:
        f"{LOGS}/build_knn.log",
    benchmark:
        f"{BENCH}/build_knn.tsv"
    group:
        "pp-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: sized_threads(2)
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        kwargs=config["neighbors"],
        code=code("build_knn.py"),
    script:
        "../scripts/build_knn.py"


rule compute_pca:
    input:
        features=features_file,
    output:
        pca=f"{ANALYSIS}/pca.npz",
    log:
        f"{LOGS}/compute_pca.log",
    benchmark:
        f"{BENCH}/compute_pca.tsv"
    group:
        "pp-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: sized_threads(2)
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        n_components=config["pca"]["n_components"],
        code=code("compute_pca.py"),
    script:
        "../scripts/compute_pca.py"

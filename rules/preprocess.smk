rule build_knn:
    input:
        features=features_file,
    output:
        knn=f"{ANALYSIS}/neighbors.npz",
    log:
        f"{LOGS}/build_knn.log",
    benchmark:
        f"{BENCH}/build_knn.tsv"
    conda:
        "../envs/medembed.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        kwargs=config["neighbors"],
        code=registry.module_version("pp/_neighbors.py"),
    script:
        "../scripts/build_knn.py"


rule compute_pca:
    input:
        features=features_file,
    output:
        pca=f"{ANALYSIS}/pca.npz",
    log:
        f"{LOGS}/compute_pca.log",
    conda:
        "../envs/medembed.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        n_components=config["pca"]["n_components"],
        code=registry.module_version("pp/_pca.py"),
    script:
        "../scripts/compute_pca.py"

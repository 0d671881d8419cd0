rule plot_clusters:
    input:
        map=map_file,
        labels=all_clusterings,
    output:
        png=report(
            f"{ANALYSIS}/figures/clusters.png",
            caption="../report/clusters.rst",
            category="Clusters",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "features": "{features}", "figure": "map"},
        ),
    log:
        f"{LOGS}/plot_clusters.log",
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code("plot_clusters.py"),
        map_name=config["plot"]["map"],
    script:
        "../scripts/plot_clusters.py"


rule plot_cluster_samples:
    input:
        labels=rules.cluster.output.labels,
        manifest=rules.make_manifest.output.manifest,
    output:
        png=report(
            f"{ANALYSIS}/figures/samples/{{method}}.png",
            caption="../report/samples.rst",
            category="Clusters",
            subcategory="{dataset}",
            labels={
                "dataset": "{dataset}",
                "features": "{features}",
                "figure": "samples {method}",
            },
        ),
    log:
        f"{LOGS}/plot_cluster_samples/{{method}}.log",
    wildcard_constraints:
        method="|".join(CLUSTER),
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code("plot_cluster_samples.py"),
        n_samples=config["plot"]["samples_per_cluster"],
        max_clusters=config["plot"]["max_clusters_shown"],
    script:
        "../scripts/plot_cluster_samples.py"


rule plot_reductions:
    input:
        maps=all_reductions,
        labels=color_clustering,
        manifest=rules.make_manifest.output.manifest,
    output:
        png=report(
            f"{ANALYSIS}/figures/reductions.png",
            caption="../report/reductions.rst",
            category="Maps",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "features": "{features}"},
        ),
    log:
        f"{LOGS}/plot_reductions.log",
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code("plot_reductions.py"),
        color_by=config["plot"]["color_by"],
    script:
        "../scripts/plot_reductions.py"


rule plot_outliers:
    input:
        map=map_file,
        scores=all_outliers,
    output:
        png=report(
            f"{ANALYSIS}/figures/outliers.png",
            caption="../report/outliers.rst",
            category="Outliers",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "features": "{features}"},
        ),
    log:
        f"{LOGS}/plot_outliers.log",
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code("plot_outliers.py"),
        map_name=config["plot"]["map"],
    script:
        "../scripts/plot_outliers.py"


rule plot_tree:
    input:
        labels=rules.cluster.output.labels,
        model=rules.cluster.output.model,
        manifest=rules.make_manifest.output.manifest,
    output:
        png=report(
            f"{ANALYSIS}/figures/tree/{{method}}.png",
            caption="../report/tree.rst",
            category="Clusters",
            subcategory="{dataset}",
            labels={
                "dataset": "{dataset}",
                "features": "{features}",
                "figure": "tree {method}",
            },
        ),
    log:
        f"{LOGS}/plot_tree/{{method}}.log",
    wildcard_constraints:
        method="|".join(TREES) if TREES else "^$",
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code("plot_tree.py"),
    script:
        "../scripts/plot_tree.py"

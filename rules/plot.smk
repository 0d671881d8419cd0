# Figures: package functions (medembed.pl) behind thin scripts, each a report() output with
# its caption in report/<kind>.rst (the report's one caption source).


rule plot_cluster_maps:
    input:
        map=map_file,
        results=all_clusterings,
        # the cluster names (rules/cards.smk is included after the plots)
        cards=card_tables,
    output:
        png=report(
            f"{ANALYSIS}/figures/clusters.png",
            **report_output("plot_cluster_maps", "png"),
        ),
    log:
        f"{LOGS}/plot_cluster_maps.log",
    benchmark:
        f"{BENCH}/plot_cluster_maps.tsv"
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code("plot_on_map.py"),
        kind="clusters",
        map_name=config["plot"]["map"],
    script:
        "../scripts/plot_on_map.py"


# One job per clustering draws both of its figures (sample grid, contingency): the two
# read the same tables, and a job's start-up costs more than either figure.
rule plot_cluster_details:
    input:
        labels=rules.cluster.output.labels,
        manifest=rules.make_manifest.output.manifest,
        thumbnails=thumbnails_dir,
    output:
        samples=report(
            f"{ANALYSIS}/figures/samples/{{method}}.png",
            **report_output("plot_cluster_details", "samples"),
        ),
        contingency=report(
            f"{ANALYSIS}/figures/contingency/{{method}}.png",
            **report_output("plot_cluster_details", "contingency"),
        ),
    log:
        f"{LOGS}/plot_cluster_details/{{method}}.log",
    benchmark:
        f"{BENCH}/plot_cluster_details/{{method}}.tsv"
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
        code=code("plot_cluster_details.py"),
        n_samples=config["plot"]["samples_per_cluster"],
        max_clusters=config["plot"]["max_clusters_shown"],
    script:
        "../scripts/plot_cluster_details.py"


rule plot_reductions:
    input:
        maps=all_reductions,
        labels=color_clustering,
        manifest=rules.make_manifest.output.manifest,
    output:
        png=report(
            f"{ANALYSIS}/figures/reductions.png",
            **report_output("plot_reductions", "png"),
        ),
    log:
        f"{LOGS}/plot_reductions.log",
    benchmark:
        f"{BENCH}/plot_reductions.tsv"
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
        results=all_outliers,
    output:
        png=report(
            f"{ANALYSIS}/figures/outliers.png",
            **report_output("plot_outliers", "png"),
        ),
    log:
        f"{LOGS}/plot_outliers.log",
    benchmark:
        f"{BENCH}/plot_outliers.tsv"
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code("plot_on_map.py"),
        kind="outliers",
        map_name=config["plot"]["map"],
    script:
        "../scripts/plot_on_map.py"


rule plot_outlier_gallery:
    input:
        top=rules.outlier_consensus.output.top,
        scores=all_outliers,
        thumbnails=thumbnails_dir,
        manifest=rules.make_manifest.output.manifest,
    output:
        png=report(
            f"{ANALYSIS}/figures/outlier_gallery.png",
            **report_output("plot_outlier_gallery", "png"),
        ),
    log:
        f"{LOGS}/plot_outlier_gallery.log",
    benchmark:
        f"{BENCH}/plot_outlier_gallery.tsv"
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code("plot_outlier_gallery.py"),
        n=config["consensus"]["top_n"],
    script:
        "../scripts/plot_outlier_gallery.py"


rule plot_duplicates:
    input:
        sets=rules.find_duplicates.output.sets,
        summary=rules.find_duplicates.output.summary,
        thumbnails=thumbnails_dir,
    output:
        png=report(
            f"{ANALYSIS}/figures/duplicates.png",
            **report_output("plot_duplicates", "png"),
        ),
    log:
        f"{LOGS}/plot_duplicates.log",
    benchmark:
        f"{BENCH}/plot_duplicates.tsv"
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code("plot_duplicates.py"),
        max_sets=20,
    script:
        "../scripts/plot_duplicates.py"


rule plot_metrics:
    input:
        metrics=rules.gather_metrics.output.table,
    output:
        png=report(
            f"{ANALYSIS}/figures/metrics.png",
            **report_output("plot_metrics", "png"),
        ),
    log:
        f"{LOGS}/plot_metrics.log",
    benchmark:
        f"{BENCH}/plot_metrics.tsv"
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code("plot_metrics.py"),
    script:
        "../scripts/plot_metrics.py"


rule plot_finch:
    input:
        map=map_file,
        labels=finch_labels,
    output:
        png=report(
            f"{ANALYSIS}/figures/finch.png",
            **report_output("plot_finch", "png"),
        ),
    log:
        f"{LOGS}/plot_finch.log",
    benchmark:
        f"{BENCH}/plot_finch.tsv"
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code("plot_finch.py"),
        map_name=config["plot"]["map"],
    script:
        "../scripts/plot_finch.py"


rule plot_tree:
    input:
        labels=rules.cluster.output.labels,
        model=rules.cluster.output.model,
        manifest=rules.make_manifest.output.manifest,
    output:
        png=report(
            f"{ANALYSIS}/figures/tree/{{method}}.png",
            **report_output("plot_tree", "png"),
        ),
    log:
        f"{LOGS}/plot_tree/{{method}}.log",
    benchmark:
        f"{BENCH}/plot_tree/{{method}}.tsv"
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

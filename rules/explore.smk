# Thumbnails (once per dataset, shared by the report and the explorers) and the
# interactive explorer of each dataset x encoder x feature set.


rule make_thumbnails:
    input:
        manifest=rules.make_manifest.output.manifest,
    output:
        thumbnails=directory("results/{dataset}/thumbnails"),
        quality="results/{dataset}/quality.parquet",
    log:
        "logs/{dataset}/make_thumbnails.log",
    benchmark:
        "logs/benchmarks/{dataset}/make_thumbnails.tsv"
    conda:
        "../envs/medembed.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        code=code("make_thumbnails.py"),
    script:
        "../scripts/make_thumbnails.py"


rule make_explorer:
    input:
        # the text search: phrase vectors and image embedding (text-tower encoders only)
        unpack(explorer_search),
        manifest=rules.make_manifest.output.manifest,
        thumbnails=rules.make_thumbnails.output.thumbnails,
        maps=all_reductions,
        clusters=all_clusterings,
        knn=rules.build_knn.output.knn,
        sets=rules.find_duplicates.output.sets,
        # the outlier tables only when detectors are configured (consensus needs one)
        outliers=all_outliers,
        consensus=rules.outlier_consensus.output.table if OUTLIERS else [],
        top=rules.outlier_consensus.output.top if OUTLIERS else [],
        issues=rules.find_issues.output.issues,
        # the cluster cards' names and medoids (legend text, labels on the map)
        cards=card_tables,
    output:
        explorer=directory(f"{ANALYSIS}/explorer"),
    log:
        f"{LOGS}/make_explorer.log",
    benchmark:
        f"{BENCH}/make_explorer.tsv"
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=scaled_mem(2000, 10),
        runtime=20,
    params:
        code=code("make_explorer.py"),
        map_name=config["plot"]["map"],
    script:
        "../scripts/make_explorer.py"

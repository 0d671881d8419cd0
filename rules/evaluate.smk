# One job per feature set scores every clustering (and one every detector): a job costs
# about 2 s of start-up, scoring one table milliseconds, and these jobs have no parameters
# of their own, so a changed clustering reruns its own job and this one (see README).
rule evaluate_clustering:
    input:
        labels=all_clusterings,
        features=features_file,
        manifest=rules.make_manifest.output.manifest,
    output:
        metrics=f"{ANALYSIS}/metrics/clusterings.tsv",
    log:
        f"{LOGS}/metrics/clusterings.log",
    benchmark:
        f"{BENCH}/metrics/clusterings.tsv"
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=scaled_mem(2000, 4),
        runtime=30,
    params:
        methods=CLUSTER,
        code=code("evaluate_clustering.py"),
    script:
        "../scripts/evaluate_clustering.py"


rule evaluate_reduction:
    input:
        emb=rules.reduce.output.emb,
        features=features_file,
        knn=rules.build_knn.output.knn,
    output:
        metrics=f"{ANALYSIS}/metrics/reduce/{{method}}.tsv",
    log:
        f"{LOGS}/metrics/reduce/{{method}}.log",
    benchmark:
        f"{BENCH}/metrics/reduce/{{method}}.tsv"
    wildcard_constraints:
        method="|".join(REDUCE),
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        code=code("evaluate_reduction.py"),
    script:
        "../scripts/evaluate_reduction.py"


rule evaluate_outliers:
    input:
        scores=all_outliers,
        manifest=rules.make_manifest.output.manifest,
    output:
        metrics=f"{ANALYSIS}/metrics/outliers.tsv",
    log:
        f"{LOGS}/metrics/outliers.log",
    benchmark:
        f"{BENCH}/metrics/outliers.tsv"
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        methods=OUTLIERS,
        anomaly=anomaly_params,
        code=code("evaluate_outliers.py"),
    script:
        "../scripts/evaluate_outliers.py"


rule cluster_stability:
    input:
        unpack(method_inputs),
        manifest=rules.make_manifest.output.manifest,
        # the run with the configured seed, read instead of refitted
        labels=rules.cluster.output.labels,
    output:
        metrics=f"{ANALYSIS}/metrics/stability/{{method}}.tsv",
    log:
        f"{LOGS}/metrics/stability/{{method}}.log",
    benchmark:
        f"{BENCH}/metrics/stability/{{method}}.tsv"
    wildcard_constraints:
        method="|".join(STABLE) if STABLE else "^$",
    conda:
        "../envs/medembed.yaml"
    threads: sized_threads(2)
    resources:
        mem_mb=scaled_mem(4000, 20),
        runtime=120,
        gpu=method_gpu("cluster"),
        settings=method_settings("cluster"),
    params:
        kwargs=method_params("cluster"),
        runs=config["stability"],
        label_column=supervision_column,
        code=code("cluster_stability.py", "cluster"),
    script:
        "../scripts/cluster_stability.py"


rule gather_metrics:
    input:
        tables=all_metrics,
    output:
        table=report(
            f"{ANALYSIS}/metrics.tsv",
            **report_output("gather_metrics", "table"),
        ),
    log:
        f"{LOGS}/gather_metrics.log",
    benchmark:
        f"{BENCH}/gather_metrics.tsv"
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    params:
        code=code("gather_metrics.py"),
    script:
        "../scripts/gather_metrics.py"


rule probe_embedding:
    input:
        features=features_file,
        image=rules.embed_images.output.emb,
        knn=rules.build_knn.output.knn,
        manifest=rules.make_manifest.output.manifest,
        map_metrics=map_metrics_file,
    output:
        table=f"{ANALYSIS}/probe.tsv",
        outcomes=f"{ANALYSIS}/probe_outcomes.npz",
    log:
        f"{LOGS}/probe_embedding.log",
    benchmark:
        f"{BENCH}/probe_embedding.tsv"
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: sized_threads(2)
    resources:
        mem_mb=scaled_mem(4000, 10),
        runtime=60,
    params:
        map_name=config["plot"]["map"],
        code=code("probe_embedding.py"),
    script:
        "../scripts/probe_embedding.py"


rule compare_encoders:
    input:
        tables=probe_tables,
        outcomes=probe_outcomes,
    output:
        table=report(
            "results/{dataset}/encoders.tsv",
            **report_output("compare_encoders", "table"),
        ),
        png=report(
            "results/{dataset}/encoders.png",
            **report_output("compare_encoders", "png"),
        ),
    log:
        "logs/{dataset}/compare_encoders.log",
    benchmark:
        "logs/benchmarks/{dataset}/compare_encoders.tsv"
    localrule: True
    conda:
        "../envs/medembed.yaml"
    params:
        code=code("compare_encoders.py"),
    script:
        "../scripts/compare_encoders.py"

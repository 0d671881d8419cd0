# The report: tables as HTML fragments, the run summary, and results/report.html, which
# embeds them with the figures. Every figure and table is a report() output, so
# `snakemake --report` shows the same things with the same captions (report/*.rst).


rule table_metrics:
    input:
        metrics=rules.gather_metrics.output.table,
    output:
        html=report(
            f"{ANALYSIS}/tables/metrics.html",
            **report_output("table_metrics", "html"),
        ),
    log:
        f"{LOGS}/table_metrics.log",
    benchmark:
        f"{BENCH}/table_metrics.tsv"
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=code("make_table.py"),
        kind="metrics",
    script:
        "../scripts/make_table.py"


rule table_outliers:
    input:
        top=rules.outlier_consensus.output.top,
        manifest=rules.make_manifest.output.manifest,
    output:
        html=report(
            f"{ANALYSIS}/tables/outliers_top.html",
            **report_output("table_outliers", "html"),
        ),
    log:
        f"{LOGS}/table_outliers.log",
    benchmark:
        f"{BENCH}/table_outliers.tsv"
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=code("make_table.py"),
        kind="outliers",
    script:
        "../scripts/make_table.py"


rule table_duplicates:
    input:
        sets=rules.find_duplicates.output.sets,
        summary=rules.find_duplicates.output.summary,
    output:
        html=report(
            f"{ANALYSIS}/tables/duplicates.html",
            **report_output("table_duplicates", "html"),
        ),
    log:
        f"{LOGS}/table_duplicates.log",
    benchmark:
        f"{BENCH}/table_duplicates.tsv"
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=code("make_table.py"),
        kind="duplicates",
    script:
        "../scripts/make_table.py"


rule summarize_run:
    input:
        unpack(benchmark_inputs),
        manifests=expand(rules.make_manifest.output.manifest, dataset=DATASETS),
        skipped=expand(rules.make_manifest.output.skipped, dataset=DATASETS),
        features=[p for e in encoder_feature_files().values() for p in e.values()],
    output:
        data=report(
            "results/run/data.html",
            caption="../report/data.rst",
            category="Data",
            labels={"figure": "datasets and encoders"},
        ),
        run=report(
            "results/run/summary.html",
            caption="../report/run.rst",
            category="Run",
            labels={"figure": "time, memory and config"},
        ),
        config="results/run/config.yaml",
    log:
        "logs/summarize_run.log",
    benchmark:
        "logs/benchmarks/summarize_run.tsv"
    localrule: True
    conda:
        "../envs/medembed.yaml"
    params:
        code=code("summarize_run.py"),
        datasets=DATASETS,
        encoders=encoder_feature_files(),
        config=science_config(),
    script:
        "../scripts/summarize_run.py"


rule make_report:
    input:
        summary=rules.summarize_run.output.run,
        data=rules.summarize_run.output.data,
        files=report_files,
    output:
        html="results/report.html",
    log:
        "logs/make_report.log",
    benchmark:
        "logs/benchmarks/make_report.tsv"
    localrule: True
    conda:
        "../envs/medembed.yaml"
    params:
        code=code("make_report.py"),
        layout=report_layout,
        captions=caption_texts(),
        config=science_config(),
        inline=[config["plot"]["color_by"]],
    script:
        "../scripts/make_report.py"

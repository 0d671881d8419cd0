rule make_report:
    input:
        analysis=analysis_outputs,
        manifests=expand(rules.make_manifest.output.manifest, dataset=DATASETS),
        skipped=expand(rules.make_manifest.output.skipped, dataset=DATASETS),
    output:
        html="results/report.html",
    log:
        "logs/make_report.log",
    localrule: True
    conda:
        "../envs/medembed.yaml"
    params:
        code=code("make_report.py"),
        datasets=DATASETS,
        encoders=ANALYSED,
        features={
            ds: {enc: FEATURES_OF[(ds, enc)] for enc in ANALYSED} for ds in DATASETS
        },
        methods={"reduce": REDUCE, "cluster": CLUSTER, "outliers": OUTLIERS},
    script:
        "../scripts/make_report.py"

# What to look at first: one table of suspect images per dataset x encoder x feature set
# (label errors, image quality, unreadable files, outliers, near-duplicates, split leaks,
# clusters explained by metadata), and a thumbnail gallery per issue type for the report.


rule find_issues:
    input:
        unpack(issue_inputs),
        features=features_file,
        knn=rules.build_knn.output.knn,
        manifest=rules.make_manifest.output.manifest,
        skipped=rules.make_manifest.output.skipped,
        clusterings=all_clusterings,
        pairs=rules.find_duplicates.output.pairs,
        sets=rules.find_duplicates.output.sets,
        quality=quality_file,
    output:
        issues=f"{ANALYSIS}/issues.tsv",
        summary=f"{ANALYSIS}/issues_summary.tsv",
        nmi=f"{ANALYSIS}/issues_confounding.tsv",
    log:
        f"{LOGS}/find_issues.log",
    benchmark:
        f"{BENCH}/find_issues.tsv"
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: sized_threads(2)
    resources:
        mem_mb=scaled_mem(2000, 10),
        runtime=30,
    params:
        code=code("find_issues.py"),
    script:
        "../scripts/find_issues.py"


rule plot_issues:
    input:
        issues=rules.find_issues.output.issues,
        thumbnails=thumbnails_dir,
    output:
        **{
            kind: report(
                f"{ANALYSIS}/figures/issues/{kind}.png",
                **report_output("plot_issues", kind),
            )
            for kind in ISSUE_TYPES
        },
    log:
        f"{LOGS}/plot_issues.log",
    benchmark:
        f"{BENCH}/plot_issues.tsv"
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code("plot_issues.py"),
    script:
        "../scripts/plot_issues.py"

# Cluster cards: each cluster of the colouring clustering (plot.color_by) and of those
# plot.cards lists described on one line, with a name (from the labels that explain it,
# else from the phrases nearest its centroid, else "cluster k"), and the card gallery the
# report shows. The names also label the clustering map (plot_cluster_maps).


# One job per clustering: the tables and the gallery read the same inputs.
rule cluster_cards:
    input:
        unpack(card_inputs),
        labels=rules.cluster.output.labels,
        features=features_file,
        manifest=rules.make_manifest.output.manifest,
        thumbnails=thumbnails_dir,
    output:
        table=f"{ANALYSIS}/cards/{{method}}/cluster_cards.tsv",
        enrichment=f"{ANALYSIS}/cards/{{method}}/cluster_enrichment.tsv",
        png=report(
            f"{ANALYSIS}/figures/cards/{{method}}.png",
            **report_output("cluster_cards", "png"),
        ),
    log:
        f"{LOGS}/cluster_cards/{{method}}.log",
    benchmark:
        f"{BENCH}/cluster_cards/{{method}}.tsv"
    wildcard_constraints:
        method="|".join(CARDS) if CARDS else "^$",
    group:
        "post-{dataset}-{encoder}-{features}"
    conda:
        "../envs/medembed.yaml"
    threads: 1
    resources:
        mem_mb=scaled_mem(2000, 10),
        runtime=10,
    params:
        code=code("cluster_cards.py"),
        min_share=config["plot"]["card_min_share"],
        max_cards=config["plot"]["max_clusters_shown"],
    script:
        "../scripts/cluster_cards.py"

"""Rule cluster_cards: the cards of one clustering (cluster_cards.tsv), every label value's
enrichment per cluster (cluster_enrichment.tsv) and the card gallery."""

from typing import TYPE_CHECKING

from medembed import explore, io, pl, tl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]) as log:
    feats = io.read_array(snakemake.input.features)
    params = io.read_table_params(snakemake.input.manifest)
    manifest = io.read_table(snakemake.input.manifest).set_index("id").loc[feats.ids].reset_index()
    labels, findings = tl.single_label_columns(params), tl.finding_columns(params)
    # optional inputs: the stability of the clustering, the phrase vectors (ids = the phrases)
    # and the image embedding they are compared with (the text tower's space)
    stability = snakemake.input.get("stability")
    phrases = snakemake.input.get("phrases")
    P = io.read_array(phrases) if phrases else None
    image = io.read_array(snakemake.input.image, mmap=True) if phrases else None
    cards, enrichment = tl.cluster_cards(
        tl.cluster_labels(io.read_table(snakemake.input.labels), feats.ids),
        feats.X,
        manifest,
        label_columns=labels,
        finding_columns=findings,
        finding_source=tl.multilabel(params).get("source"),
        metadata=tl.metadata_columns(manifest, exclude=[*labels, *findings]),
        stability=tl.clustering_stability(io.read_table(stability) if stability else None),
        phrases=None if P is None else [str(i) for i in P.ids],
        P=None if P is None else P.X,
        image=None if image is None else image.rows(feats.ids),
        min_share=snakemake.params.min_share,
    )
    log.info("%d cards: %s", len(cards), cards["name_source"].value_counts().to_dict())
    io.write_table(snakemake.output.table, cards)
    io.write_table(snakemake.output.enrichment, enrichment)
    pl.cluster_cards(cards, explore.read_thumbnails(snakemake.input.thumbnails), method=snakemake.wildcards.method,
                     max_cards=snakemake.params.max_cards, path=snakemake.output.png)

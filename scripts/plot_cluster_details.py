"""Rule plot_cluster_details: one clustering's figures, a grid of sample images per cluster and
its clusters x each known label as counts (contingency)."""

from typing import TYPE_CHECKING

from medembed import explore, io, pl, tl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    labels, manifest = io.read_table(snakemake.input.labels), io.read_table(snakemake.input.manifest)
    label_columns = tl.single_label_columns(io.read_table_params(snakemake.input.manifest))
    method = snakemake.wildcards.method
    if reason := tl.not_applicable(labels):  # e.g. gmm on 5 images: say so, draw no fake clusters
        for path in (snakemake.output.samples, snakemake.output.contingency):
            pl.save(pl.empty_figure(reason, title=method), path)
    else:
        pl.cluster_samples(
            labels,
            manifest,
            label_column=next(iter(label_columns), None),
            thumbnails=explore.read_thumbnails(snakemake.input.thumbnails),
            method=method,
            n_samples=snakemake.params.n_samples,
            max_clusters=snakemake.params.max_clusters,
            path=snakemake.output.samples,
        )
        pl.contingency(labels, manifest, label_columns=label_columns, method=method,
                       path=snakemake.output.contingency)

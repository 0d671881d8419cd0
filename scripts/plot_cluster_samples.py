"""Rule plot_cluster_samples: a grid of sample images per cluster."""

from typing import TYPE_CHECKING

from medembed import explore, io, pl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    info = io.read_table_params(snakemake.input.manifest)
    pl.cluster_samples(
        io.read_table(snakemake.input.labels),
        io.read_table(snakemake.input.manifest),
        label_column=next(iter(info.get("label_columns") or []), None),
        thumbnails=explore.read_thumbnails(snakemake.input.thumbnails),
        method=snakemake.wildcards.method,
        n_samples=snakemake.params.n_samples,
        max_clusters=snakemake.params.max_clusters,
        path=snakemake.output.png,
    )

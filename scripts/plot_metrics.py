"""Rule plot_metrics: the clusterings x (ARI, NMI, purity, silhouette) heatmap."""

from typing import TYPE_CHECKING

from medembed import io, pl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    w = snakemake.wildcards
    pl.metrics_heatmap(
        io.read_table(snakemake.input.metrics),
        title=f"{w.dataset} · {w.encoder} · {w.features}: clusterings against the known labels "
        "(best of each column outlined)",
        path=snakemake.output.png,
    )

"""Rule plot_clusters: every clustering drawn on one 2-D map."""

from typing import TYPE_CHECKING

from medembed import io, pl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    pl.clusters_on_map(
        io.read_array(snakemake.input.map),
        {io.method_name(p): io.read_table(p) for p in snakemake.input.labels},
        map_name=snakemake.params.map_name,
        path=snakemake.output.png,
    )

"""Rule plot_reductions: every 2-D map, coloured by a clustering and by each label."""

from typing import TYPE_CHECKING

from medembed import io, pl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    pl.reductions(
        {io.method_name(p): io.read_array(p) for p in snakemake.input.maps},
        clusters=io.read_table(snakemake.input.labels),
        cluster_name=snakemake.params.color_by,
        manifest=io.read_table(snakemake.input.manifest),
        label_columns=io.read_table_params(snakemake.input.manifest).get("label_columns", []),
        path=snakemake.output.png,
    )

"""Rule plot_contingency: one clustering's clusters x each known label, as counts."""

from typing import TYPE_CHECKING

from medembed import io, pl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    pl.contingency(
        io.read_table(snakemake.input.labels),
        io.read_table(snakemake.input.manifest),
        label_columns=io.read_table_params(snakemake.input.manifest).get("label_columns", []),
        method=snakemake.wildcards.method,
        path=snakemake.output.png,
    )

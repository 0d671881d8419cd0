"""Rule evaluate_clustering: agreement of one clustering with every label column."""

from typing import TYPE_CHECKING

from medembed import io, tl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    table = tl.evaluate_clustering(
        io.read_table(snakemake.input.labels),
        io.read_table(snakemake.input.manifest),
        io.read_table_params(snakemake.input.manifest).get("label_columns", []),
    )
    table.insert(0, "method", snakemake.wildcards.method)
    io.write_table(snakemake.output.metrics, table)

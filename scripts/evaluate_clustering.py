"""Rule evaluate_clustering: agreement with every label column, plus internal quality."""

from typing import TYPE_CHECKING

from medembed import io, tl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    labels = io.read_table(snakemake.input.labels)
    table = tl.evaluate_clustering(
        labels,
        io.read_table(snakemake.input.manifest),
        io.read_table_params(snakemake.input.manifest).get("label_columns", []),
        features=io.read_array(snakemake.input.features, mmap=True),
        label_fraction=io.read_table_params(snakemake.input.labels).get("label_fraction"),
    )
    table.insert(0, "params_hash", tl.params_hash(io.read_table_params(snakemake.input.labels)))
    table.insert(0, "features", snakemake.wildcards.features)
    table.insert(0, "method", snakemake.wildcards.method)
    table.insert(0, "kind", "cluster")
    io.write_table(snakemake.output.metrics, table)

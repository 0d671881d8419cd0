"""Rule evaluate_outliers: one detector's AUROC/AP against the dataset's known anomalies."""

from typing import TYPE_CHECKING

from medembed import io, tl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    scores = io.read_table(snakemake.input.scores)
    table = tl.evaluate_outliers(scores, io.read_table(snakemake.input.manifest), snakemake.params.anomaly)
    table.insert(0, "params_hash", tl.params_hash(io.read_table_params(snakemake.input.scores)))
    table.insert(0, "features", snakemake.wildcards.features)
    table.insert(0, "method", snakemake.wildcards.method)
    table.insert(0, "kind", "outliers")
    io.write_table(snakemake.output.metrics, table)

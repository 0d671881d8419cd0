"""Rule outlier_consensus: mean rank-normalised score over the validated detectors; ranked top table."""

from typing import TYPE_CHECKING

from medembed import io, tl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    tables = {io.method_name(p): io.read_table(p) for p in snakemake.input.scores}
    table = tl.consensus(tables, detectors=snakemake.params.detectors)
    io.write_table(snakemake.output.table, table)
    top = tl.top_outliers(table, snakemake.params.top_n)
    manifest = io.read_table(snakemake.input.manifest).drop(columns=["sha256"], errors="ignore")
    io.write_table(snakemake.output.top, top.merge(manifest, on="id", how="left"))

"""Rule compare_encoders: every encoder's probes side by side, the best of each column marked."""

from typing import TYPE_CHECKING

from medembed import io, pl, tl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    table = tl.compare_embeddings([io.read_table(p) for p in snakemake.input.tables])
    io.write_table(snakemake.output.table, table)
    pl.encoder_comparison(table, path=snakemake.output.png, title=f"{snakemake.wildcards.dataset}: which embedding fits?")

"""Rule compare_encoders: every encoder's probes side by side, the best (or tied) of each column marked."""

from typing import TYPE_CHECKING

from medembed import io, pl, tl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    # input.tables and input.outcomes list the encoders in the same order (rules/common.smk).
    tables = [io.read_table(p) for p in snakemake.input.tables]
    outcomes = [tl.outcomes_from_arrays(io.read_arrays(p)) for p in snakemake.input.outcomes]
    table = tl.compare_embeddings(tables, outcomes)
    io.write_table(snakemake.output.table, table)
    pl.encoder_comparison(table, path=snakemake.output.png, title=f"{snakemake.wildcards.dataset}: which embedding fits?")

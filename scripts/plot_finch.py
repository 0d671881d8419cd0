"""Rule plot_finch: FINCH's partitions (every level) as small multiples on one map."""

from typing import TYPE_CHECKING

from medembed import io, pl, tl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    emb, labels = io.read_array(snakemake.input.map), io.read_table(snakemake.input.labels)
    if reason := tl.not_applicable(labels) or tl.not_applicable(emb):
        pl.save(pl.empty_figure(reason, title="FINCH"), snakemake.output.png)
    else:
        pl.finch_levels(emb, labels, map_name=snakemake.params.map_name, path=snakemake.output.png)

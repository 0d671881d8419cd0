"""Rule plot_tree: leaves in the Poincaré disk (by label, by cluster) and the top of the tree."""

from typing import TYPE_CHECKING

from medembed import io, pl, tl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    labels = io.read_table(snakemake.input.labels)
    if reason := tl.not_applicable(labels):  # no tree was learned
        pl.save(pl.empty_figure(reason, title=snakemake.wildcards.method), snakemake.output.png)
    else:
        pl.tree_figure(
            labels,
            io.read_arrays(snakemake.input.model),
            io.read_table(snakemake.input.manifest),
            label_columns=io.read_table_params(snakemake.input.manifest).get("label_columns", []),
            method=snakemake.wildcards.method,
            path=snakemake.output.png,
        )

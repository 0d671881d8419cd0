"""Rule plot_reductions: every 2-D map, coloured by a clustering and by each label."""

from typing import TYPE_CHECKING

from medembed import io, pl, tl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    # maps not applicable here (h-NNE on 10 images) are left out; metrics.tsv says why
    maps = tl.applicable({io.method_name(p): io.read_array(p) for p in snakemake.input.maps})
    if not maps:
        pl.save(pl.empty_figure("No map is applicable to so few images (see metrics.tsv).", title="2-D maps"),
             snakemake.output.png)
    else:
        pl.reductions(
            maps,
            clusters=io.read_table(snakemake.input.labels),
            cluster_name=snakemake.params.color_by,
            manifest=io.read_table(snakemake.input.manifest),
            label_columns=tl.single_label_columns(io.read_table_params(snakemake.input.manifest)),
            path=snakemake.output.png,
        )

"""Rule plot_outlier_gallery: the consensus top-N as thumbnails, with scores and flags."""

from typing import TYPE_CHECKING

from medembed import explore, io, pl, tl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    labels = io.read_table_params(snakemake.input.manifest).get("label_columns") or []
    pl.outlier_gallery(
        io.read_table(snakemake.input.top),
        # detectors not applicable to so few images are left out (metrics.tsv says why)
        tl.applicable({io.method_name(p): io.read_table(p) for p in snakemake.input.scores}),
        explore.read_thumbnails(snakemake.input.thumbnails),
        n=snakemake.params.n,
        label_column=next(iter(labels), None),
        path=snakemake.output.png,
    )

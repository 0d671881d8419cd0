"""Rule plot_duplicates: each near-duplicate set side by side; split-crossing sets marked."""

from typing import TYPE_CHECKING

from medembed import explore, io, pl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    pl.duplicate_gallery(
        io.read_table(snakemake.input.sets),
        explore.read_thumbnails(snakemake.input.thumbnails),
        threshold=io.read_json(snakemake.input.summary).get("threshold"),
        max_sets=snakemake.params.max_sets,
        path=snakemake.output.png,
    )

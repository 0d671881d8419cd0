"""Rule plot_issues: a thumbnail gallery per issue type (the report's "Look at these first")."""

from typing import TYPE_CHECKING

from medembed import explore, io, pl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    issues = io.read_table(snakemake.input.issues)
    thumbnails = explore.read_thumbnails(snakemake.input.thumbnails)
    for kind, path in snakemake.output.items():
        pl.issue_gallery(issues, thumbnails, kind, path=path)

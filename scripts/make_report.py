"""Rule make_report: results/report.html, from the job's inputs only (see report.write_report)."""

from typing import TYPE_CHECKING

from medembed import report
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    report.write_report(
        snakemake.output.html,
        inputs=list(snakemake.input),
        summary={"data": snakemake.input.data, "run": snakemake.input.summary},
        datasets=snakemake.params.layout,
        captions=snakemake.params.captions,
        config=snakemake.params.config,
        inline=snakemake.params.inline,
    )

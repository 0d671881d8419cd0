"""Rule make_report: one self-contained HTML page to read the results."""

from typing import TYPE_CHECKING

from medembed import report
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    report.write_report(
        snakemake.output.html,
        datasets=snakemake.params.datasets,
        encoders=snakemake.params.encoders,
        features=snakemake.params.features,
        methods=snakemake.params.methods,
        results_dir="results",
    )

"""Rule evaluate_outliers: every detector's AUROC/AP against the dataset's known anomalies."""

from typing import TYPE_CHECKING

from medembed import io, tl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    manifest = io.read_table(snakemake.input.manifest)
    tables = [
        tl.tag_metrics(
            tl.evaluate_outliers(io.read_table(path), manifest, snakemake.params.anomaly),
            kind="outliers", method=method, features=snakemake.wildcards.features,
            params=io.read_table_params(path),
        )
        for method, path in zip(snakemake.params.methods, snakemake.input.scores, strict=True)
    ]
    io.write_table(snakemake.output.metrics, tl.concat_metrics(tables))

"""Rule cluster_findings: each multi-label finding's prevalence and enrichment per cluster of
one clustering (table), and its cluster x finding heatmap."""

from typing import TYPE_CHECKING

from medembed import io, pl, tl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]) as log:
    manifest = io.read_table(snakemake.input.manifest).set_index("id")
    findings = tl.finding_columns(io.read_table_params(snakemake.input.manifest))
    labels = io.read_table(snakemake.input.labels)
    table = tl.finding_enrichment(tl.cluster_labels(labels, manifest.index), manifest[findings])
    log.info("%d findings x %d clusters, %d cells with q < 0.05", len(findings), table["cluster"].nunique(),
             int((table["q"] < 0.05).sum()))
    io.write_table(snakemake.output.table, table)
    method = snakemake.wildcards.method
    pl.findings_heatmap(table, path=snakemake.output.png, method=method, max_rows=snakemake.params.max_clusters)

"""Rule evaluate_clustering: every clustering of a feature set against every label column,
plus internal quality (one job for all: scoring a table takes far less than a job's start)."""

from typing import TYPE_CHECKING

from medembed import io, tl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]) as log:
    manifest = io.read_table(snakemake.input.manifest)
    label_columns = io.read_table_params(snakemake.input.manifest).get("label_columns", [])
    features = io.read_array(snakemake.input.features, mmap=True)
    tables, replicates = [], {}
    for method, path in zip(snakemake.params.methods, snakemake.input.labels, strict=True):
        params = io.read_table_params(path)
        table = tl.evaluate_clustering(
            io.read_table(path), manifest, label_columns, features=features,
            label_fraction=params.get("label_fraction"), replicates=replicates.setdefault(method, {}),
        )
        tables.append(tl.tag_metrics(table, kind="cluster", method=method,
                                     features=snakemake.wildcards.features, params=params))
        log.info("%s: %d metrics rows", method, len(table))
    # ARI / NMI / purity: best, or not distinguishable from it (paired bootstrap over images)
    io.write_table(snakemake.output.metrics, tl.mark_ties(tl.concat_metrics(tables), replicates))

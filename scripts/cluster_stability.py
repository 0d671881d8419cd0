"""Rule cluster_stability: how much one clustering changes across seeds or subsamples."""

from typing import TYPE_CHECKING

from medembed import io, pp, tl
from medembed.workflow import job_logging, job_settings, set_threads

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    feats = io.read_array(snakemake.input.features)
    labels = tl.supervision_labels(
        io.read_table(snakemake.input.manifest), feats.ids, snakemake.params.label_column
    )
    runs = snakemake.params.runs
    result = tl.stability(
        snakemake.wildcards.method,
        snakemake.params.kwargs,
        feats.X,
        runtime=job_settings(snakemake.resources, snakemake.threads),
        labels=labels,
        n_runs=runs["n_runs"],
        subsample=runs["subsample"],
        **pp.knn_kwargs(snakemake.input.get("knn")),
        # the configured seed's run is the cluster job's result: read, not refitted
        reference=tl.cluster_labels(io.read_table(snakemake.input.labels), feats.ids),
    )
    log.info("%s stability (%s): %s", snakemake.wildcards.method, result["scheme"],
             result.get("not_applicable") or f"mean ARI {result['ari_mean']:.3f}")
    io.write_table(snakemake.output.metrics, tl.stability_table(result, snakemake.wildcards.features))

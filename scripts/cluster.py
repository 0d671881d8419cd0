"""Rule cluster: one clustering of one feature set."""

from typing import TYPE_CHECKING

from medembed import io, pp, tl
from medembed.workflow import job_logging, job_settings, set_threads

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    feats = io.read_array(snakemake.input.features)
    kw = pp.knn_kwargs(snakemake.input.get("knn"))
    model = tl.make_clusterer(
        snakemake.wildcards.method,
        runtime=job_settings(snakemake.resources, snakemake.threads),
        **snakemake.params.kwargs,
    )
    labels = tl.supervision_labels(
        io.read_table(snakemake.input.manifest), feats.ids, snakemake.params.label_column
    )
    tl.fit_clusterer(model, feats.X, labels, **kw)
    log.info("%s: %d clusters", snakemake.wildcards.method, model.n_clusters_)
    io.write_arrays(snakemake.output.model, tl.model_artifacts(model))
    io.write_table(snakemake.output.labels, tl.cluster_table(feats.ids, model), params=tl.result_params(model))

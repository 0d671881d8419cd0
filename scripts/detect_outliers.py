"""Rule detect_outliers: a score and a flag per image from one detector."""

from typing import TYPE_CHECKING

from medembed import io, pp, tl
from medembed.workflow import job_logging, job_settings, set_threads

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    feats = io.read_array(snakemake.input.features)
    kw = pp.knn_kwargs(snakemake.input.get("knn"))
    if snakemake.input.get("clusters") is not None:
        kw["clusters"] = io.read_table(snakemake.input.clusters)
    if snakemake.input.get("mixture") is not None:
        kw["mixture"] = io.read_arrays(snakemake.input.mixture)
    model = tl.make_outlier_detector(
        snakemake.wildcards.method,
        runtime=job_settings(snakemake.resources, snakemake.threads),
        **snakemake.params.kwargs,
    )
    tl.fit_outlier_detector(model, feats.X, **kw)  # scores 0, marked, where not applicable
    log.info("%s: %d outliers", snakemake.wildcards.method, int(model.is_outlier_.sum()))
    io.write_table(snakemake.output.scores, tl.outlier_table(feats.ids, model), params=tl.result_params(model))

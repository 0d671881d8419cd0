"""Rule reduce: one 2-D map of one feature set."""

from typing import TYPE_CHECKING

from medembed import io, pp, tl
from medembed.workflow import job_logging, job_settings, set_threads

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    set_threads(snakemake.threads)
    feats = io.read_array(snakemake.input.features)
    kw = pp.knn_kwargs(snakemake.input.get("knn"))
    model = tl.make_reducer(
        snakemake.wildcards.method,
        runtime=job_settings(snakemake.resources, snakemake.threads),
        **snakemake.params.kwargs,
    )
    Y = tl.fit_reducer(model, feats.X, **kw)  # all zeros, marked, where not applicable
    io.write_array(snakemake.output.emb, Y, feats.ids, params=tl.result_params(model))

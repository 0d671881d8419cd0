"""Rule evaluate_reduction: how well one map keeps the feature-space neighbourhoods."""

from typing import TYPE_CHECKING

from medembed import io, pp, tl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    # Metrics read a sample of rows: map the features instead of loading them.
    emb, feats = io.read_array(snakemake.input.emb), io.read_array(snakemake.input.features, mmap=True)
    io.write_table(
        snakemake.output.metrics,
        tl.tag_metrics(tl.evaluate_reduction(feats.X, emb, knn=pp.read_neighbors(snakemake.input.knn)), kind="reduce", method=snakemake.wildcards.method,
                       features=snakemake.wildcards.features, params=emb.params),
    )

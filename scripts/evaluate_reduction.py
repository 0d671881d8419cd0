"""Rule evaluate_reduction: how well one map keeps the feature-space neighbourhoods."""

from typing import TYPE_CHECKING

import pandas as pd

from medembed import io, tl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    # Metrics read a sample of rows: map the features instead of loading them.
    emb, feats = io.read_array(snakemake.input.emb), io.read_array(snakemake.input.features, mmap=True)
    table = pd.DataFrame(tl.reduction_metrics(feats.X, emb.X))
    io.write_table(
        snakemake.output.metrics,
        tl.tag_metrics(table, kind="reduce", method=snakemake.wildcards.method,
                       features=snakemake.wildcards.features, params=emb.params),
    )

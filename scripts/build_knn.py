"""Rule build_knn: the one kNN graph of a feature set that every neighbour-based method reuses."""

from typing import TYPE_CHECKING

from medembed import io, pp
from medembed.workflow import job_logging, set_threads

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    set_threads(snakemake.threads)
    feats = io.read_array(snakemake.input.features)
    # A dataset smaller than n_neighbors + 1 gets n - 1 neighbours, with a warning in the
    # log and the effective k in the graph's params.
    knn = pp.neighbors(feats.X, n_jobs=snakemake.threads, ids=feats.ids, clamp=True, **snakemake.params.kwargs)
    pp.write_neighbors(snakemake.output.knn, knn)

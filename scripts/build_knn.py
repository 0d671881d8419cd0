"""Rule build_knn: the one kNN graph of a feature set that every neighbour-based method reuses."""

from typing import TYPE_CHECKING

from medembed import io, pp
from medembed.workflow import job_logging, set_threads

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    set_threads(snakemake.threads)
    feats = io.read_array(snakemake.input.features)
    kw = dict(snakemake.params.kwargs)
    k = min(kw.pop("n_neighbors"), len(feats.X) - 1)
    knn = pp.neighbors(feats.X, n_neighbors=k, n_jobs=snakemake.threads, ids=feats.ids, **kw)
    pp.write_neighbors(snakemake.output.knn, knn)

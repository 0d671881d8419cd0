"""Rule compute_pca: PCA pre-reduction of a feature set for the methods configured to use it."""

from typing import TYPE_CHECKING

from medembed import io, pp
from medembed.workflow import job_logging, set_threads

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    set_threads(snakemake.threads)
    feats = io.read_array(snakemake.input.features)
    k = min(snakemake.params.n_components, *feats.X.shape)
    io.write_array(snakemake.output.pca, pp.pca(feats.X, n_components=k), feats.ids, params={"n_components": k})

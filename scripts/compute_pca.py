"""Rule compute_pca: PCA pre-reduction of a feature set for the methods configured to use it."""

from typing import TYPE_CHECKING

from medembed import io, pp
from medembed.workflow import job_logging, set_threads

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    set_threads(snakemake.threads)
    feats = io.read_array(snakemake.input.features)
    # a small collection gets n - 1 components, logged and recorded as the effective value
    Y = pp.pca(feats.X, n_components=snakemake.params.n_components)
    io.write_array(snakemake.output.pca, Y, feats.ids, params=pp.pca_params(snakemake.params.n_components, Y))

"""Rule combine_features: image and text features side by side."""

from typing import TYPE_CHECKING

from medembed import io, pp
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    both = pp.combine_features(io.read_array(snakemake.input.image), io.read_array(snakemake.input.text))
    io.write_array(snakemake.output.features, both.X, both.ids, params=both.params)

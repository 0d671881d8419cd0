"""Rule download_dataset: fetch, verify and extract a dataset (SLAKE) into place."""

from typing import TYPE_CHECKING

from medembed.datasets import fetch_slake
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    fetch_slake(snakemake.output.dataset, **snakemake.params.download)

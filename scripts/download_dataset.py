"""Rule download_dataset: fetch, verify and extract a dataset (SLAKE) into place."""

from typing import TYPE_CHECKING

from medembed.datasets import fetch_slake
from medembed.workflow import job_logging, job_settings

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    # params: what is fetched; settings: timeout, expected counts, lock-file location.
    fetch_slake(snakemake.output.dataset, **snakemake.params.download, **job_settings(snakemake.resources))

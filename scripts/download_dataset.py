"""Rule download_dataset: fetch, verify and lay out a dataset (SLAKE, or a hub parquet table)."""

from typing import TYPE_CHECKING

from medembed.datasets._download import fetch_hub_table, fetch_slake
from medembed.workflow import job_logging, job_settings

if TYPE_CHECKING:
    from snakemake.script import snakemake

FETCH = {"slake": fetch_slake, "table": fetch_hub_table}

with job_logging(snakemake.log[0]):
    reader = snakemake.params.get("reader", "slake")
    if reader not in FETCH:
        raise ValueError(f"download is not available for reader={reader!r}; use one of {', '.join(FETCH)}")
    # params: what is fetched; settings: timeout, expected counts, lock-file location.
    FETCH[reader](snakemake.output.dataset, **snakemake.params.download, **job_settings(snakemake.resources))

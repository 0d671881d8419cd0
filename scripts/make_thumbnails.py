"""Rule make_thumbnails: every manifest image as a small JPEG tile in sprite sheets, and its pixel
quality measures from the same decode (once per dataset)."""

from typing import TYPE_CHECKING

from medembed import explore, io
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    explore.make_thumbnails(
        io.read_table(snakemake.input.manifest),
        snakemake.output.thumbnails,
        decode=io.read_table_params(snakemake.input.manifest).get("decode"),
        threads=snakemake.threads,
        quality_table=snakemake.output.quality,
    )

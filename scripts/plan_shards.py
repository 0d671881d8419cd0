"""Rule plan_shards: which manifest rows each embedding job takes (content-keyed shards)."""

from typing import TYPE_CHECKING

from medembed import embed, io
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]) as log:
    plan = embed.plan_shards(io.read_table(snakemake.input.manifest), snakemake.params.shard_size)
    log.info("%d images in %d shard(s)", plan["n_images"].sum(), len(plan))
    io.write_table(snakemake.output.plan, plan)

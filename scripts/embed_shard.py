"""Rule embed_shard: L2-normalised embeddings of one shard of the manifest."""

import time
from typing import TYPE_CHECKING

from medembed import embed, io
from medembed.workflow import job_logging, job_settings, set_threads

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    cfg, run = snakemake.params.encoder, job_settings(snakemake.resources)
    rows = embed.shard_rows(
        io.read_table(snakemake.input.manifest), io.read_table(snakemake.input.plan), snakemake.wildcards.shard
    )
    decode = io.read_table_params(snakemake.input.manifest).get("decode", {})
    encoder = embed.load_encoder(cfg, run)
    log.info("encoder %s on %s, shard %s: %d images", cfg["name"], encoder.device, snakemake.wildcards.shard, len(rows))
    start = time.perf_counter()
    X = embed.embed_images(
        encoder, rows["path"].tolist(), batch_size=run.get("batch_size", 32), num_workers=snakemake.threads,
        decode=decode,
    )
    seconds = time.perf_counter() - start
    log.info("%d images in %.1f s (%.1f images/s)", len(rows), seconds, len(rows) / seconds)
    embed.check_finite(X, rows["id"])
    io.write_array(snakemake.output.emb, X, rows["id"], params={**cfg, "embed_seconds": seconds})

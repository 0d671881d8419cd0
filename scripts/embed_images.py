"""Rule embed_images: gather the shards' embeddings in manifest order, every id once."""

from typing import TYPE_CHECKING

from medembed import embed, io
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]) as log:
    parts = [io.read_array(p) for p in snakemake.input.shards]
    X, ids = embed.gather_shards(parts, io.read_table(snakemake.input.manifest)["id"])
    cfg = snakemake.params.encoder
    encoder = embed.make_encoder(cfg["name"], **cfg["params"])
    if encoder.needs_finalize:  # fitted on every image at once (the pixels baseline's PCA)
        X = encoder.finalize(X)
    embed.check_finite(X, ids)
    log.info("%d images from %d shard(s), dimension %d", len(ids), len(parts), X.shape[1])
    params = {k: v for k, v in parts[0].params.items() if k != "embed_seconds"}
    params["embed_seconds"] = sum(p.params.get("embed_seconds", float("nan")) for p in parts)
    io.write_array(snakemake.output.emb, X, ids, params=params)

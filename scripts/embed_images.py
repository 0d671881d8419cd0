"""Rule embed_images: one L2-normalised embedding per manifest row."""

from typing import TYPE_CHECKING

from medembed import embed, io
from medembed.workflow import job_logging, set_threads

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    cfg = snakemake.params.encoder
    manifest = io.read_table(snakemake.input.manifest)
    encoder = embed.make_encoder(cfg["name"], **cfg.get("params", {})).load(cfg["device"])
    log.info("encoder %s on %s, %d images", cfg["name"], encoder.device, len(manifest))
    X = embed.embed_images(
        encoder,
        manifest["path"].tolist(),
        batch_size=cfg["batch_size"],
        num_workers=max(1, snakemake.threads // 2),
    )
    io.write_array(snakemake.output.emb, X, manifest["id"], params=cfg)

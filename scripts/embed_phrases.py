"""Rule embed_phrases: the explorer's search phrases (and zero-shot prompts) as unit text vectors."""

from typing import TYPE_CHECKING

from medembed import embed, io
from medembed.workflow import job_logging, job_settings, set_threads

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    cfg, texts, run = snakemake.params.encoder, snakemake.params.texts, job_settings(snakemake.resources)
    encoder = embed.load_encoder(cfg, run)
    log.info("%d search phrases on %s", len(texts), encoder.device)
    P = embed.embed_phrases(encoder, texts, batch_size=run.get("text_batch_size", 64))
    io.write_array(snakemake.output.phrases, P, texts, params={"encoder": cfg, "n_texts": len(texts)})

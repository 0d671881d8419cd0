"""Rule embed_texts: embed each QA text once; per-image mean text features."""

from typing import TYPE_CHECKING

from medembed import embed, io, pp
from medembed.workflow import job_logging, job_settings, set_threads

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    cfg, tcfg, run = snakemake.params.encoder, snakemake.params.texts, job_settings(snakemake.resources)
    manifest = io.read_table(snakemake.input.manifest)
    texts = embed.build_qa_texts(io.read_table(snakemake.input.qa), tcfg["template"], tcfg["language"])
    encoder = embed.load_encoder(cfg, run)
    log.info("%d texts (%d distinct) on %s", len(texts), texts["text"].nunique(), encoder.device)
    T = embed.embed_texts(encoder, texts["text"].tolist(), batch_size=run.get("text_batch_size", 64))
    io.write_table(snakemake.output.texts, texts, params=tcfg)
    io.write_array(snakemake.output.emb, T, texts["qid"].astype(str), params=tcfg)
    feats = pp.text_features(T, texts["image_id"], manifest["id"], params=tcfg)
    io.write_array(snakemake.output.features, feats.X, feats.ids, params=feats.params)

"""Rule zero_shot: image-prompt similarities, predicted labels and their accuracy."""

from typing import TYPE_CHECKING

from medembed import embed, io
from medembed.workflow import job_logging, job_settings, set_threads

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    set_threads(snakemake.threads)
    cfg = snakemake.params.encoder
    emb = io.read_array(snakemake.input.emb)
    encoder = embed.load_encoder(cfg, job_settings(snakemake.resources))
    scores = embed.zero_shot(encoder, emb.X, snakemake.params.prompts, ids=emb.ids)
    io.write_table(snakemake.output.scores, scores, params=snakemake.params.prompts)
    accuracy = embed.zero_shot_accuracy(scores, io.read_table(snakemake.input.manifest))
    io.write_table(snakemake.output.accuracy, accuracy)

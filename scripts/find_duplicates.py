"""Rule find_duplicates: near-duplicate pairs and sets from the shared graph (split leakage)."""

from typing import TYPE_CHECKING

from medembed import datasets, io, pp, tl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]) as log:
    knn = pp.read_neighbors(snakemake.input.knn)
    manifest = io.read_table(snakemake.input.manifest).set_index("id")
    # a table dataset's own patient / split columns (manifest params) win over the config's
    own = io.read_table_params(snakemake.input.manifest)
    col = own.get("split_column") or snakemake.params.kwargs.get("split_column")
    split = manifest[col].reindex(knn.ids).to_numpy() if col and col in manifest else None
    pairs, sets, summary = tl.near_duplicates(knn, snakemake.params.kwargs["threshold"], split, ids=knn.ids)
    patient = own.get("patient_column") or snakemake.params.kwargs.get("patient_column")
    if patient and col and patient in manifest and col in manifest:
        summary["patient_leakage"] = datasets.patient_leakage(manifest.reset_index(), patient, col)
    log.info("near-duplicates: %s", summary)
    io.write_table(snakemake.output.pairs, pairs)
    io.write_table(snakemake.output.sets, sets)
    io.write_json(snakemake.output.summary, summary)

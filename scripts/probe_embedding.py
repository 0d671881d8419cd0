"""Rule probe_embedding: how well one embedding captures the known labels (for the comparison)."""

from typing import TYPE_CHECKING

import pandas as pd

from medembed import io, pp, tl
from medembed.workflow import job_logging, set_threads

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    set_threads(snakemake.threads)
    feats, image = io.read_array(snakemake.input.features), io.read_array(snakemake.input.image, mmap=True)
    manifest = io.read_table(snakemake.input.manifest).set_index("id")
    params = io.read_table_params(snakemake.input.manifest)
    # Findings (one binary column each) get the kNN-probe AUROC instead of the class probes.
    findings, source = tl.finding_columns(params), tl.multilabel(params).get("source") or "findings"
    columns = [c for c in params.get("label_columns", []) if c not in findings]
    knn = pp.read_neighbors(snakemake.input.knn)
    # Per-image outcomes (kNN votes, out-of-fold linear-probe predictions) go to a second
    # output: compare_encoders' paired bootstrap of the difference between two encoders.
    rows, outcomes = tl.embedding_probe(feats.X, knn, manifest.loc[feats.ids, columns], return_outcomes=True)
    rows += tl.finding_probe(knn, manifest.loc[feats.ids, findings], source=source)
    maps = io.read_table(snakemake.input.map_metrics)
    trust = maps.loc[maps["metric"] == "trustworthiness", "value"]
    seconds = image.params.get("embed_seconds", float("nan"))
    rows += [
        {"label": "", "metric": "trustworthiness", "value": float(trust.iloc[0]) if len(trust) else float("nan")},
        {"label": "", "metric": "dim", "value": float(feats.X.shape[1])},
        {"label": "", "metric": "embed_seconds", "value": float(seconds)},
        {"label": "", "metric": "images_per_s", "value": float(len(image.ids) / seconds) if seconds else float("nan")},
    ]
    table = pd.DataFrame(rows).reindex(columns=["label", "metric", "value", "low", "high"])
    table.insert(0, "features", snakemake.wildcards.features)
    table.insert(0, "encoder", snakemake.wildcards.encoder)
    io.write_table(snakemake.output.table, table)
    io.write_arrays(snakemake.output.outcomes, tl.outcome_arrays(feats.ids, outcomes))

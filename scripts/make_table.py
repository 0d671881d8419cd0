"""Rules table_*: one results table as clean HTML (best cells marked), for both reports."""

from typing import TYPE_CHECKING

from medembed import io, report
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    kind, inp = snakemake.params.kind, snakemake.input
    if kind == "metrics":
        body = report.metrics_tables(io.read_table(inp.metrics))
    elif kind == "outliers":
        labels = io.read_table_params(inp.manifest).get("label_columns", [])
        body = report.outliers_table(io.read_table(inp.top), label_columns=labels)
    elif kind == "duplicates":
        body = report.duplicates_table(io.read_json(inp.summary), io.read_table(inp.sets))
    else:
        raise ValueError(f"make_table: unknown table kind {kind!r}")
    w = snakemake.wildcards
    io.write_text(snakemake.output.html,
                  report.table_fragment(body, title=f"{kind}: {w.dataset} · {w.encoder} · {w.features}"))

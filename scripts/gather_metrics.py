"""Rule gather_metrics: one tidy table of every clustering's metrics."""

from typing import TYPE_CHECKING

import pandas as pd

from medembed import io
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    tables = [io.read_table(p) for p in snakemake.input.tables]
    table = pd.concat(tables, ignore_index=True)
    # A method's rows without a supervision (its stability) take the method's own; maps
    # and detectors see no labels: unsupervised, scored on every image.
    if "supervision" in table:
        own = table.dropna(subset=["supervision"]).groupby("method")["supervision"].first()
        table["supervision"] = table["supervision"].fillna(table["method"].map(own))
    for col, default in (("supervision", "none"), ("scored_on", "all")):
        table[col] = table[col].fillna(default) if col in table else default
    io.write_table(snakemake.output.table, table)

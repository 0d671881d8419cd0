"""Rule gather_metrics: one tidy table of every clustering's metrics."""

from typing import TYPE_CHECKING

import pandas as pd

from medembed import io
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    tables = [io.read_table(p) for p in snakemake.input.tables]
    io.write_table(snakemake.output.table, pd.concat(tables, ignore_index=True))

"""Rule summarize_run: the datasets (size, skipped files by kind, encoders and dimension),
the time and peak memory of every stage (benchmark files) and the config of the run."""

from typing import TYPE_CHECKING

import yaml

from medembed import io, report
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    inp, params = snakemake.input, snakemake.params
    datasets = {ds: {"manifest": m, "skipped": s}
                for ds, m, s in zip(params.datasets, inp.manifests, inp.skipped, strict=True)}
    benchmarks = {name.removeprefix("bench_"): list(files) for name, files in inp.items()
                  if name.startswith("bench_")}
    io.write_text(snakemake.output.data,
                  report.table_fragment(report.data_summary(datasets, params.encoders), title="Data"))
    io.write_text(snakemake.output.run,
                  report.table_fragment(report.run_summary(benchmarks, params.config), title="Run"))
    io.write_text(snakemake.output.config, yaml.safe_dump(report.plain(params.config), sort_keys=False))

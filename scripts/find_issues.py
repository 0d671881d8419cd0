"""Rule find_issues: the issue table of one dataset x encoder x feature set (tl.find_issues)."""

from typing import TYPE_CHECKING

from medembed import io, pp, tl
from medembed.workflow import job_logging, set_threads

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    inp = snakemake.input
    params = io.read_table_params(inp.manifest)
    sets = io.read_table(inp.sets)
    detections = {io.method_name(p): io.read_table(p) for p in inp.get("scores", [])}
    issues, summary, nmi = tl.find_issues(
        io.read_table(inp.manifest),
        features=io.read_array(inp.features),
        knn=pp.read_neighbors(inp.knn),
        skipped=io.read_table(inp.skipped),
        clusterings=tl.applicable({io.method_name(p): io.read_table(p) for p in inp.clusterings}),
        consensus=io.read_table(inp.consensus) if "consensus" in inp.keys() else None,
        detections=tl.applicable(detections),
        pairs=io.read_table(inp.pairs),
        split=sets.set_index("id")["split"] if "split" in sets else None,
        quality=io.read_table(inp.quality) if "quality" in inp.keys() else None,
        label_columns=tl.single_label_columns(params),
        findings=tl.finding_columns(params),
        log=log,
    )
    io.write_table(snakemake.output.issues, issues)
    io.write_table(snakemake.output.summary, summary)
    io.write_table(snakemake.output.nmi, nmi)

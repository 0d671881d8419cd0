"""Rule make_explorer: the interactive explorer of one dataset, encoder and feature set."""

from typing import TYPE_CHECKING

from medembed import explore, io, pp, tl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    inp, wc = snakemake.input, snakemake.wildcards
    consensus = inp.get("consensus")
    params = io.read_table_params(inp.manifest)
    # maps not applicable to so few images (all zeros) are left out, unless none is left
    maps = {io.method_name(p): io.read_array(p) for p in inp.maps}
    maps = tl.applicable(maps) or maps
    explore.build_explorer(
        snakemake.output.explorer,
        io.read_table(inp.manifest),
        maps,
        thumbnails=inp.thumbnails,
        label_columns=params.get("label_columns", []),
        findings=tl.finding_columns(params),
        clusterings={io.method_name(p): io.read_table(p) for p in inp.clusters},
        outliers={io.method_name(p): io.read_table(p) for p in inp.get("outliers", [])},
        consensus=io.read_table(consensus) if consensus else None,
        top=io.read_table(inp.top) if inp.get("top") else None,
        duplicates=io.read_table(inp.sets),
        issues=io.read_table(inp.issues),
        neighbors=pp.read_neighbors(inp.knn),
        phrases=io.read_array(inp.phrases) if inp.get("phrases") else None,
        image=io.read_array(inp.image) if inp.get("image") else None,
        cluster_names=explore.read_cards(inp.get("cards", [])),
        title=f"{wc.dataset} · {wc.encoder} · {wc.features}",
        default_map=snakemake.params.map_name,
    )

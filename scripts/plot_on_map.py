"""Rules plot_cluster_maps and plot_outliers: every clustering, or every outlier detector's
flagged images, drawn on one 2-D map (``params.kind``: ``clusters`` or ``outliers``)."""

from typing import TYPE_CHECKING

from medembed import explore, io, pl, tl
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

DRAW = {"clusters": (pl.clusters_on_map, "Clusterings"), "outliers": (pl.outliers_on_map, "Outliers")}

with job_logging(snakemake.log[0]):
    draw, title = DRAW[snakemake.params.kind]
    emb = io.read_array(snakemake.input.map)
    # results not applicable to so few images are left out (metrics.tsv says why)
    results = tl.applicable({io.method_name(p): io.read_table(p) for p in snakemake.input.results})
    if tl.not_applicable(emb) or not results:
        message = tl.not_applicable(emb) or "No result is applicable to so few images (see metrics.tsv)."
        pl.save(pl.empty_figure(message, title=title), snakemake.output.png)
    else:
        # the cluster cards' names of the clusterings that have cards (cards/<method>/cluster_cards.tsv)
        names = {m: tl.card_names(t) for m, t in explore.read_cards(snakemake.input.get("cards", [])).items()}
        draw(emb, results, map_name=snakemake.params.map_name, path=snakemake.output.png,
             **({"names": names} if names else {}))

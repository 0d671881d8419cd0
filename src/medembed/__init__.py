"""medembed: embeddings, maps, clusters and outliers for collections of medical images.

Namespaces follow scanpy: :mod:`medembed.pp` (features, neighbours),
:mod:`medembed.tl` (reduce, cluster, outliers, metrics), :mod:`medembed.pl` (figures);
plus :mod:`medembed.datasets` (readers, download), :mod:`medembed.embed` (encoders),
:mod:`medembed.explore` (the explorer), :mod:`medembed.report` and :mod:`medembed.io`
(file formats). :mod:`medembed.workflow` is the Snakemake machinery on top of them; the
analysis API never imports it (the layers contract in pyproject.toml).
"""

__version__ = "0.1.0"

"""medembed: embeddings, maps, clusters and outliers for collections of medical images.

Namespaces follow scanpy: :mod:`medembed.pp` (features, neighbours),
:mod:`medembed.tl` (reduce, cluster, outliers, metrics), :mod:`medembed.pl` (figures);
plus :mod:`medembed.datasets` (readers, download) and :mod:`medembed.embed` (encoders).
"""

__version__ = "0.1.0"

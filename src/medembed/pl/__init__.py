"""Figures (scanpy's ``pl``): they only read results, never compute them."""

from ._hyphc import dendrogram_top, poincare_disk
from ._maps import clusters_on_map, outliers_on_map, reductions
from ._samples import cluster_samples
from ._tree import tree_figure

__all__ = [
    "cluster_samples",
    "clusters_on_map",
    "dendrogram_top",
    "outliers_on_map",
    "poincare_disk",
    "reductions",
    "tree_figure",
]

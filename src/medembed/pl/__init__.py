"""Figures (scanpy's ``pl``): they only read results, never compute them."""

from ._maps import clusters_on_map, outliers_on_map, reductions
from ._samples import cluster_samples

__all__ = ["cluster_samples", "clusters_on_map", "outliers_on_map", "reductions"]

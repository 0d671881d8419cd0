"""Preprocessing: PCA pre-reduction, image+text fusion and the one shared kNN graph."""

from __future__ import annotations

from ._neighbors import (
    EXACT_MAX,
    Neighbors,
    knn_kwargs,
    neighbors,
    read_neighbors,
    write_neighbors,
)
from ._pca import combine, pca

__all__ = [
    "knn_kwargs",
    "EXACT_MAX",
    "Neighbors",
    "combine",
    "neighbors",
    "pca",
    "read_neighbors",
    "write_neighbors",
]

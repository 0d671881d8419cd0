"""Preprocessing: image quality from pixels, PCA pre-reduction, image+text fusion and the one
shared kNN graph.

Names are imported on first use (see :mod:`medembed._lazy`).
"""

from __future__ import annotations

from .._lazy import attach

_LAZY = {
    "EXACT_MAX": "._neighbors",
    "Neighbors": "._neighbors",
    "knn_kwargs": "._neighbors",
    "neighbors": "._neighbors",
    "read_neighbors": "._neighbors",
    "write_neighbors": "._neighbors",
    "combine": "._pca",
    "combine_features": "._features",
    "text_features": "._features",
    "pca": "._pca",
    "pca_params": "._pca",
    "image_quality": "._quality",
    "quality_issues": "._quality",
    "quality_table": "._quality",
}

__getattr__, __dir__, __all__ = attach(__name__, _LAZY)

"""Figures (scanpy's ``pl``): they only read results, never compute them.

Names are imported on first use (see :mod:`medembed._lazy`).
"""

from __future__ import annotations

from .._lazy import attach

_LAZY = {
    "dendrogram_top": "._hyphc",
    "poincare_disk": "._hyphc",
    "clusters_on_map": "._maps",
    "label_clusters": "._maps",
    "cluster_cards": "._cards",
    "outliers_on_map": "._maps",
    "reductions": "._maps",
    "cluster_samples": "._samples",
    "encoder_comparison": "._encoders",
    "findings_heatmap": "._findings",
    "findings_matrix": "._findings",
    "tree_figure": "._tree",
    "finch_levels": "._maps",
    "metrics_heatmap": "._metrics",
    "metrics_matrix": "._metrics",
    "best_mask": "._metrics",
    "contingency": "._metrics",
    "contingency_table": "._metrics",
    "outlier_gallery": "._galleries",
    "issue_gallery": "._issues",
    "ISSUE_TITLES": "._issues",
    "duplicate_gallery": "._galleries",
    "duplicate_sets": "._galleries",
    "legend_groups": "._style",
    "point_style": "._style",
    "empty_figure": "._style",
    "save": "._style",
}

__getattr__, __dir__, __all__ = attach(__name__, _LAZY)

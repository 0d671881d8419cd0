"""Tools: reductions, clusterings, outlier detection and metrics (scanpy's ``tl``).

Names are imported on first use (see :mod:`medembed._lazy`).
"""

from __future__ import annotations

from .._lazy import attach

_LAZY = {
    "NOISE": "._base",
    "NOT_APPLICABLE": "._base",
    "NotApplicable": "._base",
    "BaseClusterer": "._base",
    "BaseOutlierDetector": "._base",
    "BaseReducer": "._base",
    "near_duplicates": "._duplicates",
    "cluster_metrics": "._metrics",
    "internal_metrics": "._metrics",
    "outlier_metrics": "._metrics",
    "purity_score": "._metrics",
    "reduction_metrics": "._metrics",
    "consensus": ".outliers._consensus",
    "top_outliers": ".outliers._consensus",
    "make_reducer": "._api",
    "make_clusterer": "._api",
    "make_outlier_detector": "._api",
    "cluster_table": "._api",
    "cluster_labels": "._api",
    "model_artifacts": "._api",
    "supervision_labels": "._api",
    "fit_clusterer": "._api",
    "fit_reducer": "._api",
    "fit_outlier_detector": "._api",
    "not_applicable": "._api",
    "applicable": "._api",
    "params_hash": "._api",
    "result_params": "._api",
    "runtime_params": "._api",
    "stability": "._stability",
    "stability_table": "._api",
    "outlier_table": "._api",
    "evaluate_clustering": "._evaluate",
    "embedding_probe": "._probe",
    "knn_accuracy": "._probe",
    "compare_embeddings": "._probe",
    "knn_auroc": "._probe",
    "knn_finding_scores": "._probe",
    "finding_probe": "._probe",
    "finding_enrichment": "._enrichment",
    "finding_columns": "._enrichment",
    "single_label_columns": "._enrichment",
    "finding_matrix": "._enrichment",
    "multilabel": "._enrichment",
    "benjamini_hochberg": "._enrichment",
    "evaluate_outliers": "._evaluate",
    "evaluate_reduction": "._evaluate",
    "not_applicable_rows": "._evaluate",
    "tag_metrics": "._evaluate",
    "concat_metrics": "._evaluate",
}

__getattr__, __dir__, __all__ = attach(__name__, _LAZY)

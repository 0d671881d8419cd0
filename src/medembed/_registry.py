"""Every method the analysis API can build by name: config name -> implementation.

The package's name-based factories (:func:`medembed.datasets.read_dataset`,
:func:`medembed.embed.make_encoder`, :func:`medembed.tl.make_clusterer`, ...) look their
name up here. Each entry maps a config name to ``"module:attribute"``; :func:`load`
imports it lazily, so this module imports nothing from the package and sits below every
namespace (the layers contract in pyproject.toml). The same name is the config key, the
``{method}`` wildcard, the file stem of the result and the label in the report. What the
workflow needs on top (which method takes which input, runtime config keys, code
versions) is :mod:`medembed.workflow.registry`.

Pure Python with no third-party imports, so the Snakefile can read it without loading
torch or sklearn.
"""

from __future__ import annotations

import importlib

REGISTRY: dict[str, dict[str, str]] = {
    "readers": {
        "slake": "medembed.datasets._slake:read_slake",
        "folder": "medembed.datasets._folder:read_folder",
        "table": "medembed.datasets._table:read_table_dataset",
    },
    "encoders": {
        "efficientnet_lite0": "medembed.embed._efficientnet:EfficientNetLite0",
        "efficientnet_lite2": "medembed.embed._efficientnet:EfficientNetLite2",
        "biomedclip": "medembed.embed._openclip:OpenCLIPEncoder",
        "open_clip": "medembed.embed._openclip:OpenCLIPEncoder",
        "timm": "medembed.embed._timm:TimmEncoder",
        "hf_transformers": "medembed.embed._transformers:TransformersEncoder",
        "rad_dino": "medembed.embed._transformers:TransformersEncoder",
        "pixels": "medembed.embed._pixels:PixelsEncoder",
    },
    "reduce": {
        "pca": "medembed.tl.reduce._pca:PCAReducer",
        "tsne": "medembed.tl.reduce._tsne:TSNEReducer",
        "umap": "medembed.tl.reduce._umap:UMAPReducer",
        "hnne": "medembed.tl.reduce._hnne:HNNEReducer",
    },
    "cluster": {
        "kmeans": "medembed.tl.cluster._kmeans:KMeansClusterer",
        "dbscan": "medembed.tl.cluster._dbscan:DBSCANClusterer",
        "hdbscan": "medembed.tl.cluster._hdbscan:HDBSCANClusterer",
        "finch": "medembed.tl.cluster._finch:FINCHClusterer",
        "kmeans_mahalanobis": "medembed.tl.cluster._mahalanobis:MahalanobisKMeans",
        "khm": "medembed.tl.cluster._khm:KHarmonicMeans",
        "kernel_khm": "medembed.tl.cluster._khm:KernelKHarmonicMeans",
        "gmm": "medembed.tl.cluster._gmm:GMMClusterer",
        "spectral": "medembed.tl.cluster._spectral:SpectralClusterer",
        "hyphc": "medembed.tl.cluster._hyphc:HyperbolicHC",
        "hyphc_learned": "medembed.tl.cluster._hyphc_learned:LearnedHyperbolicHC",
    },
    "outliers": {
        "isolation_forest": "medembed.tl.outliers._isolation_forest:IsolationForestDetector",
        "dbscan_noise": "medembed.tl.outliers._noise:NoiseOutliers",
        "hdbscan_noise": "medembed.tl.outliers._noise:NoiseOutliers",
        "gmm_density": "medembed.tl.outliers._gmm_density:GMMDensityOutliers",
        "pca_error": "medembed.tl.outliers._pca_error:PCAReconstructionOutliers",
        "knn_distance": "medembed.tl.outliers._knn:KNNDistanceOutliers",
        "lof": "medembed.tl.outliers._knn:LOFOutliers",
    },
}

#: Outlier detectors the consensus may weigh, with the input they were validated on: each
#: scores planted outliers at AUROC >= 0.9 on both planted sets of
#: benchmarks/outliers_planted.py (random-direction outliers in benchmarks/scale.py's
#: embeddings; foreign images among the demo's EfficientNet features) and in
#: tests/test_outlier_detectors.py. "pca": fitted on the PCA features (``pca.methods``),
#: "features": on the full ones, "any": the input does not decide (a graph or a clustering).
#: The isolation forest on the full features misses them (AUROC 0.82 on both sets).
CONSENSUS_OUTLIERS: dict[str, str] = {
    "dbscan_noise": "any",
    "hdbscan_noise": "any",
    "isolation_forest": "pca",
    "gmm_density": "pca",
    "pca_error": "features",
    "knn_distance": "any",
    "lof": "any",
}

#: Estimator parameters a job sets from its rule's ``threads`` (:func:`medembed.workflow.job_settings`).
THREAD_KEYS = frozenset({"n_jobs", "core_dist_n_jobs"})

#: Estimator parameters that change how a method runs but not what it computes: they are
#: left out of a result's params (:func:`medembed.tl.result_params`) and reach jobs as
#: runtime settings (``medembed.workflow.registry.RUNTIME_KEYS["method"]``).
RUNTIME_PARAMS = frozenset({"device", "progress"}) | THREAD_KEYS


def names(stage: str) -> list[str]:
    """Config names known for ``stage``."""
    return sorted(_stage(stage))


def _stage(stage: str) -> dict[str, str]:
    if stage not in REGISTRY:
        raise ValueError(f"unknown stage {stage!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[stage]


def target(stage: str, name: str) -> str:
    entries = _stage(stage)
    if name not in entries:
        raise ValueError(
            f"unknown {stage} method {name!r}; known: {', '.join(sorted(entries))}"
        )
    return entries[name]


def load(stage: str, name: str):
    """Import and return the object registered as ``name`` in ``stage``."""
    module, attr = target(stage, name).split(":")
    return getattr(importlib.import_module(module), attr)


def module_of(stage: str, name: str) -> str:
    """Dotted module that implements ``name`` in ``stage`` (what :func:`load` imports)."""
    return target(stage, name).split(":")[0]

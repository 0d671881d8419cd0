"""Registry of every method the workflow can run, keyed by its config name.

This module is pure Python with no third-party imports so that the Snakefile can
read it (to list methods and hash their source) without loading torch or sklearn.
Each entry maps a config name to ``"module:attribute"``; :func:`load` imports it
lazily. The same name is the config key, the ``{method}`` wildcard, the file stem
of the result and the label in the report.
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

REGISTRY: dict[str, dict[str, str]] = {
    "readers": {
        "slake": "medembed.datasets._slake:read_slake",
        "folder": "medembed.datasets._folder:read_folder",
    },
    "encoders": {
        "efficientnet_lite0": "medembed.embed._efficientnet:EfficientNetLite0",
        "biomedclip": "medembed.embed._openclip:OpenCLIPEncoder",
        "open_clip": "medembed.embed._openclip:OpenCLIPEncoder",
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

#: Encoders with a text tower (they can embed QA texts and score zero-shot prompts).
ENCODERS_WITH_TEXT = frozenset({"biomedclip", "open_clip"})

#: Methods whose ``fit`` takes the shared kNN graph as ``knn=``.
USES_KNN = frozenset({"tsne", "umap", "spectral", "knn_distance", "lof"})

#: Clusterers that learn from a fraction of known labels (``uses_labels = True``).
SEMI_SUPERVISED = frozenset({"hyphc_learned"})

#: Clusterers that produce a tree (linkage + Newick) and get a tree figure.
HIERARCHICAL = frozenset({"hyphc", "hyphc_learned"})

#: Outlier methods that read a clustering's labels; value = cluster method name.
OUTLIERS_FROM_CLUSTER: dict[str, str] = {
    "dbscan_noise": "dbscan",
    "hdbscan_noise": "hdbscan",
}

_PKG_ROOT = Path(__file__).resolve().parent
#: Modules every method of a stage depends on (their edits rerun the whole stage).
_STAGE_COMMON = {
    "reduce": ["tl/_base.py", "_validation.py"],
    "cluster": ["tl/_base.py", "_validation.py"],
    "outliers": ["tl/_base.py", "_validation.py"],
    "encoders": ["embed/_base.py", "embed/_images.py"],
    "readers": ["datasets/_images.py", "datasets/_manifest.py"],
}


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


def source_files(stage: str, name: str) -> list[Path]:
    """Source files that implement ``name``: its own module plus the stage's shared ones."""
    module = target(stage, name).split(":")[0]
    rel = Path(*module.split(".")[1:]).with_suffix(".py")
    common = _STAGE_COMMON.get(stage, []) + (["pp/_neighbors.py"] if name in USES_KNN else [])
    files = [_PKG_ROOT / rel] + [_PKG_ROOT / p for p in common]
    return [f for f in files if f.exists()]


def _hash(files) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def code_version(stage: str, name: str) -> str:
    """Short hash of the source implementing a method, so a code edit reruns its job."""
    return _hash(source_files(stage, name))


def module_version(*modules: str) -> str:
    """Short hash of package modules given relative to the package (``"embed/_texts.py"``)."""
    return _hash(_PKG_ROOT / m for m in modules)

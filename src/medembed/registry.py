"""Registry of every method the workflow can run, keyed by its config name.

This module is pure Python with no third-party imports so that the Snakefile can
read it (to list methods and hash their source) without loading torch or sklearn.
Each entry maps a config name to ``"module:attribute"``; :func:`load` imports it
lazily. The same name is the config key, the ``{method}`` wildcard, the file stem
of the result and the label in the report.
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

#: Encoders with a text tower (they can embed QA texts and score zero-shot prompts).
ENCODERS_WITH_TEXT = frozenset({"biomedclip", "open_clip"})

#: Methods whose ``fit`` takes the shared kNN graph as ``knn=``.
USES_KNN = frozenset({"tsne", "umap", "spectral", "knn_distance", "lof", "dbscan"})

#: Clusterers that learn from a fraction of known labels (``uses_labels = True``).
SEMI_SUPERVISED = frozenset({"hyphc_learned"})

#: Clusterers that produce a tree (linkage + Newick) and get a tree figure.
HIERARCHICAL = frozenset({"hyphc", "hyphc_learned"})

#: Outlier methods that read a clustering's labels; value = cluster method name.
OUTLIERS_FROM_CLUSTER: dict[str, str] = {
    "dbscan_noise": "dbscan",
    "hdbscan_noise": "hdbscan",
}

#: Outlier methods that reuse a clusterer's fitted model (``fit(X, mixture=...)``) when
#: that clusterer runs on the same features; value = cluster method name (Malheiros, n.d.).
OUTLIERS_FROM_MODEL: dict[str, str] = {"gmm_density": "gmm"}

#: Estimator parameters a job sets from its rule's ``threads`` (:func:`medembed.workflow.job_settings`).
THREAD_KEYS = frozenset({"n_jobs", "core_dist_n_jobs"})

#: Config keys that change how a job runs but not what it computes. They reach jobs as
#: snakemake ``resources`` (never ``params``), so changing them reruns nothing. Keyed by
#: the config section they sit in; "method" applies to every reduce/cluster/outliers entry.
RUNTIME_KEYS: dict[str, frozenset[str]] = {
    "encoder": frozenset({"batch_size", "device"}),
    "encoder.params": frozenset({"local_dir"}),
    "texts": frozenset({"batch_size"}),
    "download": frozenset(
        {"timeout", "expected_images", "expected_qa", "lock_file", "max_unpacked_mb", "max_ratio", "max_members"}
    ),
    "method": frozenset({"device", "progress"}) | THREAD_KEYS,
}


def split_runtime(section: str, values: dict | None) -> tuple[dict, dict]:
    """``(science, runtime)``: ``values`` without and with only the runtime keys of ``section``."""
    values = dict(values or {})
    keys = RUNTIME_KEYS.get(section, frozenset())
    return (
        {k: v for k, v in values.items() if k not in keys},
        {k: v for k, v in values.items() if k in keys},
    )


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


def code_version(script, stage: str | None = None, name: str | None = None) -> str:
    """Short hash of a rule's ``script`` and every package module it reaches.

    With ``stage`` and ``name`` the method's registered module (loaded by name, so not
    visible as an import) and its registry entry are part of the hash too. The import
    graph is read from the source by :mod:`medembed.codeversion`.
    """
    from . import codeversion

    if stage is None:
        return codeversion.code_version(script)
    return codeversion.code_version(
        script, extra=(module_of(stage, name),), salt=target(stage, name)
    )

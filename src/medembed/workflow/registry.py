"""The method registry as the workflow reads it (``rules/common.smk``, config checks).

The names and their implementations are the analysis API's catalogue,
:mod:`medembed._registry`, re-exported here. On top of it this module says what the
workflow's DAG needs to know about a method (which inputs its job gets, which config keys
are runtime settings) and gives each job its code version.

This module is pure Python with no third-party imports so that the Snakefile can
read it (to list methods and hash their source) without loading torch or sklearn.
"""

from __future__ import annotations

from .._registry import (
    CONSENSUS_OUTLIERS,
    REGISTRY,
    RUNTIME_PARAMS,
    THREAD_KEYS,
    load,
    module_of,
    names,
    target,
)

__all__ = [
    "CONSENSUS_OUTLIERS",
    "ENCODERS_WITH_TEXT",
    "HIERARCHICAL",
    "OUTLIERS_FROM_CLUSTER",
    "OUTLIERS_FROM_MODEL",
    "REGISTRY",
    "RUNTIME_KEYS",
    "SEMI_SUPERVISED",
    "THREAD_KEYS",
    "USES_KNN",
    "code_version",
    "load",
    "module_of",
    "names",
    "split_runtime",
    "target",
]

#: Encoders with a text tower (they can embed QA texts and score zero-shot prompts).
ENCODERS_WITH_TEXT = frozenset({"biomedclip", "open_clip"})

#: Methods whose ``fit`` takes the shared kNN graph as ``knn=``.
USES_KNN = frozenset({"tsne", "umap", "hnne", "spectral", "knn_distance", "lof", "dbscan", "hdbscan", "finch"})

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

#: Config keys that change how a job runs but not what it computes. They reach jobs as
#: snakemake ``resources`` (never ``params``), so changing them reruns nothing. Keyed by
#: the config section they sit in; "method" applies to every reduce/cluster/outliers entry.
RUNTIME_KEYS: dict[str, frozenset[str]] = {
    "encoder": frozenset({"batch_size", "device", "onnx_cache"}),
    "encoder.params": frozenset({"local_dir"}),
    "texts": frozenset({"batch_size"}),
    "download": frozenset(
        {"timeout", "expected_images", "expected_qa", "lock_file", "max_unpacked_mb", "max_ratio", "max_members"}
    ),
    "method": RUNTIME_PARAMS,
}


def split_runtime(section: str, values: dict | None) -> tuple[dict, dict]:
    """``(science, runtime)``: ``values`` without and with only the runtime keys of ``section``."""
    values = dict(values or {})
    keys = RUNTIME_KEYS.get(section, frozenset())
    return (
        {k: v for k, v in values.items() if k not in keys},
        {k: v for k, v in values.items() if k in keys},
    )


def code_version(script, stage: str | None = None, name: str | None = None) -> str:
    """Short hash of a rule's ``script`` and every package module it reaches.

    With ``stage`` and ``name`` the method's registered module (loaded by name, so not
    visible as an import) and its registry entry are part of the hash too. The import
    graph is read from the source by :mod:`medembed.workflow.codeversion`.
    """
    from . import codeversion

    if stage is None:
        return codeversion.code_version(script)
    return codeversion.code_version(
        script, extra=(module_of(stage, name),), salt=target(stage, name)
    )

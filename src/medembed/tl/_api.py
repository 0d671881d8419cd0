"""Make, fit and tabulate the registry's estimators (what the rule scripts call)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .. import _registry as registry
from ._base import (
    NOISE,
    NOT_APPLICABLE,
    BaseClusterer,
    BaseOutlierDetector,
    BaseReducer,
    NotApplicable,
)

log = logging.getLogger(__name__)


def runtime_params(stage: str, name: str, runtime: dict | None) -> dict:
    """The runtime settings (threads as n_jobs, device, ...) that estimator ``name`` accepts."""
    if not runtime:
        return {}
    cls = registry.load(stage, name)
    accepted = set(cls().get_params()) if hasattr(cls, "get_params") else set()
    return {k: v for k, v in runtime.items() if k in accepted}


def _make(stage: str, name: str, params: dict, runtime: dict | None):
    cls = registry.load(stage, name)
    params = {**params, **runtime_params(stage, name, runtime)}
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(f"{stage}.{name}: bad parameter ({exc})") from exc


def make_reducer(name: str, *, runtime: dict | None = None, **params) -> BaseReducer:
    """The reducer registered as ``name``; ``runtime`` settings (n_jobs, device) apply where accepted."""
    return _make("reduce", name, params, runtime)


def make_clusterer(name: str, *, runtime: dict | None = None, **params) -> BaseClusterer:
    """The clusterer registered as ``name``; ``runtime`` settings (n_jobs, device) apply where accepted."""
    return _make("cluster", name, params, runtime)


def make_outlier_detector(name: str, *, runtime: dict | None = None, **params) -> BaseOutlierDetector:
    """The detector registered as ``name``; ``runtime`` settings (n_jobs, device) apply where accepted."""
    return _make("outliers", name, params, runtime)


#: Estimator parameters that do not change a result: left out of the written params.
RUNTIME_PARAMS = registry.RUNTIME_PARAMS


def result_params(model) -> dict:
    """The parameters that define ``model``'s result (``get_params`` minus runtime ones),
    plus ``effective``: the values a method settled on where they differ from the ones
    asked for (DBSCAN's ``eps: auto``, a t-SNE perplexity clamped to a small dataset)."""
    params = {k: v for k, v in model.get_params().items() if k not in RUNTIME_PARAMS}
    effective = getattr(model, "effective_params_", None)
    if effective:
        params["effective"] = dict(effective)
    reason = getattr(model, "not_applicable_", None)
    if reason:
        params[NOT_APPLICABLE] = reason
    return params


def _mark_not_applicable(model, exc: NotApplicable) -> None:
    log.warning("%s: %s; writing a not-applicable result", type(model).__name__, exc)
    model.not_applicable_ = str(exc)


def not_applicable(obj) -> str | None:
    """The "not applicable at n = ..." message of a result (a table, its params, an
    :class:`medembed.io.Array`, a fitted model), or None for a real result."""
    if isinstance(obj, pd.DataFrame):
        if NOT_APPLICABLE not in obj or obj.empty:
            return None
        return str(obj[NOT_APPLICABLE].iloc[0])
    if isinstance(obj, dict):
        return obj.get(NOT_APPLICABLE)
    params = getattr(obj, "params", None)
    if isinstance(params, dict):
        return params.get(NOT_APPLICABLE)
    return getattr(obj, "not_applicable_", None)


def applicable(results: dict) -> dict:
    """``results`` (name -> table or array) without the not-applicable ones (figures draw
    the real results only; the metrics say why the others are missing)."""
    return {name: r for name, r in results.items() if not not_applicable(r)}


def fit_reducer(model: BaseReducer, X, **fit_kw) -> np.ndarray:
    """``model.fit_transform(X, **fit_kw)``; a :class:`NotApplicable` map is all zeros (2-D)
    with the reason in ``model.not_applicable_`` (and :func:`result_params`)."""
    model.not_applicable_ = None
    try:
        return model.fit_transform(X, **fit_kw)
    except NotApplicable as exc:
        _mark_not_applicable(model, exc)
        model.embedding_ = np.zeros((len(X), getattr(model, "n_components", 2)), dtype=np.float32)
        return model.embedding_


def fit_outlier_detector(model: BaseOutlierDetector, X, **fit_kw) -> BaseOutlierDetector:
    """``model.fit(X, **fit_kw)``; a :class:`NotApplicable` result scores every sample 0 and
    flags none, with the reason in ``model.not_applicable_`` (the table's ``not_applicable``
    column, so consensus and metrics leave it out)."""
    model.not_applicable_ = None
    try:
        return model.fit(X, **fit_kw)
    except NotApplicable as exc:
        _mark_not_applicable(model, exc)
        n = len(X) if X is not None else fit_kw["knn"].n_samples
        return model._finish(np.zeros(n), np.zeros(n, dtype=bool))


def cluster_table(ids, model: BaseClusterer) -> pd.DataFrame:
    """One row per sample: ``id``, ``cluster`` and the model's extra columns."""
    df = pd.DataFrame({"id": np.asarray(ids).astype(str), "cluster": model.labels_})
    for name, col in model.extra_columns_.items():
        df[name] = np.asarray(col)
    if getattr(model, "not_applicable_", None):
        df[NOT_APPLICABLE] = model.not_applicable_
    return df


_ARTIFACTS = (
    "linkage_", "cluster_centers_", "embeddings_", "partitions_", "dasgupta_cost_",
    # a Gaussian mixture, whole, so gmm_density can score with the one gmm selected
    "weights_", "means_", "covariances_", "precisions_cholesky_", "covariance_type_",
    # the principal axes a small collection's mixture was fitted on (tl.cluster._gmm)
    "projection_mean_", "projection_components_",
)


def cluster_labels(table: pd.DataFrame, ids) -> np.ndarray:
    """The ``cluster`` column of a :func:`cluster_table` in the order of ``ids``."""
    ids = np.asarray(ids).astype(str)
    labels = table.set_index("id")["cluster"].reindex(ids)
    if labels.isna().any():
        missing = ids[labels.isna().to_numpy()]
        raise ValueError(f"cluster table lacks {len(missing)} of the {len(ids)} samples (first: {missing[0]})")
    return labels.to_numpy().astype(int)


def model_artifacts(model) -> dict:
    """What a fitted clusterer learned beyond its labels (tree, centres, embedding), by name.

    A hierarchical model also gives its tree in Newick (``newick``).
    """
    out = {name.rstrip("_"): np.asarray(getattr(model, name)) for name in _ARTIFACTS if hasattr(model, name)}
    if hasattr(model, "newick") and hasattr(model, "linkage_"):
        out["newick"] = np.array(model.newick())
    return out


def supervision_labels(manifest: pd.DataFrame, ids, column: str | None):
    """Labels of ``column`` for ``ids`` (None = unknown), or None when no column is given."""
    if column is None:
        return None
    if column not in manifest:
        raise ValueError(f"label column {column!r} is not in the manifest (columns: {list(manifest.columns)})")
    s = manifest.set_index("id")[column]
    return s.reindex(np.asarray(ids).astype(str)).astype(object).where(lambda v: v.notna(), None).to_numpy()


def fit_clusterer(model: BaseClusterer, X, labels=None, **fit_kw):
    """Fit ``model``; semi-supervised ones (``uses_labels``) get the known labels, None = unknown.

    ``fit_kw`` passes the shared graph (``knn=``) to methods that take it. A method that
    has no meaningful result here (:class:`NotApplicable`: too few samples, no labels)
    gives every sample the noise label, with the reason in ``model.not_applicable_``
    (the cluster table's ``not_applicable`` column and :func:`result_params`).
    """
    model.not_applicable_ = None
    try:
        if getattr(model, "uses_labels", False):
            if labels is None:
                raise NotApplicable(type(model).__name__, len(X), "needs a label column and the dataset has none")
            return model.fit(X, labels, **fit_kw)
        return model.fit(X, **fit_kw)
    except NotApplicable as exc:
        _mark_not_applicable(model, exc)
        for name in _ARTIFACTS:  # nothing learned: no artifacts of an earlier fit
            if name in vars(model):
                delattr(model, name)
        return model._finish(np.full(len(X), NOISE), {})


def params_hash(params: dict) -> str:
    """Short stable hash of a method's parameters (for the tidy metrics table)."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:10]


def outlier_table(ids, model: BaseOutlierDetector) -> pd.DataFrame:
    """One row per sample: ``id``, ``score`` (higher = more outlying), ``is_outlier``, ``rank``."""
    scores = model.scores_
    rank = pd.Series(scores).rank(ascending=False, method="first").astype(int).to_numpy()
    df = pd.DataFrame(
        {"id": np.asarray(ids).astype(str), "score": scores, "is_outlier": model.is_outlier_, "rank": rank}
    )
    if getattr(model, "not_applicable_", None):
        df[NOT_APPLICABLE] = model.not_applicable_
    return df


def stability_table(result: dict, features: str) -> pd.DataFrame:
    """Tidy metrics rows of one :func:`medembed.tl.stability` result (kind ``cluster``)."""
    if result.get(NOT_APPLICABLE):
        rows = [{"metric": NOT_APPLICABLE, "value": np.nan, "note": result[NOT_APPLICABLE]}]
    else:
        rows = [
            {"metric": "stability_ari", "value": result["ari_mean"]},
            {"metric": "stability_ari_min", "value": result["ari_min"]},
        ]
    return pd.DataFrame(
        [
            {"kind": "cluster", "method": result["method"], "features": features, "label": "",
             "scheme": f"{result['scheme']} x{result['n_runs']}", **r}
            for r in rows
        ]
    )

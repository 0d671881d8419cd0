"""Stability of a clustering: does the same structure come back when the run changes?

:func:`stability` refits one configured clusterer three times and reports the mean
pairwise adjusted Rand index (ARI) between the runs. Methods with a ``random_state`` are
rerun with three seeds on all samples; deterministic ones on three random subsamples
(``subsample`` of the rows, drawn without replacement so that density-based methods see
no duplicated points) and compared on the rows each pair shares. An ARI near 1 says the
partition is a structure of the data; a low one that it is an accident of the seed or
of the sample.

Small collections: a subsample keeps at least 3 samples and at most ``n - 1`` (so that
runs differ), and every run caps its parameters as the cluster job does. When the method
is not applicable to the data or to a subsample (:class:`~medembed.tl._base.NotApplicable`),
or ``n < 4``, the result is ``{"not_applicable": "not applicable at n = ..."}``, written
as one explicit metrics row (:func:`medembed.tl.stability_table`).

The first seeded run uses the configured seed, so it is the cluster job's own result: given
as ``reference`` it is read instead of refitted (the same numbers, one fit fewer; HypHC's
stability job took 50 of the one-encoder demo's 370 job-seconds, a third of it that refit).
"""

from __future__ import annotations

import itertools

import numpy as np
from sklearn.metrics import adjusted_rand_score

from .. import _registry as registry
from ._api import make_clusterer, runtime_params
from ._base import NOT_APPLICABLE, NotApplicable


def _fit_labels(name: str, params: dict, X, labels, knn):
    """Labels of one run: made and fitted as the cluster rule does (``tl._api``)."""
    model = make_clusterer(name, **params)
    fit_kw = {} if knn is None else {"knn": knn}
    if getattr(model, "uses_labels", False):
        if labels is None:
            raise NotApplicable(type(model).__name__, len(X), "needs a label column and the dataset has none")
        return model.fit(X, labels, **fit_kw).labels_
    return model.fit(X, **fit_kw).labels_


def stability(name: str, params: dict | None, X, *, knn=None, labels=None, n_runs: int = 3,
              subsample: float = 0.8, random_state: int = 0, reference=None, runtime: dict | None = None) -> dict:
    """Mean pairwise ARI between ``n_runs`` runs of clusterer ``name`` with ``params``.

    ``knn``: the shared kNN graph, passed to every seeded run (subsample runs search their
    own neighbours: the graph's rows do not subset). ``labels``: the known labels for a
    semi-supervised method. ``reference``: the labels of the fit with ``params`` as given
    (the cluster job's output, in ``X``'s row order); a seeded method takes it as its first
    run instead of refitting it. Subsample runs ignore it. ``runtime``: the job's runtime
    settings (n_jobs, device, ...), applied where the method accepts them, as in
    :func:`~medembed.tl.make_clusterer`. Returns ``{"method", "scheme"
    ("seeds" or "subsample"), "n_runs", "ari_mean", "ari_min", "ari_pairs"}``, or
    ``{"method", "scheme", "n_runs", "not_applicable"}`` (see the module's docstring).
    """
    params = {**dict(params or {}), **runtime_params("cluster", name, runtime)}
    X = np.asarray(X)
    n = X.shape[0]
    if n_runs < 2:
        raise ValueError(f"stability: n_runs={n_runs} must be >= 2")
    if not 0 < subsample < 1:
        raise ValueError(f"stability: subsample={subsample} must be in (0, 1)")
    has_seed = "random_state" in registry.load("cluster", name)().get_params()
    base_result = {"method": name, "scheme": "seeds" if has_seed else "subsample", "n_runs": int(n_runs)}
    if n < 4:
        return {**base_result, NOT_APPLICABLE: f"not applicable at n = {n}: stability needs at least 4 samples"}
    try:
        runs, scheme = _runs(name, params, X, labels, knn, n_runs, subsample, random_state, reference, has_seed)
    except NotApplicable as exc:
        return {**base_result, NOT_APPLICABLE: str(exc)}
    aris = []
    for (ia, la), (ib, lb) in itertools.combinations(runs, 2):
        shared, pa, pb = np.intersect1d(ia, ib, assume_unique=True, return_indices=True)
        aris.append(float(adjusted_rand_score(la[pa], lb[pb])) if len(shared) >= 2 else float("nan"))
    return {
        **base_result,
        "scheme": scheme,
        "ari_mean": float(np.nanmean(aris)),
        "ari_min": float(np.nanmin(aris)),
        "ari_pairs": aris,
    }


def subsample_size(n: int, subsample: float) -> int:
    """Rows of a stability subsample: ``round(subsample * n)``, at least 3 and at most ``n - 1``."""
    return int(min(n - 1, max(3, round(subsample * n))))


def _runs(name, params, X, labels, knn, n_runs, subsample, random_state, reference, has_seed):
    n = X.shape[0]
    runs = []
    if has_seed:
        base = params.get("random_state", 0)
        base = 0 if base is None else int(base)
        for r in range(n_runs):
            if r == 0 and reference is not None:
                lab = np.asarray(reference)
                if lab.shape != (n,):
                    raise ValueError(f"stability: reference has shape {lab.shape}, expected ({n},)")
            else:
                lab = np.asarray(_fit_labels(name, {**params, "random_state": base + r}, X, labels, knn))
            runs.append((np.arange(n), lab))
        scheme = "seeds"
    else:
        rng = np.random.default_rng(random_state)
        m = subsample_size(n, subsample)
        for _ in range(n_runs):
            idx = np.sort(rng.choice(n, size=m, replace=False))
            sub_labels = None if labels is None else np.asarray(labels, dtype=object)[idx]
            runs.append((idx, np.asarray(_fit_labels(name, params, X[idx], sub_labels, None))))
        scheme = "subsample"
    return runs, scheme

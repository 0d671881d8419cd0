"""Multi-label findings: which clusters over-represent which finding.

A dataset with a multi-label finding column (NIH ChestX-ray14's ``Finding Labels``,
CheXpert's coded columns) has, in its manifest, one binary column per finding (the
strings ``"1"`` / ``"0"``, missing where unknown), listed in the manifest param
``multilabel = {"source": ..., "findings": [...]}`` (see :func:`multilabel`).

:func:`finding_enrichment` tables, for one clustering, each finding's prevalence in each
cluster against its prevalence in the dataset: count, prevalence, fold change, a one-sided
hypergeometric p-value for over-representation (the same as Fisher's exact test with
``alternative="greater"``) and Benjamini-Hochberg q-values over every cluster x finding
cell of the clustering. Images with an unknown value are left out of that finding's
counts (not counted as negatives).

This module imports nothing heavy at import time: the workflow's ``common.smk`` reads the
manifest's findings through :func:`multilabel` while it builds the DAG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

#: Columns of :func:`finding_enrichment`, in order.
ENRICHMENT_COLUMNS = (
    "cluster", "finding", "n_cluster", "count", "prevalence", "n_dataset", "count_dataset",
    "dataset_prevalence", "fold_change", "log2_fold_change", "p", "q",
)


def multilabel(params: Mapping | None) -> dict:
    """The ``multilabel`` param of a manifest as ``{"source", "findings"}``; ``{}`` without.

    ``params``: the manifest's params (``medembed.io.read_table_params``). A dataset
    without a multi-label column has no such param (or ``None``): every caller then sees
    no findings and behaves as before.
    """
    spec = dict((params or {}).get("multilabel") or {})
    if not spec:
        return {}
    return {"source": spec.get("source"), "findings": [str(f) for f in spec.get("findings") or []]}


def finding_columns(params: Mapping | None) -> list[str]:
    """The manifest columns that hold the findings (``[]`` for a dataset without)."""
    return list(multilabel(params).get("findings", []))


def single_label_columns(params: Mapping | None) -> list[str]:
    """The manifest's label columns without its findings: the labels drawn one panel each
    (maps, contingency tables), where 14 binary findings would add 14 rows of panels; the
    findings have their heatmap and the explorer."""
    findings = set(finding_columns(params))
    return [c for c in (params or {}).get("label_columns") or [] if c not in findings]


def finding_matrix(table, findings: Sequence[str]):
    """The findings of ``table`` as floats: 1.0 / 0.0, NaN where unknown.

    Accepts the manifest's strings ``"1"`` / ``"0"`` as well as numbers and booleans;
    any other value (``""``, ``"-1"``, None) counts as unknown.
    """
    import numpy as np
    import pandas as pd

    out = {}
    for f in findings:
        col = table[f]
        v = pd.to_numeric(col.astype(object).where(col.notna(), None).map(
            lambda x: x if not isinstance(x, str) else x.strip()), errors="coerce")
        v = v.where(v.isin([0, 1]))
        out[f] = v.astype(float)
    return pd.DataFrame(out, index=table.index, columns=list(findings)).astype(np.float64)


def benjamini_hochberg(p):
    """Benjamini-Hochberg q-values of ``p`` (NaN stays NaN and is not counted in m)."""
    import numpy as np

    p = np.asarray(p, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return q
    pv = p[ok]
    order = np.argsort(pv, kind="stable")
    ranked = pv[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(ranked, 1.0)
    q[ok] = out
    return q


def finding_enrichment(clusters, findings):
    """Each finding's prevalence per cluster, with over-representation tests.

    ``clusters``: one cluster label per image; noise (``-1``) is reported as a group of
    its own (it is a set of images too, and a finding may gather there).
    ``findings``: a DataFrame (rows aligned with ``clusters``) of finding columns, values
    ``"1"``/``"0"``/1/0/True/False, unknown as None/NaN (see :func:`finding_matrix`).

    Per (cluster, finding) over the images whose value is known: ``n_cluster`` images,
    ``count`` positives, ``prevalence = count / n_cluster``; the same over the dataset
    (``n_dataset``, ``count_dataset``, ``dataset_prevalence``); ``fold_change`` =
    prevalence / dataset prevalence (NaN when the finding never occurs); ``p`` =
    P(X >= count) for X ~ Hypergeom(n_dataset, count_dataset, n_cluster), i.e. the
    one-sided Fisher exact test of over-representation; ``q``: Benjamini-Hochberg over all
    cells of the table with a p-value. A cluster with no known value for a finding has
    NaN prevalence and p (and takes no part in the correction).
    """
    import numpy as np
    import pandas as pd
    from scipy.stats import hypergeom

    labels = np.asarray(clusters)
    if not isinstance(findings, pd.DataFrame):
        raise TypeError("finding_enrichment: findings must be a DataFrame of finding columns")
    if len(findings) != len(labels):
        raise ValueError(f"finding_enrichment: {len(labels)} cluster labels but {len(findings)} rows of findings")
    Y = finding_matrix(findings.reset_index(drop=True), list(findings.columns))
    groups = np.unique(labels)
    rows = []
    for f in Y.columns:
        y = Y[f].to_numpy()
        known = np.isfinite(y)
        N, K = int(known.sum()), int(np.nansum(y))
        base = K / N if N else np.nan
        for c in groups:
            in_c = (labels == c) & known
            n, k = int(in_c.sum()), int(y[in_c].sum())
            prev = k / n if n else np.nan
            fold = prev / base if n and base > 0 else np.nan
            p = float(hypergeom.sf(k - 1, N, K, n)) if n else np.nan
            rows.append({
                "cluster": c.item() if hasattr(c, "item") else c, "finding": f, "n_cluster": n, "count": k,
                "prevalence": prev, "n_dataset": N, "count_dataset": K, "dataset_prevalence": base,
                "fold_change": fold,
                "log2_fold_change": float(np.log2(fold)) if np.isfinite(fold) and fold > 0
                else (-np.inf if fold == 0 else np.nan),
                "p": min(max(p, 0.0), 1.0) if np.isfinite(p) else np.nan,
            })
    out = pd.DataFrame(rows, columns=list(ENRICHMENT_COLUMNS[:-1]))
    out["q"] = benjamini_hochberg(out["p"].to_numpy())
    return out[list(ENRICHMENT_COLUMNS)]

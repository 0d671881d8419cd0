"""Agreement of clusterings with known labels, as one tidy table."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from ._base import NOISE


def purity_score(labels_true, labels_pred) -> float:
    """Fraction of samples whose cluster's majority true label is their own.

    Noise (-1) counts as its own cluster, so labelling everything noise scores the
    majority-class rate, never 1.0.
    """
    ct = pd.crosstab(np.asarray(labels_pred), np.asarray(labels_true))
    return float(ct.max(axis=1).sum() / ct.to_numpy().sum())


_EXTERNAL = {
    "ari": skm.adjusted_rand_score,
    "ami": skm.adjusted_mutual_info_score,
    "nmi": skm.normalized_mutual_info_score,
    "purity": purity_score,
    "homogeneity": skm.homogeneity_score,
    "completeness": skm.completeness_score,
}


def cluster_metrics(labels_pred, truth: pd.DataFrame | None = None) -> list[dict]:
    """Rows ``{label, metric, value}``: counts, then every external metric per truth column.

    Samples whose truth is missing are left out of that column's scores.
    """
    labels_pred = np.asarray(labels_pred)
    n = len(labels_pred)
    rows = [
        {"label": "", "metric": "n_clusters", "value": float(len(set(labels_pred.tolist()) - {NOISE}))},
        {"label": "", "metric": "noise_fraction", "value": float(np.mean(labels_pred == NOISE)) if n else 0.0},
    ]
    for col in [] if truth is None else truth.columns:
        y = truth[col]
        keep = y.notna().to_numpy()
        if keep.sum() < 2:
            continue
        yt, yp = y[keep].astype(str).to_numpy(), labels_pred[keep]
        for name, fn in _EXTERNAL.items():
            rows.append({"label": col, "metric": name, "value": float(fn(yt, yp))})
    return rows

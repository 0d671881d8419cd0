from __future__ import annotations

import pandas as pd

from .._base import NOISE, NOT_APPLICABLE, BaseOutlierDetector, NotApplicable


class NoiseOutliers(BaseOutlierDetector):
    """Outliers = the noise points (label -1) of a density clustering (DBSCAN, HDBSCAN).

    ``fit(X, clusters=table)`` reads the cluster table written by the clustering job;
    the score is the table's ``outlier_score`` column when present (HDBSCAN's GLOSH;
    DBSCAN's distance to the ``min_samples``-th neighbour over ``eps``), otherwise the 0/1
    noise indicator. Both clusterings read the shared kNN graph in the shipped configs: on
    PCA-50, outliers in random directions form a cluster near the centre and HDBSCAN's
    noise missed them (benchmarks/outliers_planted.py).
    """

    def fit(self, X, y=None, *, clusters: pd.DataFrame | None = None):
        if clusters is None:
            raise ValueError("NoiseOutliers needs the cluster table: compute the clustering first")
        if X is not None and len(clusters) != len(X):
            raise ValueError(f"cluster table has {len(clusters)} rows, features {len(X)}")
        if NOT_APPLICABLE in clusters:  # no clustering, so no noise points either
            reason = str(clusters[NOT_APPLICABLE].iloc[0]).split(": ", 1)[-1]
            raise NotApplicable("NoiseOutliers", len(clusters), f"reads a clustering that is not applicable ({reason})")
        flag = clusters["cluster"].to_numpy() == NOISE
        if "outlier_score" in clusters:
            score = clusters["outlier_score"].to_numpy(dtype=float)
        else:
            score = flag.astype(float)
        return self._finish(score, flag)

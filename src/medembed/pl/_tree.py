"""The figure of a hierarchical clustering: Poincaré-disk leaves and the top of its tree."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ._hyphc import dendrogram_top, poincare_disk
from ._style import plt, save


def tree_figure(
    clusters: pd.DataFrame,
    model: dict,
    manifest: pd.DataFrame,
    *,
    label_columns,
    method: str,
    path: str | os.PathLike,
) -> None:
    """Three panels: leaves coloured by the first known label, by flat cluster, dendrogram."""
    if "linkage" not in model or not {"poincare_x", "poincare_y"} <= set(clusters.columns):
        raise ValueError(f"{method}: no tree in the model file; compute a hierarchical clustering first")
    xy = clusters[["poincare_x", "poincare_y"]].to_numpy()
    fig, axes = plt.subplots(1, 3, figsize=(18, 6), gridspec_kw={"width_ratios": [1, 1, 1.4]})
    if label_columns:
        col = label_columns[0]
        truth = manifest.set_index("id")[col].reindex(clusters["id"]).to_numpy()
        poincare_disk(axes[0], xy, truth, title=f"leaves coloured by {col}")
    else:
        poincare_disk(axes[0], xy, None, title="leaves (no known labels)")
    k = int(len(set(clusters["cluster"]) - {-1}))
    poincare_disk(axes[1], xy, clusters["cluster"].to_numpy(), title=f"leaves coloured by cluster ({k})")
    Z = np.asarray(model["linkage"], dtype=float)
    dendrogram_top(Z, axes[2], p=min(30, len(Z) + 1), n_clusters=max(k, 2), title="top of the decoded tree"
                   + (f" (Dasgupta cost {float(model['dasgupta_cost']):.4g})" if "dasgupta_cost" in model else ""))
    fig.suptitle(f"{method}: hyperbolic hierarchical clustering of {len(clusters)} images", fontsize=14, fontweight="bold")
    fig.tight_layout()
    save(fig, path)

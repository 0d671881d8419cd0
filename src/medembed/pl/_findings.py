"""Multi-label findings per cluster: a cluster x finding heatmap of one clustering."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ._style import empty_figure, heatmap, plt, save

#: Rows of the heatmap beyond which only the largest clusters are shown (noise kept).
MAX_ROWS = 40
#: |log2 fold change| at which the colour saturates (8-fold).
LOG2_LIMIT = 3.0


def findings_matrix(table: pd.DataFrame, value: str = "log2_fold_change", *,
                    max_rows: int = MAX_ROWS) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(values, prevalence, q) as clusters x findings frames from a
    :func:`medembed.tl.finding_enrichment` table.

    Rows: clusters, largest first, noise (``-1``) last, labelled ``cluster k (n)`` with
    ``n`` its images of known findings; a cluster with none (every value unknown) has no
    row; beyond ``max_rows`` only the largest are kept. Columns: findings in table order,
    labelled with their dataset prevalence.
    """
    t = table.copy()
    sizes = t.groupby("cluster")["n_cluster"].max()
    sizes = sizes[sizes > 0]
    real = sizes[sizes.index != -1].sort_values(ascending=False, kind="stable")
    keep = list(real.index[:max_rows])
    if -1 in sizes.index:
        keep.append(-1)
    findings = list(dict.fromkeys(t["finding"]))
    base = t.groupby("finding", sort=False)["dataset_prevalence"].first()
    rows = {c: ("noise" if c == -1 else f"cluster {c}") + f" ({int(sizes[c])})" for c in keep}
    cols = {f: f"{f} ({100 * base[f]:.0f}%)" if np.isfinite(base[f]) else f for f in findings}

    def pivot(col: str) -> pd.DataFrame:
        p = t.pivot(index="cluster", columns="finding", values=col).reindex(index=keep, columns=findings)
        return p.rename(index=rows, columns=cols).astype(float)

    return pivot(value), pivot("prevalence"), pivot("q")


def findings_heatmap(table: pd.DataFrame, *, path: str | os.PathLike, method: str = "",
                     value: str = "log2_fold_change", q_max: float = 0.05, max_rows: int = MAX_ROWS,
                     title: str = "") -> None:
    """Clusters x findings of one clustering, cells with ``q < q_max`` outlined in black.

    ``value="log2_fold_change"``: colour = log2(prevalence in the cluster / in the
    dataset), red over-, blue under-represented, saturating at 8-fold; the text is the
    prevalence in the cluster (%). ``value="prevalence"``: colour and text the prevalence.
    """
    if table is None or table.empty:
        save(empty_figure(f"{method}: the dataset has no findings.", title=method), path)
        return
    values, prev, q = findings_matrix(table, value, max_rows=max_rows)
    if values.empty:
        save(empty_figure(f"{method}: no cluster has an image with a known finding.", title=method), path)
        return
    sig = (q.to_numpy() < q_max) & np.isfinite(q.to_numpy())
    text = 100 * prev.to_numpy()
    if value == "log2_fold_change":
        shade = np.clip(values.to_numpy(), -LOG2_LIMIT, LOG2_LIMIT)  # -inf (none there) saturates
        shade[~np.isfinite(prev.to_numpy())] = np.nan
        kw = {"cmap": "RdBu_r", "vmin": -LOG2_LIMIT, "vmax": LOG2_LIMIT}
        what = "colour: log2 fold change over the dataset (red: more frequent); text: prevalence %"
        cbar_label = "log2 fold change"
    else:
        shade = values.to_numpy()
        kw = {"cmap": "Blues", "vmin": 0.0, "vmax": 1.0}
        what = "colour and text: prevalence in the cluster (%)"
        cbar_label = "prevalence"
    n_rows, n_cols = values.shape
    fig, ax = plt.subplots(figsize=(0.55 * n_cols + 3.2, 0.32 * n_rows + 2.4))
    heatmap(ax, text, list(values.index), list(values.columns), best=sig, fmt="{:.0f}",
            color_values=shade, best_edge="black", **kw)
    sm = plt.cm.ScalarMappable(cmap=kw["cmap"], norm=plt.Normalize(kw["vmin"], kw["vmax"]))
    fig.colorbar(sm, ax=ax, fraction=0.04, pad=0.02, label=cbar_label)
    n_sig = int(sig.sum())
    fig.suptitle(title or f"{method}: findings per cluster ({n_sig} enriched cell"
                 f"{'s' * (n_sig != 1)} outlined, BH q < {q_max:g})", fontsize=11, fontweight="bold")
    ax.set_title(what, fontsize=9)
    fig.tight_layout()
    save(fig, path)

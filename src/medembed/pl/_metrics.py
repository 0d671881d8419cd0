"""Heatmaps of numbers: the metrics of every clustering, and a clustering against the labels."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ._style import MAX_LEGEND, empty_figure, heatmap, plt, save

#: The columns of the metrics heatmap, per label column (then the label-free silhouette).
AGREEMENT = ("ari", "nmi", "purity")
INTERNAL = ("silhouette_cosine",)
_SHORT = {"silhouette_cosine": "silhouette", "ari": "ARI", "nmi": "NMI", "purity": "purity"}
#: Rows of a contingency heatmap beyond which the smallest clusters share one row.
MAX_ROWS = 40


def semi_supervised(metrics: pd.DataFrame) -> set[str]:
    """Methods with any row whose ``supervision`` is not ``none`` (they saw some labels)."""
    sup = metrics.get("supervision", pd.Series("none", index=metrics.index)).fillna("none")
    return set(metrics.loc[sup.astype(str) != "none", "method"])


def metrics_matrix(metrics: pd.DataFrame) -> pd.DataFrame:
    """Clustering methods x (label: ARI, NMI, purity ..., silhouette), from the tidy table.

    Agreement with a label of a semi-supervised method is its held-out score (the rows it
    was scored on); the column names read ``label ARI``. No pivot artefacts: a plain frame.
    """
    m = metrics[metrics.get("kind", "cluster") == "cluster"] if "kind" in metrics else metrics
    m = m.assign(label=m["label"].fillna("").astype(str))
    methods = list(dict.fromkeys(m["method"]))
    cols: dict[str, pd.Series] = {}
    for label in sorted(set(m["label"]) - {""}):
        for metric in AGREEMENT:
            sub = m[(m["label"] == label) & (m["metric"] == metric)]
            cols[f"{label} {_SHORT[metric]}"] = sub.groupby("method", sort=False)["value"].first()
    for metric in INTERNAL:
        sub = m[(m["label"] == "") & (m["metric"] == metric)]
        cols[_SHORT[metric]] = sub.groupby("method", sort=False)["value"].first()
    out = pd.DataFrame({k: v.reindex(methods) for k, v in cols.items()}, index=pd.Index(methods, name=None))
    return out.astype(float)


def best_mask(values: pd.DataFrame, lower_is_better=()) -> np.ndarray:
    """True at the best finite value of each column (ties all marked)."""
    arr = values.to_numpy(dtype=float)
    best = np.zeros(arr.shape, bool)
    for j, col in enumerate(values.columns):
        v = arr[:, j]
        if not np.isfinite(v).any():
            continue
        target = np.nanmin(v) if col in lower_is_better else np.nanmax(v)
        best[:, j] = np.isclose(v, target, equal_nan=False)
    return best


def metrics_heatmap(metrics: pd.DataFrame, *, path: str | os.PathLike, title: str = "") -> None:
    """Methods x (ARI, NMI, purity per label, silhouette), best of each column outlined;
    semi-supervised methods (scored on held-out images) in a block of their own below."""
    mat = metrics_matrix(metrics)
    if mat.empty or mat.shape[1] == 0:
        save(empty_figure("No clustering metrics to show.", title=title), path)
        return
    semi = semi_supervised(metrics)
    blocks = [("unsupervised", mat[[m not in semi for m in mat.index]]),
              ("semi-supervised (agreement on held-out images)", mat[[m in semi for m in mat.index]])]
    blocks = [(name, b) for name, b in blocks if len(b)]
    heights = [max(len(b), 1) for _, b in blocks]
    fig, axes = plt.subplots(len(blocks), 1, squeeze=False,
                             figsize=(1.1 * mat.shape[1] + 2.5, 0.38 * sum(heights) + 1.6 * len(blocks) + 0.6),
                             gridspec_kw={"height_ratios": heights})
    for ax, (name, block) in zip(axes[:, 0], blocks):
        # the best of each column among the unsupervised methods; semi-supervised ones are apart
        best = best_mask(block) if name == "unsupervised" else None
        heatmap(ax, block.to_numpy(), list(block.index), list(block.columns), best=best, vmin=0.0, vmax=1.0)
        ax.set_title(name, fontsize=10, loc="left")
    fig.suptitle(title or "Clusterings against the known labels (best of each column outlined)",
                 fontsize=12, fontweight="bold")
    fig.tight_layout()
    save(fig, path)


def contingency_table(clusters: pd.Series, labels: pd.Series, *, max_rows: int = MAX_ROWS,
                      max_cols: int = MAX_LEGEND) -> pd.DataFrame:
    """Counts of clusters (rows: largest first, ``noise`` last, the smallest beyond
    ``max_rows`` merged into ``other clusters``) x label values (the ``max_cols`` most common,
    the rest in ``other``); ``clusters`` and ``labels`` share their index."""
    clusters = clusters.astype(int)
    labels = labels.fillna("unknown").astype(str)
    sizes = clusters[clusters != -1].value_counts()
    keep = list(sizes.index[: max_rows if len(sizes) <= max_rows else max_rows - 1])
    row = clusters.map(lambda c: "noise" if c == -1 else (f"cluster {c}" if c in set(keep) else "other clusters"))
    top = list(labels.value_counts().index)
    keep_cols = top if len(top) <= max_cols else top[: max_cols - 1]
    col = labels.where(labels.isin(keep_cols), "other")
    table = pd.crosstab(row, col)
    order = [f"cluster {c}" for c in keep] + [r for r in ("other clusters", "noise") if r in table.index]
    cols = [c for c in keep_cols if c in table.columns] + (["other"] if "other" in table.columns else [])
    table = table.reindex(index=order, columns=cols, fill_value=0)
    table.index.name = table.columns.name = None
    return table


def contingency(clusters: pd.DataFrame, manifest: pd.DataFrame, *, label_columns, method: str,
                path: str | os.PathLike) -> None:
    """Cluster x label counts of one clustering, a panel per label column; cells shaded by
    the share of the cluster's images (a pure cluster is one dark cell in its row)."""
    df = manifest.merge(clusters[["id", "cluster"]], on="id")
    label_columns = [c for c in label_columns if c in df]
    if not label_columns:
        save(empty_figure(f"{method}: the dataset has no label column.", title=method), path)
        return
    tables = [contingency_table(df["cluster"], df[c]) for c in label_columns]
    n_rows = max(len(t) for t in tables)
    widths = [max(len(t.columns), 2) for t in tables]
    fig, axes = plt.subplots(1, len(tables), squeeze=False,
                             figsize=(0.55 * sum(widths) + 2.2 * len(tables) + 1, 0.3 * n_rows + 2.2),
                             gridspec_kw={"width_ratios": widths})
    for ax, table, col in zip(axes[0], tables, label_columns):
        counts = table.to_numpy(dtype=float)
        share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        heatmap(ax, counts, list(table.index), list(table.columns), fmt="{:.0f}", cmap="Blues",
                color_values=share, hide_zero=True)
        ax.set_title(f"vs {col}", fontsize=10)
    k = int((df["cluster"] != -1).any() and df.loc[df["cluster"] != -1, "cluster"].nunique())
    fig.suptitle(f"{method}: {k} clusters x known labels (counts; shade = share of the cluster)",
                 fontsize=11, fontweight="bold")
    fig.tight_layout()
    save(fig, path)

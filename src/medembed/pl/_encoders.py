"""The encoder comparison as one figure: a panel per metric, a bar per encoder x feature set."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ._style import category_colors, grid, save

_TITLES = {
    "kmeans_nmi": "k-means@k NMI",
    "kmeans_ari": "k-means@k ARI",
    "knn_accuracy": "kNN label accuracy (leave-one-out)",
    "label_silhouette": "silhouette of the labels",
    "linear_balanced_accuracy": "linear probe balanced accuracy (5-fold CV)",
    "linear_auroc_macro": "linear probe AUROC, one-vs-rest macro",
    "knn_auroc_macro": "kNN-probe AUROC, mean over findings",
    "trustworthiness": "trustworthiness of the map",
    "images_per_s": "embedding throughput (images/s)",
}


def encoder_comparison(table: pd.DataFrame, *, path: str | os.PathLike, title: str = "") -> None:
    """Grouped bars: one panel per (label, metric), one bar per encoder/feature set, the best
    (or not distinguishable from it, column ``best``) outlined; the ``low``/``high``
    bootstrap intervals, where given, as error bars."""
    df = table.assign(label=table["label"].fillna(""), who=table["encoder"] + " · " + table["features"])
    panels = [(lab, m) for lab, m in df[["label", "metric"]].drop_duplicates().itertuples(index=False)
              if m in _TITLES]
    who = list(dict.fromkeys(df["who"]))
    colors = category_colors(len(who))
    fig, axes = grid(max(1, len(panels)), ncols=min(3, max(1, len(panels))), size=3.6)
    for ax, (lab, metric) in zip(axes, panels):
        sub = df[(df["label"] == lab) & (df["metric"] == metric)].set_index("who").reindex(who)
        vals = sub["value"].to_numpy(dtype=float)
        bars = ax.bar(np.arange(len(who)), np.nan_to_num(vals), color=colors)
        top = vals.copy()  # where the value's text goes: above the bar and its error bar
        if {"low", "high"} <= set(sub.columns):
            low, high = sub["low"].to_numpy(dtype=float), sub["high"].to_numpy(dtype=float)
            ok = np.isfinite(vals) & np.isfinite(low) & np.isfinite(high)
            top = np.where(ok, np.fmax(vals, high), vals)
            if ok.any():
                err = np.vstack([np.clip(vals - low, 0, None), np.clip(high - vals, 0, None)])[:, ok]
                ax.errorbar(np.flatnonzero(ok), vals[ok], yerr=err, fmt="none", ecolor="black", capsize=3, lw=1)
        for bar, best in zip(bars, sub["best"].fillna(False).to_numpy()):
            if best:
                bar.set_edgecolor("black")
                bar.set_linewidth(2)
        for x, v in enumerate(vals):
            if np.isfinite(v):
                ax.text(x, top[x], f"{v:.2f}" if abs(v) < 100 else f"{v:.0f}", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(np.arange(len(who)))
        ax.set_xticklabels(who, rotation=30, ha="right", fontsize=8)
        ax.set_title(_TITLES[metric] + (f"\nvs {lab}" if lab else ""), fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(title or "Which embedding fits these images? (best or tied outlined, 95 % intervals)",
                 fontsize=12, fontweight="bold")
    fig.tight_layout()
    save(fig, path)

"""Scatter figures over 2-D maps: clusterings, reductions and outliers."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..io import Array
from ._cards import name_positions
from ._style import grid, plt, point_style, save, scatter_categories

_PRETTY = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP", "hnne": "h-NNE"}


def pretty(name: str) -> str:
    return _PRETTY.get(name, name)


def _aligned(table: pd.DataFrame, ids: np.ndarray, column: str) -> np.ndarray:
    s = table.set_index("id")[column]
    missing = set(ids) - set(s.index)
    if missing:
        raise ValueError(f"{len(missing)} map ids are missing from the table (e.g. {next(iter(missing))!r})")
    return s.loc[ids].to_numpy()


def clusters_on_map(map_: Array, clusterings: dict[str, pd.DataFrame], *, map_name: str, path,
                    names: Mapping[str, Mapping[int, str]] | None = None, max_names: int = 30) -> None:
    """One panel per clustering, points placed on ``map_`` and coloured by cluster.

    ``names``: {clustering: {cluster: name}} (the cluster cards); a named clustering's
    panel writes each name at its cluster's median position (small text with a white
    halo; clusters of fewer than 3 points, and past the ``max_names`` largest, unnamed).
    """
    fig, axes = grid(len(clusterings))
    for ax, (name, table) in zip(axes, clusterings.items()):
        labels = _aligned(table, map_.ids, "cluster")
        k = len(set(labels.tolist()) - {-1})
        noise = int((labels == -1).sum())
        scatter_categories(ax, map_.X, labels)
        if names and names.get(name):
            label_clusters(ax, map_.X, labels, names[name], max_labels=max_names)
        ax.set_title(f"{name}: {k} cluster{'s' * (k != 1)}" + (f", {noise} noise" if noise else ""), fontweight="bold")
        ax.set_xlabel(f"{pretty(map_name)} 1")
        ax.set_ylabel(f"{pretty(map_name)} 2")
    fig.suptitle(f"Clusterings on the {pretty(map_name)} map ({len(map_.ids)} images)", fontsize=14, fontweight="bold")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    save(fig, path)


def label_clusters(ax, Y, labels, names: Mapping[int, str], *, max_labels: int = 30, fontsize: float = 6.5):
    """Write ``names`` ({cluster: name}) at the clusters' median positions (see
    :func:`~medembed.pl._cards.name_positions`) as "k: name" without the name's trailing
    "(...)" (its share or margin), with a white halo; a label that would cover one already
    written moves down or up to the nearest free place inside the map."""
    import re

    from matplotlib import patheffects

    halo = [patheffects.withStroke(linewidth=2.5, foreground="white", alpha=0.9)]
    Y = np.asarray(Y)
    x0, x1 = float(Y[:, 0].min()), float(Y[:, 0].max())
    y0, y1 = float(Y[:, 1].min()), float(Y[:, 1].max())
    w, h = (x1 - x0) or 1.0, (y1 - y0) or 1.0
    placed: list[tuple[float, float]] = []
    for x, y, cluster, name in name_positions(Y, labels, names, max_labels=max_labels):
        text = str(cluster) if name == f"cluster {cluster}" else f"{cluster}: " + re.sub(r"\s*\([^()]*\)$", "", name)
        fx, fy = (x - x0) / w, (y - y0) / h
        # the nearest free place: 0, 1, 2, ... label heights below or above, inside the map
        shifts = (0.05 * k * sign for k in range(40) for sign in (-1, 1))
        fy = next((fy + d for d in shifts if 0.0 <= fy + d <= 1.0
                   and not any(abs(fx - px) < 0.22 and abs(fy + d - py) < 0.045 for px, py in placed)), fy)
        placed.append((fx, fy))
        ax.text(x0 + fx * w, y0 + fy * h, text, fontsize=fontsize, ha="center", va="center", fontweight="bold",
                path_effects=halo, zorder=5)


def reductions(
    maps: dict[str, Array],
    *,
    clusters: pd.DataFrame,
    cluster_name: str,
    manifest: pd.DataFrame,
    label_columns,
    path: str | os.PathLike,
) -> None:
    """Rows: colouring (the clustering, then each known label); columns: the 2-D maps."""
    colourings = [(f"{cluster_name} clusters", clusters.set_index("id")["cluster"], -1)]
    for col in label_columns:
        colourings.append((col, manifest.set_index("id")[col].fillna("unknown").astype(str), None))
    names = list(maps)
    fig, axes = plt.subplots(
        len(colourings), len(names), figsize=(4.2 * len(names), 4.0 * len(colourings)), squeeze=False
    )
    for r, (title, series, noise) in enumerate(colourings):
        for c, name in enumerate(names):
            ax = axes[r, c]
            arr = maps[name]
            scatter_categories(ax, arr.X, series.loc[arr.ids].to_numpy(), noise=noise, legend=c == len(names) - 1)
            if r == 0:
                ax.set_title(pretty(name), fontsize=13, fontweight="bold")
            if c == 0:
                ax.set_ylabel(f"coloured by {title}", fontsize=11)
    fig.suptitle("2-D maps compared", fontsize=14, fontweight="bold")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    save(fig, path)


def outliers_on_map(map_: Array, detections: dict[str, pd.DataFrame], *, map_name: str, path) -> None:
    """One panel per detector: inliers pale, flagged images as red crosses."""
    fig, axes = grid(len(detections), ncols=min(3, len(detections)))
    Y = map_.X
    for ax, (name, table) in zip(axes, detections.items()):
        flag = _aligned(table, map_.ids, "is_outlier").astype(bool)
        size, alpha = point_style(len(Y))
        ax.scatter(*Y[~flag, :2].T, c="lightsteelblue", s=size, alpha=alpha, lw=0, label="inliers",
                   rasterized=True)
        ax.scatter(*Y[flag, :2].T, c="crimson", s=max(2 * size, 4), marker="x", lw=0.8 + 0.4 * (size > 5),
                   label="outliers", rasterized=True)
        ax.set_title(f"{name}: {int(flag.sum())} outliers ({flag.mean():.0%})", fontweight="bold")
        ax.set_xlabel(f"{pretty(map_name)} 1")
        ax.set_ylabel(f"{pretty(map_name)} 2")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(loc="best", fontsize=8)
    fig.suptitle(f"Outlier detection on the {pretty(map_name)} map", fontsize=14, fontweight="bold")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    save(fig, path)


def finch_levels(map_: Array, table: pd.DataFrame, *, map_name: str, path) -> None:
    """FINCH's partitions as small multiples: one panel per ``level_i`` column, finest first,
    each on the same map (the hierarchy read as successive merges)."""
    levels = sorted((c for c in table.columns if c.startswith("level_")), key=lambda c: int(c.split("_")[1]))
    if not levels:
        raise ValueError("finch_levels: the table has no level_i columns")
    fig, axes = grid(len(levels), ncols=min(4, len(levels)), size=3.8)
    for ax, col in zip(axes, levels):
        labels = _aligned(table, map_.ids, col)
        k = len(set(labels.tolist()) - {-1})
        scatter_categories(ax, map_.X, labels, legend=k <= 12)
        ax.set_title(f"level {col.split('_')[1]}: {k} cluster{'s' * (k != 1)}", fontsize=11, fontweight="bold")
    fig.suptitle(f"FINCH partitions, finest to coarsest, on the {pretty(map_name)} map ({len(map_.ids)} images)",
                 fontsize=13, fontweight="bold")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    save(fig, path)

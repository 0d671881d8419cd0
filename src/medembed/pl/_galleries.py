"""Galleries of thumbnails: the consensus outliers and the near-duplicate sets.

Tiles come from the dataset's thumbnail sprite sheets (:mod:`medembed.explore`), so no image
is decoded again here.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd

from ._style import empty_figure, image_tile, plt, save

#: Abbreviations of detector names in the gallery's flag lines.
_SHORT = {"isolation_forest": "iforest", "dbscan_noise": "dbscan", "hdbscan_noise": "hdbscan",
          "gmm_density": "gmm", "pca_error": "pca", "knn_distance": "knn", "lof": "lof"}
WARN = "crimson"


def _tile(thumbnails, id_):
    try:
        return thumbnails.image(id_)
    except KeyError:  # an id without a tile: a dark tile, never a crash
        return np.full((thumbnails.tile, thumbnails.tile, 3), 40, np.uint8)


def outlier_gallery(top: pd.DataFrame, detections: dict[str, pd.DataFrame], thumbnails, *,
                    n: int = 20, ncols: int = 5, label_column: str | None = None,
                    path: str | os.PathLike) -> None:
    """The consensus top-``n`` (``rank``, ``id``, ``score``) as thumbnails, each titled with its
    rank, consensus score, label and the detectors that flag it (``is_outlier``)."""
    top = top.sort_values("rank").head(n)
    if top.empty:
        save(empty_figure("No outlier scores.", title="Consensus outliers"), path)
        return
    flags = {name: t.set_index(t["id"].astype(str))["is_outlier"].astype(bool) for name, t in detections.items()}
    ncols = max(1, min(ncols, len(top)))
    nrows = math.ceil(len(top) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.3 * ncols, 2.75 * nrows), squeeze=False)
    for ax in axes.flat[len(top):]:
        ax.set_visible(False)
    for ax, row in zip(axes.flat, top.to_dict("records")):  # records: label columns may be keywords
        id_ = str(row["id"])
        flagged = [_SHORT.get(name, name) for name, f in flags.items() if bool(f.get(id_, False))]
        label = f" · {row[label_column]}" if label_column and label_column in row else ""
        title = (f"#{row['rank']}  score {row['score']:.2f}{label}\n"
                 f"flagged {len(flagged)}/{len(flags)}: {', '.join(flagged) or '-'}")
        image_tile(ax, _tile(thumbnails, id_), title=title, edge=WARN if flagged else None)
        ax.set_xlabel(id_, fontsize=6)
    fig.suptitle(f"The {len(top)} most outlying images by consensus (red frame: flagged by a detector)",
                 fontsize=11, fontweight="bold")
    fig.tight_layout()
    save(fig, path)


def duplicate_sets(sets: pd.DataFrame, *, max_sets: int = 20) -> list[pd.DataFrame]:
    """The sets to show (``id``, ``set``, optional ``split``/``crosses_split``): sets that
    cross a split first, then the largest; at most ``max_sets``."""
    if sets.empty:
        return []
    crosses = sets.get("crosses_split", pd.Series(False, index=sets.index)).fillna(False).astype(bool)
    sets = sets.assign(_cross=crosses)
    info = sets.groupby("set").agg(size=("id", "size"), cross=("_cross", "any"))
    order = info.sort_values(["cross", "size"], ascending=[False, False], kind="stable").index[:max_sets]
    return [sets[sets["set"] == s] for s in order]


def duplicate_gallery(sets: pd.DataFrame, thumbnails, *, threshold: float | None = None,
                      max_sets: int = 20, max_per_set: int = 8, path: str | os.PathLike) -> None:
    """Each near-duplicate set as one row of thumbnails side by side; the sets whose images
    fall in different splits (possible train/test leakage) framed red and marked."""
    shown = duplicate_sets(sets, max_sets=max_sets)
    cosine = f" (cosine >= {threshold})" if threshold is not None else ""
    if not shown:
        save(empty_figure(f"No near-duplicate images{cosine}.", title="Near-duplicates"), path)
        return
    ncols = min(max_per_set, max(len(s) for s in shown))
    fig, axes = plt.subplots(len(shown), ncols, figsize=(1.7 * ncols + 1.8, 1.95 * len(shown)), squeeze=False)
    n_cross = 0
    for r, s in enumerate(shown):
        cross = bool(s["_cross"].any())
        n_cross += cross
        for j in range(ncols):
            ax = axes[r, j]
            if j >= len(s):
                ax.axis("off")
                continue
            row = s.iloc[j]
            split = f"\n{row['split']}" if "split" in s and pd.notna(row["split"]) else ""
            image_tile(ax, _tile(thumbnails, str(row["id"])), title=f"{row['id']}{split}",
                       edge=WARN if cross else None, fontsize=6)
        more = f", +{len(s) - ncols} more" if len(s) > ncols else ""
        axes[r, 0].set_ylabel(f"set {s['set'].iloc[0]}\n{len(s)} images{more}"
                              + ("\nCROSSES SPLIT" if cross else ""),
                              rotation=0, ha="right", va="center", fontsize=8,
                              color=WARN if cross else "black", fontweight="bold" if cross else "normal")
    n_sets = sets["set"].nunique()
    fig.suptitle(f"Near-duplicate sets{cosine}: {len(shown)} of {n_sets} shown; "
                 f"{n_cross} cross a split (red)", fontsize=11, fontweight="bold")
    fig.tight_layout()
    save(fig, path)

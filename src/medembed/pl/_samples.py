"""Sample images per cluster, as in the tutorial, for any number of clusters."""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd

from ._style import image_tile, plt, save

log = logging.getLogger(__name__)


def cluster_samples(
    clusters: pd.DataFrame,
    manifest: pd.DataFrame,
    *,
    method: str,
    n_samples: int = 5,
    max_clusters: int = 30,
    thumbnails,
    random_state: int = 0,
    label_column: str | None = None,
    path: str | os.PathLike,
) -> None:
    """Rows = clusters (largest first, noise last), ``n_samples`` random images each.

    Clusters with fewer images leave their last slots empty. Each row is titled with
    the cluster's size and, when ``label_column`` is given, its majority label share.
    Tiles come from the dataset's ``thumbnails`` (:func:`medembed.explore.read_thumbnails`):
    no image is decoded again.
    """
    df = manifest.merge(clusters[["id", "cluster"]], on="id")
    sizes = df.loc[df.cluster != -1, "cluster"].value_counts()
    order = list(sizes.index[:max_clusters])
    if (df.cluster == -1).any():
        order.append(-1)
    rng = np.random.default_rng(random_state)
    n_rows = max(len(order), 1)
    fig, axes = plt.subplots(n_rows, n_samples, figsize=(1.6 * n_samples + 1.8, 1.6 * n_rows), squeeze=False)
    black = np.zeros((thumbnails.tile, thumbnails.tile, 3), np.uint8)
    for r, c in enumerate(order):
        members = df[df.cluster == c]
        pick = members.iloc[rng.permutation(len(members))[:n_samples]]
        for j in range(n_samples):
            ax = axes[r, j]
            if j >= len(pick):  # fewer images than slots: the slot stays empty
                ax.axis("off")
                continue
            img = black
            try:
                img = thumbnails.image(pick.iloc[j]["id"])
            except KeyError:  # no tile for this id: a black tile, logged
                log.warning("no thumbnail for %s", pick.iloc[j]["id"])
            image_tile(ax, img)
        name = "noise" if c == -1 else f"cluster {c}"
        text = f"{name}\n{len(members)} images"
        if label_column and members[label_column].notna().any():
            top = members[label_column].astype(str).value_counts()
            text += f"\n{top.index[0]} {top.iloc[0] / len(members):.0%}"
        axes[r, 0].set_ylabel(text, rotation=0, ha="right", va="center", fontsize=9)
    if len(sizes) > max_clusters:
        log.info("%s: showing the %d largest of %d clusters", method, max_clusters, len(sizes))
    fig.suptitle(
        f"Sample images per cluster ({method}, {len(sizes)} clusters"
        + (f", largest {max_clusters} shown" if len(sizes) > max_clusters else "")
        + ")",
        fontsize=12,
        fontweight="bold",
        y=1 - 0.12 / fig.get_figheight(),  # a fixed margin in inches, whatever the number of rows
        va="top",
    )
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    save(fig, path)

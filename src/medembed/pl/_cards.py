"""The cluster cards as one figure: a row per cluster, its description and its most
central images (the medoid framed, then the five next nearest the centroid).

Reads a ``tl.cluster_cards`` table (plain columns); tiles come from the dataset's
thumbnail sheets (:mod:`medembed.explore`).
"""

from __future__ import annotations

import math
import os
import textwrap

import numpy as np
import pandas as pd

from ._galleries import _tile
from ._style import empty_figure, image_tile, plt, save

#: The frame of the medoid tile.
MEDOID_EDGE = "#1f77b4"


def _fmt(v, pattern: str, missing: str = "n/a") -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return missing
    return pattern.format(v) if math.isfinite(v) else missing


def card_text(card: dict) -> tuple[str, str]:
    """The title (name) and the body lines of one card."""
    who = "noise" if card["cluster"] == -1 else f"cluster {card['cluster']}"
    body = [f"{who} · {int(card['size'])} images ({100 * float(card['share']):.0f} %)"
            f" · stability ARI {_fmt(card.get('stability'), '{:.2f}')}",
            f"name from: {card['name_source']}"]
    for key, head in (("enriched", "over-represented"), ("metadata", "metadata"), ("phrases", "closest phrases")):
        text = card.get(key)
        if isinstance(text, str) and text:
            body.append(textwrap.fill(f"{head}: {text.replace('; ', ' · ')}", 56, subsequent_indent="  "))
    return str(card["name"]), "\n".join(body)


def cluster_cards(cards: pd.DataFrame, thumbnails, *, method: str = "", max_cards: int = 30,
                  path: str | os.PathLike) -> None:
    """One row per card (largest cluster first, noise last, at most ``max_cards``): name,
    size, stability, over-represented values, metadata; then the medoid (framed) and the
    images nearest the centroid."""
    title = f"Clusters, named{f' ({method})' if method else ''}"
    if cards.empty:
        save(empty_figure("No clusters to describe.", title=title), path)
        return
    shown = cards.head(max_cards)
    near = [[str(i) for i in str(r).split(",") if i] if isinstance(r, str) else [] for r in shown["nearest_ids"]]
    n_img = 1 + max((len(n) for n in near), default=0)
    text_w, tile, row_h = 4.4, 1.25, 1.55
    height = row_h * len(shown) + 0.45
    fig = plt.figure(figsize=(text_w + tile * n_img, height))
    gs = fig.add_gridspec(len(shown), 1 + n_img, width_ratios=[text_w / tile] + [1] * n_img, wspace=0.05,
                          hspace=0.35, left=0.01, right=0.99, bottom=0.01, top=1 - 0.45 / height)
    for r, (card, nearest) in enumerate(zip(shown.to_dict("records"), near)):
        ax = fig.add_subplot(gs[r, 0])
        ax.axis("off")
        name, body = card_text(card)
        ax.text(0, 0.98, textwrap.shorten(name, 60, placeholder="…"), fontsize=10, fontweight="bold", va="top",
                transform=ax.transAxes)
        ax.text(0, 0.72, body, fontsize=6.5, va="top", transform=ax.transAxes, linespacing=1.25)
        ids = [str(card["medoid_id"]), *nearest]
        for j in range(n_img):
            ax = fig.add_subplot(gs[r, 1 + j])
            if j >= len(ids):
                ax.axis("off")
                continue
            image_tile(ax, _tile(thumbnails, ids[j]), title="medoid" if j == 0 else "",
                       edge=MEDOID_EDGE if j == 0 else None, fontsize=6)
            ax.set_xlabel(textwrap.shorten(ids[j], 18, placeholder="…"), fontsize=5, labelpad=1)
    more = f"; {len(cards) - len(shown)} smaller not shown" if len(cards) > len(shown) else ""
    fig.suptitle(f"{title}: {len(cards)} cards{more}", fontsize=12, fontweight="bold", y=1 - 0.1 / height, va="top")
    save(fig, path)


def name_positions(Y, labels, names: dict, *, min_size: int = 3, max_labels: int = 30):
    """Where a map writes cluster names: ``[(x, y, cluster, name)]`` at the median of each named
    cluster's 2-D points, the ``max_labels`` largest clusters of at least ``min_size``
    points (noise and unnamed clusters left out)."""
    labels = np.asarray(labels)
    Y = np.asarray(Y)
    sizes = pd.Series(labels).value_counts()
    out = []
    for c, n in sizes.items():
        key = c.item() if hasattr(c, "item") else c
        if key not in names or n < min_size or len(out) >= max_labels:
            continue
        x, y = np.median(Y[labels == c, :2], axis=0)
        out.append((float(x), float(y), key, str(names[key])))
    return out

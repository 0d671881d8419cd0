"""What to look at first: one thumbnail gallery per issue type of an issue table.

Tiles come from the dataset's thumbnail sprite sheets, so no image is decoded again.
A near-duplicate or a split leak is drawn beside its other image.
"""

from __future__ import annotations

import math
import os
import textwrap

import pandas as pd

from ._galleries import WARN, _tile
from ._style import empty_figure, image_tile, plt, save

#: Titles of the issue types (the keys of ``tl.ISSUE_TYPES``).
ISSUE_TITLES = {
    "label_error": "Possible label errors",
    "image_quality": "Image quality",
    "unreadable": "Unreadable images",
    "outlier": "Outliers (consensus)",
    "near_duplicate": "Near-duplicates",
    "split_leak": "Near-duplicates across splits (leaks)",
    "confounded_cluster": "Clusters explained by metadata",
}
PAIRED = ("near_duplicate", "split_leak")


def _caption(row, width: int) -> str:
    detail = f" · {row['detail']}" if row.get("detail") else ""
    head = f"#{int(row['rank'])}  {row['score']:.2f}{detail}"
    body = textwrap.wrap(str(row.get("evidence", "")), width)[:4]
    return "\n".join([textwrap.shorten(head, width + 6), *body])


def issue_gallery(issues: pd.DataFrame, thumbnails, kind: str, *, n: int = 12, ncols: int = 6,
                  path: str | os.PathLike) -> None:
    """The ``n`` highest-ranked images of issue type ``kind`` as thumbnails, each with its
    rank, score, detail and evidence underneath; near-duplicates and leaks beside their
    other image. Unreadable images have no thumbnail: a table of paths and reasons."""
    title = ISSUE_TITLES.get(kind, kind)
    t = issues[issues["issue"] == kind].sort_values("rank")
    if kind in PAIRED:  # each pair once: a -> b, not b -> a again
        pair = [tuple(sorted(x)) for x in zip(t["id"].astype(str), t["other_id"].astype(str))]
        t = t[~pd.Series(pair, index=t.index).duplicated().to_numpy()]
    t = t.head(n)
    if t.empty:
        save(empty_figure(f"No {title.lower()} found.", title=title), path)
        return
    total = int((issues["issue"] == kind).sum())
    if kind == "unreadable":
        _unreadable(t, title, total, path)
        return
    paired = kind in PAIRED
    per_item = 2 if paired else 1
    items_per_row = max(1, min(ncols // per_item, len(t)))
    nrows = math.ceil(len(t) / items_per_row)
    cols = items_per_row * per_item
    fig, axes = plt.subplots(nrows, cols, figsize=(2.0 * cols, 2.9 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.set_visible(False)
    width = 34 if not paired else 30
    for k, row in enumerate(t.to_dict("records")):
        r, c = divmod(k, items_per_row)
        ax = axes[r, c * per_item]
        ax.set_visible(True)
        image_tile(ax, _tile(thumbnails, str(row["id"])), title=str(row["id"])[-28:], edge=WARN, fontsize=6)
        ax.set_xlabel(_caption(row, width), fontsize=5.5, loc="left")
        if paired:
            other = axes[r, c * per_item + 1]
            other.set_visible(True)
            image_tile(other, _tile(thumbnails, str(row["other_id"])), title=str(row["other_id"])[-28:],
                       fontsize=6)
            other.set_xlabel("its near-copy", fontsize=5.5, loc="left")
    more = f" (the top {len(t)} of {total})" if total > len(t) else f" ({total})"
    fig.suptitle(f"{title}{more}", fontsize=11, fontweight="bold")
    fig.tight_layout()
    save(fig, path)


def _unreadable(t: pd.DataFrame, title: str, total: int, path) -> None:
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(t) + 1.0))
    ax.axis("off")
    lines = [f"{textwrap.shorten(str(p or i), 60)}  —  {textwrap.shorten(str(e), 60)}"
             for i, p, e in zip(t["id"], t["path"], t["evidence"])]
    ax.text(0, 1, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=8)
    fig.suptitle(f"{title} ({total})", fontsize=11, fontweight="bold")
    save(fig, path)

"""Shared figure helpers: categorical colours, grids and atomic PNG saving."""

from __future__ import annotations

import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..io import atomic_path  # noqa: E402

NOISE_COLOR = "#9e9e9e"
MAX_LEGEND = 20


def category_colors(n: int) -> np.ndarray:
    """``n`` distinct colours: tab10 up to 10, tab20 up to 20, then a sampled hsv wheel."""
    if n <= 10:
        return plt.cm.tab10(np.arange(n))
    if n <= 20:
        return plt.cm.tab20(np.arange(n))
    return plt.cm.hsv(np.linspace(0, 1, n, endpoint=False))


def grid(n_panels: int, *, ncols: int | None = None, size: float = 5.0):
    ncols = ncols or (2 if n_panels <= 4 else 3)
    ncols = max(1, min(ncols, n_panels))
    nrows = math.ceil(n_panels / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * 0.9), squeeze=False)
    for ax in axes.flat[n_panels:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n_panels])


def scatter_categories(ax, Y: np.ndarray, labels, *, noise=-1, s: float | None = None, legend=True):
    """Scatter ``Y`` coloured by ``labels``; ``noise`` drawn small and grey beneath."""
    labels = np.asarray(labels)
    s = s or max(2.0, min(30.0, 3000.0 / max(len(Y), 1)))
    cats = [c for c in _ordered(labels) if not (noise is not None and c == noise)]
    is_noise = labels == noise if noise is not None else np.zeros(len(labels), bool)
    if is_noise.any():
        ax.scatter(*Y[is_noise, :2].T, c=NOISE_COLOR, s=s * 0.6, alpha=0.5, lw=0,
                   label=f"noise ({int(is_noise.sum())})")
    for c, color in zip(cats, category_colors(len(cats))):
        m = labels == c
        ax.scatter(*Y[m, :2].T, color=color, s=s, alpha=0.75, lw=0, label=f"{c} ({int(m.sum())})")
    if legend and len(cats) <= MAX_LEGEND:
        ax.legend(loc="best", fontsize=7, markerscale=1.5, ncol=1 + len(cats) // 10, framealpha=0.7)
    ax.set_xticks([])
    ax.set_yticks([])


def _ordered(labels):
    vals = list(dict.fromkeys(labels.tolist()))
    try:
        return sorted(vals)
    except TypeError:
        return sorted(vals, key=str)


def save(fig, path: str | os.PathLike, dpi: int = 110) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)

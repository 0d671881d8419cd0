"""Shared figure helpers: categorical colours, grids, large-n scatters, heatmaps, image tiles
and atomic PNG saving. Every figure function builds on these (one concept, one helper)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from ..io import atomic_path  # noqa: E402

NOISE_COLOR = "#9e9e9e"
#: The colour of the groups beyond the legend cap (one "other" entry): pale, not grey (noise).
OTHER_COLOR = "#d9c7a7"
MAX_LEGEND = 20


def category_colors(n: int) -> np.ndarray:
    """``n`` distinct colours, never grey (grey means noise): tab10 without its grey up to 9,
    tab20 without its greys up to 18, then a sampled hsv wheel."""
    if n <= 9:
        return plt.cm.tab10(np.delete(np.arange(10), 7))[:n]
    if n <= 18:
        return plt.cm.tab20(np.delete(np.arange(20), [14, 15]))[:n]
    return plt.cm.hsv(np.linspace(0, 1, n, endpoint=False))


def grid(n_panels: int, *, ncols: int | None = None, size: float = 5.0):
    """A figure of ``n_panels`` axes (at least one) in rows of ``ncols``; unused axes hidden."""
    n_panels = max(1, n_panels)
    ncols = ncols or (2 if n_panels <= 4 else 3)
    ncols = max(1, min(ncols, n_panels))
    nrows = math.ceil(n_panels / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * 0.9), squeeze=False)
    for ax in axes.flat[n_panels:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n_panels])


def point_style(n: int) -> tuple[float, float]:
    """Marker area (pt^2) and alpha for a scatter of ``n`` points: big and opaque for a few
    hundred, small and translucent at 100,000 so that density stays visible."""
    n = max(int(n), 1)
    size = float(np.clip(3000.0 / n, 0.3, 30.0))
    alpha = float(np.clip(0.9 - 0.2 * math.log10(max(n / 500.0, 1.0)), 0.3, 0.9))
    return size, alpha


@dataclass
class LegendGroups:
    """How a categorical colouring is drawn: ``shown`` groups (largest first) get their own
    colour and legend entry; the ``other`` groups share one colour and one entry; noise is grey."""

    shown: list
    counts: list[int]
    other: list
    n_other: int
    n_noise: int

    @property
    def entries(self) -> list[str]:
        out = [f"{c} ({n})" for c, n in zip(self.shown, self.counts)]
        if self.other:
            out.append(f"other: {len(self.other)} groups ({self.n_other})")
        if self.n_noise:
            out.append(f"noise ({self.n_noise})")
        return out


def legend_groups(labels, *, noise=-1, max_entries: int = MAX_LEGEND) -> LegendGroups:
    """Split ``labels`` into the groups shown in a legend of at most ``max_entries`` entries
    (noise and "other" included): the largest groups, then one "other" entry for the rest."""
    labels = np.asarray(labels)
    is_noise = labels == noise if noise is not None else np.zeros(len(labels), bool)
    kept = labels[~is_noise]
    vals, counts = np.unique(kept.astype(str) if kept.dtype == object else kept, return_counts=True)
    if kept.dtype == object:  # back to the original values (mixed types sort as strings)
        first = dict(zip(kept.astype(str).tolist(), kept.tolist()))
        vals = np.array([first[v] for v in vals.tolist()], dtype=object)
    order = sorted(range(len(vals)), key=lambda i: (-counts[i], str(vals[i])))
    room = max(1, max_entries - (1 if is_noise.any() else 0))
    if len(order) > room:
        room -= 1  # keep one entry for "other"
    shown = [vals[i] for i in order[:room]]
    rest = [vals[i] for i in order[room:]]
    return LegendGroups(
        shown=shown,
        counts=[int(counts[i]) for i in order[:room]],
        other=rest,
        n_other=int(sum(counts[i] for i in order[room:])),
        n_noise=int(is_noise.sum()),
    )


def scatter_categories(ax, Y: np.ndarray, labels, *, noise=-1, legend=True, max_entries: int = MAX_LEGEND):
    """Scatter ``Y`` coloured by ``labels``, rasterised; noise grey beneath, the groups past the
    legend cap in one pale "other" colour, point size and alpha from n (:func:`point_style`)."""
    labels = np.asarray(labels)
    Y = np.asarray(Y)
    size, alpha = point_style(len(Y))
    groups = legend_groups(labels, noise=noise, max_entries=max_entries)
    layers = []  # drawn in this order: noise beneath, then "other", then the shown groups
    if groups.n_noise:
        layers.append((labels == noise, NOISE_COLOR, f"noise ({groups.n_noise})", 0.7))
    if groups.other:
        other = np.isin(labels.astype(object), np.asarray(groups.other, dtype=object))
        layers.append((other, OTHER_COLOR, groups.entries[len(groups.shown)], 1.0))
    for c, color, text in zip(groups.shown, category_colors(len(groups.shown)), groups.entries):
        layers.append((labels == c, color, text, 1.0))
    handles = []
    for mask, color, text, scale in layers:
        ax.scatter(*Y[mask, :2].T, color=color, s=size * scale, alpha=alpha, lw=0, rasterized=True)
        handles.append(Line2D([], [], ls="", marker="o", color=color, label=text))
    if legend and handles:
        n_special = (1 if groups.n_noise else 0) + (1 if groups.other else 0)
        handles = handles[n_special:] + handles[:n_special][::-1]  # shown, other, noise
        if len(handles) <= 8:  # a short legend fits inside; a long one goes to the right
            ax.legend(handles=handles, loc="best", fontsize=7, framealpha=0.7, markerscale=0.9)
        else:
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7,
                      ncol=1 + len(handles) // 16, frameon=False, markerscale=0.9)
    ax.set_xticks([])
    ax.set_yticks([])
    return groups


def heatmap(ax, values: np.ndarray, rows, cols, *, best: np.ndarray | None = None, fmt="{:.2f}",
            cmap="viridis", vmin=0.0, vmax=1.0, color_values: np.ndarray | None = None,
            hide_zero: bool = False, best_edge: str = "red"):
    """Annotated heatmap of ``values`` (NaN blank); cells where ``best`` is True are outlined
    (in ``best_edge``).
    ``color_values`` (default ``values``) set the colours, e.g. row shares for counts."""
    values = np.asarray(values, dtype=float)
    shade = values if color_values is None else np.asarray(color_values, dtype=float)
    ax.imshow(np.ma.masked_invalid(shade), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto",
              interpolation="nearest")
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels(cols, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows, fontsize=8)
    norm = plt.Normalize(vmin, vmax)
    cm = plt.get_cmap(cmap)
    small = len(rows) * len(cols) <= 900
    for (i, j), v in np.ndenumerate(values):
        if not np.isfinite(v) or not small or (hide_zero and v == 0):
            continue
        dark = _luminance(cm(norm(shade[i, j]))) < 0.5 if np.isfinite(shade[i, j]) else False
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=7,
                color="white" if dark else "black",
                fontweight="bold" if best is not None and best[i, j] else "normal")
    if best is not None:
        for i, j in zip(*np.nonzero(best)):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec=best_edge, lw=2.2))
    ax.tick_params(length=0)


def _luminance(rgba) -> float:
    """Relative luminance of a colour (0 black, 1 white): text on it is white below 0.5."""
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgba[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def image_tile(ax, img, *, title: str = "", edge: str | None = None, fontsize: float = 7):
    """One image in an axis without ticks; ``edge`` colours a thick frame (e.g. a warning)."""
    ax.imshow(np.asarray(img))
    ax.set_xticks([])
    ax.set_yticks([])
    for sp in ax.spines.values():
        sp.set_visible(edge is not None)
        if edge is not None:
            sp.set_edgecolor(edge)
            sp.set_linewidth(3)
    if title:
        ax.set_title(title, fontsize=fontsize, pad=2)


def empty_figure(message: str, *, title: str = ""):
    """A small figure that says why there is nothing to draw (never a blank PNG)."""
    fig, ax = plt.subplots(figsize=(6, 1.6))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, wrap=True)
    if title:
        fig.suptitle(title, fontsize=12, fontweight="bold")
    return fig


def save(fig, path: str | os.PathLike, dpi: int = 110) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)

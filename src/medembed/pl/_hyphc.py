"""Figures for hyperbolic hierarchical clustering: Poincaré disk of leaves, top of the tree."""

from __future__ import annotations

import numpy as np


def _axes(ax_or_fig, figsize=(5, 5)):
    import matplotlib

    if ax_or_fig is None:
        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    from matplotlib.figure import Figure

    if isinstance(ax_or_fig, Figure):
        return ax_or_fig, ax_or_fig.add_subplot(111)
    return ax_or_fig.figure, ax_or_fig


def _categorical_colors(values, cmap_name="tab10"):
    import matplotlib

    vals = np.asarray(values, dtype=object)
    missing = np.array([v is None or (isinstance(v, float) and np.isnan(v)) for v in vals])
    cats = sorted({str(v) for v in vals[~missing]}, key=lambda s: (len(s), s))
    name = cmap_name if len(cats) <= 10 else ("tab20" if len(cats) <= 20 else "hsv")
    cmap = matplotlib.colormaps[name]
    denom = max(len(cats) - (0 if name != "hsv" else 0), 1)
    lut = {c: cmap(i % cmap.N) if name != "hsv" else cmap(i / denom) for i, c in enumerate(cats)}
    colors = np.array([(0.6, 0.6, 0.6, 0.5) if m else lut[str(v)] for v, m in zip(vals, missing)])
    return colors, lut


def poincare_disk(
    ax_or_fig=None,
    coords=None,
    colors=None,
    *,
    title: str | None = None,
    s: float | None = None,
    alpha: float = 0.8,
    legend: bool = True,
    max_legend: int = 20,
    cmap: str = "tab10",
):
    """Scatter leaves ``coords`` (n, 2) in the Poincaré disk with the unit circle drawn.

    ``ax_or_fig``: an Axes, a Figure (a subplot is added) or None (new figure).
    ``colors``: categorical labels (legend shows up to ``max_legend`` of them), numbers
    (continuous colour bar if float with many values) or None. Returns the Axes.
    """
    import matplotlib.patches as mpatches

    fig, ax = _axes(ax_or_fig)
    xy = np.asarray(coords, dtype=float)
    if xy.ndim != 2 or xy.shape[1] < 2:
        raise ValueError(f"coords must be (n, 2); got shape {xy.shape}")
    xy = xy[:, :2]
    n = len(xy)
    if s is None:
        # Leaves near the boundary overlap along an arc: larger markers keep arcs visible.
        on_rim = n and float(np.median(np.hypot(xy[:, 0], xy[:, 1]))) > 0.9
        s = float(np.clip((12000.0 if on_rim else 3000.0) / max(n, 1), 4.0 if on_rim else 0.5, 40.0))
    ax.add_patch(mpatches.Circle((0, 0), 1.0, fill=False, lw=0.8, color="0.75", zorder=0))
    ax.plot([0], [0], marker="+", color="0.4", ms=6)
    if colors is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=s, alpha=alpha, lw=0, color="tab:blue")
    else:
        vals = np.asarray(colors)
        continuous = np.issubdtype(vals.dtype, np.floating) and len(np.unique(vals[np.isfinite(vals)])) > 20
        if continuous:
            sc = ax.scatter(xy[:, 0], xy[:, 1], c=vals, s=s, alpha=alpha, lw=0, cmap="viridis")
            fig.colorbar(sc, ax=ax, fraction=0.046, pad=0.04)
        else:
            cols, lut = _categorical_colors(vals, cmap)
            ax.scatter(xy[:, 0], xy[:, 1], c=cols, s=s, alpha=alpha, lw=0)
            if legend and 0 < len(lut) <= max_legend:
                handles = [mpatches.Patch(color=c, label=k) for k, c in lut.items()]
                ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(-1.05, 1.05)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def dendrogram_top(
    linkage,
    ax=None,
    *,
    p: int = 30,
    n_clusters: int | None = None,
    title: str | None = None,
    show_counts: bool = True,
):
    """Dendrogram of the top of a linkage tree: its last ``p`` merges (``truncate_mode='lastp'``).

    With ``n_clusters`` the branches below the cut into that many clusters are coloured and
    the cut is drawn as a dashed line. Leaf ticks show cluster sizes. Returns the Axes.
    """
    from scipy.cluster import hierarchy as sch

    fig, ax = _axes(ax, figsize=(8, 4))
    Z = np.asarray(linkage, dtype=float)
    n = Z.shape[0] + 1
    p = int(min(max(p, 2), n))
    thr = None
    if n_clusters is not None and 2 <= n_clusters <= n:
        hi = Z[n - n_clusters, 2] if n - n_clusters < len(Z) else Z[-1, 2]
        lo = Z[n - n_clusters - 1, 2] if n - n_clusters - 1 >= 0 else 0.0
        thr = 0.5 * (hi + lo)
    sch.dendrogram(
        Z,
        truncate_mode="lastp",
        p=p,
        ax=ax,
        color_threshold=thr if thr is not None else 0,
        above_threshold_color="0.35",
        show_leaf_counts=show_counts,
        leaf_font_size=7,
        no_labels=not show_counts,
    )
    if thr is not None:
        ax.axhline(thr, ls="--", lw=0.8, color="tab:red")
    ax.set_ylabel("merge height: d_o(leaf) - d_o(LCA)")
    if title:
        ax.set_title(title, fontsize=10)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return ax

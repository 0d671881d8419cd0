"""Colours of the explorer: a categorical palette that stays distinct past 20 groups, a ramp."""

from __future__ import annotations

import functools

import numpy as np

#: Noise (cluster -1) and missing labels.
NOISE = "#b0b0b0"
# Tableau 10: the familiar first colours.
_FIRST = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
          "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of sRGB rows in [0, 1]."""
    c = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    m = np.array([[0.4124564, 0.3575761, 0.1804375],
                  [0.2126729, 0.7151522, 0.0721750],
                  [0.0193339, 0.1191920, 0.9503041]])
    xyz = c @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


@functools.lru_cache(maxsize=8)
def categorical_palette(n: int) -> tuple[str, ...]:
    """``n`` colours, each as far (in CIELAB) from all earlier ones as possible (Glasbey).

    Starts from Tableau 10 (without its grey, which means noise here), then adds greedily
    the candidate farthest from every colour chosen so far. Candidates exclude greys,
    near-white and near-black, so no group looks like noise or vanishes on the white page.
    """
    if n < 1:
        return ()
    grid = np.linspace(0, 1, 24)
    cand = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), -1).reshape(-1, 3)
    lab = _srgb_to_lab(cand)
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    keep = (lab[:, 0] > 30) & (lab[:, 0] < 88) & (chroma > 25)
    cand, lab = cand[keep], lab[keep]
    first = [c for c in _FIRST if c != "#7f7f7f"][:n]
    chosen = [np.array([int(c[i : i + 2], 16) / 255 for i in (1, 3, 5)]) for c in first]
    dist = np.full(len(cand), np.inf)
    for c in chosen:
        dist = np.minimum(dist, np.linalg.norm(lab - _srgb_to_lab(c[None])[0], axis=1))
    out = list(first)
    while len(out) < n:
        j = int(np.argmax(dist))
        out.append("#" + "".join(f"{round(v * 255):02x}" for v in cand[j]))
        dist = np.minimum(dist, np.linalg.norm(lab - lab[j], axis=1))
    return tuple(out)


def score_ramp(steps: int = 256) -> list[str]:
    """A perceptually uniform ramp (viridis) for continuous scores, low to high."""
    from matplotlib import colormaps

    rgba = colormaps["viridis"](np.linspace(0, 1, steps))
    return ["#" + "".join(f"{round(v * 255):02x}" for v in row[:3]) for row in rgba]

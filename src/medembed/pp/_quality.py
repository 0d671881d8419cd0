"""Image quality from pixels (scanpy's ``pp.calculate_qc_metrics``, for images).

:func:`image_quality` measures one decoded image; the thumbnail pass
(:func:`medembed.explore.make_thumbnails`) calls it on every image it already decodes and
writes the per-dataset table (:func:`quality_table`), so pixels are read once.
:func:`quality_issues` turns that table into flagged problems, issue type ``image_quality``.

Measures (all on the grey image, 8-bit as decoded for the thumbnails, scaled to 0..1):

- ``mean``: brightness; ``std``: contrast; ``p1``, ``p99``: the 1st and 99th percentile;
  ``dynamic_range``: p99 − p1;
- ``fraction_constant``: share of pixels at the most common grey value (1 = constant);
- ``laplacian_var``: variance of the Laplacian (blur: low = blurry), in 8-bit grey-level
  units, the scale of the usual "variance of the Laplacian" rule of thumb; ``sharpness``: that
  variance / the mean squared Sobel gradient, a contrast-free version (low = blurry);
- ``width``, ``height`` (the decoded image's pixels), ``aspect`` = longest / shortest side.

Speed and comparability: the grey statistics are computed on a copy shrunk by an integer
box reduction until its longest side is at most :data:`STATS_SIDE` px (means, percentiles
and the modal value barely change; a 4000 px radiograph costs what a 512 px one does). The
Laplacian is not scale-free (the same scene shrunk 4x looks 4x sharper per pixel), so it is
measured on a square resample of fixed size, :data:`BLUR_SIDE` px, which makes it
comparable between images of different sizes in one dataset; images smaller than that are
resampled to their short side instead, since upsampling would blur them itself.

Flags (:func:`quality_issues`), one row per (image, problem):

- ``blank`` (absolute: a constant image is blank in any dataset): ``fraction_constant`` at
  least :data:`BLANK_FRACTION` or ``dynamic_range`` at most :data:`BLANK_RANGE`. A blank
  image is not also reported dark / bright / low contrast / blurry (it is all of these by
  consequence), and blank images are left out of the dataset statistics below.
- ``dark``: ``p99`` (even the brightest pixels are dim) far below the dataset's;
- ``bright``: ``1 − p1`` (even the darkest pixels are light) far below the dataset's. The
  percentiles, not the mean: in a mixed set a darkened radiograph has the mean brightness
  of an ordinary MRI slice with its black surround, but not its bright pixels;
- ``low_contrast``: ``dynamic_range`` far below the dataset's and under the absolute
  :data:`LOW_CONTRAST` (not reported for an image already dark or bright);
- ``blurry``: ``sharpness`` = ``laplacian_var`` / mean squared Sobel gradient far below
  the dataset's. The plain Laplacian variance scales with contrast squared, so it would
  call every dark or flat image blurry; the ratio does not;
- ``aspect_ratio``: ``aspect`` above ``max_aspect`` and above median + k·MAD (a dataset
  of wide images is not all flagged);
- ``tiny`` (absolute): shortest side below ``min_side`` px.

"Far below" is relative to the dataset, so a dark modality is not all "dark": the log10 of
the value lies more than ``max(k·MAD, LOG_GAP)`` under the median of log10 (MAD: median
absolute deviation scaled by 1.4826, the standard deviation of normal data; logs because
these measures are ratios of scale). :data:`LOG_GAP` (a factor 2) guards a tiny MAD, as
where most images share a value (p99 saturated at white) or MAD = 0: the rule then falls
back to "under half the dataset's median". Fewer than :data:`MIN_IMAGES` images: not
applicable, nothing is flagged (logged): a median and MAD of a handful of images flag noise.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage

log = logging.getLogger(__name__)

ISSUE = "image_quality"
#: Output columns of :func:`quality_issues` (shared by every issue type).
ISSUE_COLUMNS = ["id", "issue", "detail", "score", "rank", "evidence"]
#: Details of ``image_quality``, in the order they are checked.
DETAILS = ("blank", "dark", "bright", "low_contrast", "blurry", "aspect_ratio", "tiny")
#: Columns of :func:`quality_table` after ``id``.
MEASURES = ["mean", "std", "p1", "p99", "dynamic_range", "fraction_constant", "laplacian_var",
            "sharpness", "width", "height", "aspect"]

#: Longest side of the shrunk copy the grey statistics are computed on.
STATS_SIDE = 512
#: Side of the fixed-size square resample the Laplacian variance is measured on.
BLUR_SIDE = 128
#: Absolute blank rule: this share of pixels at one grey value ...
BLANK_FRACTION = 0.98
#: ... or a p99 − p1 range at most this (5 grey levels of 255: JPEG noise on a flat image).
BLANK_RANGE = 5 / 255
#: Below this many images :func:`quality_issues` flags nothing.
MIN_IMAGES = 10
#: Defaults of :func:`quality_issues` (see its docstring for why).
K = 3.5
MIN_SIDE = 32
#: Smallest distance of a relative threshold from the median, in log10 units (0.3: a factor
#: of 2): where most images share a value (p99 saturated at white, one class of identical
#: exposure) the MAD is tiny and median − k·MAD would flag ordinary variation; at MAD = 0
#: this is the absolute fallback ("half the dataset's typical value").
LOG_GAP = 0.3
#: Low contrast is also absolute: a p99 − p1 range under a tenth of the grey scale (skimage's
#: ``is_low_contrast`` uses 0.05). A mixed set's flat modality (MedNIST's ChestCT, ~0.3) is
#: then not flagged, and the relative rule keeps a set of flat images from being all flagged.
LOW_CONTRAST = 0.1
MAX_ASPECT = 4.0
_MAD_SCALE = 1.4826


def _grey(img) -> Image.Image:
    """A PIL image or array (H x W or H x W x C; uint8, or float in 0..1) as 8-bit grey."""
    if isinstance(img, Image.Image):
        return img if img.mode == "L" else img.convert("L")
    arr = np.asarray(img)
    if arr.ndim == 3:
        arr = arr[..., :3] @ np.array([0.299, 0.587, 0.114]) if arr.shape[2] >= 3 else arr[..., 0]
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"image_quality: expected a 2-D or 3-D image, got shape {np.shape(img)}")
    if arr.dtype != np.uint8:
        arr = np.asarray(arr, np.float64)
        if np.issubdtype(np.asarray(img).dtype, np.floating):
            arr = arr * 255.0
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    return Image.fromarray(arr, mode="L")


def image_quality(img) -> dict:
    """Pixel measures of one image (see the module docstring): ``mean``, ``std``, ``p1``,
    ``p99``, ``dynamic_range``, ``fraction_constant``, ``laplacian_var``, ``sharpness``,
    ``width``, ``height``, ``aspect``.

    ``img``: a PIL image (any mode; converted to grey as Pillow does) or an array, H x W or
    H x W x C, uint8 or float in 0..1 (e.g. ``np.asarray(datasets.load_image(path))``).
    """
    g = _grey(img)
    width, height = g.size
    factor = -(-max(width, height) // STATS_SIDE)
    small = g.reduce(factor) if factor > 1 else g
    a = np.asarray(small)
    x = a.astype(np.float32) / 255.0
    p1, p99 = np.percentile(x, [1, 99])
    counts = np.bincount(a.ravel(), minlength=256)
    side = min(BLUR_SIDE, width, height)
    b = np.asarray(small.resize((side, side), Image.Resampling.BOX), np.float32)
    lap = ndimage.laplace(b).var()
    grad = (ndimage.sobel(b, 0) ** 2 + ndimage.sobel(b, 1) ** 2).mean()
    return {
        "mean": float(x.mean()),
        "std": float(x.std()),
        "p1": float(p1),
        "p99": float(p99),
        "dynamic_range": float(p99 - p1),
        "fraction_constant": float(counts.max() / a.size),
        "laplacian_var": float(lap),
        "sharpness": float(lap / grad) if grad > 0 else 0.0,
        "width": int(width),
        "height": int(height),
        "aspect": float(max(width, height) / max(1, min(width, height))),
    }


def quality_table(measures: Iterable[tuple[str, dict]] | pd.DataFrame | None = None, *,
                  images: Iterable[tuple[str, object]] | None = None) -> pd.DataFrame:
    """The per-dataset table: ``id`` and the :data:`MEASURES` columns, one row per image.

    ``measures``: ``(id, image_quality(...))`` pairs (what the thumbnail pass collects), or
    ``images``: ``(id, image)`` pairs to measure here (a notebook, the tests).
    """
    if images is not None:
        measures = [(i, image_quality(im)) for i, im in images]
    if isinstance(measures, pd.DataFrame):
        rows = measures
    else:
        pairs = list(measures or [])
        rows = pd.DataFrame([m for _, m in pairs], columns=MEASURES)
        rows.insert(0, "id", [str(i) for i, _ in pairs])
    out = rows[["id", *MEASURES]].copy()
    out["id"] = out["id"].astype(str)
    for c in MEASURES:
        out[c] = out[c].astype(np.int64 if c in ("width", "height") else np.float64)
    return out.reset_index(drop=True)


def _robust(values: np.ndarray) -> tuple[float, float]:
    """``(median, 1.4826 * MAD)`` of the finite values."""
    v = values[np.isfinite(values)]
    med = float(np.median(v))
    return med, float(_MAD_SCALE * np.median(np.abs(v - med)))


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def quality_issues(table: pd.DataFrame, *, k: float = K, min_side: int = MIN_SIDE,
                   max_aspect: float = MAX_ASPECT) -> pd.DataFrame:
    """Images with a pixel problem, one row per (image, problem), worst first.

    Columns :data:`ISSUE_COLUMNS`: ``id``; ``issue`` = ``"image_quality"``; ``detail``, one
    of :data:`DETAILS`; ``score`` in [0, 1], higher = worse; ``rank`` (1 = worst, across
    details); ``evidence``, one line with the value, the dataset median and the threshold.

    ``table``: :func:`quality_table`'s. ``k``: how many (scaled) MADs from the dataset
    median a measure must lie to be flagged (on log10, at least a factor 2). The default
    3.5 is Iglewicz and Hoaglin's cut for modified z-scores; on the demo data it flags 1 of
    600 MedNIST and 0 of 120 SLAKE images, and catches planted blank, darkened, brightened,
    flattened and heavily blurred copies and 1:8 strips (at 5 the blurred MedNIST copies
    are missed). ``min_side``: a shorter side (px) is ``tiny``; 32 is
    below any encoder's useful input. ``max_aspect``: a longer / shorter side above it is
    ``aspect_ratio`` (4: wider than panoramic dental films, narrower than a strip).

    Scores: a relative rule scores ``1 − k/z`` for a value ``z`` MADs from the median (0 at
    the threshold, 0.5 at twice its distance); ``aspect_ratio`` ``1 − threshold/aspect``;
    ``tiny`` ``1 − side/min_side``; ``blank`` 0.9–1 (1: constant), so unusable images
    head the ranking.
    """
    for name, value, low in (("k", k, 0), ("min_side", min_side, 0), ("max_aspect", max_aspect, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not value > low:
            raise ValueError(f"quality_issues: {name}={value!r} must be a number > {low}")
    missing = {"id", *MEASURES} - set(table.columns)
    if missing:
        raise ValueError(f"quality_issues: the table lacks columns {sorted(missing)}; "
                         "compute it with quality_table first")
    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
        ISSUE_COLUMNS, (object, object, object, np.float64, np.int64, object))})
    t = table.dropna(subset=MEASURES).reset_index(drop=True)
    if len(t) < MIN_IMAGES:
        log.info("image_quality: not applicable, %d image(s) measured (< %d): a median and "
                 "MAD of so few flag noise", len(t), MIN_IMAGES)
        return empty
    ids = t["id"].astype(str).to_numpy()
    rows: list[tuple[str, str, float, str]] = []

    blank = (t["fraction_constant"].to_numpy() >= BLANK_FRACTION) | (
        t["dynamic_range"].to_numpy() <= BLANK_RANGE)
    for i in np.flatnonzero(blank):
        fc, dr = t.at[i, "fraction_constant"], t.at[i, "dynamic_range"]
        score = 0.9 + 0.1 * max((fc - BLANK_FRACTION) / (1 - BLANK_FRACTION), 1 - dr / BLANK_RANGE)
        rows.append((ids[i], "blank", min(max(score, 0.9), 1.0),
                     f"near-blank: {fc:.0%} of pixels at one grey value, dynamic range "
                     f"{dr:.3f} (blank: >= {BLANK_FRACTION:.0%} or <= {BLANK_RANGE:.3f})"))
    ok = ~blank
    if ok.sum() < MIN_IMAGES:
        log.info("image_quality: relative rules not applicable, %d non-blank image(s) (< %d)",
                 ok.sum(), MIN_IMAGES)

    flagged: dict[str, np.ndarray] = {}

    def relative(detail, raw, label, *, headroom=False, cap=None, unit=None, also=None):
        """Flag values of ``raw`` (0..1; with ``headroom``, its distance from 1) a factor
        ``10**dist`` below the dataset median, ``dist = max(k·MAD, LOG_GAP)`` of log10; and,
        given ``cap``, below that absolute value too."""
        y = 1 - raw if headroom else raw
        x = np.log10(np.maximum(y, 1e-4))
        med, mad = _robust(x[ok])
        dist = max(k * mad, LOG_GAP)
        thr = 10 ** (med - dist) if cap is None else min(10 ** (med - dist), cap)
        hit = ok & (y < thr)
        if also is not None:
            hit &= also
        flagged[detail] = hit
        z = (med - x) / max(mad, dist / k)  # in MADs (the minimum gap standing in for a tiny MAD)
        by = f"{k:g}·MAD of log10" if k * mad >= LOG_GAP else f"the minimum factor {10**LOG_GAP:.2g}"
        how = f"{'1 − (1 − median)' if headroom else 'median'} ÷ {10**dist:.2g}: {by}"
        if cap is not None:
            how += f", at most {cap:g}"
        shown = (lambda v: 1 - v) if headroom else (lambda v: v)
        for i in np.flatnonzero(hit):
            rows.append((ids[i], detail, 1 - k / max(z[i], k),
                         f"{label} {_fmt(raw[i])}{unit(i) if unit else ''}; dataset median "
                         f"{_fmt(shown(10**med))}, threshold {_fmt(shown(thr))} ({how})"))

    if ok.sum() >= MIN_IMAGES:
        col = {c: t[c].to_numpy(np.float64) for c in MEASURES}
        mean = col["mean"]
        relative("dark", col["p99"], "brightest 1 % of pixels (p99) at",
                 unit=lambda i: f", mean brightness {mean[i]:.3g}")
        relative("bright", col["p1"], "darkest 1 % of pixels (p1) at", headroom=True,
                 unit=lambda i: f", mean brightness {mean[i]:.3g}")
        relative("low_contrast", col["dynamic_range"], "dynamic range (p99 − p1)",
                 cap=LOW_CONTRAST, also=~flagged["dark"] & ~flagged["bright"])
        # the Laplacian scales with contrast squared: judged relative to the gradient energy,
        # so a dark or flat image is not also called blurry
        lap = col["laplacian_var"]
        relative("blurry", col["sharpness"], "Laplacian variance / gradient energy",
                 unit=lambda i: f" (Laplacian variance {_fmt(lap[i])})")

    aspect = t["aspect"].to_numpy(np.float64)
    med, mad = _robust(aspect)
    thr = max(float(max_aspect), med + k * mad)
    for i in np.flatnonzero(aspect > thr):
        rows.append((ids[i], "aspect_ratio", 1 - thr / aspect[i],
                     f"aspect ratio {aspect[i]:.2g}:1 ({t.at[i, 'width']}×{t.at[i, 'height']} px); "
                     f"dataset median {med:.2g}, threshold {thr:.2g} (max of max_aspect and "
                     f"median + {k:g}·MAD)"))
    side = np.minimum(t["width"].to_numpy(), t["height"].to_numpy())
    for i in np.flatnonzero(side < min_side):
        rows.append((ids[i], "tiny", 1 - side[i] / min_side,
                     f"{t.at[i, 'width']}×{t.at[i, 'height']} px: shortest side {side[i]} "
                     f"< min_side {min_side}"))

    if not rows:
        return empty
    out = pd.DataFrame(rows, columns=["id", "detail", "score", "evidence"])
    out.insert(1, "issue", ISSUE)
    out["score"] = out["score"].astype(np.float64).clip(0.0, 1.0)
    order = {d: n for n, d in enumerate(DETAILS)}
    out = out.sort_values(["score", "detail", "id"], ascending=[False, True, True],
                          key=lambda s: s.map(order) if s.name == "detail" else s)
    out["rank"] = np.arange(1, len(out) + 1, dtype=np.int64)
    return out[ISSUE_COLUMNS].reset_index(drop=True)

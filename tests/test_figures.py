"""The report's figures: each PNG decodes and is not blank; the layout helpers hold for 1, 2,
25 and 60 clusters and for all-noise labels; large-n scatters stay rasterised and light."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from conftest import DEMO
from PIL import Image

from medembed import io, pl
from medembed.explore import make_thumbnails
from medembed.pl._style import MAX_LEGEND, NOISE_COLOR, OTHER_COLOR, plt, scatter_categories


def _png(path) -> np.ndarray:
    """The figure decoded; asserts it is a real, non-blank picture."""
    with Image.open(path) as im:
        im.load()
        arr = np.asarray(im.convert("RGB"), np.float32)
    assert arr.shape[0] > 80 and arr.shape[1] > 200
    assert arr.std() > 10, f"{path} looks blank"
    return arr


def _labels(n_clusters: int, n: int = 600, *, noise: float = 0.1, seed: int = 0) -> np.ndarray:
    """``n`` labels over ``n_clusters`` clusters of unequal sizes, a ``noise`` share at -1."""
    rng = np.random.default_rng(seed)
    if n_clusters == 0:
        return np.full(n, -1)
    w = rng.uniform(0.3, 1.0, n_clusters)
    lab = rng.choice(n_clusters, size=n, p=w / w.sum())
    lab[: n_clusters] = np.arange(n_clusters)  # every cluster present
    lab[rng.random(n) < noise] = -1
    return lab


@pytest.fixture(scope="module")
def thumbs(tmp_path_factory):
    """Thumbnails of 120 real MedNIST images (ids m0..m119) and their manifest."""
    paths = sorted((DEMO / "mednist-mini").glob("*/*.jpeg"))[::5][:120]
    manifest = pd.DataFrame({"id": [f"m{i}" for i in range(len(paths))], "path": list(map(str, paths)),
                             "class": [p.parent.name for p in paths]})
    return make_thumbnails(manifest, tmp_path_factory.mktemp("th") / "t", tile=48), manifest


# ---- layout helpers ----------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 25, 60, 0])
def test_legend_groups_cap_and_other(k):
    lab = _labels(k)
    g = pl.legend_groups(lab)
    entries = g.entries
    assert len(entries) <= MAX_LEGEND
    assert g.n_noise == int((lab == -1).sum())
    # every non-noise image is in a shown group or in "other", exactly once
    assert sum(g.counts) + g.n_other + g.n_noise == len(lab)
    assert len(g.shown) + len(g.other) == k
    if k + (g.n_noise > 0) <= MAX_LEGEND:
        assert not g.other and len(g.shown) == k
    else:
        assert g.other and entries[len(g.shown)].startswith(f"other: {len(g.other)} groups")
        # the largest groups are the ones shown
        assert min(g.counts) >= max(np.sum(lab == o) for o in g.other)
    if k == 0:
        assert g.shown == [] and entries == [f"noise ({len(lab)})"]


@pytest.mark.parametrize("k", [1, 2, 25, 60, 0])
def test_scatter_colours_noise_grey_and_other_pale(k, tmp_path):
    lab = _labels(k, n=800)
    Y = np.random.default_rng(1).normal(size=(len(lab), 2))
    fig, ax = plt.subplots()
    g = scatter_categories(ax, Y, lab)
    colors = [tuple(np.round(c.get_facecolor()[0][:3], 3)) for c in ax.collections if len(c.get_offsets())]
    assert all(c.get_rasterized() for c in ax.collections)
    grey = tuple(np.round(plt.matplotlib.colors.to_rgb(NOISE_COLOR), 3))
    pale = tuple(np.round(plt.matplotlib.colors.to_rgb(OTHER_COLOR), 3))
    assert (grey in colors) == bool((lab == -1).any())
    assert (pale in colors) == bool(g.other)
    # the distinct colours: one per shown group, none of them grey
    shown = [c for c in colors if c not in (grey, pale)]
    assert len(set(shown)) == len(g.shown)
    assert all(np.ptp(c) > 0.05 for c in shown)  # no group is drawn in a grey
    legend = ax.get_legend()
    assert legend is not None and len(legend.get_texts()) == len(g.entries) <= MAX_LEGEND
    pl._style.save(fig, tmp_path / "s.png")
    _png(tmp_path / "s.png")


def test_point_style_shrinks_with_n():
    small, big = pl.point_style(300), pl.point_style(100_000)
    assert small[0] > big[0] and small[1] > big[1]
    assert 0 < big[0] <= 1 and 0.2 <= big[1] <= 0.5


@pytest.mark.parametrize("k", [1, 2, 25, 60, 0])
def test_contingency_table_layout(k):
    lab = pd.Series(_labels(k, n=900))
    truth = pd.Series(np.random.default_rng(2).choice(list("ABCDE"), len(lab)))
    t = pl.contingency_table(lab, truth, max_rows=40)
    assert t.to_numpy().sum() == len(lab)  # every image counted once
    assert len(t) <= 40 + 1  # at most 40 cluster rows (+ noise)
    assert ("noise" in t.index) == bool((lab == -1).any())
    if k > 40:
        assert "other clusters" in t.index and t.index[-1] == "noise"
    rows = [r for r in t.index if r.startswith("cluster ")]
    sizes = [int((lab == int(r.split()[1])).sum()) for r in rows]
    assert sizes == sorted(sizes, reverse=True)  # largest first
    assert list(t.columns) == list(truth.value_counts().index)


def test_metrics_matrix_and_best(tmp_path):
    rows = []
    for method, ari, sup in (("kmeans", 0.8, "none"), ("dbscan", 0.1, "none"), ("semi", 0.95, "semi:0.3")):
        for metric, v in (("ari", ari), ("nmi", ari - 0.05), ("purity", 0.9)):
            rows.append(("cluster", method, "class", metric, v, sup))
        rows.append(("cluster", method, None, "silhouette_cosine", 0.3 if method == "dbscan" else 0.2, sup))
    m = pd.DataFrame(rows, columns=["kind", "method", "label", "metric", "value", "supervision"])
    mat = pl.metrics_matrix(m)
    assert list(mat.columns) == ["class ARI", "class NMI", "class purity", "silhouette"]
    assert list(mat.index) == ["kmeans", "dbscan", "semi"]
    best = pl.best_mask(mat.loc[["kmeans", "dbscan"]])
    assert best[:, 0].tolist() == [True, False] and best[:, 3].tolist() == [False, True]
    assert best[:, 2].tolist() == [True, True]  # ties both marked
    pl.metrics_heatmap(m, path=tmp_path / "m.png")
    _png(tmp_path / "m.png")


# ---- every new figure: decodes, not blank -------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 25, 60, 0])
def test_contingency_figure(k, tmp_path):
    lab = _labels(k, n=500)
    ids = [f"i{i}" for i in range(len(lab))]
    manifest = pd.DataFrame({"id": ids, "class": np.random.default_rng(3).choice(list("abc"), len(lab))})
    pl.contingency(pd.DataFrame({"id": ids, "cluster": lab}), manifest, label_columns=["class"],
                   method="m", path=tmp_path / "c.png")
    _png(tmp_path / "c.png")


@pytest.mark.parametrize("k", [1, 2, 25, 60, 0])
def test_clusters_and_finch_on_map(k, tmp_path):
    lab = _labels(k, n=500)
    ids = np.array([f"i{i}" for i in range(len(lab))])
    map_ = io.Array(X=np.random.default_rng(4).normal(size=(len(lab), 2)).astype(np.float32), ids=ids)
    table = pd.DataFrame({"id": ids, "cluster": lab, "level_0": lab, "level_1": np.where(lab >= 0, lab // 3, -1),
                          "level_2": np.where(lab >= 0, lab // 9, -1)})
    pl.clusters_on_map(map_, {"a": table}, map_name="tsne", path=tmp_path / "c.png")
    pl.finch_levels(map_, table, map_name="tsne", path=tmp_path / "f.png")
    _png(tmp_path / "c.png")
    _png(tmp_path / "f.png")


def test_outlier_gallery(thumbs, tmp_path):
    th, manifest = thumbs
    ids = manifest["id"].tolist()
    top = pd.DataFrame({"rank": range(1, 13), "id": ids[:12], "score": np.linspace(0.9, 0.5, 12),
                        "class": manifest["class"][:12]})
    det = {"lof": pd.DataFrame({"id": ids, "is_outlier": [i % 2 == 0 for i in range(len(ids))]}),
           "isolation_forest": pd.DataFrame({"id": ids, "is_outlier": [i < 3 for i in range(len(ids))]})}
    pl.outlier_gallery(top, det, th, n=10, label_column="class", path=tmp_path / "o.png")
    arr = _png(tmp_path / "o.png")
    assert arr.shape[1] > 600  # five tiles wide


@pytest.mark.parametrize("n_sets", [0, 1, 3])
def test_duplicate_gallery(thumbs, tmp_path, n_sets):
    th, manifest = thumbs
    ids = manifest["id"].tolist()
    rows = []
    for s in range(n_sets):
        members = ids[4 * s: 4 * s + 2 + s]
        for j, i in enumerate(members):
            rows.append((i, s, "test" if (s == 1 and j == 0) else "train", s == 1))
    sets = pd.DataFrame(rows, columns=["id", "set", "split", "crosses_split"])
    shown = pl.duplicate_sets(sets)
    assert len(shown) == n_sets
    if n_sets == 3:
        assert shown[0]["set"].iloc[0] == 1  # the set crossing the split first
    pl.duplicate_gallery(sets, th, threshold=0.98, path=tmp_path / "d.png")
    _png(tmp_path / "d.png")


def test_large_n_scatter_is_rasterised_and_light(tmp_path, shots):
    """100,000 points: the PNG is written fast, the figure stays small, noise and "other" drawn."""
    n = 100_000
    rng = np.random.default_rng(5)
    lab = rng.integers(0, 60, n)
    lab[rng.random(n) < 0.05] = -1
    ids = np.array([f"p{i}" for i in range(n)])
    X = (rng.normal(size=(n, 2)) + np.c_[np.cos(lab), np.sin(lab)] * 4).astype(np.float32)
    map_ = io.Array(X=X, ids=ids)
    t0 = time.perf_counter()
    table = pd.DataFrame({"id": ids, "cluster": lab, "level_0": lab, "level_1": np.where(lab >= 0, lab // 10, -1)})
    pl.clusters_on_map(map_, {"a": table, "b": table.assign(cluster=np.where(lab >= 0, lab // 10, -1))},
                       map_name="umap", path=tmp_path / "big.png")
    pl.finch_levels(map_, table, map_name="umap", path=tmp_path / "finch.png")
    det = {"lof": pd.DataFrame({"id": ids, "is_outlier": rng.random(n) < 0.02})}
    pl.outliers_on_map(map_, det, map_name="umap", path=tmp_path / "out.png")
    elapsed = time.perf_counter() - t0
    for f in ("big.png", "finch.png", "out.png"):
        _png(tmp_path / f)
        assert (tmp_path / f).stat().st_size < 3_000_000
    assert elapsed < 120
    import shutil

    shutil.copy(tmp_path / "big.png", shots / "scatter_100k.png")


@pytest.mark.parametrize("k", [1, 2, 25, 60, 0])
def test_cluster_samples_from_thumbnails(thumbs, tmp_path, k):
    """Rows: the largest clusters (at most ``max_clusters``), then noise; tiles from the sheets."""
    th, manifest = thumbs
    ids = manifest["id"].tolist()
    lab = _labels(k, n=len(ids), noise=0.2)
    clusters = pd.DataFrame({"id": ids, "cluster": lab})
    pl.cluster_samples(clusters, manifest, thumbnails=th, method="m", n_samples=4,
                       max_clusters=30, label_column="class", path=tmp_path / "s.png")
    arr = _png(tmp_path / "s.png")
    shown = min(len(set(lab.tolist()) - {-1}), 30) + int((lab == -1).any())
    assert arr.shape[0] > 100 * shown  # one row of tiles per shown cluster

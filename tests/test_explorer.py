"""Thumbnails (sprite sheets) and the explorer, the latter loaded in a real headless Chromium.

The explorer is built with the package calls the workflow's scripts make, on 60 real
MedNIST images (features: their grey pixels, so the run takes seconds, not a model load),
and opened from file:// in Debian's chromium (installed by ``make system-setup``, see :mod:`browser`).
"""

from __future__ import annotations

import shutil
from io import BytesIO as io_bytes
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser import chromium, open_page
from conftest import DEMO, make_folder_subset
from PIL import Image

from medembed import datasets, io, pp, tl
from medembed.explore import (
    build_explorer,
    categorical_palette,
    explorer_data,
    make_thumbnails,
    read_thumbnails,
)
from medembed.explore._palette import _srgb_to_lab

# ---- thumbnails ------------------------------------------------------------------------

def test_thumbnail_sprite_index(tmp_path, caplog):
    """Every id once, in manifest order; tiles decode to their image; unreadable -> grey."""
    images = sorted((DEMO / "mednist-mini").glob("*/*.jpeg"))[::100][:5]
    good = images[0].read_bytes()
    (tmp_path / "truncated.jpeg").write_bytes(good[: len(good) // 3])
    (tmp_path / "notes.png").write_text("not an image\n")
    paths = [*map(str, images[:3]), str(tmp_path / "truncated.jpeg"), *map(str, images[3:]),
             str(tmp_path / "notes.png")]
    manifest = pd.DataFrame({"id": [f"img{i}" for i in range(len(paths))], "path": paths})
    out = tmp_path / "thumbs"
    with caplog.at_level("WARNING"):
        th = make_thumbnails(manifest, out, tile=32, cols=2, rows=2, threads=2)

    assert th.index["id"].tolist() == manifest["id"].tolist()  # every id once, in order
    assert th.index["ok"].tolist() == [True, True, True, False, True, True, False]
    assert io.read_table_params(out / "index.parquet")["n_failed"] == 2
    assert sum("unreadable" in r.getMessage() for r in caplog.records) == 3  # 2 files + total
    # 7 tiles of 2x2 per sheet: two sheets, the second only as tall as its 2 used rows
    assert sorted(p.name for p in out.glob("*.jpg")) == ["sheet_0000.jpg", "sheet_0001.jpg"]
    assert Image.open(out / "sheet_0001.jpg").size == (64, 64)
    assert not list(tmp_path.glob(".thumbs.*"))  # the atomic folder left nothing behind
    # tile positions are distinct within each sheet
    assert not th.index.duplicated(["sheet", "x", "y"]).any()

    for id_, path, ok in zip(manifest["id"], paths, th.index["ok"]):
        tile = np.asarray(th.image(id_), np.float32)
        assert tile.shape == (32, 32, 3)
        if ok:  # the tile is the image: compare with a direct letterboxed render
            ref = np.asarray(datasets.load_image(path).convert("RGB").resize((32, 32)), np.float32)
            assert ref.std() > 5 and tile.std() > 0.7 * ref.std()  # not a flat tile
            assert np.abs(tile - ref).mean() < 12
        else:
            assert abs(tile.mean() - 128) < 3 and tile.std() < 3  # grey
    # read back from disk gives the same index
    assert read_thumbnails(out).index.equals(th.index)


def test_thumbnails_letterbox_wide_image(tmp_path):
    """A wide image keeps its aspect: black bars above and below, picture in the middle."""
    wide = tmp_path / "wide.png"
    Image.new("RGB", (200, 100), (250, 250, 250)).save(wide)
    th = make_thumbnails(pd.DataFrame({"id": ["w"], "path": [str(wide)]}), tmp_path / "t", tile=40)
    tile = np.asarray(th.image("w"), np.float32).mean(axis=(1, 2))
    assert tile[:8].max() < 20 and tile[-8:].max() < 20  # letterbox bars
    assert tile[12:28].min() > 230  # the image, upscaled/downscaled to the full width


def test_palette_distinct_beyond_20():
    pal = categorical_palette(60)
    assert len(set(pal)) == 60
    lab = _srgb_to_lab(np.array([[int(c[i:i + 2], 16) / 255 for i in (1, 3, 5)] for c in pal]))
    assert (np.hypot(lab[:, 1], lab[:, 2]) > 20).all()  # no colour looks like grey noise
    d = np.linalg.norm(lab[:, None] - lab[None], axis=-1) + np.eye(60) * 1e3
    assert d.min() > 8  # pairwise distinct (CIELAB ΔE)


# ---- explorer data ---------------------------------------------------------------------

def test_explorer_data_aligns_tables_by_id():
    ids = np.array([f"p{i}" for i in range(6)])
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    manifest = pd.DataFrame({"id": ids[::-1], "path": [f"/d/{i}.png" for i in ids[::-1]],
                             "cls": list("aabbcc")[::-1]})
    cl = pd.DataFrame({"id": ids[[3, 1, 0, 2, 5, 4]], "cluster": [1, -1, 0, 1, 2, 2]})
    data = explorer_data(manifest, {"m": io.Array(X, ids)}, label_columns=["cls"],
                         clusterings={"km": cl})
    assert data["ids"] == ids.tolist() and data["prefix"] == "/d/"
    assert data["paths"] == [f"{i}.png" for i in ids]
    km = next(c for c in data["colorings"] if c["name"] == "km")
    codes = np.frombuffer(__import__("base64").b64decode(km["codes"]), np.uint8)
    by_id = dict(zip(cl["id"], cl["cluster"]))
    assert [km["cats"][c] for c in codes] == ["noise" if by_id[i] == -1 else str(by_id[i]) for i in ids]
    assert km["colors"][km["cats"].index("noise")] == "#b0b0b0"
    # duplicate sets without a split column: the leak filter is listed, disabled
    sets = pd.DataFrame({"index": [0, 1], "id": ["p0", "p1"], "set": [0, 0], "set_size": [2, 2]})
    data = explorer_data(manifest, {"m": io.Array(X, ids)}, duplicates=sets)
    assert [(f["key"], f["idx"], f.get("disabled", False)) for f in data["filters"]] == [
        ("dup", [0, 1], False), ("leak", [], True)]
    with pytest.raises(ValueError, match="lacks 1 of the map's ids"):
        explorer_data(manifest, {"m": io.Array(X, ids)}, clusterings={"km": cl.iloc[1:]})


def _issue_table(rows) -> pd.DataFrame:
    """A synthetic ``issues.tsv``: (id, issue, detail, score, evidence, other_id) rows,
    path and rank (1.. by score within the issue type) filled in as the producer writes them."""
    t = pd.DataFrame(rows, columns=["id", "issue", "detail", "score", "evidence", "other_id"])
    t.insert(1, "path", "/d/" + t["id"] + ".png")
    t.insert(5, "rank", t.groupby("issue")["score"].rank(ascending=False, method="first").astype(int))
    return t


def _decoded_score(coloring) -> np.ndarray:
    import base64
    return np.frombuffer(base64.b64decode(coloring["values"]), "<f4")


def test_explorer_data_issues():
    """Issues: filters by type (images counted once), a max-score colouring, per-point
    records for the card; ids not on the map (unreadable) left out; no issues, none of it."""
    ids = np.array([f"p{i}" for i in range(8)])
    maps = {"m": io.Array(np.arange(16, dtype=np.float32).reshape(8, 2), ids)}
    manifest = pd.DataFrame({"id": ids, "path": [f"/d/{i}.png" for i in ids], "cls": list("aabbccdd")})
    issues = _issue_table([
        ("p1", "label_error", "cls", 0.9, "labelled a; out-of-fold p(a) = 0.05", ""),
        ("p1", "image_quality", "dark", 0.4, "mean intensity 3 of 255", ""),
        ("p3", "label_error", "cls", 0.7, "labelled b; p(b) = 0.2", ""),
        ("p3", "label_error", "finding_x", 0.8, "finding_x 0; p = 0.9", ""),  # a second label column
        ("p4", "near_duplicate", "", 0.95, "cosine 0.99 to p5", "p5"),
        ("p5", "near_duplicate", "", 0.95, "cosine 0.99 to p4", "p4"),
        ("p5", "split_leak", "", 0.6, "train vs test", "p4"),
        ("p6", "confounded_cluster", "kmeans: site", 0.3, "cluster 2: 90% site A", ""),
        ("gone", "unreadable", "", 1.0, "truncated file", ""),  # no embedding: not a point
        ("gone", "near_duplicate", "", 0.5, "", "p2"),
    ])
    assert list(issues.columns) == ["id", "path", "issue", "detail", "score", "rank", "evidence", "other_id"]
    data = explorer_data(manifest, maps, label_columns=["cls"], issues=issues)
    filters = {f["key"]: (f["name"], f["idx"]) for f in data["filters"]}
    assert filters == {
        "issue": ("any issue (5)", [1, 3, 4, 5, 6]),
        "issue:label_error": ("label errors (2)", [1, 3]),
        "issue:near_duplicate": ("near duplicates (2)", [4, 5]),
        "issue:split_leak": ("split leaks (1)", [5]),
        "issue:image_quality": ("image quality (1)", [1]),
        "issue:confounded_cluster": ("confounded clusters (1)", [6]),
    }
    scores = {c["name"]: c for c in data["colorings"] if c["group"] == "issues"}
    assert list(scores) == ["issue score (any)", "issue score (label error)", "issue score (near duplicate)",
                            "issue score (split leak)", "issue score (image quality)",
                            "issue score (confounded cluster)"]
    on_map = issues[issues["id"].isin(ids)]
    expected = on_map.groupby("id")["score"].max().reindex(ids).to_numpy(np.float32)
    np.testing.assert_array_equal(_decoded_score(scores["issue score (any)"]), expected)  # NaN: no issue
    assert scores["issue score (any)"]["max"] == pytest.approx(0.95)
    np.testing.assert_array_equal(_decoded_score(scores["issue score (label error)"])[[1, 3]], np.float32([0.9, 0.8]))
    # records: only the images with issues, by point then score; other = the other point
    iss = data["issues"]
    assert iss["types"] == ["label_error", "near_duplicate", "split_leak", "image_quality", "confounded_cluster"]
    types = [iss["types"][r[1]] for r in iss["rows"]]
    assert [r[0] for r in iss["rows"]] == [1, 1, 3, 3, 4, 5, 5, 6]
    assert types[:4] == ["label_error", "image_quality", "label_error", "label_error"]
    assert iss["rows"][2] == [3, 0, "finding_x", 0.8, 2, "finding_x 0; p = 0.9", -1]
    assert iss["rows"][4][6] == 5 and iss["rows"][5][6] == 4 and iss["rows"][6][6] == 4
    assert iss["ranked"][iss["types"].index("near_duplicate")] == 3  # ranks count the whole table
    assert "gone" not in str(iss["rows"]) and "truncated" not in str(iss["rows"])

    # the outlier / duplicate tables' own filters are not repeated by the issue ones
    sets = pd.DataFrame({"id": ["p4", "p5"], "set": [0, 0], "crosses_split": [True, True]})
    keys = [f["key"] for f in explorer_data(manifest, maps, duplicates=sets, issues=issues)["filters"]]
    assert keys == ["dup", "leak", "issue", "issue:label_error", "issue:image_quality", "issue:confounded_cluster"]

    # no issues (none given, an empty table, or only images off the map): nothing of them
    for none in (None, issues.iloc[:0], issues[issues["id"] == "gone"]):
        data = explorer_data(manifest, maps, label_columns=["cls"], issues=none)
        assert data["issues"] is None and data["filters"] == []
        assert [c["group"] for c in data["colorings"]] == ["label"]
    with pytest.raises(ValueError, match="issue table lacks"):
        explorer_data(manifest, maps, issues=issues.drop(columns="score"))


# ---- the explorer in Chromium ----------------------------------------------------------

@pytest.fixture(scope="module")
def small_explorer(tmp_path_factory):
    """An explorer of 60 real MedNIST images, built by the package calls the rules make;
    moved after building to show the folder is self-contained."""
    base = tmp_path_factory.mktemp("explorer")
    folder = make_folder_subset(base / "images", per_class=10, corrupt=False)
    manifest, _, labels = datasets.make_manifest("folder", folder, label_name="class", threads=2)
    decode = manifest.attrs["decode"]
    make_thumbnails(manifest, base / "thumbnails", decode=decode, threads=2)
    X = np.stack([np.asarray(datasets.load_image(p, **decode).convert("L").resize((16, 16)),
                             np.float32).ravel() for p in manifest["path"]])
    X = (X - X.mean(0)) / 255
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    ids = manifest["id"].to_numpy()
    Y = tl.make_reducer("pca", n_components=4).fit_transform(X)
    maps = {"pca": io.Array(Y[:, :2], ids), "pca34": io.Array(Y[:, 2:4], ids)}
    clusterings = {m: tl.cluster_table(ids, tl.make_clusterer(m, **kw).fit(X)) for m, kw in
                   {"kmeans": {"n_clusters": 6}, "hdbscan": {"min_cluster_size": 5}}.items()}
    outliers = {m: tl.outlier_table(ids, tl.make_outlier_detector(m, **kw).fit(X)) for m, kw in
                {"isolation_forest": {"contamination": 0.1}, "lof": {"n_neighbors": 10}}.items()}
    consensus = tl.consensus(outliers)
    knn = pp.neighbors(X, n_neighbors=15, metric="cosine", ids=ids)
    split = np.where(np.arange(len(ids)) % 3 == 0, "test", "train")
    _, sets, _ = tl.near_duplicates(knn, 0.9, split, ids=ids)
    # a synthetic issue table: point 7 has two issues, 20 and 21 are a near-duplicate pair,
    # and an unreadable image (no embedding, not on the map) is left out
    a, b, c, d = (str(ids[k]) for k in (7, 20, 21, 33))
    issues = _issue_table([
        (a, "label_error", "class", 0.93, f"labelled {a.split('/')[0]}; out-of-fold p = 0.03; 9 of 10 neighbours differ", ""),
        (a, "image_quality", "dark", 0.41, "mean intensity 11 of 255 (dataset median 96)", ""),
        (b, "near_duplicate", "", 0.88, "cosine similarity 0.991 to its pair", c),
        (c, "near_duplicate", "", 0.88, "cosine similarity 0.991 to its pair", b),
        (d, "label_error", "class", 0.61, "labelled elsewhere; out-of-fold p = 0.21", ""),
        ("Hand/truncated.jpeg", "unreadable", "", 1.0, "truncated JPEG", ""),
    ])
    built = build_explorer(
        base / "build" / "explorer", manifest, maps, thumbnails=base / "thumbnails",
        label_columns=labels, clusterings=clusterings, outliers=outliers, consensus=consensus,
        top=tl.top_outliers(consensus, 5), duplicates=sets, issues=issues, neighbors=knn, title="mednist-60",
    )
    moved = base / "elsewhere" / "explorer"
    moved.parent.mkdir()
    shutil.move(base / "build" / "explorer", moved)
    shutil.rmtree(base / "thumbnails")  # the explorer keeps its own (hard-linked) sheets
    return {"dir": moved, "n": len(ids), "ids": ids, "knn": knn, "sets": sets, "built": built,
            "clusters": clusterings, "top": tl.top_outliers(consensus, 5), "issues": issues}


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def _shot(page, tmp_path: Path, name: str, shots: Path) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path))
    shutil.copy(path, shots / path.name)
    return path


def test_explorer_in_chromium(small_explorer, browser, tmp_path, shots):
    ex, n, ids = small_explorer, small_explorer["n"], small_explorer["ids"]
    assert ex["built"]["n"] == n and (ex["dir"] / "thumbs" / "sheet_0000.jpg").exists()
    url = (ex["dir"] / "index.html").as_uri()
    page, errors = open_page(browser, url, wait_for="window.explorer && explorer.ready")
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("file:", "data:", "blob:")) else None)
    page.wait_for_function(f"explorer.renderedPoints === {n}")
    assert page.evaluate("explorer.renderer") == "webgl"
    assert page.evaluate("explorer.renderedPoints") == n
    # the canvas really has coloured points on it
    assert page.locator("#plot").screenshot() != b""

    # hover: the thumbnail (a crop of a sprite sheet) loads and the card names the point
    i = int(np.flatnonzero(ids == sorted(ids)[17])[0])
    p = page.evaluate(f"explorer.screenOf({i})")
    page.mouse.move(p["x"], p["y"])
    page.wait_for_function("(() => { const im = document.querySelector('#hover img');"
                           " return im && im.complete && im.naturalWidth > 0; })()", timeout=10000)
    page.evaluate("document.querySelector('#hover img').decode()")
    assert page.evaluate("explorer.state.hover") == i
    assert page.locator("#hover .id").inner_text() == ids[i]
    # what is on screen is the image's tile (a crop of the sheet), not a blank box
    crop = np.asarray(Image.open(io_bytes(page.locator("#hover .thumb").screenshot())).convert("L"), np.float32)
    assert crop.std() > 10
    assert "class" in page.locator("#hover").inner_text()
    _shot(page, tmp_path, "explorer_hover", shots)

    # click: the point is pinned with its path and its neighbours from the shared graph
    page.mouse.click(p["x"], p["y"])
    k = min(12, ex["knn"].indices.shape[1])
    page.wait_for_function(f"document.querySelectorAll('#pinned .nb').length === {k}")
    shown = page.evaluate("Array.from(document.querySelectorAll('#pinned .nb')).map(e => +e.dataset.index)")
    row = list(ex["knn"].ids).index(ids[i])
    expected = [list(ids).index(ex["knn"].ids[j]) for j in ex["knn"].indices[row, :k]]
    assert shown == expected
    page.wait_for_function("Array.from(document.querySelectorAll('#pinned img')).every(im => im.complete && im.naturalWidth > 0)")
    assert ids[i].split("/")[-1] in page.locator("#pinned .path").inner_text()
    page.mouse.move(5, 5)
    _shot(page, tmp_path, "explorer_pinned", shots)

    # colour by a clustering: one legend row per cluster (noise included)
    page.select_option("#color", "hdbscan")
    n_cats = ex["clusters"]["hdbscan"]["cluster"].nunique()
    assert page.locator("#legend .legend-row").count() == n_cats
    # another map: still every point drawn
    page.select_option("#map", "pca34")
    page.wait_for_function(f"explorer.state.map === 'pca34' && explorer.renderedPoints === {n}")

    # filter to the consensus top 5, then box-select everything: only the 5 are selected
    page.select_option("#filter", "top")
    assert page.locator("#status").inner_text().startswith("5 of 60")
    page.click("button[data-mode=box]")
    box = page.locator("#plot").bounding_box()
    page.mouse.move(box["x"] + 3, box["y"] + 3)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=4)
    page.mouse.move(box["x"] + box["width"] - 3, box["y"] + box["height"] - 3, steps=4)
    page.mouse.up()
    assert page.locator("#sel-count").inner_text() == "5 selected"
    with page.expect_download() as dl:
        page.click("#export")
    csv = pd.read_csv(dl.value.path())
    assert sorted(csv["id"]) == sorted(ex["top"]["id"])
    assert {"path", "class", "cluster_kmeans", "score_consensus"} <= set(csv.columns)
    _shot(page, tmp_path, "explorer_selection", shots)

    # near-duplicate and split-leak filters hold exactly the sets' members
    page.select_option("#filter", "dup")
    assert page.locator("#status").inner_text().startswith(f"{len(ex['sets'])} of 60")
    leak = ex["sets"]["crosses_split"].sum()
    page.select_option("#filter", "leak")
    assert page.locator("#status").inner_text().startswith(f"{leak} of 60")

    # issues: the pinned card lists each of a point's issues with its evidence
    issues = ex["issues"]
    page.keyboard.press("Escape")  # clears the selection (and the pin)
    page.select_option("#filter", "all")
    two = str(issues["id"].iloc[0])
    i2 = int(np.flatnonzero(ids == two)[0])
    page.evaluate(f"explorer.pin({i2})")
    assert page.locator("#pinned .issue").count() == 2
    text = page.locator("#pinned .issues").inner_text()
    for _, r in issues[issues["id"] == two].iterrows():
        assert r["evidence"] in text and f"{r['score']:.2f}" in text and r["detail"] in text
    assert "label error" in text and "image quality" in text
    # hovering it shows the count
    p2 = page.evaluate(f"explorer.screenOf({i2})")
    page.mouse.move(p2["x"], p2["y"])
    page.wait_for_function(f"explorer.state.hover === {i2}")
    assert "2 issues: label error, image quality" in page.locator("#hover").inner_text()
    page.wait_for_function("Array.from(document.querySelectorAll('#pinned img, #hover img')).every(im => im.complete && im.naturalWidth > 0)")
    shot = _shot(page, tmp_path, "explorer_issues", shots)
    assert shot.stat().st_size > 0
    # a near duplicate's card has a button that pins the other image
    dup_a, dup_b = (int(np.flatnonzero(ids == issues["id"].iloc[k])[0]) for k in (2, 3))
    page.evaluate(f"explorer.pin({dup_a})")
    page.click("#pinned button.other")
    assert page.evaluate("explorer.state.pinned") == dup_b
    assert ids[dup_a] in page.locator("#pinned button.other").inner_text()
    _shot(page, tmp_path, "explorer_issue_other", shots)
    # the issue filters: "label errors" holds the images with one, "any issue" every flagged image
    on_map = issues[issues["id"].isin(ids)]
    n_label = on_map.loc[on_map["issue"] == "label_error", "id"].nunique()
    assert page.locator("#filter option[value='issue:label_error']").inner_text() == f"label errors ({n_label})"
    page.select_option("#filter", "issue:label_error")
    assert page.locator("#status").inner_text().startswith(f"{n_label} of 60")
    page.select_option("#filter", "issue")
    assert page.locator("#status").inner_text().startswith(f"{on_map['id'].nunique()} of 60")
    page.select_option("#color", "issue score (any)")
    assert "more suspect" in page.locator("#legend").inner_text()
    _shot(page, tmp_path, "explorer_issue_score", shots)

    assert errors == []
    assert outside == []  # nothing but local files: works offline

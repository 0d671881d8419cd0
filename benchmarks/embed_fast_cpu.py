"""Benchmark: the optional fast CPU path (``fast_cpu``) vs eager on BiomedCLIP's architecture.

BiomedCLIP's image tower (timm ViT-B/16, 224 px; random weights, because the trained ones
are not reachable offline) embeds the demo's SLAKE images three ways in the same process:
eager fp32, ``fast_cpu: int8`` (dynamic INT8 Linear layers) and, where the CPU has native
bf16, ``fast_cpu: bf16`` (autocast). For each fast mode it prints the speed-up over eager
(forward only, on preprocessed tensors, best of interleaved runs) and the agreement that
gates it in the workflow: per-image cosine with eager (min and mean; the path is used only
if every checked image has cosine >= 0.99).

    python benchmarks/embed_fast_cpu.py [--threads 2] [--batch-size 32] [--images 64]

Random weights agree differently from trained ones; the workflow checks the real model on
the first 256 images of each job and logs the result.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from embed_images import DEMO, build_random_biomedclip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--images", type=int, default=64, help="images timed per run")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved repeats; the best is kept")
    args = ap.parse_args()

    import torch

    from medembed.datasets import load_image
    from medembed.datasets._slake import read_slake
    from medembed.embed._fast import cosine_rows, cpu_has_bf16, quantize_int8

    torch.set_num_threads(args.threads)
    paths = [str(r["path"]) for r in read_slake(DEMO)[0]][: args.images]
    with tempfile.TemporaryDirectory() as tmp:
        enc = build_random_biomedclip(tmp)
        x = torch.stack([enc.preprocess(load_image(p)) for p in paths])
        tower = enc.image_tower()
        qtower = quantize_int8(tower)
        bf16_ok, why = cpu_has_bf16()

        def run(fn):
            with torch.inference_mode():
                return torch.cat(
                    [fn(x[i : i + args.batch_size]) for i in range(0, len(x), args.batch_size)]
                )

        def bf16(b):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return enc._features(tower, b).float()

        modes = {
            "eager": lambda b: enc._features(tower, b),
            "int8": lambda b: enc._features(qtower, b),
        }
        if bf16_ok:
            modes["bf16"] = bf16
        run(lambda b: modes["eager"](b[:2]))  # warm-up
        times = {m: [] for m in modes}
        outs = {}
        for _ in range(args.repeats):
            for m, fn in modes.items():
                t0 = time.perf_counter()
                outs[m] = run(fn)
                times[m].append(time.perf_counter() - t0)

    n = len(paths)
    print(
        f"BiomedCLIP image tower (ViT-B/16 224 px, random weights), CPU "
        f"{torch.backends.cpu.get_cpu_capability()} ({why}), torch threads {args.threads}, "
        f"batch {args.batch_size}, {n} SLAKE images, best of {args.repeats} interleaved runs"
    )
    base = min(times["eager"])
    print(f"eager fp32 : {n / base:6.2f} images/s")
    for m in modes:
        if m == "eager":
            continue
        t = min(times[m])
        cos = cosine_rows(outs[m], outs["eager"])
        verdict = "on" if float(cos.min()) >= 0.99 else "off (falls back to eager)"
        print(
            f"{m:<11}: {n / t:6.2f} images/s  speed-up vs eager {base / t:5.2f}x  cosine vs "
            f"eager min {float(cos.min()):.5f} mean {float(cos.mean()):.5f} -> {verdict}"
        )
    if not bf16_ok:
        print(f"bf16       : not run, no native bf16 on this CPU ({why})")


if __name__ == "__main__":
    main()

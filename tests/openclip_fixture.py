"""Build a tiny BiomedCLIP-like open_clip model inside a Hugging Face cache, offline.

The layout is the one ``huggingface_hub`` writes, so the model loads through
``open_clip.create_model_from_pretrained("hf-hub:<org>/<name>")`` with ``HF_HUB_OFFLINE=1``::

    <hf_home>/hub/models--<org>--<name>/refs/main            -> <rev>
    <hf_home>/hub/models--<org>--<name>/snapshots/<rev>/open_clip_config.json
                                                      /open_clip_pytorch_model.bin
    <hf_home>/hub/models--<org>--<text>/snapshots/<rev>/config.json, model.safetensors,
                                                      vocab.txt, tokenizer files

``open_clip_config.json`` has BiomedCLIP's structure (checked against the real one: a timm
ViT image tower with ``timm_pool: ""`` / ``timm_proj: linear``, and an HF BERT text tower with
``hf_model_name``, ``hf_tokenizer_name``, ``hf_proj_type: mlp``,
``hf_pooler_type: cls_last_hidden_state_pooler``), only tiny: timm's ``test_vit`` (160 px)
and a 2-layer, 32-wide BERT whose WordPiece vocabulary is built from the given texts.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from hub_fixtures import put_in_cache as _put_in_cache

TINY_REPO = "medembed-test/tiny-biomedclip"
TINY_TEXT_REPO = "medembed-test/tiny-pubmedbert"
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_vocab(texts: Iterable[str]) -> list[str]:
    """WordPiece vocabulary: special tokens, the words of ``texts`` and every character."""
    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer

    norm = BertNormalizer(clean_text=True, handle_chinese_chars=True, lowercase=True)
    pre = BertPreTokenizer()
    words, chars = set(), set("abcdefghijklmnopqrstuvwxyz0123456789")
    for t in texts:
        for w, _ in pre.pre_tokenize_str(norm.normalize_str(t)):
            words.add(w)
            chars.update(w)
    # single characters and their continuation pieces let WordPiece spell anything
    pieces = sorted(chars) + ["##" + c for c in sorted(chars)]
    return SPECIAL + pieces + sorted(words - set(pieces))


def open_clip_config(text_repo: str = TINY_TEXT_REPO, context_length: int = 64) -> dict:
    return {
        "model_cfg": {
            "embed_dim": 16,
            "vision_cfg": {
                "timm_model_name": "test_vit",
                "timm_model_pretrained": False,
                "timm_pool": "",
                "timm_proj": "linear",
                "image_size": 160,
            },
            "text_cfg": {
                "hf_model_name": text_repo,
                "hf_tokenizer_name": text_repo,
                "hf_proj_type": "mlp",
                "hf_pooler_type": "cls_last_hidden_state_pooler",
                "context_length": context_length,
            },
        },
        "preprocess_cfg": {
            "mean": [0.48145466, 0.4578275, 0.40821073],
            "std": [0.26862954, 0.26130258, 0.27577711],
        },
    }


def build_tiny_openclip(
    hf_home: str | Path,
    texts: Iterable[str],
    *,
    repo_id: str = TINY_REPO,
    text_repo_id: str = TINY_TEXT_REPO,
    context_length: int = 64,
    seed: int = 0,
) -> dict:
    """Write the tiny model and its text tower into ``<hf_home>/hub``.

    Returns ``{"model_id", "hf_home", "hub", "snapshot", "text_snapshot", "config"}``.
    Nothing is downloaded: the timm tower is built from its architecture name and the
    BERT tower from a config, both randomly initialised with ``seed``.
    """
    import open_clip
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    hf_home = Path(hf_home)
    hub = hf_home / "hub"
    work = hf_home / "_build"
    text_dir, clip_dir = work / "text", work / "clip"
    text_dir.mkdir(parents=True, exist_ok=True)
    clip_dir.mkdir(parents=True, exist_ok=True)

    vocab = build_vocab(texts)
    (text_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = BertTokenizer(vocab=str(text_dir / "vocab.txt"), do_lower_case=True)
    tok.model_max_length = 128
    tok.save_pretrained(text_dir)
    torch.manual_seed(seed)
    bert_cfg = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=0,
    )
    BertModel(bert_cfg, add_pooling_layer=False).save_pretrained(text_dir)
    text_snap = _put_in_cache(hub, text_repo_id, text_dir)

    cfg = open_clip_config(text_repo_id, context_length)
    model_cfg = json.loads(json.dumps(cfg["model_cfg"]))
    model_cfg["text_cfg"].update(hf_model_name=str(text_snap), hf_model_pretrained=False)
    torch.manual_seed(seed)
    model = open_clip.model.CustomTextCLIP(**model_cfg)
    with torch.no_grad():  # make the random towers less degenerate than their init
        for p in model.parameters():
            if p.ndim >= 2:
                p.add_(0.02 * torch.randn_like(p))
    torch.save(model.state_dict(), clip_dir / "open_clip_pytorch_model.bin")
    (clip_dir / "open_clip_config.json").write_text(json.dumps(cfg, indent=2))
    snap = _put_in_cache(hub, repo_id, clip_dir)
    shutil.rmtree(work)
    return {
        "model_id": f"hf-hub:{repo_id}",
        "hf_home": hf_home,
        "hub": hub,
        "snapshot": snap,
        "text_snapshot": text_snap,
        "config": cfg,
    }


def make_local_model_dir(built: dict, dest: str | Path, text_repo_id: str = TINY_TEXT_REPO) -> Path:
    """A plain model directory (``hf download --local-dir`` style) with the text tower nested
    at ``<dest>/<org>/<name>`` for the ``local_dir`` / ``local-dir:`` path."""
    dest = Path(dest)
    shutil.copytree(built["snapshot"], dest)
    shutil.copytree(built["text_snapshot"], dest / text_repo_id)
    return dest


@contextlib.contextmanager
def offline_tiny_openclip(hf_home: str | Path, texts: Iterable[str], *, threads: int | None = 1) -> Iterator[dict]:
    """:func:`build_tiny_openclip` in ``hf_home``, made the process's Hugging Face cache
    (environment and the already-imported ``huggingface_hub.constants``, which read it
    once) and offline, for the duration of the block; torch on ``threads`` threads meanwhile
    (None: unchanged). Yields the built model's dict."""
    import pytest
    import torch
    from huggingface_hub import constants

    built = build_tiny_openclip(hf_home, list(texts))
    before = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HOME", str(hf_home))
        mp.setenv("HF_HUB_CACHE", str(built["hub"]))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setattr(constants, "HF_HOME", str(hf_home))
        mp.setattr(constants, "HF_HUB_CACHE", str(built["hub"]))
        mp.setattr(constants, "HF_HUB_OFFLINE", True)
        if threads is not None:
            torch.set_num_threads(threads)  # a tiny model on shared CPUs
        try:
            yield built
        finally:
            torch.set_num_threads(before)

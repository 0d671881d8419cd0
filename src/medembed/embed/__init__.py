"""Image (and text) encoders, selected by config name (registry stage ``encoders``).

Names are imported on first use (see :mod:`medembed._lazy`).
"""

from __future__ import annotations

from .._lazy import attach

_LAZY = {
    "Encoder": "._base",
    "select_device": "._base",
    "embed_images": "._images",
    "l2_normalize": "._arrays",
    "build_qa_texts": "._texts",
    "embed_texts": "._texts",
    "mean_text_embedding": "._texts",
    "read_phrases": "._phrases",
    "search_texts": "._phrases",
    "embed_phrases": "._phrases",
    "zero_shot": "._zeroshot",
    "zero_shot_accuracy": "._zeroshot",
    "make_encoder": "._api",
    "load_encoder": "._api",
    "check_finite": "._arrays",
    "plan_shards": "._shards",
    "shard_rows": "._shards",
    "gather_shards": "._shards",
}

__getattr__, __dir__, __all__ = attach(__name__, _LAZY)

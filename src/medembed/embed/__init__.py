"""Image (and text) encoders, selected by config name (registry stage ``encoders``)."""

from __future__ import annotations

from .. import registry
from ._base import Encoder, select_device
from ._images import embed_images, l2_normalize
from ._texts import build_qa_texts, embed_texts, mean_text_embedding
from ._zeroshot import zero_shot, zero_shot_accuracy

__all__ = [
    "Encoder",
    "build_qa_texts",
    "embed_images",
    "embed_texts",
    "l2_normalize",
    "make_encoder",
    "mean_text_embedding",
    "select_device",
    "zero_shot",
    "zero_shot_accuracy",
]


def make_encoder(name: str, **params) -> Encoder:
    cls = registry.load("encoders", name)
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(f"encoder {name!r}: bad parameter ({exc})") from exc

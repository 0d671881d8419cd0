"""Image (and text) encoders, selected by config name (registry stage ``encoders``)."""

from __future__ import annotations

from .. import registry
from ._base import Encoder, select_device
from ._images import embed_images, l2_normalize

__all__ = ["Encoder", "embed_images", "l2_normalize", "make_encoder", "select_device"]


def make_encoder(name: str, **params) -> Encoder:
    cls = registry.load("encoders", name)
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(f"encoder {name!r}: bad parameter ({exc})") from exc

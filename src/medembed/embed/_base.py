"""Encoder interface shared by every image/text model.

An encoder is built by :func:`medembed.embed.make_encoder` from its config name and
params, then ``load(device)``-ed once. It exposes ``preprocess`` (PIL image ->
CHW float tensor, run inside DataLoader workers), ``encode_images`` (batch tensor
-> features) and optionally ``encode_texts``.
"""

from __future__ import annotations

import abc

import torch


def select_device(device: str = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; anything else is passed to torch."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} requested but CUDA is not available here")
    return dev


class Encoder(abc.ABC):
    """Base class: subclasses set ``name`` and implement ``_build`` and ``encode_images``."""

    name: str = "encoder"
    supports_text: bool = False

    def __init__(self) -> None:
        self.model: torch.nn.Module | None = None
        self.device = torch.device("cpu")

    @abc.abstractmethod
    def _build(self) -> torch.nn.Module: ...

    @abc.abstractmethod
    def preprocess(self, image): ...

    @abc.abstractmethod
    def encode_images(self, batch: torch.Tensor) -> torch.Tensor: ...

    def load(self, device: str | torch.device = "cpu") -> Encoder:
        self.device = select_device(device) if isinstance(device, str) else device
        self.model = self._build().to(self.device).eval()
        return self

    def encode_texts(self, texts: list[str]) -> torch.Tensor:  # pragma: no cover - overridden
        raise ValueError(f"encoder {self.name!r} has no text tower")

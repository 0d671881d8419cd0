"""Encoder interface shared by every image/text model.

An encoder is built by :func:`medembed.embed.make_encoder` from its config name and
params (the constructor only stores and checks them), then ``load(device)``-ed once. It
exposes ``preprocess`` (PIL image -> CHW float tensor, run inside DataLoader workers),
``encode_images`` (batch tensor -> features) and optionally ``encode_texts``.

Subclasses implement ``_build`` (the model) and ``_features(tower, batch)`` (the image
features of ``batch`` through ``tower``, by default the whole model). ``encode_images``
runs ``_features`` eagerly, or through the optional fast CPU path (:mod:`._fast`) when
the encoder was made with ``fast_cpu`` and the fast path agreed with eager.

Encoders whose features need the whole dataset (the ``pixels`` baseline's PCA) set
``needs_finalize = True``: their per-shard rows are raw features, and the gather step calls
``encoder.finalize(X)`` once on all rows (manifest order); for every other encoder
``finalize`` is the identity on already L2-normalised rows.

This module imports torch only inside functions, so torch-free encoders (``pixels``) and
the gather step's ``finalize`` do not load it.
"""

from __future__ import annotations

import abc
import logging

log = logging.getLogger(__name__)


def select_device(device: str = "auto"):
    """``auto`` picks cuda, then mps, then cpu; anything else is passed to torch."""
    import torch

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
    """Base class: subclasses set ``name`` and implement ``_build``, ``preprocess`` and
    ``_features`` (or override ``encode_images``)."""

    name: str = "encoder"
    supports_text: bool = False
    #: True: rows of ``encode_images`` are raw; the gather step must call :meth:`finalize`.
    needs_finalize: bool = False
    #: ``False``, or the fast CPU mode (``int8``, ``bf16``, ``onnx``, ``onnx_int8``); see :mod:`._fast`.
    fast_cpu: bool | str = False
    #: images on which the fast path must agree with eager before it is used.
    fast_cpu_check: int = 256
    #: directory of the ``onnx`` modes' exported models (None: :data:`._onnx.DEFAULT_CACHE`);
    #: where a file is kept, not what it computes, so a runtime setting (``onnx_cache``).
    onnx_cache: str | None = None
    #: run the tower in channels-last (NHWC) memory: oneDNN's convolutions are faster so
    #: (EfficientNet-Lite0 on 2 CPU cores: 0.69x the CPU time, cosine to NCHW 0.9999999).
    #: Same arithmetic in another order; a layout, not an approximation.
    channels_last: bool = False

    def __init__(self) -> None:
        self.model = None
        self.device = None
        self.fast_ = None

    @abc.abstractmethod
    def _build(self): ...

    @abc.abstractmethod
    def preprocess(self, image): ...

    def _features(self, tower, batch):  # pragma: no cover - overridden
        raise NotImplementedError(f"{type(self).__name__} must implement _features")

    def image_tower(self):
        """The module whose forward gives the image features (the fast path converts it)."""
        return self.model

    def load(self, device="cpu") -> Encoder:
        self.device = select_device(device) if isinstance(device, str) else device
        self.model = self._build().to(self.device).eval()
        if self.channels_last:
            import torch

            self.model = self.model.to(memory_format=torch.channels_last)
        self.fast_ = None
        if self.fast_cpu:
            from ._fast import FastPath

            self.fast_ = FastPath.for_encoder(self)
        return self

    def expect_images(self, n_images: int) -> None:
        """Tell the fast path that the next ``n_images`` images are the whole job
        (:meth:`._fast.FastPath.expect`: a job inside the check window runs eager alone)."""
        if self.fast_ is not None:
            self.fast_.expect(n_images)

    def encode_images(self, batch):
        if self.channels_last and batch.dim() == 4:
            import torch

            batch = batch.contiguous(memory_format=torch.channels_last)
        if self.fast_ is not None:
            return self.fast_(batch)
        return self._features(self.image_tower(), batch)

    def finalize(self, X):
        """Final embedding of all rows (gather step); identity unless ``needs_finalize``."""
        return X

    def encode_texts(self, texts: list[str]):  # pragma: no cover - overridden
        raise ValueError(f"encoder {self.name!r} has no text tower")


def check_fast_cpu(fast_cpu, fast_cpu_check) -> tuple[bool | str, int]:
    """Validated ``(mode, check images)``: ``fast_cpu`` False/None, True (= int8), or a mode of
    :data:`._fast.MODES` (int8, bf16, onnx, onnx_int8)."""
    from ._fast import MODES

    if fast_cpu is None or fast_cpu is False:
        mode = False
    elif fast_cpu is True:
        mode = "int8"
    elif fast_cpu in MODES:
        mode = fast_cpu
    else:
        raise ValueError(f"fast_cpu={fast_cpu!r} must be false, true or one of {', '.join(MODES)}")
    if isinstance(fast_cpu_check, bool) or not isinstance(fast_cpu_check, int) or fast_cpu_check < 1:
        raise ValueError(f"fast_cpu_check={fast_cpu_check!r} must be an integer >= 1")
    return mode, fast_cpu_check

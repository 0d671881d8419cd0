"""The batched, overlapped image embedding loop shared by all encoders."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from ..datasets import load_image
from ._arrays import l2_normalize
from ._base import Encoder

log = logging.getLogger(__name__)


class ImageDataset(Dataset):
    """Decode + preprocess one image per item (runs in DataLoader workers)."""

    def __init__(self, paths: Sequence[str], transform: Callable, decode: dict | None = None) -> None:
        self.paths = list(map(str, paths))
        self.transform = transform
        self.decode = dict(decode or {})

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.transform(load_image(self.paths[i], **self.decode))


def embed_images(
    encoder: Encoder,
    paths: Sequence[str],
    *,
    batch_size: int = 32,
    num_workers: int = 1,
    decode: dict | None = None,
) -> np.ndarray:
    """Embed ``paths`` in order; returns float32 L2-normalised rows.

    Images are decoded and preprocessed in ``num_workers`` DataLoader processes so
    that decoding overlaps the forward pass; on GPU the forward pass runs under
    float16 autocast. Order and values do not depend on ``num_workers``. ``decode``
    holds the dataset's decoding settings (``max_pixels``, ``voi_index``, ... as recorded
    in the manifest's params), so images are rendered as the manifest checked them.
    """
    if encoder.model is None:
        raise ValueError("encoder is not loaded: call encoder.load(device) first")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    if len(paths) == 0:
        raise ValueError("no images to embed")
    dev = encoder.device
    loader = DataLoader(
        ImageDataset(paths, encoder.preprocess, decode),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=dev.type == "cuda",
        persistent_workers=False,
        prefetch_factor=4 if num_workers > 0 else None,
    )
    encoder.expect_images(len(paths))
    out = []
    autocast = torch.autocast(dev.type, dtype=torch.float16, enabled=dev.type == "cuda")
    with torch.inference_mode(), autocast:
        for batch in tqdm(loader, desc=f"embedding images ({encoder.name})", mininterval=5):
            feats = encoder.encode_images(batch.to(dev, non_blocking=True))
            out.append(feats.float().cpu().numpy())
    X = np.concatenate(out)
    # An encoder fitted on the whole dataset (pixels + PCA) normalises in finalize(),
    # once the shards are gathered; its rows stay raw until then.
    return X.astype(np.float32) if getattr(encoder, "needs_finalize", False) else l2_normalize(X)

"""``pixels``: a deterministic baseline, downsampled grey pixels followed by PCA.

It tells how much a learned embedding adds over the raw image. Each image is converted to
grey (ITU-R 601 luma, PIL's ``L``), brought to ``size`` x ``size`` by ``resize`` (``pad``
letterbox by default, see :mod:`._preprocess`) with area averaging (``box``), and scaled to
[0, 1]: a ``size**2`` row.

PCA needs every image, so it is split in two:

* per shard, ``encode_images`` returns the raw pixel rows (``needs_finalize = True``: they
  must be stored as they are, not L2-normalised);
* at gather time, :meth:`PixelsEncoder.finalize` runs once on all rows (manifest order):
  centre, project on the top ``n_components`` principal axes (clipped to ``n - 1`` and to
  ``size**2``), L2-normalise. Components come from the eigendecomposition of the covariance
  in float64 with a fixed sign (largest loading positive), so the result is deterministic.

No torch here: ``preprocess`` returns a numpy row (the DataLoader collates it), and
``finalize`` is numpy only, so the gather step does not import torch.
"""

from __future__ import annotations

import numpy as np

from ._base import Encoder, select_device
from ._preprocess import check_interpolation, check_resize, check_size, resize_image


class PixelsEncoder(Encoder):
    """Raw downsampled grey pixels per image; PCA over the whole dataset in :meth:`finalize`.

    Parameters
    ----------
    size
        Side of the grey thumbnail (default 32: 1024 values per image).
    n_components
        PCA components kept (default 256; clipped to ``n_images - 1`` and ``size**2``).
    resize
        ``pad`` (default, letterbox), ``crop`` or ``squash``.
    interpolation
        ``box`` (default: area average, right for downsampling), ``bilinear``, ``bicubic``, ...
    """

    name = "pixels"
    needs_finalize = True

    def __init__(
        self,
        size: int = 32,
        n_components: int = 256,
        resize: str = "pad",
        interpolation: str = "box",
    ) -> None:
        super().__init__()
        self.size = check_size(size, "pixels", 4)
        if isinstance(n_components, bool) or not isinstance(n_components, int) or n_components < 1:
            raise ValueError(f"pixels: n_components={n_components!r} must be an integer >= 1")
        self.n_components = n_components
        self.resize = check_resize(resize)
        self.interpolation = check_interpolation(interpolation)

    @property
    def dim(self) -> int:
        """Width of the raw rows (before :meth:`finalize`)."""
        return self.size * self.size

    def _build(self):
        return _Flatten()

    def load(self, device="cpu") -> PixelsEncoder:
        """No model to load; always on CPU (``device`` is accepted and ignored)."""
        self.device = select_device("cpu")
        self.model = self._build()
        return self

    def preprocess(self, image) -> np.ndarray:
        """One image -> float32 row of ``size**2`` grey values in [0, 1]."""
        grey = image if image.mode == "L" else image.convert("L")
        im = resize_image(grey, self.size, self.resize, self.interpolation, fill=0)
        return (np.asarray(im, dtype=np.float32) / 255.0).reshape(-1)

    def transform_images(self, images) -> np.ndarray:
        """Raw rows of PIL ``images`` (what the shards hold), without torch."""
        return np.stack([self.preprocess(im) for im in images])

    def encode_images(self, batch):
        return self.model(batch)

    def finalize(self, X) -> np.ndarray:
        """PCA of all raw rows ``X`` (n x size**2) -> float32 L2-normalised n x k scores.

        Sets ``mean_``, ``components_`` (k x size**2), ``explained_variance_ratio_`` and
        ``n_components_``.
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise ValueError(
                f"pixels: finalize expects raw rows of width {self.dim} (size={self.size}), "
                f"got shape {X.shape}"
            )
        n = len(X)
        if n < 2:
            raise ValueError(f"pixels: PCA needs at least 2 images, got {n}")
        k = min(self.n_components, n - 1, self.dim)
        self.mean_ = X.mean(axis=0)
        Xc = X - self.mean_
        evals, evecs = np.linalg.eigh(Xc.T @ Xc / (n - 1))
        order = np.argsort(evals)[::-1][:k]
        comps = evecs[:, order].T
        signs = np.sign(comps[np.arange(k), np.abs(comps).argmax(axis=1)])
        comps *= np.where(signs == 0, 1.0, signs)[:, None]
        total = max(float(evals.clip(min=0).sum()), np.finfo(float).tiny)
        self.components_ = comps
        self.explained_variance_ratio_ = evals[order].clip(min=0) / total
        self.n_components_ = k
        Z = Xc @ comps.T
        norms = np.linalg.norm(Z, axis=1, keepdims=True)
        zero = norms[:, 0] <= 1e-12 * max(1.0, float(norms.max()))
        if zero.any():
            raise ValueError(
                f"pixels: {int(zero.sum())} image(s) equal the mean image after PCA "
                "(all images identical?); cannot normalise"
            )
        return (Z / norms).astype(np.float32)


class _Flatten:
    """The ``model`` of :class:`PixelsEncoder`: rows of a collated batch (torch or numpy)."""

    def __call__(self, batch):
        return batch.reshape(len(batch), -1)

    def to(self, device):
        return self

    def eval(self):
        return self

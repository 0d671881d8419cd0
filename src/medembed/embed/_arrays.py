"""Numpy-only checks on embedding rows, shared by the model jobs and the gather job.

Kept apart from :mod:`._images` (which imports torch for its DataLoader) so that the jobs
that run no model (gathering shards, combining feature sets) do not import torch.
"""

from __future__ import annotations

import numpy as np


def check_finite(X: np.ndarray, ids) -> None:
    """Raise one line naming the images whose embedding has a NaN or infinite value."""
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        names = np.asarray(ids).astype(str)[bad]
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        raise ValueError(f"{len(names)} image(s) gave a NaN or infinite embedding: {shown}")


def l2_normalize(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(f"{int((norms == 0).sum())} embeddings are all zeros; cannot normalise")
    return (X / norms).astype(np.float32)

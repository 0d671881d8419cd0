"""Pre-reduction helpers: PCA to a few dozen dimensions, image+text feature fusion."""

from __future__ import annotations

import numpy as np

from .._validation import check_features


def pca(X, n_components: int = 50, random_state: int | None = 0, *, return_model: bool = False):
    """PCA of ``X`` to ``min(n_components, n_samples, n_features)`` dimensions (float32).

    The usual pre-reduction before density clustering (DBSCAN/HDBSCAN), GMMs and
    Mahalanobis k-means, which do not scale with 512 raw dimensions. Randomised SVD
    is used automatically by scikit-learn for large inputs.
    """
    from sklearn.decomposition import PCA

    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) or n_components < 1:
        raise ValueError(f"pca: n_components={n_components!r} is invalid; allowed: int >= 1")
    X = check_features(X, min_samples=2)
    k = int(min(n_components, *X.shape))
    model = PCA(n_components=k, random_state=random_state)
    Y = model.fit_transform(X).astype(np.float32)
    return (Y, model) if return_model else Y


def _unit_rows(X: np.ndarray, name: str) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    zero = int((norms[:, 0] == 0).sum())
    if zero:
        raise ValueError(f"{name} has {zero} rows of zero norm; they cannot be L2-normalised")
    return X / norms


def combine(image_X, text_X) -> np.ndarray:
    """Image+text features: L2-normalise each block, concatenate, renormalise.

    The cosine similarity of two combined rows is then the mean of their image and
    text cosine similarities, so neither block dominates by its dimension or scale.
    """
    A = check_features(image_X, name="image_X")
    B = check_features(text_X, name="text_X")
    if len(A) != len(B):
        raise ValueError(f"image_X has {len(A)} rows but text_X has {len(B)}")
    Z = np.hstack([_unit_rows(A, "image_X"), _unit_rows(B, "text_X")]) / np.float32(np.sqrt(2.0))
    return Z.astype(np.float32)

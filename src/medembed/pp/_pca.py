"""Pre-reduction helpers: PCA to a few dozen dimensions, image+text feature fusion."""

from __future__ import annotations

import logging

import numpy as np

from .._validation import check_features

log = logging.getLogger(__name__)


def pca_dimension(n_components: int, n_samples: int, n_features: int) -> int:
    """The PCA dimension ``n`` samples support: ``min(n_components, n_samples - 1, n_features)``
    (``n`` centred samples span at most ``n - 1`` directions), at least 1."""
    return int(max(1, min(n_components, n_samples - 1, n_features)))


def pca(X, n_components: int = 50, random_state: int | None = 0, *, return_model: bool = False):
    """PCA of ``X`` to ``min(n_components, n_samples - 1, n_features)`` dimensions (float32).

    The usual pre-reduction before density clustering (DBSCAN/HDBSCAN), GMMs and
    Mahalanobis k-means, which do not scale with 512 raw dimensions. Randomised SVD
    is used automatically by scikit-learn for large inputs. A small collection gets
    ``n - 1`` components (the rest would have zero variance), logged; see
    :func:`pca_params` for what to record.
    """
    from sklearn.decomposition import PCA

    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) or n_components < 1:
        raise ValueError(f"pca: n_components={n_components!r} is invalid; allowed: int >= 1")
    X = check_features(X, min_samples=2)
    k = pca_dimension(n_components, *X.shape)
    if k < n_components and k < X.shape[1]:
        log.warning("pca: n_components=%d needs more than %d samples; using %d", n_components, X.shape[0], k)
    model = PCA(n_components=k, random_state=random_state)
    Y = model.fit_transform(X).astype(np.float32)
    return (Y, model) if return_model else Y


def pca_params(n_components: int, Y) -> dict:
    """The params of a :func:`pca` result ``Y``: the requested ``n_components`` and, when
    the data capped it, ``effective: {n_components}`` (as the estimators record theirs)."""
    params = {"n_components": int(n_components)}
    if Y.shape[1] != n_components:
        params["effective"] = {"n_components": int(Y.shape[1])}
    return params


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

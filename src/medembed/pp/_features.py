"""Feature sets analysed downstream, each an :class:`medembed.io.Array` with its own ids.

``image``: the image embeddings (every manifest image). ``text``: the per-image mean of
its QA text embeddings, for the images that have texts. ``image_text``: both blocks,
normalised and concatenated, for images that have both. Downstream files carry the ids
of their rows, so a feature set may cover fewer images than the manifest.
"""

from __future__ import annotations

import logging

import numpy as np

from ..embed import mean_text_embedding
from ..io import Array
from ._pca import combine

log = logging.getLogger(__name__)


def text_features(text_X: np.ndarray, text_image_ids, manifest_ids, params=None) -> Array:
    """Per-image mean text embedding, restricted to the images that have texts."""
    X, has_text = mean_text_embedding(text_X, text_image_ids, manifest_ids, missing="zeros")
    if not has_text.any():
        raise ValueError("no image has a text: the text feature set is empty")
    ids = np.asarray(manifest_ids).astype(str)
    if (~has_text).any():
        log.warning("text features: %d images without text left out", int((~has_text).sum()))
    return Array(X[has_text], ids[has_text], dict(params or {}, n_without_text=int((~has_text).sum())))


def combine_features(image: Array, text: Array) -> Array:
    """Image+text features for the images present in both sets, in the image set's order."""
    pos = {k: i for i, k in enumerate(text.ids)}
    keep = np.array([k in pos for k in image.ids], dtype=bool)
    if not keep.any():
        raise ValueError("no image has both image and text features")
    rows = np.array([pos[k] for k in image.ids[keep]], dtype=np.int64)
    return Array(combine(image.X[keep], text.X[rows]), image.ids[keep], {"blocks": ["image", "text"]})

"""Zero-shot labels from image-prompt cosine similarity (CLIP-style prompt classifiers)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ._base import Encoder
from ._texts import embed_texts

log = logging.getLogger(__name__)


def _sim_col(column: str, cls: str) -> str:
    return f"sim:{column}:{cls}"


def _pred_col(column: str) -> str:
    return f"pred:{column}"


def _check_prompts(prompts) -> dict[str, dict[str, list[str]]]:
    if not isinstance(prompts, Mapping) or not prompts:
        raise ValueError(
            "prompts must be a non-empty {label_column: {class_name: prompt(s)}} mapping"
        )
    out = {}
    for column, classes in prompts.items():
        if not isinstance(classes, Mapping) or len(classes) < 2:
            raise ValueError(f"prompts[{column!r}] must map at least 2 class names to prompts")
        out[str(column)] = {}
        for cls, p in classes.items():
            plist = [p] if isinstance(p, str) else list(p) if isinstance(p, Sequence) else None
            if not plist or not all(isinstance(x, str) and x.strip() for x in plist):
                raise ValueError(
                    f"prompts[{column!r}][{cls!r}] must be a non-empty string or list of strings"
                )
            out[str(column)][str(cls)] = plist
    return out


def class_embeddings(
    encoder: Encoder, prompts: Mapping[str, Mapping[str, str | Sequence[str]]], batch_size: int = 64
) -> dict[str, tuple[list[str], np.ndarray]]:
    """Per label column, ``(class names, unit class vectors)``: the renormalised mean of
    each class's prompt embeddings (prompt ensembling as in CLIP)."""
    prompts = _check_prompts(prompts)
    flat = [p for classes in prompts.values() for plist in classes.values() for p in plist]
    T = embed_texts(encoder, flat, batch_size=batch_size)
    out, k = {}, 0
    for column, classes in prompts.items():
        names, vecs = [], []
        for cls, plist in classes.items():
            v = T[k : k + len(plist)].mean(axis=0)
            k += len(plist)
            names.append(cls)
            vecs.append(v / np.linalg.norm(v))
        out[column] = (names, np.stack(vecs).astype(np.float32))
    return out


def zero_shot(
    encoder: Encoder,
    image_X: np.ndarray,
    prompts: Mapping[str, Mapping[str, str | Sequence[str]]],
    *,
    ids: Sequence | None = None,
    batch_size: int = 64,
) -> pd.DataFrame:
    """Cosine similarity of every image to every class prompt, and the argmax label.

    ``prompts`` maps a label column (e.g. ``modality``) to ``{class name: prompt or list of
    prompts}``; class names should be spelled like the manifest's label values so that
    :func:`zero_shot_accuracy` can score them. Returns one row per image (``id`` first when
    ``ids`` is given) with columns ``sim:<column>:<class>`` (cosine similarity) and
    ``pred:<column>`` (class with the highest similarity; ties go to the first class).
    ``image_X`` rows are renormalised, so raw or normalised image embeddings both work.
    """
    X = np.asarray(image_X, dtype=np.float32)
    if X.ndim != 2 or len(X) == 0:
        raise ValueError(f"image_X must be 2-D (n_images, dim) with rows; got shape {X.shape}")
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(f"image_X has {int((norms == 0).sum())} all-zero rows")
    X = X / norms
    classes = class_embeddings(encoder, prompts, batch_size=batch_size)
    cols: dict[str, np.ndarray] = {}
    if ids is not None:
        if len(ids) != len(X):
            raise ValueError(f"{len(X)} image rows but {len(ids)} ids")
        cols["id"] = np.asarray(ids).astype(str)
    for column, (names, C) in classes.items():
        if C.shape[1] != X.shape[1]:
            raise ValueError(
                f"image_X has dim {X.shape[1]} but the text tower gives {C.shape[1]}: "
                "embed the images with the same encoder"
            )
        S = X @ C.T
        for j, cls in enumerate(names):
            cols[_sim_col(column, cls)] = S[:, j]
        cols[_pred_col(column)] = np.asarray(names, dtype=object)[S.argmax(axis=1)]
    return pd.DataFrame(cols)


def zero_shot_accuracy(scores: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """Accuracy of each ``pred:<column>`` against the manifest's ``<column>`` labels.

    Rows are matched on ``id`` (or by position when ``scores`` has no ``id``). Images with a
    missing label are left out. One row per label column present in both: ``n`` scored
    images, ``n_correct``, ``accuracy``, ``balanced_accuracy`` (mean recall over the true
    classes), ``n_classes`` offered and ``n_unknown_label`` (labels that are not one of the
    classes, so can never be right). Columns without labels in the manifest are skipped.
    """
    if "id" in scores.columns:
        if "id" not in manifest.columns:
            raise ValueError("scores has an id column but the manifest has none")
        m = manifest.set_index(manifest["id"].astype(str)).reindex(scores["id"].astype(str))
        unknown = int((~m.index.isin(manifest["id"].astype(str))).sum())
        if unknown:
            log.warning("%d scored ids are not in the manifest; left out", unknown)
    else:
        if len(manifest) != len(scores):
            raise ValueError(
                f"{len(scores)} score rows but {len(manifest)} manifest rows and no id column"
            )
        m = manifest.reset_index(drop=True)
    rows = []
    for pc in [c for c in scores.columns if c.startswith("pred:")]:
        column = pc[len("pred:") :]
        if column not in m.columns:
            continue
        prefix = _sim_col(column, "")
        classes = [c[len(prefix) :] for c in scores.columns if c.startswith(prefix)]
        truth = m[column].to_numpy()
        ok = pd.notna(truth)
        if not ok.any():
            continue
        t = truth[ok].astype(str)
        p = scores[pc].to_numpy()[ok].astype(str)
        correct = t == p
        recalls = [correct[t == c].mean() for c in np.unique(t)]
        rows.append(
            {
                "column": column,
                "n": int(ok.sum()),
                "n_correct": int(correct.sum()),
                "accuracy": float(correct.mean()),
                "balanced_accuracy": float(np.mean(recalls)),
                "n_classes": len(classes),
                "n_unknown_label": int((~np.isin(t, classes)).sum()),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "column",
            "n",
            "n_correct",
            "accuracy",
            "balanced_accuracy",
            "n_classes",
            "n_unknown_label",
        ],
    )

"""Text embeddings: QA texts of a dataset, the batched text loop, per-image means.

:func:`embed_texts` gives the same vectors as the Medical Image Analysis Tutorial's loop (batches of 32 padded to
the full context length) within float rounding, much faster:

* each distinct string is embedded once and the rows are mapped back;
* texts are sorted by token length and each batch is padded only to its longest text.
  This is exact because the text tower masks padded positions (open_clip's HF adapter
  builds the attention mask from the pad id) and pools over real tokens only (CLS or
  masked mean); encoders where that does not hold fall back to full padding.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._arrays import l2_normalize
from ._base import Encoder

log = logging.getLogger(__name__)

LANGUAGES = ("en", "zh", "all")
MISSING = ("zeros", "error")


def _check_text_encoder(encoder: Encoder) -> None:
    if not getattr(encoder, "supports_text", False):
        raise ValueError(f"encoder {encoder.name!r} has no text tower (supports_text is False)")
    if encoder.model is None:
        raise ValueError("encoder is not loaded: call encoder.load(device) first")


def embed_texts(encoder: Encoder, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Embed ``texts`` in order; float32 rows, L2-normalised, one per input text.

    Equal strings share one forward pass. With an encoder offering ``token_ids``/``pad``
    (see :class:`~medembed.embed._openclip.OpenCLIPEncoder`) texts are sorted by token count
    and padded per batch; the result does not depend on ``batch_size`` beyond rounding.
    """
    import torch  # here, not at the top: build_qa_texts and mean_text_embedding need no torch
    from tqdm.auto import tqdm

    _check_text_encoder(encoder)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be an integer >= 1")
    texts = list(texts)
    if not texts:
        raise ValueError("no texts to embed")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise ValueError(f"texts must be strings; item {bad[0]} is {type(texts[bad[0]]).__name__}")
    codes, uniques = pd.factorize(pd.Series(texts, dtype=object), sort=False)
    uniques = list(uniques)
    log.info("embedding %d texts (%d distinct) with %s", len(texts), len(uniques), encoder.name)

    token_ids = getattr(encoder, "token_ids", None)
    ids = token_ids(uniques) if callable(token_ids) else None
    if ids is not None:
        order = sorted(range(len(uniques)), key=lambda i: -len(ids[i]))  # stable, longest first
    else:
        order = list(range(len(uniques)))
    dev = encoder.device
    autocast = torch.autocast(dev.type, dtype=torch.float16, enabled=dev.type == "cuda")
    feats: np.ndarray | None = None
    with torch.inference_mode(), autocast:
        for start in tqdm(
            range(0, len(order), batch_size),
            desc=f"embedding texts ({encoder.name})",
            mininterval=5,
        ):
            idx = order[start : start + batch_size]
            if ids is not None:
                out = encoder.encode_tokens(encoder.pad([ids[i] for i in idx]))
            else:
                out = encoder.encode_texts([uniques[i] for i in idx])
            out = out.float().cpu().numpy()
            if feats is None:
                feats = np.empty((len(uniques), out.shape[1]), dtype=np.float32)
            feats[idx] = out
    return l2_normalize(feats)[codes]


def build_qa_texts(
    qa_df: pd.DataFrame, template: str = "{question} {answer}", language: str = "en"
) -> pd.DataFrame:
    """One text per QA record: ``DataFrame(text, image_id, qid, q_lang)`` in ``qa_df`` order.

    ``qa_df`` is :func:`medembed.datasets.read_qa` output (or raw SLAKE records with
    ``img_name``). ``template`` is a :meth:`str.format` string over the record's columns
    (the tutorial's is ``"{question} {answer}"``). ``language`` keeps ``en`` or ``zh``
    records (``q_lang``) or ``all``. ``qid`` is the record's qid, or its row number in
    ``qa_df`` when the records have none.
    """
    if language not in LANGUAGES:
        raise ValueError(f"language={language!r} is not allowed; use one of {', '.join(LANGUAGES)}")
    if not isinstance(template, str) or not template:
        raise ValueError(f"template={template!r} must be a non-empty format string")
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise ValueError(f"template={template!r} is not a valid format string ({exc})") from exc
    if not fields:
        raise ValueError(f"template={template!r} uses no column (e.g. '{{question}} {{answer}}')")
    bad = [f for f in fields if not f.isidentifier()]
    if bad:
        raise ValueError(f"template={template!r}: fields must be plain column names, not {bad}")
    df = qa_df.reset_index(drop=True)
    if "image_id" not in df.columns:
        if "img_name" not in df.columns:
            raise ValueError("qa_df needs an image_id or img_name column")
        df = df.assign(image_id=df["img_name"].astype(str).str.split("/").str[0])
    missing = sorted(fields - set(df.columns))
    if missing:
        raise ValueError(
            f"template={template!r} uses unknown column(s) {missing}; available: {sorted(df.columns)}"
        )
    if "qid" not in df.columns:
        df = df.assign(qid=np.arange(len(df)))
    if "q_lang" not in df.columns:
        if language != "all":
            raise ValueError(f"language={language!r} needs a q_lang column in qa_df; use 'all'")
        df = df.assign(q_lang=None)
    if language != "all":
        df = df[df["q_lang"] == language]
    cols = sorted(fields)
    values = df[cols].astype(object).where(df[cols].notna(), "")
    texts = [
        template.format(**dict(zip(cols, row, strict=True)))
        for row in values.itertuples(index=False)
    ]
    out = pd.DataFrame(
        {
            "text": pd.Series(texts, index=df.index, dtype=object).str.strip(),
            "image_id": df["image_id"].astype(str),
            "qid": df["qid"],
            "q_lang": df["q_lang"],
        }
    ).reset_index(drop=True)
    if out.empty:
        log.warning("no QA texts for language=%r", language)
    return out


def mean_text_embedding(
    text_X: np.ndarray,
    image_ids_of_texts: Sequence,
    manifest_ids: Sequence,
    *,
    missing: str = "zeros",
) -> tuple[np.ndarray, np.ndarray]:
    """Per-image mean of text embeddings, renormalised: ``(X, has_text)``.

    ``X`` has one row per ``manifest_ids`` entry (manifest order), ``has_text`` is a bool
    mask. An image without any text gets a row of zeros and ``has_text=False`` with
    ``missing="zeros"`` (downstream code must use the mask: zero rows cannot be
    normalised), or raises with ``missing="error"``. Texts of images not in the manifest
    (e.g. skipped as unreadable) are ignored and counted in the log.
    """
    if missing not in MISSING:
        raise ValueError(f"missing={missing!r} is not allowed; use one of {', '.join(MISSING)}")
    X = np.asarray(text_X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"text_X must be 2-D (n_texts, dim); got shape {X.shape}")
    img = np.asarray(image_ids_of_texts).astype(str)
    if len(img) != len(X):
        raise ValueError(f"{len(X)} text rows but {len(img)} image ids")
    ids = pd.Index(np.asarray(manifest_ids).astype(str))
    if ids.has_duplicates:
        raise ValueError("manifest_ids has duplicates")
    pos = ids.get_indexer(img)
    known = pos >= 0
    if (~known).any():
        log.warning("%d texts belong to images not in the manifest; ignored", int((~known).sum()))
    sums = np.zeros((len(ids), X.shape[1]))
    np.add.at(sums, pos[known], X[known])
    counts = np.bincount(pos[known], minlength=len(ids))
    norms = np.linalg.norm(sums, axis=1)
    has_text = (counts > 0) & (norms > 1e-12)
    if missing == "error" and not has_text.all():
        lacking = ids[~has_text]
        raise ValueError(
            f"{len(lacking)} images have no text (first: {lacking[0]!r}); use missing='zeros'"
        )
    out = np.zeros_like(sums, dtype=np.float32)
    out[has_text] = (sums[has_text] / norms[has_text, None]).astype(np.float32)
    if (~has_text).any():
        log.warning(
            "%d of %d images have no text: zero rows, has_text=False",
            int((~has_text).sum()),
            len(ids),
        )
    return out, has_text

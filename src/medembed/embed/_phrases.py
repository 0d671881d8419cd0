"""Search phrases: the phrase file, the texts embedded for a text search, their embedding.

The phrase file (config key ``phrases``, default ``config/phrases.txt``) holds one phrase
per line; blank lines and lines starting with ``#`` (comment headers grouping the phrases)
are ignored. :func:`search_texts` adds every zero-shot prompt, so the explorer's search
box offers the prompts the zero-shot table was computed with too. :func:`embed_phrases`
embeds them once with the encoder's text tower (L2-normalised rows, one per text).

Only the standard library at import (the Snakefile reads the file at parse time); the
model code is imported by :func:`embed_phrases` when it runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path


def read_phrases(path: str | os.PathLike) -> list[str]:
    """The phrases of ``path`` in file order, each once (blank and ``#`` lines skipped).

    A missing file or one without a phrase raises one line naming it and the config key.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"phrases: file {str(p)!r} not found (config key `phrases`; null disables the search)")
    out: list[str] = []
    for line in p.read_text(encoding="utf-8").splitlines():
        text = " ".join(line.split())
        if text and not text.startswith("#") and text not in out:
            out.append(text)
    if not out:
        raise ValueError(f"phrases: file {str(p)!r} holds no phrase (one per line; # starts a comment)")
    return out


def prompt_texts(prompts: Mapping | None) -> list[str]:
    """Every prompt of a ``zero_shot`` config (``{column: {class: prompt or [prompts]}}``),
    in config order, each once."""
    out: list[str] = []
    for classes in (prompts or {}).values():
        for p in (classes or {}).values():
            for text in [p] if isinstance(p, str) else list(p):
                text = " ".join(str(text).split())
                if text and text not in out:
                    out.append(text)
    return out


def search_texts(phrases: Sequence[str], prompts: Mapping | None = None) -> list[str]:
    """The texts a search offers: ``phrases`` then the zero-shot ``prompts`` not among them."""
    out = [" ".join(str(t).split()) for t in phrases]
    return list(dict.fromkeys(t for t in [*out, *prompt_texts(prompts)] if t))


def embed_phrases(encoder, texts: Sequence[str], batch_size: int = 64):
    """Unit text embeddings of ``texts`` (float32, one row per text, in order).

    ``encoder`` is a loaded encoder with a text tower (see
    :func:`medembed.embed.load_encoder`); texts must be distinct, as they are the ids of
    the phrase array the explorer reads.
    """
    from ._texts import embed_texts

    texts = list(texts)
    if len(set(texts)) != len(texts):
        raise ValueError("embed_phrases: the texts must be distinct (they identify the rows)")
    return embed_texts(encoder, texts, batch_size=batch_size)

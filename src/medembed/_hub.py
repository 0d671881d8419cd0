"""Small helpers shared by the code that talks to the Hugging Face hub (data and models)."""

from __future__ import annotations

import os


def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE (or huggingface_hub itself) say offline."""
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE")
    return bool(constants.HF_HUB_OFFLINE) or str(env).strip().upper() in {"1", "ON", "YES", "TRUE"}


def short_error(exc: BaseException, n: int) -> str:
    """``exc``'s message on one line, cut to ``n`` characters."""
    msg = " ".join(str(exc).split())
    return msg if len(msg) <= n else msg[: n - 3] + "..."

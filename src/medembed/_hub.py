"""Small helpers shared by the code that talks to the Hugging Face hub (data and models)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


class ModelUnavailableError(RuntimeError):
    """Model files are neither cached nor downloadable (offline / hub unreachable)."""


def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE (or huggingface_hub itself) say offline."""
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE")
    return bool(constants.HF_HUB_OFFLINE) or str(env).strip().upper() in {"1", "ON", "YES", "TRUE"}


def short_error(exc: BaseException, n: int) -> str:
    """``exc``'s message on one line, cut to ``n`` characters."""
    msg = " ".join(str(exc).split())
    return msg if len(msg) <= n else msg[: n - 3] + "..."


def cached_file(repo_id: str, filename: str, cache_dir=None) -> Path | None:
    """Path of ``filename`` of model ``repo_id`` in the HF cache, or None if it is not there."""
    from huggingface_hub import try_to_load_from_cache

    try:
        p = try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir)
    except Exception:  # noqa: BLE001 - malformed repo ids etc.: simply "not cached"
        return None
    return Path(p) if isinstance(p, str) and Path(p).is_file() else None


def how_to_proceed(repo_id: str, extra: str = "") -> str:
    """The second half of every "model unavailable" line: how to get the files here."""
    return (
        f"To proceed: on a machine with internet run `hf download {repo_id}`{extra}, copy the "
        "HF cache here and run with HF_HOME=<that cache> HF_HUB_OFFLINE=1, or give the encoder "
        "param local_dir: <model directory or HF cache>; or use the offline demo encoder "
        "(snakemake --configfile config/demo.yaml)"
    )


def probe_hub(repo_id: str, what: str, cache_dir, how: str, timeout: float = 10.0) -> None:
    """Raise :class:`ModelUnavailableError` at once if ``repo_id`` cannot be fetched.

    Offline (``HF_HUB_OFFLINE``) that is certain; online one request with a short timeout
    replaces the hub client's ~25 s of retries.
    """
    from huggingface_hub import HfApi, constants

    if hub_offline():
        raise ModelUnavailableError(
            f"cannot load {what}: HF_HUB_OFFLINE is set and they are not in the Hugging Face "
            f"cache ({cache_dir or constants.HF_HUB_CACHE}). {how}"
        )

    try:
        HfApi().model_info(repo_id, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - connection, DNS, HTTP and auth errors alike
        raise ModelUnavailableError(
            f"cannot load {what} ({type(exc).__name__}: {short_error(exc, 300)}). {how}"
        ) from exc


def require_cached(
    repo_id: str,
    config: str,
    weights: Iterable[str],
    cache_dir,
    *,
    what: str,
    how: str,
) -> bool:
    """True if ``config`` and one of ``weights`` of ``repo_id`` are cached.

    Otherwise probe the hub (:func:`probe_hub`): offline or unreachable raises
    :class:`ModelUnavailableError` with one line naming ``what`` is missing and ``how`` to
    proceed; reachable returns False (the caller's loader downloads).
    """
    if cached_file(repo_id, config, cache_dir) is not None and any(
        cached_file(repo_id, w, cache_dir) is not None for w in weights
    ):
        return True
    probe_hub(repo_id, what, cache_dir, how)
    return False


def split_local_dir(local_dir, marker: str, repo_id: str) -> tuple[Path | None, str | None]:
    """``(model directory, HF cache directory)`` that ``local_dir`` is (one of them is None).

    A model directory holds ``marker`` (e.g. ``config.json``); an HF cache holds
    ``models--*`` folders (``HF_HUB_CACHE``) or ``hub/models--*`` (``HF_HOME``).
    """
    if local_dir is None:
        return None, None
    d = Path(local_dir).expanduser()
    if (d / marker).is_file():
        return d, None
    hub = d / "hub" if (d / "hub").is_dir() else d
    if hub.is_dir() and any(hub.glob("models--*")):
        return None, str(hub)
    raise ValueError(
        f"local_dir={str(local_dir)!r} is neither a model directory ({marker} + weights) nor a "
        f"Hugging Face cache (models--*/ or hub/models--*/) holding {repo_id}"
    )

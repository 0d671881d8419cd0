"""Make an encoder by its config name (registry stage ``encoders``)."""

from __future__ import annotations

from .. import _registry as registry


def make_encoder(name: str, **params):
    """The encoder registered as ``name``, constructed with ``params``."""
    cls = registry.load("encoders", name)
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(f"encoder {name!r}: bad parameter ({exc})") from exc


def load_encoder(encoder: dict, settings: dict | None = None):
    """Make and load the encoder ``{"name", "params"}`` with the job's runtime settings.

    ``settings`` may hold ``device``, ``local_dir`` (a pre-fetched model or HF cache) and
    ``onnx_cache`` (where ``fast_cpu: onnx`` keeps its exports); none changes what the encoder
    computes, so they are not part of its params.
    """
    import inspect

    settings = settings or {}
    params = dict(encoder.get("params") or {})
    if settings.get("local_dir"):
        accepted = inspect.signature(registry.load("encoders", encoder["name"])).parameters
        if "local_dir" not in accepted:
            raise ValueError(f"encoder {encoder['name']!r} does not load from a local_dir")
        params["local_dir"] = settings["local_dir"]
    enc = make_encoder(encoder["name"], **params)
    if settings.get("onnx_cache"):
        enc.onnx_cache = str(settings["onnx_cache"])
    return enc.load(settings.get("device", "auto"))

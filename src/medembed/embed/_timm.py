"""Any timm image model from the Hugging Face hub (``hf-hub:timm/...``), e.g. DINOv2 ViT-S/14.

The model is ``timm.create_model(model_id, pretrained=True, num_classes=0)``: its pooled
pre-logits features (for DINOv2, the normalised CLS token; 384-d for ViT-S/14). Files are
the ones ``timm`` pushes to the hub (``config.json`` with ``architecture`` and
``pretrained_cfg``, ``model.safetensors``), read from, in order:

* ``local_dir`` holding ``config.json`` + weights (``hf download <repo> --local-dir <dir>``),
  loaded through timm's ``local-dir:`` source;
* ``local_dir`` being an HF cache (``HF_HUB_CACHE`` or an ``HF_HOME`` with ``hub/``);
* the default HF cache, downloading what is missing.

When the files are not cached and the hub cannot be reached (or ``HF_HUB_OFFLINE=1``), one
line says what is missing and how to proceed. Normalisation (mean/std) and interpolation are
the weights' own, from their ``pretrained_cfg``; the geometry is this encoder's ``resize``.
"""

from __future__ import annotations

import logging

from .._hub import (
    ModelUnavailableError,
    how_to_proceed,
    hub_offline,
    require_cached,
    short_error,
    split_local_dir,
)
from ._base import Encoder, check_fast_cpu
from ._preprocess import Preprocess, check_resize, check_size

log = logging.getLogger(__name__)

DINOV2_SMALL = "hf-hub:timm/vit_small_patch14_dinov2.lvd142m"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin")


def hub_repo(model_id: str, default_org: str) -> str:
    """``org/name`` of a hub model given as ``hf-hub:org/name``, ``org/name`` or a bare
    ``name`` (then ``default_org/name``, e.g. timm's own ``timm/<name>``)."""
    if not isinstance(model_id, str) or not model_id.strip():
        raise ValueError(f"model_id={model_id!r} must name a hub model, e.g. 'hf-hub:org/name'")
    repo = model_id.removeprefix("hf-hub:")
    if repo.count("/") > 1 or repo.startswith("/") or repo.endswith("/"):
        raise ValueError(f"model_id={model_id!r} must look like 'hf-hub:<org>/<name>'")
    return repo if "/" in repo else f"{default_org}/{repo}"


def model_unavailable(repo_id: str, exc: BaseException) -> ModelUnavailableError:
    """The one-line error for a loader that failed offline."""
    return ModelUnavailableError(
        f"cannot load {repo_id} ({type(exc).__name__}: {short_error(exc, 300)}). "
        f"{how_to_proceed(repo_id)}"
    )


class TimmEncoder(Encoder):
    """Pooled features of a timm model from the hub.

    Parameters
    ----------
    model_id
        ``hf-hub:<org>/<name>`` (``timm/<name>`` or a bare timm pretrained tag also work);
        default DINOv2 ViT-S/14 (``timm/vit_small_patch14_dinov2.lvd142m``).
    image_size
        Input side; default the weights' own (518 for DINOv2). For ViTs a different size
        resamples the position embeddings (e.g. 224 for speed).
    resize
        ``pad`` (default, letterbox), ``crop`` (timm's eval transform with ``crop_pct=1``) or
        ``squash``; see :mod:`._preprocess`.
    local_dir
        Model directory or HF cache to load from instead of the default cache.
    fast_cpu, fast_cpu_check
        Optional faster CPU path; see :mod:`._fast`.
    """

    name = "timm"

    def __init__(
        self,
        model_id: str = DINOV2_SMALL,
        image_size: int | None = None,
        resize: str = "pad",
        local_dir=None,
        fast_cpu: bool | str = False,
        fast_cpu_check: int = 256,
    ) -> None:
        super().__init__()
        self.repo_id = hub_repo(model_id, "timm")
        self.model_id = f"hf-hub:{self.repo_id}"
        self.image_size = None if image_size is None else check_size(image_size, "timm")
        self.resize = check_resize(resize)
        self.local_dir = None if local_dir is None else str(local_dir)
        self.fast_cpu, self.fast_cpu_check = check_fast_cpu(fast_cpu, fast_cpu_check)
        self._transform = None

    def _build(self):
        import timm

        model_dir, cache_dir = split_local_dir(self.local_dir, "config.json", self.repo_id)
        if model_dir is not None:
            source = f"local-dir:{model_dir}"
        else:
            source = self.model_id
            require_cached(
                self.repo_id,
                "config.json",
                WEIGHT_FILES,
                cache_dir,
                what=f"timm files of {self.repo_id} (config.json and weights)",
                how=how_to_proceed(self.repo_id),
            )
        kwargs = {"num_classes": 0}
        if self.image_size is not None:
            kwargs["img_size"] = self.image_size
        try:
            model = timm.create_model(source, pretrained=True, cache_dir=cache_dir, **kwargs)
        except TypeError as exc:
            if "img_size" in str(exc):
                raise ValueError(
                    f"timm {self.repo_id}: image_size is only supported by models with an "
                    f"img_size argument (ViTs); leave it null ({exc})"
                ) from exc
            raise
        except Exception as exc:
            if hub_offline():
                raise model_unavailable(self.repo_id, exc) from exc
            raise
        self._transform = self._make_transform(model)
        log.info("timm %s: %d-d features, %s", self.repo_id, model.num_features, self._transform)
        return model

    def _make_transform(self, model) -> Preprocess:
        from timm.data import resolve_data_config

        cfg = resolve_data_config({}, model=model)
        size = self.image_size or int(cfg["input_size"][-1])
        interp = cfg.get("interpolation", "bicubic")
        return Preprocess(
            size=size,
            resize=self.resize,
            mean=tuple(float(v) for v in cfg["mean"]),
            std=tuple(float(v) for v in cfg["std"]),
            interpolation=interp if interp in ("bilinear", "bicubic", "nearest") else "bicubic",
        )

    def preprocess(self, image):
        if self._transform is None:
            raise ValueError("encoder is not loaded: call encoder.load(device) first")
        return self._transform(image)

    def _features(self, tower, batch):
        return tower(batch)

"""Image models stored as ``transformers`` checkpoints on the hub, e.g. RAD-DINO.

``microsoft/rad-dino`` is a ``Dinov2Model`` (ViT-B/14, 518 px, trained on chest X-rays)
with a ``BitImageProcessor``; its card takes the CLS embedding (``pooler_output``, 768-d)
as the image's global embedding. This encoder loads ``AutoModel`` + ``AutoImageProcessor``
from the HF cache (or ``local_dir``), takes mean/std, size and interpolation from the
processor's config and applies this encoder's ``resize`` (see :mod:`._preprocess`;
``crop`` is what the processor itself does: shorter side to the size, centre crop).
Offline with nothing cached: one line saying what is missing and how to proceed.
"""

from __future__ import annotations

import logging

from .._hub import how_to_proceed, hub_offline, require_cached, split_local_dir
from ._base import Encoder, check_fast_cpu
from ._preprocess import INTERPOLATIONS, Preprocess, check_resize, check_size
from ._timm import hub_repo, model_unavailable

log = logging.getLogger(__name__)

RAD_DINO = "microsoft/rad-dino"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")
POOLINGS = ("pooler", "cls", "mean")


class TransformersEncoder(Encoder):
    """Image features of a ``transformers`` vision model (``AutoModel``).

    Parameters
    ----------
    model_id
        ``org/name`` (or ``hf-hub:org/name``) of the checkpoint; default RAD-DINO.
    pooling
        ``pooler`` (default: ``pooler_output``, for DINOv2 the layer-normed CLS token),
        ``cls`` (first token of ``last_hidden_state``) or ``mean`` (mean of the patch tokens).
    image_size
        Input side; default the processor's (crop size, else its size).
    resize
        ``pad`` (default, letterbox), ``crop`` or ``squash``.
    local_dir
        Model directory (``config.json``, weights, ``preprocessor_config.json``) or HF cache.
    fast_cpu, fast_cpu_check
        Optional faster CPU path; see :mod:`._fast`.
    """

    name = "hf_transformers"

    def __init__(
        self,
        model_id: str = RAD_DINO,
        pooling: str = "pooler",
        image_size: int | None = None,
        resize: str = "pad",
        local_dir=None,
        fast_cpu: bool | str = False,
        fast_cpu_check: int = 256,
    ) -> None:
        super().__init__()
        self.repo_id = hub_repo(model_id, "")
        if self.repo_id.startswith("/"):
            raise ValueError(f"model_id={model_id!r} must look like '<org>/<name>'")
        self.model_id = self.repo_id
        if pooling not in POOLINGS:
            raise ValueError(f"pooling={pooling!r} must be one of {', '.join(POOLINGS)}")
        self.pooling = pooling
        self.image_size = (
            None if image_size is None else check_size(image_size, "hf_transformers")
        )
        self.resize = check_resize(resize)
        self.local_dir = None if local_dir is None else str(local_dir)
        self.fast_cpu, self.fast_cpu_check = check_fast_cpu(fast_cpu, fast_cpu_check)
        self.name = "rad_dino" if self.repo_id == RAD_DINO else "hf_transformers"
        self._transform = None

    def _build(self):
        from transformers import AutoImageProcessor, AutoModel

        model_dir, cache_dir = split_local_dir(self.local_dir, "config.json", self.repo_id)
        source = str(model_dir) if model_dir is not None else self.repo_id
        if model_dir is None:
            what = f"transformers files of {self.repo_id} (config.json, weights, preprocessor_config.json)"
            how = how_to_proceed(self.repo_id)
            require_cached(self.repo_id, "config.json", WEIGHT_FILES, cache_dir, what=what, how=how)
            require_cached(
                self.repo_id, "preprocessor_config.json", ("config.json",), cache_dir,
                what=what, how=how,
            )
        try:
            model = AutoModel.from_pretrained(source, cache_dir=cache_dir)
            processor = AutoImageProcessor.from_pretrained(source, cache_dir=cache_dir)
        except Exception as exc:
            if hub_offline():
                raise model_unavailable(self.repo_id, exc) from exc
            raise
        self._transform = self._make_transform(processor)
        log.info("transformers %s (%s): %s", self.repo_id, type(model).__name__, self._transform)
        return model

    def _make_transform(self, processor) -> Preprocess:
        """The processor's size, interpolation and mean/std with this encoder's ``resize``."""
        size = self.image_size or processor_size(processor)
        resample = getattr(processor, "resample", None)
        interp = "bicubic"
        if resample is not None:
            name = getattr(resample, "name", None) or str(resample)
            try:
                name = INTERPOLATIONS_BY_VALUE.get(int(resample), name)
            except (TypeError, ValueError):
                pass
            interp = str(name).lower() if str(name).lower() in INTERPOLATIONS else "bicubic"
        return Preprocess(
            size=size,
            resize=self.resize,
            mean=tuple(float(v) for v in processor.image_mean),
            std=tuple(float(v) for v in processor.image_std),
            interpolation=interp,
        )

    def preprocess(self, image):
        if self._transform is None:
            raise ValueError("encoder is not loaded: call encoder.load(device) first")
        return self._transform(image)

    def _features(self, tower, batch):
        out = tower(pixel_values=batch)
        if self.pooling == "pooler" and getattr(out, "pooler_output", None) is not None:
            return out.pooler_output
        if self.pooling == "mean":
            return out.last_hidden_state[:, 1:].mean(dim=1)
        return out.last_hidden_state[:, 0]


INTERPOLATIONS_BY_VALUE = {int(v): k for k, v in INTERPOLATIONS.items()}


def processor_size(processor) -> int:
    """Side of the square a ``transformers`` image processor feeds its model."""
    for key in ("crop_size", "size"):
        if key == "crop_size" and not getattr(processor, "do_center_crop", False):
            continue
        s = getattr(processor, key, None)
        if s is None:
            continue
        s = dict(s) if not isinstance(s, int) else {"shortest_edge": s}
        vals = [s[k] for k in ("height", "width", "shortest_edge") if s.get(k)]
        if vals and len(set(vals)) == 1:
            return int(vals[0])
        if vals:
            raise ValueError(f"non-square processor size {s} is not supported; set image_size")
    raise ValueError("the image processor names no size; set image_size")

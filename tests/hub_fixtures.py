"""Tiny random models written into a Hugging Face cache in the hub's own layout, offline.

The layout is the one ``huggingface_hub`` writes, so the models load through the same
calls a real hub model goes through, with ``HF_HUB_OFFLINE=1``::

    <hf_home>/hub/models--<org>--<name>/refs/main            -> <rev>
    <hf_home>/hub/models--<org>--<name>/snapshots/<rev>/<files>

* :func:`build_tiny_timm`: a timm DINOv2-architecture ViT (``vit_small_patch14_dinov2``
  shrunk to 32 wide, 2 blocks, 28 px) saved with ``timm.models.save_for_hf`` as
  ``config.json`` + ``model.safetensors``, which is what ``timm`` pushes to the hub.
* :func:`build_tiny_dinov2`: a ``transformers`` ``Dinov2Model`` (RAD-DINO's class) from a
  tiny ``Dinov2Config``, ``save_pretrained`` + a ``BitImageProcessor``'s
  ``preprocessor_config.json`` with RAD-DINO's settings (shortest edge, centre crop,
  bicubic), only 28 px.
* :func:`offline_hub`: make a cache the process's cache, offline (env and the loaded
  ``huggingface_hub.constants``).
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
from pathlib import Path

TIMM_REPO = "medembed-test/tiny-dinov2-timm"
DINOV2_REPO = "medembed-test/tiny-rad-dino"
#: Grey statistics like RAD-DINO's (the encoder reads whatever the real preprocessor_config.json holds).
RAD_DINO_MEAN = [0.5307, 0.5307, 0.5307]
RAD_DINO_STD = [0.2583, 0.2583, 0.2583]


def rev_of(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()


def put_in_cache(hub: Path, repo_id: str, files_dir: Path) -> Path:
    """Copy ``files_dir`` into the cache as the ``main`` snapshot of ``repo_id``."""
    repo = Path(hub) / ("models--" + repo_id.replace("/", "--"))
    rev = rev_of(repo_id)
    snap = repo / "snapshots" / rev
    if snap.exists():
        shutil.rmtree(snap)
    shutil.copytree(files_dir, snap)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(rev)
    return snap


@contextlib.contextmanager
def offline_hub(hf_home: str | Path):
    """``HF_HOME=<hf_home>``, ``HF_HUB_OFFLINE=1`` for the env and the imported hub client."""
    import pytest
    from huggingface_hub import constants

    hf_home = Path(hf_home)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HOME", str(hf_home))
        mp.setenv("HF_HUB_CACHE", str(hf_home / "hub"))
        mp.setenv("HF_HUB_OFFLINE", "1")
        # huggingface_hub reads these once at import: point the loaded module there too
        mp.setattr(constants, "HF_HOME", str(hf_home))
        mp.setattr(constants, "HF_HUB_CACHE", str(hf_home / "hub"))
        mp.setattr(constants, "HF_HUB_OFFLINE", True)
        yield hf_home


def _perturb(model, seed: int, scale: float = 0.05) -> None:
    """Make random-init weights less degenerate (zero biases, unit norms) than their init."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))


def build_tiny_timm(hf_home: str | Path, *, repo_id: str = TIMM_REPO, seed: int = 0) -> dict:
    """A tiny DINOv2-architecture timm ViT in ``<hf_home>/hub``; returns the model too.

    Returns ``{"model_id", "repo_id", "snapshot", "model"}`` (``model``: the in-memory
    model whose weights were saved, for comparing forward passes).
    """
    import timm
    import torch
    from timm.models import save_for_hf

    work = Path(hf_home) / "_build_timm"
    torch.manual_seed(seed)
    model = timm.create_model(
        "vit_small_patch14_dinov2.lvd142m",
        pretrained=False,
        img_size=28,
        embed_dim=32,
        depth=2,
        num_heads=2,
        num_classes=0,
    ).eval()
    _perturb(model, seed)
    save_for_hf(model, str(work), safe_serialization=True)
    snap = put_in_cache(Path(hf_home) / "hub", repo_id, work)
    shutil.rmtree(work)
    return {"model_id": f"hf-hub:{repo_id}", "repo_id": repo_id, "snapshot": snap, "model": model}


def build_tiny_dinov2(hf_home: str | Path, *, repo_id: str = DINOV2_REPO, seed: int = 0) -> dict:
    """A tiny ``Dinov2Model`` + RAD-DINO-style image processor in ``<hf_home>/hub``."""
    import torch
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    work = Path(hf_home) / "_build_dinov2"
    torch.manual_seed(seed)
    cfg = Dinov2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        patch_size=7,
        image_size=28,
    )
    model = Dinov2Model(cfg).eval()
    _perturb(model, seed)
    model.save_pretrained(work, safe_serialization=True)
    BitImageProcessor(
        do_resize=True,
        size={"shortest_edge": 28},
        resample=3,  # bicubic, as RAD-DINO's
        do_center_crop=True,
        crop_size={"height": 28, "width": 28},
        do_rescale=True,
        do_normalize=True,
        image_mean=RAD_DINO_MEAN,
        image_std=RAD_DINO_STD,
        do_convert_rgb=True,
    ).save_pretrained(work)
    snap = put_in_cache(Path(hf_home) / "hub", repo_id, work)
    shutil.rmtree(work)
    return {"model_id": repo_id, "repo_id": repo_id, "snapshot": snap, "model": model}

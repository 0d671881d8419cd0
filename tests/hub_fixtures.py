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
* :func:`build_tiny_image_dataset`: a dataset repo as the ``datasets`` library pushes it
  (``data/<split>-00000-of-00001.parquet`` with an ``Image`` column of ``{bytes, path}``
  structs, a ClassLabel column and a string column, and README.md with the
  ``dataset_info`` YAML), made from real MedNIST images (JPEG, some re-encoded as PNG).
* :func:`offline_hub`: make a cache the process's cache, offline (env and the loaded
  ``huggingface_hub.constants``).
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
from pathlib import Path

MEDNIST = Path(__file__).resolve().parents[1] / "data" / "demo" / "mednist-mini"
IMAGE_DATASET_REPO = "medembed-test/mednist-tiny"
#: ClassLabel names of the tiny image dataset (index = stored integer).
MEDNIST_CLASSES = ["AbdomenCT", "BreastMRI", "CXR", "ChestCT", "Hand", "HeadCT"]
TIMM_REPO = "medembed-test/tiny-dinov2-timm"
DINOV2_REPO = "medembed-test/tiny-rad-dino"
#: Grey statistics like RAD-DINO's (the encoder reads whatever the real preprocessor_config.json holds).
RAD_DINO_MEAN = [0.5307, 0.5307, 0.5307]
RAD_DINO_STD = [0.2583, 0.2583, 0.2583]


def rev_of(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()


def put_in_cache(hub: Path, repo_id: str, files_dir: Path, repo_type: str = "model") -> Path:
    """Copy ``files_dir`` into the cache as the ``main`` snapshot of ``repo_id``."""
    repo = Path(hub) / (f"{repo_type}s--" + repo_id.replace("/", "--"))
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


def _png_bytes(jpeg: bytes) -> bytes:
    from io import BytesIO

    from PIL import Image

    buf = BytesIO()
    with Image.open(BytesIO(jpeg)) as im:
        im.save(buf, format="PNG")
    return buf.getvalue()


def _dataset_readme(splits: dict[str, int], image_columns=("image",)) -> str:
    names = "\n".join(f"          '{i}': {n}" for i, n in enumerate(MEDNIST_CLASSES))
    images = "".join(f"  - name: {c}\n    dtype: image\n" for c in image_columns)
    split_yaml = "".join(f"  - name: {s}\n    num_examples: {n}\n" for s, n in splits.items())
    files_yaml = "".join(f"    - split: {s}\n      path: data/{s}-*\n" for s in splits)
    return (
        "---\nlicense: cc-by-4.0\ndataset_info:\n  features:\n"
        f"{images}"
        "  - name: label\n    dtype:\n      class_label:\n        names:\n"
        f"{names}\n"
        "  - name: caption\n    dtype: string\n"
        f"  splits:\n{split_yaml}"
        "configs:\n- config_name: default\n  data_files:\n"
        f"{files_yaml}"
        "---\n\n# MedNIST tiny\n\nA few MedNIST images for offline tests.\n"
    )


def tiny_image_dataset_files(
    out: str | Path,
    *,
    per_class: dict[str, int] | None = None,
    empty_cell: bool = False,
    second_image_column: bool = False,
    binary_column: bool = False,
    hf_metadata: bool = False,
    readme: bool = True,
) -> dict:
    """Write the files of a tiny image dataset repo into ``out``; return what was stored.

    Splits ``train`` (cells with ``path``: ids are the file stems) and ``test`` (cells
    without ``path``: ids are ``test-00000``, ...). Every third image is stored as PNG, the
    rest as the original JPEG bytes. Options: ``empty_cell`` (one train row with a null
    image), ``second_image_column`` (a second ``Image`` column: ambiguous),
    ``binary_column`` (raw bytes instead of ``{bytes, path}`` structs), ``hf_metadata``
    (the ``huggingface`` schema metadata ``datasets`` writes), ``readme``.

    Returns ``{"rows": {split: [{"id", "bytes", "ext", "label", "caption"}]}, "files": [...]}``
    (``bytes`` None for the empty cell).
    """
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    per_class = per_class or {"train": 2, "test": 1}
    struct = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    rows: dict[str, list[dict]] = {}
    taken: dict[str, int] = {}
    k = 0
    for split, n in per_class.items():
        rows[split] = []
        for label, cls in enumerate(MEDNIST_CLASSES):
            files = sorted((MEDNIST / cls).iterdir())
            start = taken.get(cls, 0)
            for f in files[start : start + n]:
                data, ext = f.read_bytes(), "jpg"
                if k % 3 == 0:
                    data, ext = _png_bytes(data), "png"
                k += 1
                stem = f"{cls.lower()}_{f.stem}"
                rid = stem if split == "train" else f"{split}-{len(rows[split]):05d}"
                rows[split].append(
                    {"id": rid, "bytes": data, "ext": ext, "label": cls,
                     "label_int": label, "caption": f"{cls} image {f.stem}",
                     "src_path": f"{stem}.{ext}" if split == "train" else None}
                )
            taken[cls] = start + n
    if empty_cell:
        rows["train"].append(
            {"id": f"train-{len(rows['train']):05d}", "bytes": None, "ext": None, "label": "Hand",
             "label_int": MEDNIST_CLASSES.index("Hand"), "caption": "no image",
             "src_path": "empty_one.png"}
        )
    features = {
        "image": {"_type": "Image"},
        "label": {"names": MEDNIST_CLASSES, "_type": "ClassLabel"},
        "caption": {"dtype": "string", "_type": "Value"},
    }
    written = []
    (out / "data").mkdir(parents=True, exist_ok=True)
    for split, rs in rows.items():
        if binary_column:
            image = pa.array([r["bytes"] for r in rs], pa.binary())
        else:
            image = pa.array(
                [None if r["bytes"] is None else {"bytes": r["bytes"], "path": r["src_path"]}
                 for r in rs],
                struct,
            )
        cols = {"image": image}
        if second_image_column:
            cols["mask"] = image
        cols["label"] = pa.array([r["label_int"] for r in rs], pa.int64())
        cols["caption"] = pa.array([r["caption"] for r in rs], pa.string())
        table = pa.table(cols)
        if hf_metadata:
            feats = dict(features, **({"mask": {"_type": "Image"}} if second_image_column else {}))
            meta = {b"huggingface": json.dumps({"info": {"features": feats}}).encode()}
            table = table.replace_schema_metadata(meta)
        name = f"data/{split}-00000-of-00001.parquet"
        pq.write_table(table, out / name)
        written.append(name)
    if readme:
        cols = ("image", "mask") if second_image_column else ("image",)
        (out / "README.md").write_text(
            _dataset_readme({s: len(r) for s, r in rows.items()}, cols)
        )
        written.append("README.md")
    (out / ".gitattributes").write_text("*.parquet filter=lfs diff=lfs merge=lfs -text\n")
    return {"rows": rows, "files": sorted(written)}


def build_tiny_image_dataset(
    hf_home: str | Path, *, repo_id: str = IMAGE_DATASET_REPO, **options
) -> dict:
    """:func:`tiny_image_dataset_files` as the ``main`` snapshot of dataset ``repo_id`` in
    ``<hf_home>/hub``; returns its result plus ``repo_id``, ``snapshot`` and ``revision``."""
    work = Path(hf_home) / "_build_dataset"
    if work.exists():
        shutil.rmtree(work)
    made = tiny_image_dataset_files(work, **options)
    snap = put_in_cache(Path(hf_home) / "hub", repo_id, work, repo_type="dataset")
    shutil.rmtree(work)
    return {**made, "repo_id": repo_id, "snapshot": snap, "revision": snap.name}

"""Readers, manifest checks, atomic writes and the offline encoder on real demo images."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from conftest import make_folder_subset, make_slake_subset

from medembed import datasets, embed, io


def test_slake_reader_labels_from_qa(tmp_path):
    root = make_slake_subset(tmp_path / "slake", per_modality=4)
    manifest, skipped, labels = datasets.make_manifest("slake", root, name="s")
    assert labels == ["modality", "location"]
    assert len(manifest) == 12 and skipped.empty
    assert manifest["modality"].value_counts().to_dict() == {"CT": 4, "MRI": 4, "X-Ray": 4}
    assert list(manifest["id"]) == sorted(manifest["id"])
    assert {"width", "height", "sha256", "split"} <= set(manifest.columns)
    assert (manifest["width"] > 0).all() and manifest["sha256"].str.len().eq(64).all()


def test_folder_reader_skips_and_lists_unreadable_files(tmp_path):
    root = make_folder_subset(tmp_path / "f", per_class=3)
    manifest, skipped, labels = datasets.make_manifest("folder", root, name="f")
    assert labels == ["class"]
    assert len(manifest) == 18
    assert manifest["class"].nunique() == 6
    reasons = dict(zip(skipped["id"], skipped["reason"]))
    assert set(reasons) == {"Hand/truncated", "CXR/notes", "HeadCT/empty"}
    assert "not an image" in reasons["CXR/notes"]
    assert "0 bytes" in reasons["HeadCT/empty"]
    assert reasons["Hand/truncated"].startswith("truncated")


def test_strict_mode_and_empty_dataset_are_errors(tmp_path):
    root = make_folder_subset(tmp_path / "f", per_class=1)
    with pytest.raises(datasets.ImageError, match="strict: true"):
        datasets.make_manifest("folder", root, strict=True, name="f")
    empty = tmp_path / "empty"
    (empty / "a").mkdir(parents=True)
    (empty / "a" / "x.png").write_text("nope")
    with pytest.raises(datasets.EmptyDatasetError, match="no readable images"):
        datasets.make_manifest("folder", empty, name="e")
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        datasets.make_manifest("folder", tmp_path / "missing", name="m")


def test_dicom_is_windowed_to_8bit(tmp_path):
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(tmp_path / "ct.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
    arr = np.tile(np.arange(-1000, 1000, 2000 / 64, dtype=np.float64), (64, 1)).astype(np.int16)
    ds.Rows, ds.Columns = arr.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation, ds.SamplesPerPixel = 1, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.WindowCenter, ds.WindowWidth = 0, 400
    ds.RescaleSlope, ds.RescaleIntercept = 1, 0
    ds.PixelData = arr.tobytes()
    ds.save_as(str(tmp_path / "ct.dcm"), enforce_file_format=True)
    im = np.asarray(datasets.load_image(tmp_path / "ct.dcm"))
    assert im.shape == (64, 64, 3) and im.dtype == np.uint8
    row = im[0, :, 0]
    assert row[0] == 0 and row[-1] == 255  # outside the window: clipped
    assert 0 < row[32] < 255  # inside: graded
    assert pydicom


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out" / "x.parquet"
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("killed")
    assert not target.exists()
    assert os.listdir(target.parent) == []


def test_array_and_table_roundtrip(tmp_path):
    X = np.random.default_rng(0).normal(size=(5, 3))
    io.write_array(tmp_path / "a.npz", X, ["a", "b", "c", "d", "e"], params={"k": np.int64(3)})
    arr = io.read_array(tmp_path / "a.npz")
    assert arr.X.dtype == np.float32 and arr.params == {"k": 3}
    np.testing.assert_allclose(arr.X, X, rtol=1e-6)
    assert list(arr.ids) == list("abcde")
    df = pd.DataFrame({"id": ["a"], "cluster": [1]})
    io.write_table(tmp_path / "t.parquet", df, params={"n_clusters": 2})
    assert io.read_table_params(tmp_path / "t.parquet") == {"n_clusters": 2}
    with pytest.raises(ValueError, match="3 rows but 2 ids"):
        io.write_array(tmp_path / "b.npz", X[:3], ["a", "b"])


def test_efficientnet_embeddings_are_normalised_deterministic_and_separate_classes(tmp_path):
    root = make_folder_subset(tmp_path / "f", per_class=4, corrupt=False)
    manifest, _, _ = datasets.make_manifest("folder", root, name="f")
    enc = embed.make_encoder("efficientnet_lite0").load("cpu")
    X0 = embed.embed_images(enc, manifest["path"], batch_size=7, num_workers=0)
    X1 = embed.embed_images(enc, manifest["path"], batch_size=5, num_workers=1)
    assert X0.shape == (24, 1280) and X0.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X0, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(X0, X1, atol=1e-5)  # batching and workers do not matter
    # Real ImageNet weights: same-class images are nearer than other-class images.
    y = manifest["class"].to_numpy()
    S = X0 @ X0.T
    same = S[(y[:, None] == y[None]) & ~np.eye(len(y), dtype=bool)].mean()
    diff = S[y[:, None] != y[None]].mean()
    assert same > diff + 0.1


def test_encoder_errors():
    with pytest.raises(ValueError, match="unknown encoders method 'resnet'"):
        embed.make_encoder("resnet")
    enc = embed.make_encoder("efficientnet_lite0")
    with pytest.raises(ValueError, match="not loaded"):
        embed.embed_images(enc, ["x.png"])
    with pytest.raises(ValueError, match="CUDA is not available"):
        embed.select_device("cuda")

"""A hostile hospital folder (tests/hostile_corpus.py): every file is read right or skipped for its reason."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import copy_workflow, snakemake
from hostile_corpus import (
    MULTIFRAME_N,
    SIXTEEN_BIT_MAX,
    UNICODE_NAME,
    dicom_dataset,
    expected_ids,
    make_hostile_corpus,
    multiframe_source,
    ramp,
    save_dicom,
    voi_lut_source,
    ybr_source_rgb,
)
from PIL import Image

from medembed import datasets, io
from medembed.datasets._folder import unique_ids


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile") / "corpus"
    table = make_hostile_corpus(root, frames="all")
    return root, table


def px(root, rel, **kw) -> np.ndarray:
    im = datasets.load_image(root / rel, **kw)
    assert im.mode == "RGB"
    return np.asarray(im)


def assert_outcomes(table: pd.DataFrame, manifest: pd.DataFrame, skipped: pd.DataFrame) -> None:
    """Each file of the corpus: its ids in the manifest, or skipped with its reason, or nowhere."""
    files = skipped["path"].str.replace(r"^(?:.*/)?corpus/", "", regex=True)
    reasons = dict(zip(files, skipped["reason"]))
    ids = set(manifest["id"])
    for row in table.itertuples():
        if row.outcome == "embedded":
            assert set(row.ids) <= ids, (row.file, row.ids)
            assert row.file not in reasons, (row.file, reasons.get(row.file))
        elif row.outcome == "skipped":
            assert row.file in reasons, f"{row.file} was not skipped"
            assert re.search(row.reason, reasons[row.file]), (row.file, reasons[row.file])
        else:
            assert row.file not in reasons and not any(i.startswith(row.file) for i in ids), row.file
    assert sorted(manifest["id"]) == expected_ids(table)  # nothing more
    assert sorted(reasons) == sorted(table.loc[table.outcome == "skipped", "file"])


# ----------------------------------------------------------------------------- unit level


def test_every_file_is_read_or_skipped_with_its_reason(corpus):
    root, table = corpus
    manifest, skipped, labels = datasets.make_manifest(
        "folder", root, name="hostile", frames="all", threads=2
    )
    assert_outcomes(table, manifest, skipped)
    assert labels == ["class"]
    assert list(manifest["id"]) == sorted(manifest["id"])
    # multi-frame: one row per frame, each with a path load_image reads
    mf = manifest[manifest["id"].str.startswith("dicom/multiframe")]
    assert list(mf["frame"]) == list(range(1, MULTIFRAME_N + 1))
    assert list(mf["path"]) == [f"{root}/dicom/multiframe.dcm#f{k:03d}" for k in (1, 2, 3)]
    assert mf["sha256"].nunique() == 1
    assert manifest["frame"].isna().sum() == len(manifest) - MULTIFRAME_N
    # a duplicate is still an image of its own
    dup = manifest.set_index("id").loc[["CXR/copy_of_first", table.loc[0, "ids"][0]], "sha256"]
    assert dup.nunique() == 1


def test_threads_and_frame_policy(corpus):
    root, table = corpus
    one, s1, _ = datasets.make_manifest("folder", root, name="h", threads=1)
    three, s3, _ = datasets.make_manifest("folder", root, name="h", threads=3)
    pd.testing.assert_frame_equal(one, three)
    pd.testing.assert_frame_equal(s1, s3)
    # middle (default): the multi-frame file is one image, its middle frame
    row = one.set_index("id").loc["dicom/multiframe"]
    assert row["frame"] == 2 and row["path"].endswith("multiframe.dcm")
    assert len(one) == len(expected_ids(table)) - MULTIFRAME_N + 1


def test_sixteen_bit_is_scaled_from_its_range_not_clipped(corpus):
    root, _ = corpus
    src = np.asarray(Image.open(root / "formats/sixteen_bit.png"))
    assert src.max() == SIXTEEN_BIT_MAX and Image.open(root / "formats/sixteen_bit.png").mode.startswith("I")
    naive = np.asarray(Image.open(root / "formats/sixteen_bit.png").convert("RGB"))
    assert (naive == 255).mean() > 0.9  # what convert("RGB") did: clipped
    a = px(root, "formats/sixteen_bit.png")
    expect = np.rint(src / SIXTEEN_BIT_MAX * 255)
    np.testing.assert_array_equal(a[..., 0], expect)
    assert a[0, 0, 0] == 0 and a[0, -1, 0] == 255 and 120 <= a[0, 32, 0] <= 135
    assert (a[..., 0] == a[..., 2]).all()
    for rel in ("formats/sixteen_bit.tif", "formats/float32.tif"):
        a = px(root, rel)[0, :, 0].astype(int)
        assert a[0] == 0 and a[-1] == 255 and (np.diff(a) >= 0).all() and len(set(a)) > 50


def test_colour_modes_become_correct_rgb(corpus):
    root, _ = corpus
    cmyk = px(root, "formats/cmyk.jpg")
    assert np.abs(cmyk.astype(int) - (0, 255, 255)).max() <= 3
    rgba = px(root, "formats/rgba.png")
    assert (rgba[:, :16] == 0).all()  # transparent: black, not the hidden red
    assert (rgba[:, 16:] == (0, 200, 0)).all()
    la = px(root, "formats/la.png")
    assert (la[:, :16] == 0).all() and (la[:, 16:] == 200).all()
    pal = px(root, "formats/palette.png")
    assert (pal[:, :16] == (250, 20, 20)).all() and (pal[:, 16:] == (20, 20, 250)).all()
    bit = px(root, "formats/one_bit.png")[..., 0]
    assert set(np.unique(bit)) == {0, 255} and (bit == np.indices((32, 32)).sum(0) % 2 * 255).all()
    assert px(root, "formats/one_pixel.png").tolist() == [[[128, 128, 128]]]
    uni = px(root, f"formats/{UNICODE_NAME}")
    hand = sorted((root / "Hand").iterdir())[0]
    np.testing.assert_array_equal(uni, np.asarray(Image.open(hand).convert("RGB")))


def test_exif_orientation_and_alpha_rounding(tmp_path):
    im = Image.new("RGB", (40, 20), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    im.save(tmp_path / "o.jpg", exif=exif)
    assert datasets.load_image(tmp_path / "o.jpg").size == (20, 40)
    Image.new("RGBA", (2, 2), (200, 100, 50, 128)).save(tmp_path / "half.png")
    assert np.asarray(datasets.load_image(tmp_path / "half.png"))[0, 0].tolist() == [100, 50, 25]


def test_dicom_pixels(corpus):
    root, _ = corpus
    ct = px(root, "dicom/ct.dcm")[0, :, 0].astype(int)  # -1000..1000, window 0 ± 500
    assert ct[:7].max() == 0 and ct[-7:].min() == 255 and 100 < ct[16] < 155
    plain = px(root, "dicom/IM000001")  # 12-bit 0..4095, no window: its value range
    np.testing.assert_array_equal(plain[..., 0], np.rint(ramp(32, 32, 4095) / 4095 * 255))
    for rel in ("dicom/jpeg_lossless.dcm", "dicom/jpeg_ls.dcm", "dicom/jpeg2000.dcm"):
        np.testing.assert_array_equal(px(root, rel), plain, err_msg=rel)  # lossless: same pixels
    m1 = px(root, "dicom/monochrome1.dcm")[0, :, 0]
    assert m1[0] == 255 and m1[-1] == 0  # MONOCHROME1: low values are white
    ybr = px(root, "dicom/ybr.dcm")
    assert np.abs(ybr.astype(int) - ybr_source_rgb()).max() <= 3
    voi = px(root, "dicom/voi_lut.dcm")[..., 0]
    np.testing.assert_array_equal(voi, 255 - voi_lut_source())  # the LUT, not the window
    no_voi = px(root, "dicom/voi_lut.dcm", voi_index=None)[..., 0]
    np.testing.assert_array_equal(no_voi, voi_lut_source())
    src = multiframe_source()
    expect = [np.rint(f / f.max() * 255) for f in src]
    mid = px(root, "dicom/multiframe.dcm")[..., 0]
    np.testing.assert_array_equal(mid, expect[1])
    for k in range(MULTIFRAME_N):
        ref = f"{root}/dicom/multiframe.dcm#f{k + 1:03d}"
        np.testing.assert_array_equal(np.asarray(datasets.load_image(ref))[..., 0], expect[k])
    with pytest.raises(datasets.ImageError, match="frame 4 requested of a DICOM with 3 frame"):
        datasets.load_image(f"{root}/dicom/multiframe.dcm#f004")


def test_missing_decoder_plugin_is_named(corpus, monkeypatch):
    import pydicom.pixels

    class NoPlugin:
        is_available = False
        missing_dependencies = ["pylibjpeg - requires pylibjpeg-libjpeg"]

    monkeypatch.setattr(pydicom.pixels, "get_decoder", lambda uid: NoPlugin())
    with pytest.raises(
        datasets.ImageError,
        match=r"^unsupported transfer syntax JPEG-LS Lossless Image Compression "
        r"\(1\.2\.840\.10008\.1\.2\.4\.80\): no decoder installed \(pylibjpeg - requires pylibjpeg-libjpeg\)$",
    ):
        datasets.load_image(corpus[0] / "dicom/jpeg_ls.dcm")


def test_window_functions_and_rescale(tmp_path):
    arr = ramp(8, 64, 4000)
    ds = dicom_dataset(arr, bits_stored=16, RescaleSlope=0.5, RescaleIntercept=-1000,
                       WindowCenter=0, WindowWidth=400, VOILUTFunction="SIGMOID")
    a = np.asarray(datasets.load_image(save_dicom(ds, tmp_path / "sig.dcm")))[0, :, 0].astype(int)
    hu = arr[0] * 0.5 - 1000  # modality LUT first: -1000 .. 1000
    expect = np.rint(255 / (1 + np.exp(-4 * hu / 400)))
    assert np.abs(a - expect).max() <= 1 and (np.diff(a) >= 0).all()
    ds.WindowCenter, ds.WindowWidth = [0, 500], [400, 200]
    ds.VOILUTFunction = "LINEAR"
    save_dicom(ds, tmp_path / "two.dcm")
    first = np.asarray(datasets.load_image(tmp_path / "two.dcm"))[0, :, 0].astype(int)
    second = np.asarray(datasets.load_image(tmp_path / "two.dcm", voi_index=1))[0, :, 0].astype(int)
    assert first[hu <= -201].max() == 0 and first[hu > 200].min() == 255
    assert second[hu <= 399].max() == 0 and second[hu > 600].min() == 255


def test_limits_are_configurable(corpus):
    root, _ = corpus
    with pytest.raises(datasets.ImageError, match=r"too large: 64×32 = 2,048 pixels > max_pixels 1,000"):
        datasets.load_image(root / "formats/sixteen_bit.png", max_pixels=1000)
    with pytest.raises(datasets.ImageError, match=r"too large: 32×32 = 1,024 pixels > max_pixels 1,000"):
        datasets.load_image(root / "dicom/ct.dcm", max_pixels=1000)
    strip = datasets.load_image(root / "bad/strip_20000x3.png", max_aspect_ratio=None)
    assert strip.size == (20000, 3)
    m, s, _ = datasets.make_manifest("folder", root / "formats", name="f", max_pixels=1500, label_name=None)
    too_large = s[s["reason"].str.startswith("too large")]["id"]
    assert set(too_large) == {"sixteen_bit.png", "sixteen_bit.tif", "float32", "Röntgen Thorax – ü 1",
                              "UPPER", "same.png", "same.jpg"}
    assert set(m["id"]) == {"cmyk", "rgba", "la", "palette", "one_bit", "one_pixel"}
    with pytest.raises(ValueError, match="max_pixels=0 must be a number >= 1"):
        datasets.make_manifest("folder", root / "formats", max_pixels=0)
    with pytest.raises(ValueError, match="frames='first' is not allowed"):
        datasets.make_manifest("folder", root / "formats", frames="first")


def test_strict_mode_stops_at_a_hostile_file(corpus):
    root, _ = corpus
    with pytest.raises(datasets.ImageError, match=r"bad/.*\(strict: true\)"):
        datasets.make_manifest("folder", root, strict=True, name="h", threads=2)
    with pytest.raises(datasets.ImageError, match=r"links/broken.png: broken link .*strict: true"):
        datasets.make_manifest("folder", root / "links", strict=True, name="h")


def test_ids_keep_the_extension_only_where_stems_collide():
    from pathlib import Path

    exts = {".png", ".jpg", ".dcm"}
    names = ["a.png", "a.jpg", "b.png", "x/a.png", "d.png", "d.png.dcm", "IM01", "1.2.3"]
    assert unique_ids([Path(p) for p in names], exts) == [
        "a.png", "a.jpg", "b", "x/a", "d", "d.png", "IM01", "1.2.3"
    ]
    # a clash resolved by extensions can create another one: resolved in turn
    names = ["c.png", "c.jpg", "c.png.dcm"]
    assert unique_ids([Path(p) for p in names], exts) == ["c.png", "c.jpg", "c.png.dcm"]


def test_dicom_tags_become_columns_with_hashed_identifiers(corpus, monkeypatch):
    root = corpus[0] / "dicom"
    tags = ["PatientID", "StudyInstanceUID", "Modality", "Manufacturer", "BodyPartExamined"]
    monkeypatch.delenv("MEDEMBED_ID_SALT", raising=False)
    with pytest.raises(ValueError, match=r"dicom_tags \['PatientID', 'StudyInstanceUID'\] identify .*identifier_salt"):
        datasets.make_manifest("folder", root, dicom_tags=tags)
    with pytest.raises(ValueError, match="'PatientAge2' is not a DICOM attribute keyword"):
        datasets.make_manifest("folder", root, dicom_tags=["PatientAge2"], keep_identifiers=True)
    m, _, labels = datasets.make_manifest("folder", root, dicom_tags=tags, identifier_salt="s3cret",
                                          label_name=None)
    m = m.set_index("id")
    assert labels == tags  # each holds values, so each is a label column
    assert m.loc["IM000001", "Modality"] == "MR" and m.loc["ct", "Modality"] == "CT"
    assert m.loc["IM000001", "Manufacturer"] == "OTHER" and m.loc["ybr", "BodyPartExamined"] == "CHEST"
    pid = m["PatientID"]
    assert pid.str.fullmatch(r"[0-9a-f]{16}").all() and not pid.str.contains("PAT").any()
    assert pid.nunique() == 2 and pid["IM000001"] != pid["ct"]  # PAT-002 vs PAT-001
    # one study per file, hashed; no_preamble.dcm is ct.dcm written without preamble
    assert m.loc["no_preamble", "StudyInstanceUID"] == m.loc["ct", "StudyInstanceUID"]
    assert m["StudyInstanceUID"].nunique() == len(m) - 1
    same, _, _ = datasets.make_manifest("folder", root, dicom_tags=tags, identifier_salt="s3cret")
    assert list(same["PatientID"]) == list(pid)  # stable
    monkeypatch.setenv("MEDEMBED_ID_SALT", "other")
    other, _, _ = datasets.make_manifest("folder", root, dicom_tags=tags)
    assert set(other["PatientID"]).isdisjoint(set(pid))  # the salt matters
    raw, _, _ = datasets.make_manifest("folder", root, dicom_tags=tags, keep_identifiers=True)
    assert set(raw["PatientID"]) == {"PAT-001", "PAT-002"}
    # non-DICOM rows get no value; an all-empty tag is a column but not a label column
    mixed, _, labels = datasets.make_manifest("folder", corpus[0] / "formats",
                                              dicom_tags=["Modality"], label_name=None)
    assert mixed["Modality"].isna().all() and labels == []


def test_patient_leakage():
    m = pd.DataFrame({
        "PatientID": ["p1", "p1", "p2", "p3", "p3", "p3", None],
        "split": ["train", "test", "train", "train", "validation", "test", "test"],
    })
    out = datasets.patient_leakage(m, "PatientID", "split")
    assert out["n_patients"] == 3 and out["n_leaking_patients"] == 2
    assert out["n_images_of_leaking_patients"] == 5
    assert out["share_leaking_patients"] == pytest.approx(2 / 3)
    assert out["split_pairs"] == {"test|train": 2, "test|validation": 1, "train|validation": 1}
    assert out["examples"] == {"p1": ["test", "train"], "p3": ["test", "train", "validation"]}
    assert datasets.patient_leakage(m.iloc[2:3], "PatientID", "split")["n_leaking_patients"] == 0
    with pytest.raises(ValueError, match="no column 'site'"):
        datasets.patient_leakage(m, "site", "split")


# ----------------------------------------------------------------------------- workflow


@pytest.mark.workflow
def test_workflow_over_the_hostile_corpus(tmp_path):
    """make_manifest → embed → kNN → find_duplicates on the corpus: nothing stops the run."""
    work = tmp_path / "work"
    table = make_hostile_corpus(work / "corpus", frames="all")
    wf = copy_workflow(tmp_path / "wf")
    config = {
        "datasets": {"hostile": {"reader": "folder", "path": "corpus", "label_name": "class",
                                 "strict": False, "frames": "all"}},
        "encoder": {"name": "efficientnet_lite0", "batch_size": 16},
        "features": ["image"],
        "reduce": {"pca": {}},
        "cluster": {"kmeans": {"n_clusters": 2}},
        "outliers": {},
        "neighbors": {"n_neighbors": 10},
        "pca": {"n_components": 5, "methods": []},
        "duplicates": {"threshold": 0.98},
        "plot": {"map": "pca", "color_by": "kmeans"},
    }
    (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    base = "results/hostile/efficientnet_lite0"
    targets = ["results/hostile/manifest.parquet", f"{base}/image.npz",
               f"{base}/image/duplicates/pairs.tsv"]
    proc = snakemake(wf, work, *targets)
    assert proc.returncode == 0, proc.stderr[-4000:]
    manifest = io.read_table(work / "results/hostile/manifest.parquet")
    skipped = pd.read_csv(work / "results/hostile/skipped.tsv", sep="\t")
    assert_outcomes(table, manifest, skipped)
    params = io.read_table_params(work / "results/hostile/manifest.parquet")
    assert params["n_skipped"] == (table.outcome == "skipped").sum() and params["frames"] == "all"
    emb = io.read_array(work / f"{base}/image.npz")
    assert list(emb.ids) == list(manifest["id"]) and np.isfinite(emb.X).all()
    np.testing.assert_allclose(np.linalg.norm(emb.X, axis=1), 1, atol=1e-5)
    # frames of one file are different images, hence different embeddings
    frames = emb.X[[i for i, x in enumerate(emb.ids) if x.startswith("dicom/multiframe#")]]
    assert len(frames) == MULTIFRAME_N and (frames @ frames.T)[np.triu_indices(3, 1)].max() < 0.999
    pairs = pd.read_csv(work / f"{base}/image/duplicates/pairs.tsv", sep="\t")
    found = {frozenset(p) for p in zip(pairs["id_i"], pairs["id_j"])}
    first = table.loc[0, "ids"][0]  # the first good CXR image, copied byte for byte
    assert frozenset({first, "CXR/copy_of_first"}) in found
    inside = table.set_index("file").loc["links/inside.jpeg"]
    target = "Hand/" + inside["kind"].split("Hand/")[1].split(" ")[0].rsplit(".", 1)[0]
    assert frozenset({target, "links/inside"}) in found  # a link inside the folder: same image

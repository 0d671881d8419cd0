"""The table reader (a folder of images plus a table of labels), findings as binary labels,
hostile tables, and DICOM header columns that never cost an image."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import DEMO

from medembed import datasets
from medembed.workflow import config as medembed_config

FINDINGS = ["Effusion", "Mass", "Nodule"]


def _images(dest: Path, per_class: int = 4) -> list[str]:
    """Copy ``per_class`` real MedNIST images of each class under ``dest``; relative paths."""
    rels = []
    for cls in sorted(p for p in (DEMO / "mednist-mini").iterdir() if p.is_dir()):
        (dest / cls.name).mkdir(parents=True, exist_ok=True)
        for f in sorted(cls.iterdir())[:per_class]:
            shutil.copy(f, dest / cls.name / f.name)
            rels.append(f"{cls.name}/{f.name}")
    return rels


def _nih_rows(rels, seed=0):
    """NIH ChestX-ray14-style rows: a delimited finding column, patient ids of five digits."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, rel in enumerate(rels):
        found = sorted({FINDINGS[j] for j in range(3) if rng.random() < 0.3})
        rows.append({
            "Image Index": rel,
            "Finding Labels": "|".join(found) or "No Finding",
            "Patient ID": f"{i // 3:05d}",
            "View Position": rel.split("/")[0],
            "Patient Age": int(rng.integers(20, 90)),
        })
    return rows


@pytest.fixture
def nih(tmp_path):
    rels = _images(tmp_path / "images")
    rows = _nih_rows(rels)
    pd.DataFrame(rows).to_csv(tmp_path / "Data_Entry_2017.csv", index=False)
    return tmp_path, rows


def _read(tmp_path, table, **kw):
    kw.setdefault("root", tmp_path / "images")
    return datasets.make_manifest("table", None, table=table, name="t", **kw)


def test_delimited_findings_become_binary_label_columns(nih):
    tmp_path, rows = nih
    manifest, skipped, labels = _read(
        tmp_path, tmp_path / "Data_Entry_2017.csv", path_column="Image Index",
        labels=["View Position"], multilabel={"column": "Finding Labels", "sep": "|"},
        patient_column="Patient ID",
    )
    present = sorted({f for r in rows for f in r["Finding Labels"].split("|")})
    assert labels == ["View Position", *present]
    assert "No Finding" in present and skipped.empty and len(manifest) == len(rows)
    by_id = manifest.set_index("id")
    for r in rows:
        rid = r["Image Index"].rsplit(".", 1)[0]
        for f in present:
            assert by_id.loc[rid, f] == ("1" if f in r["Finding Labels"].split("|") else "0")
    # the patient ids keep their zeros; unnamed columns stay as metadata
    assert by_id["Patient ID"].iloc[0] == "00000"
    assert by_id["Patient Age"].dtype.kind == "i"
    info = manifest.attrs["reader"]
    assert info["multilabel"] == {"source": "Finding Labels", "findings": present}
    assert info["patient_column"] == "Patient ID" and info["n_unlisted"] == 0


def test_coded_findings_with_uncertain_and_blank(tmp_path):
    rels = _images(tmp_path / "images", per_class=1)
    codes = ["1", "0", "-1", "", "1.0", "-1.0"]
    rows = [{"Path": rel, "Sex": "F" if i % 2 else "M", "Edema": codes[i], "Atelectasis": codes[-1 - i]}
            for i, rel in enumerate(rels)]
    pd.DataFrame(rows).to_csv(tmp_path / "train.csv", index=False)
    expect = {
        ("ignore", "negative"): ["1", "0", None, "0", "1", None],
        ("positive", "negative"): ["1", "0", "1", "0", "1", "1"],
        ("negative", "ignore"): ["1", "0", "0", None, "1", "0"],
    }
    for (uncertain, blank), values in expect.items():
        manifest, _, labels = _read(
            tmp_path, tmp_path / "train.csv", path_column="Path", labels=["Sex"],
            multilabel={"columns": ["Edema", "Atelectasis"], "uncertain": uncertain, "blank": blank},
        )
        assert labels == ["Sex", "Edema", "Atelectasis"]
        got = manifest.set_index("id").loc[[r.rsplit(".", 1)[0] for r in rels], "Edema"]
        assert [None if pd.isna(v) else v for v in got] == values, (uncertain, blank)
    rows[0]["Edema"] = "2"
    pd.DataFrame(rows).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(datasets.TableError, match=r"column 'Edema'.*'2' is not 1, 0, -1 or blank"):
        _read(tmp_path, tmp_path / "bad.csv", path_column="Path", multilabel={"columns": ["Edema"]})


def test_formats_and_sniffing(tmp_path):
    """BOM, semicolons, quoted delimiters and a newline inside a field; tsv, parquet, json."""
    rels = _images(tmp_path / "images", per_class=1)
    body = ["path;note;label"]
    for i, rel in enumerate(rels):
        body.append(f'{rel};"a; quoted, note\nover two lines {i}";{"x" if i % 2 else "y"}')
    (tmp_path / "t.csv").write_bytes(("\ufeff" + "\n".join(body) + "\n").encode("utf-8"))
    manifest, skipped, labels = _read(tmp_path, tmp_path / "t.csv", labels=["label"])
    assert skipped.empty and len(manifest) == len(rels) and labels == ["label"]
    assert manifest["note"].str.contains("a; quoted, note\nover two lines").all()
    df = pd.DataFrame({"path": rels, "label": ["x", "y"] * (len(rels) // 2)})
    df.to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    df.to_parquet(tmp_path / "t.parquet")
    (tmp_path / "t.json").write_text(json.dumps(df.to_dict(orient="records")))
    for name in ("t.tsv", "t.parquet", "t.json"):
        m, _, _ = _read(tmp_path, tmp_path / name, labels=["label"])
        assert m["label"].tolist() == manifest.sort_values("id")["label"].tolist() or len(m) == len(rels)


def test_numeric_ids_and_missing_labels_stay_text_and_empty(tmp_path, caplog):
    rels = _images(tmp_path / "images", per_class=1)
    lines = ["id,path,grade,site"]
    for i, rel in enumerate(rels):
        lines.append(f"{i + 1:05d},{rel},{'' if i == 0 else 'NA' if i == 1 else 'high'},S1")
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING):
        manifest, _, _ = _read(tmp_path, tmp_path / "t.csv", id_column="id", labels=["grade", "site"])
    assert manifest["id"].tolist()[:2] == ["00001", "00002"]
    grade = manifest.set_index("id")["grade"]
    assert pd.isna(grade["00001"]) and grade["00002"] == "NA" and grade["00003"] == "high"
    assert "label column 'site' has the single value 'S1'" in caplog.text


def test_hostile_rows_are_skipped_with_their_reason(tmp_path):
    rels = _images(tmp_path / "images", per_class=2)
    outside = tmp_path / "outside.png"
    shutil.copy(tmp_path / "images" / rels[0], outside)
    os.symlink(outside, tmp_path / "images" / "link_out.png")
    os.symlink(tmp_path / "images" / rels[1], tmp_path / "images" / "link_in.png")
    rows = rels + ["CXR/missing.jpeg", "../outside.png", str(outside), "link_out.png", "link_in.png",
                   str(tmp_path / "images" / rels[2]).replace(rels[2], "Hand/../" + rels[2])]
    rows[2] = rows[2] + "_gone"  # listed under a name that is not on disk
    pd.DataFrame({"path": rows}).to_csv(tmp_path / "t.csv", index=False)
    manifest, skipped, _ = _read(tmp_path, tmp_path / "t.csv", id_column=None)
    reasons = dict(zip(skipped["id"], skipped["reason"]))
    assert reasons["CXR/missing"] == "listed in the table but not on disk"
    assert reasons[rows[2]] == "listed in the table but not on disk"
    assert "skipped for safety" in reasons["../outside"]
    assert "skipped for safety" in reasons[str(outside).lstrip("/").rsplit(".", 1)[0]]
    assert "skipped for safety" in reasons["link_out"]
    assert "link_in" in set(manifest["id"])
    # one listed wrongly; the inside link read; an absolute path inside root gets its relative id
    assert rels[2].rsplit(".", 1)[0] in set(manifest["id"])
    assert len(manifest) == len(rels) - 1 + 2
    with pytest.raises(datasets.TableError, match=r"2 listed file\(s\) not on disk.*strict: true.*CXR/missing.jpeg"):
        _read(tmp_path, tmp_path / "t.csv", strict=True)


@pytest.mark.parametrize("rows, match", [
    (["a.png", "a.png"], "path 'a.png' is listed twice"),
    (["a.png", "./a.png"], "two rows name the same file 'a.png'"),
    (["a.png", "a.jpg"], "id 'a' is used twice"),
])
def test_duplicates_are_errors(tmp_path, rows, match):
    (tmp_path / "images").mkdir()
    pd.DataFrame({"path": rows}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(datasets.TableError, match=match):
        _read(tmp_path, tmp_path / "t.csv")


def test_start_up_errors_are_one_line(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(datasets.TableError, match="no such file"):
        _read(tmp_path, tmp_path / "none.csv")
    (tmp_path / "empty.csv").write_text("path,label\n")
    with pytest.raises(datasets.TableError, match="no rows"):
        _read(tmp_path, tmp_path / "empty.csv")
    (tmp_path / "t.csv").write_text("Path,label\nx.png,a\n")
    with pytest.raises(datasets.TableError) as err:
        _read(tmp_path, tmp_path / "t.csv", labels=["Label"], path_column="Path")
    assert "labels names column 'Label'" in str(err.value) and "['Path', 'label']" in str(err.value)
    assert "\n" not in str(err.value)


def test_unlisted_images_are_counted(nih):
    tmp_path, rows = nih
    pd.DataFrame(rows[:-3]).to_csv(tmp_path / "part.csv", index=False)
    manifest, _, _ = _read(tmp_path, tmp_path / "part.csv", path_column="Image Index")
    assert len(manifest) == len(rows) - 3 and manifest.attrs["reader"]["n_unlisted"] == 3


def test_config_checks_of_the_table_reader(tmp_path):
    (tmp_path / "t.csv").write_text("path\nx.png\n")
    check = medembed_config._check_dataset
    with pytest.raises(medembed_config.ConfigError, match="needs `table:`"):
        check("d", {"reader": "table", "path": str(tmp_path)})
    with pytest.raises(medembed_config.ConfigError, match=r"table='.*nope.csv': no such file"):
        check("d", {"reader": "table", "table": str(tmp_path / "nope.csv")})
    with pytest.raises(medembed_config.ConfigError, match="root=.*no such folder"):
        check("d", {"reader": "table", "table": str(tmp_path / "t.csv"), "root": str(tmp_path / "no")})
    with pytest.raises(medembed_config.ConfigError, match="keys of the table reader"):
        check("d", {"reader": "folder", "path": str(tmp_path), "labels": ["x"]})
    check("d", {"reader": "table", "table": str(tmp_path / "t.csv")})
    # the table's head is read at start-up: unknown columns and an empty table stop the run
    with pytest.raises(medembed_config.ConfigError, match=r"labels names column 'Sex'.*columns: \['path'\]"):
        check("d", {"reader": "table", "table": str(tmp_path / "t.csv"), "labels": ["Sex"]})
    pd.DataFrame({"path": [], "Sex": []}).to_parquet(tmp_path / "e.parquet")
    with pytest.raises(medembed_config.ConfigError, match="no rows"):
        check("d", {"reader": "table", "table": str(tmp_path / "e.parquet"), "labels": ["Sex"]})
    pd.DataFrame({"path": ["x.png"]}).to_parquet(tmp_path / "one.parquet")
    with pytest.raises(medembed_config.ConfigError, match=r"id_column names column 'id'"):
        check("d", {"reader": "table", "table": str(tmp_path / "one.parquet"), "id_column": "id"})
    with pytest.raises(medembed_config.ConfigError, match="download.repo_id"):
        medembed_config.check_raw({"datasets": {"d": {"reader": "table", "download": {"source": "hub"}}}})


# ----------------------------------------------------------------------------- DICOM


def _write_dicom(path: Path, **tags) -> None:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    for k, v in tags.items():
        setattr(ds, k, v)
    arr = (np.arange(32 * 32).reshape(32, 32) % 251).astype(np.uint8)
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = arr.tobytes()
    ds.save_as(str(path), enforce_file_format=True)


def test_missing_dicom_tags_are_empty_values_never_lost_images(tmp_path):
    folder = tmp_path / "dcm"
    folder.mkdir()
    _write_dicom(folder / "full.dcm", Modality="CT", Manufacturer="ACME")
    _write_dicom(folder / "no_manufacturer.dcm", Modality="OT")
    _write_dicom(folder / "bare.dcm")
    manifest, skipped, labels = datasets.make_manifest(
        "folder", folder, label_name=None, dicom_tags=["Modality", "Manufacturer", "BitsAllocated"]
    )
    assert skipped.empty and len(manifest) == 3
    m = manifest.set_index("id")
    assert m.loc["full", "Manufacturer"] == "ACME" and pd.isna(m.loc["bare", "Manufacturer"])
    assert pd.isna(m.loc["bare", "Modality"]) and m.loc["no_manufacturer", "Modality"] == "OT"
    assert labels == ["Modality", "Manufacturer", "BitsAllocated"]


def test_dicom_without_preamble_or_file_meta_is_read(tmp_path):
    import pydicom

    _write_dicom(tmp_path / "full.dcm", Modality="MR")
    ds = pydicom.dcmread(tmp_path / "full.dcm")
    body = tmp_path / "body.dcm"
    ds.save_as(str(body), enforce_file_format=False, implicit_vr=False, little_endian=True)
    raw = body.read_bytes()
    i = raw.find(b"\x08\x00")  # the data set, without preamble and file meta
    (tmp_path / "no_meta.dcm").write_bytes(raw[i:])
    (tmp_path / "stray.dcm").write_bytes(b" " + raw[i:])  # as pydicom's own no_meta.dcm
    ref = np.asarray(datasets.load_image(tmp_path / "full.dcm"))
    for name in ("no_meta.dcm", "stray.dcm"):
        assert datasets.is_dicom(tmp_path / name) is False
        np.testing.assert_array_equal(np.asarray(datasets.load_image(tmp_path / name)), ref)
    (tmp_path / "text.dcm").write_text("not a DICOM file at all\n")
    with pytest.raises(datasets.ImageError, match="not an image"):
        datasets.load_image(tmp_path / "text.dcm")


#: Every file of pydicom's own test data (shipped in its wheel) read as one folder dataset
#: with dicom_tags: embedded (with its Modality, empty where the file has none), or skipped
#: with this reason. DICOMDIR indexes and the files of the DICOMDIR tree hold no pixels.
PYDICOM_SKIPPED = {
    "ExplVR_BigEndNoMeta": "DICOM without pixel data; SOP class RT Ion Plan Storage",
    "ExplVR_LitEndNoMeta": "DICOM without pixel data; SOP class RT Ion Plan Storage",
    "JPEG-lossy": "corrupt DICOM pixel data",
    "JPEG2000-embedded-sequence-delimiter": "corrupt DICOM pixel data",
    "MR_truncated": "truncated DICOM pixel data",
    "UN_sequence": "DICOM without pixel data",
    "badVR": "corrupt DICOM pixel data",
    "empty_charset_LEI": "DICOM without pixel data",
    "meta_missing_tsyntax": "corrupt DICOM (no Rows/Columns)",
    "nested_priv_SQ": "corrupt DICOM (no Rows/Columns)",
    "no_meta_group_length": "DICOM without pixel data",
    "priv_SQ": "DICOM without pixel data",
    "reportsi": "DICOM without pixel data; SOP class Basic Text SR Storage",
    "reportsi_with_empty_number_tags": "DICOM without pixel data; SOP class Basic Text SR Storage",
    "rtplan": "DICOM without pixel data; SOP class RT Plan Storage",
    "rtplan_truncated": "DICOM without pixel data; SOP class RT Plan Storage",
    "rtstruct": "DICOM without pixel data; SOP class RT Structure Set Storage",
    "test-SR": "DICOM without pixel data; SOP class Comprehensive SR Storage",
    "waveform_ecg": "DICOM without pixel data; SOP class 12-lead ECG Waveform Storage",
}


def test_pydicom_test_files_each_have_their_outcome():
    import pydicom

    folder = Path(pydicom.__file__).parent / "data" / "test_files"
    manifest, skipped, _ = datasets.make_manifest(
        "folder", folder, label_name=None, threads=2,
        dicom_tags=["Modality", "Manufacturer", "PhotometricInterpretation", "BitsAllocated"],
    )
    reasons = dict(zip(skipped["id"], skipped["reason"]))
    top = {k: v for k, v in reasons.items() if not k.startswith("dicomdirtests/")}
    assert set(top) == set(PYDICOM_SKIPPED)
    for name, reason in PYDICOM_SKIPPED.items():
        assert top[name].startswith(reason), (name, top[name])
        assert "\n" not in top[name]
    tree = {k: v for k, v in reasons.items() if k.startswith("dicomdirtests/")}
    assert tree and all(v.startswith("DICOM without pixel data") for v in tree.values())
    # every other DICOM file is embedded, including the secondary captures, JPEG-LS, RLE and
    # RGB files without Manufacturer, and no_meta.dcm (no preamble, no file meta)
    dcm = {p.stem for p in folder.glob("*.dcm")}
    assert {i for i in manifest["id"] if "/" not in i} == dcm - set(PYDICOM_SKIPPED)
    # the DICOMDIR tree's extension-less files are found by their preamble: images or empty
    in_tree = {i for i in manifest["id"] if i.startswith("dicomdirtests/")}
    assert len(in_tree) > 20 and not in_tree & set(tree)
    m = manifest.set_index("id")
    assert m.loc["no_meta", "Modality"] == "CT" and m.loc["no_meta", "width"] == 128
    assert m["Manufacturer"].isna().sum() > 20  # many files have no Manufacturer, none is lost
    assert m.loc["SC_rgb_rle", "PhotometricInterpretation"] == "RGB"


# ----------------------------------------------------------------------------- workflow


MINIMAL = {
    "encoder": {"name": "pixels"},
    "features": ["image"],
    "reduce": {"pca": {}},
    "cluster": {"kmeans": {"n_clusters": 3}},
    "outliers": {},
    "plot": {"map": "pca", "color_by": "kmeans"},
}


def test_hub_table_dataset_through_the_workflow(tmp_path):
    """`download: {repo_id}` with `reader: table`: fetched offline from a hub cache, written
    once, read by the table reader with its class names and splits; a rerun does nothing."""
    import yaml
    from conftest import copy_workflow, scheduled_jobs, snakemake
    from hub_fixtures import IMAGE_DATASET_REPO, build_tiny_image_dataset

    from medembed import io

    hf = tmp_path / "hf"
    made = build_tiny_image_dataset(hf, empty_cell=True)
    wf, work = copy_workflow(tmp_path / "wf"), tmp_path / "work"
    work.mkdir()
    # the caption stands in for a patient id: the dataset's own columns reach the leakage check
    config = {"datasets": {"hub_set": {"reader": "table", "labels": ["label"], "patient_column": "caption",
                                       "download": {"repo_id": IMAGE_DATASET_REPO}}}, **MINIMAL}
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    env = {"HF_HOME": str(hf), "HF_HUB_CACHE": str(hf / "hub"), "HF_HUB_OFFLINE": "1"}
    target = "results/hub_set/manifest.parquet"
    r = snakemake(wf, work, target, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    manifest = io.read_table(work / target)
    params = io.read_table_params(work / target)
    n_images = sum(row["bytes"] is not None for rows in made["rows"].values() for row in rows)
    assert len(manifest) == n_images and params["label_columns"] == ["label"]
    assert set(manifest["split"]) == {"train", "test"} and params["split_column"] == "split"
    assert set(manifest["label"]) == {row["label"] for rows in made["rows"].values() for row in rows}
    assert manifest["path"].str.startswith("resources/datasets/hub_set/images/").all()
    dry = snakemake(wf, work, target, "-n", env=env)
    assert dry.returncode == 0 and scheduled_jobs(dry.stdout) == [], dry.stdout[-2000:]
    dup = "results/hub_set/pixels/image/duplicates/summary.json"
    r = snakemake(wf, work, dup, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    leak = json.loads((work / dup).read_text())["patient_leakage"]
    assert leak["patient_column"] == "caption" and leak["split_column"] == "split"
    assert leak["n_patients"] == manifest["caption"].nunique()
    # a repo_id is required: the default is SLAKE's
    config["datasets"]["hub_set"]["download"] = {"source": "hub"}
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    bad = snakemake(wf, work, target, "-n", env=env)
    assert bad.returncode != 0 and "download.repo_id: a table dataset names its hub repo" in bad.stdout + bad.stderr

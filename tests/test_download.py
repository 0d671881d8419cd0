"""fetch_slake and fetch_hub_table: local zips/directories and a pre-filled hub cache, offline.

Every failure case checks that nothing was extracted outside the destination and that no
half-complete dataset directory (or temporary directory) is left behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from hub_fixtures import (  # noqa: E402
    IMAGE_DATASET_REPO,
    MEDNIST_CLASSES,
    build_tiny_image_dataset,
    offline_hub,
    tiny_image_dataset_files,
)

from medembed.datasets._download import (
    MARKER,
    DatasetIntegrityError,
    DatasetUnavailableError,
    fetch_hub_table,
    fetch_slake,
)
from medembed.datasets._slake import read_qa, read_slake

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo" / "slake-mini"
N_IMG, N_QA = 120, 2688
DEMO_KW = {"splits": ["train"], "expected_images": N_IMG, "expected_qa": N_QA}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _zip_demo(
    path: Path,
    prefix: str = "Slake1.0/",
    *,
    extra=(),
    json_name="train.json",
    train_bytes: bytes | None = None,
) -> Path:
    """SLAKE zip of the demo data (images under ``<prefix>imgs/``) plus ``extra`` entries."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted((DEMO / "imgs").rglob("*")):
            if f.is_file():
                zf.write(f, prefix + f.relative_to(DEMO).as_posix())
        zf.writestr(
            prefix + json_name,
            train_bytes if train_bytes is not None else (DEMO / "train.json").read_bytes(),
        )
        for info, data in extra:
            zf.writestr(info, data)
    return path


def _assert_clean(parent: Path, dest: Path) -> None:
    """No dataset directory and no temporary directory left next to it."""
    assert not dest.exists(), f"{dest} was left behind"
    leftovers = [p.name for p in parent.iterdir() if p.name.startswith(f".{dest.name}.")]
    assert leftovers == [], leftovers


@pytest.fixture(scope="module")
def slake_zip(tmp_path_factory) -> Path:
    return _zip_demo(tmp_path_factory.mktemp("src") / "Slake1.0.zip")


# ----------------------------------------------------------------------------- success paths


def test_local_zip_extracts_verifies_and_locks(slake_zip, tmp_path):
    dest = tmp_path / "data" / "slake"
    out = fetch_slake(dest, source="local", local_path=slake_zip, **DEMO_KW)
    assert out == dest
    records, labels = read_slake(dest)
    assert len(records) == N_IMG and labels == ["modality", "location"]
    assert len(read_qa(dest)) == N_QA
    lock = json.loads((tmp_path / "data" / "slake.lock.json").read_text())
    assert lock["source"] == "local"
    assert lock["files"] == {
        "Slake1.0.zip": {"size": slake_zip.stat().st_size, "sha256": _sha(slake_zip)}
    }
    marker = json.loads((dest / MARKER).read_text())
    assert marker["n_images"] == N_IMG and marker["n_qa"] == N_QA
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["slake", "slake.lock.json"]

    # a second run re-checks the lock and returns without extracting again
    mtime = (dest / "train.json").stat().st_mtime_ns
    fetch_slake(dest, source="local", local_path=slake_zip, **DEMO_KW)
    assert (dest / "train.json").stat().st_mtime_ns == mtime
    # changed expectations are checked against the existing copy too
    with pytest.raises(DatasetIntegrityError, match="expected_qa=5"):
        fetch_slake(
            dest,
            source="local",
            local_path=slake_zip,
            splits=["train"],
            expected_images=N_IMG,
            expected_qa=5,
        )


def test_local_directory_in_hub_layout(tmp_path):
    """A directory holding imgs.zip (images under imgs/) and the three split files."""
    src = tmp_path / "snapshot"
    src.mkdir()
    _zip_demo(src / "imgs.zip", prefix="", json_name="ignored.json")
    recs = json.loads((DEMO / "train.json").read_text())
    parts = {"train": recs[:2000], "validation": recs[2000:2300], "test": recs[2300:]}
    for split, r in parts.items():
        (src / f"{split}.json").write_text(json.dumps(r))
    dest = fetch_slake(
        tmp_path / "slake", source="local", local_path=src, expected_images=N_IMG, expected_qa=N_QA
    )
    qa = read_qa(dest)
    assert qa["split"].value_counts().to_dict() == {"train": 2000, "validation": 300, "test": 388}
    lock = json.loads((tmp_path / "slake.lock.json").read_text())
    assert sorted(lock["files"]) == ["imgs.zip", "test.json", "train.json", "validation.json"]


def test_local_directory_already_extracted(tmp_path):
    dest = fetch_slake(tmp_path / "slake", source="local", local_path=DEMO, **DEMO_KW)
    assert len(read_slake(dest)[0]) == N_IMG
    lock = json.loads((tmp_path / "slake.lock.json").read_text())
    assert "train.json" in lock["files"] and len(lock["files"]) == N_IMG + 1


def test_zip_with_images_at_top_and_validate_alias(tmp_path):
    """Images zipped without an imgs/ folder; the original Slake1.0 name validate.json."""
    z = tmp_path / "flat.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in sorted((DEMO / "imgs").rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(DEMO / "imgs").as_posix())
    src = tmp_path / "src"
    src.mkdir()
    os.replace(z, src / "imgs.zip")
    (src / "train.json").write_bytes((DEMO / "train.json").read_bytes())
    (src / "validate.json").write_text("[]")
    dest = fetch_slake(
        tmp_path / "slake",
        source="local",
        local_path=src,
        splits=["train", "validation"],
        expected_images=N_IMG,
        expected_qa=N_QA,
    )
    assert (dest / "validation.json").is_file() and not (dest / "validate.json").exists()
    assert len(read_slake(dest)[0]) == N_IMG


def test_pin_that_matches_is_accepted(slake_zip, tmp_path):
    fetch_slake(
        tmp_path / "slake",
        source="local",
        local_path=slake_zip,
        pins={"Slake1.0.zip": "sha256:" + _sha(slake_zip).upper()},
        **DEMO_KW,
    )


# ----------------------------------------------------------------------------- checksum errors


def test_lock_mismatch_names_the_file(tmp_path):
    z = _zip_demo(tmp_path / "slake.zip")
    dest = tmp_path / "out" / "slake"
    fetch_slake(dest, source="local", local_path=z, **DEMO_KW)
    before = sorted(p.relative_to(dest) for p in dest.rglob("*"))
    # the "same" file changes later: different content, same name
    recs = json.loads((DEMO / "train.json").read_text())
    recs[0]["answer"] = "tampered"
    _zip_demo(z, train_bytes=json.dumps(recs).encode())
    with pytest.raises(DatasetIntegrityError, match=r"slake\.zip: size .* differ from lock file"):
        fetch_slake(dest, source="local", local_path=z, **DEMO_KW)
    assert sorted(p.relative_to(dest) for p in dest.rglob("*")) == before  # left untouched
    # an explicit lock file elsewhere is honoured the same way
    lock2 = tmp_path / "pinned.lock.json"
    fetch_slake(tmp_path / "other", source="local", local_path=z, lock_file=lock2, **DEMO_KW)
    assert json.loads(lock2.read_text())["files"]["slake.zip"]["sha256"] == _sha(z)


def test_pin_mismatch_names_the_file(slake_zip, tmp_path):
    dest = tmp_path / "slake"
    with pytest.raises(DatasetIntegrityError, match=r"Slake1\.0\.zip: sha256 .* pinned value"):
        fetch_slake(
            dest, source="local", local_path=slake_zip, pins={"Slake1.0.zip": "0" * 64}, **DEMO_KW
        )
    _assert_clean(tmp_path, dest)
    assert not (tmp_path / "slake.lock.json").exists()
    with pytest.raises(DatasetIntegrityError, match="not part of this download"):
        fetch_slake(
            dest, source="local", local_path=slake_zip, pins={"imgs.zip": "0" * 64}, **DEMO_KW
        )
    with pytest.raises(ValueError, match="not a sha256"):
        fetch_slake(
            dest, source="local", local_path=slake_zip, pins={"Slake1.0.zip": "abc"}, **DEMO_KW
        )


# ----------------------------------------------------------------------------- broken zips


def test_corrupted_zip_is_rejected(slake_zip, tmp_path):
    bad = tmp_path / "corrupt.zip"
    data = bytearray(slake_zip.read_bytes())
    with zipfile.ZipFile(slake_zip) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith("source.jpg"))
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for k in range(start + 100, start + 110):
        data[k] ^= 0xFF
    bad.write_bytes(bytes(data))
    dest = tmp_path / "slake"
    with pytest.raises(
        DatasetIntegrityError, match=r"corrupt\.zip: (CRC check failed|corrupt zip)"
    ):
        fetch_slake(dest, source="local", local_path=bad, **DEMO_KW)
    _assert_clean(tmp_path, dest)

    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(slake_zip.read_bytes()[: slake_zip.stat().st_size // 2])
    with pytest.raises(DatasetIntegrityError, match="truncated.zip: not a readable zip"):
        fetch_slake(dest, source="local", local_path=truncated, **DEMO_KW)
    _assert_clean(tmp_path, dest)
    assert not (tmp_path / "slake.lock.json").exists()


def _symlink_entry():
    info = zipfile.ZipInfo("Slake1.0/imgs/xmlab0/link.jpg")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, "/etc/passwd"


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (("../evil.txt", "x"), "'..' path component"),
        (("Slake1.0/imgs/../../../evil.txt", "x"), "'..' path component"),
        ("absolute", "absolute path"),  # an absolute member path: <tmp_path>/abs_evil.txt
        (("C:/evil.txt", "x"), "absolute path"),
        ("symlink", "symbolic link"),
    ],
)
def test_unsafe_zip_entries_are_rejected(tmp_path, entry, reason):
    absolute = tmp_path / "abs_evil.txt"  # per test, so parallel runs cannot see each other's file
    if entry == "symlink":
        entry = _symlink_entry()
    elif entry == "absolute":
        entry = (str(absolute), "x")
    z = _zip_demo(tmp_path / "evil.zip", extra=[entry])
    work = tmp_path / "work"
    work.mkdir()
    dest = work / "slake"
    with pytest.raises(DatasetIntegrityError, match=rf"unsafe zip entries rejected.*{reason}"):
        fetch_slake(dest, source="local", local_path=z, **DEMO_KW)
    _assert_clean(work, dest)
    assert not (tmp_path / "evil.txt").exists() and not (work / "evil.txt").exists()
    assert not absolute.exists()
    assert sorted(p.name for p in work.iterdir()) == []


def test_zip_bomb_is_refused_before_anything_is_decompressed(tmp_path):
    # 60 MB of zeros deflate to ~60 kB: ratio ~1000, far above the default max_ratio 100
    z = _zip_demo(tmp_path / "bomb.zip", extra=[("Slake1.0/imgs/xmlab0/zeros.bin", b"\0" * 60_000_000)])
    work = tmp_path / "work"
    work.mkdir()
    dest = work / "slake"
    with pytest.raises(
        DatasetIntegrityError,
        match=r"bomb\.zip: compression ratio [\d,]+ of 'Slake1.0/imgs/xmlab0/zeros.bin' .* "
        r"exceeds max_ratio=100",
    ):
        fetch_slake(dest, source="local", local_path=z, **DEMO_KW)
    _assert_clean(work, dest)
    assert list(work.iterdir()) == []
    # the same archive passes once the limit is raised on purpose (the entry is extracted)
    fetch_slake(dest, source="local", local_path=z, max_ratio=2000, **DEMO_KW)
    assert (dest / "imgs" / "xmlab0" / "zeros.bin").stat().st_size == 60_000_000


def test_zip_size_and_member_caps(slake_zip, tmp_path):
    dest = tmp_path / "slake"
    total = sum(i.file_size for i in zipfile.ZipFile(slake_zip).infolist())
    n = len(zipfile.ZipFile(slake_zip).infolist())
    with pytest.raises(DatasetIntegrityError, match=rf"{n:,} zip entries exceed max_members=10;"):
        fetch_slake(dest, source="local", local_path=slake_zip, max_members=10, **DEMO_KW)
    with pytest.raises(
        DatasetIntegrityError,
        match=rf"{total / 1e6:,.1f} MB uncompressed exceed max_unpacked_mb=1;",
    ):
        fetch_slake(dest, source="local", local_path=slake_zip, max_unpacked_mb=1, **DEMO_KW)
    _assert_clean(tmp_path, dest)
    with pytest.raises(ValueError, match="max_ratio=0 must be a positive number"):
        fetch_slake(dest, source="local", local_path=slake_zip, max_ratio=0, **DEMO_KW)
    # exactly at the limits: accepted
    fetch_slake(
        dest, source="local", local_path=slake_zip, max_members=n,
        max_unpacked_mb=total / 1e6, **DEMO_KW,
    )
    assert len(read_slake(dest)[0]) == N_IMG


def test_extraction_stops_when_the_directory_understates_sizes(slake_zip, tmp_path):
    """Defence in depth: bytes written are counted even if the zip directory lied."""
    import medembed.datasets._download as dl

    dest = tmp_path / "slake"
    limits = dl.ZipLimits(max_unpacked_mb=0.5)
    out = tmp_path / "x"
    out.mkdir()
    with zipfile.ZipFile(slake_zip) as zf:
        with pytest.raises(DatasetIntegrityError, match="more than max_unpacked_mb=0.5 MB written"):
            dl._extract_zip(zf, out, "Slake1.0.zip", limits)
    assert not dest.exists()


def test_bad_json_count_and_missing_split(tmp_path):
    dest = tmp_path / "slake"
    z = _zip_demo(tmp_path / "badjson.zip", train_bytes=b"{not json")
    with pytest.raises(DatasetIntegrityError, match="train.json: not valid JSON"):
        fetch_slake(dest, source="local", local_path=z, **DEMO_KW)
    _assert_clean(tmp_path, dest)
    z = _zip_demo(tmp_path / "notqa.zip", train_bytes=b'[{"question": "q"}]')
    with pytest.raises(DatasetIntegrityError, match="record 0 is not a QA record"):
        fetch_slake(dest, source="local", local_path=z, **DEMO_KW)
    good = _zip_demo(tmp_path / "good.zip")
    with pytest.raises(DatasetIntegrityError, match="found 120 images .* expected_images=642"):
        fetch_slake(dest, source="local", local_path=good, splits=["train"])
    with pytest.raises(DatasetIntegrityError, match="validation.json is missing"):
        fetch_slake(dest, source="local", local_path=good, expected_images=N_IMG, expected_qa=N_QA)
    _assert_clean(tmp_path, dest)
    # the lock is only written by a successful run
    assert not list(tmp_path.glob("*.lock.json"))


def test_interrupted_run_leaves_no_dataset(slake_zip, tmp_path, monkeypatch):
    import medembed.datasets._download as dl

    def boom(*a, **k):
        raise KeyboardInterrupt  # as if the job were killed after extraction

    monkeypatch.setattr(dl, "_verify_layout", boom)
    dest = tmp_path / "slake"
    with pytest.raises(KeyboardInterrupt):
        fetch_slake(dest, source="local", local_path=slake_zip, **DEMO_KW)
    _assert_clean(tmp_path, dest)


def test_bad_parameters_and_foreign_destination(slake_zip, tmp_path):
    with pytest.raises(ValueError, match="source='ftp' is not allowed"):
        fetch_slake(tmp_path / "s", source="ftp")
    with pytest.raises(ValueError, match="needs local_path"):
        fetch_slake(tmp_path / "s", source="local")
    with pytest.raises(ValueError, match="splits="):
        fetch_slake(tmp_path / "s", source="local", local_path=slake_zip, splits=["dev"])
    with pytest.raises(ValueError, match="expected_qa=0"):
        fetch_slake(tmp_path / "s", source="local", local_path=slake_zip, expected_qa=0)
    with pytest.raises(DatasetUnavailableError, match="does not exist"):
        fetch_slake(tmp_path / "s", source="local", local_path=tmp_path / "nope.zip")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(DatasetIntegrityError, match="was not made by fetch_slake"):
        fetch_slake(foreign, source="local", local_path=slake_zip, **DEMO_KW)
    assert (foreign / "notes.txt").read_text() == "keep me"


# ----------------------------------------------------------------------------- hub


def _fill_hub_cache(cache: Path) -> str:
    """A pre-filled HF cache holding a SLAKE-format dataset repo BoKelvin/SLAKE."""
    rev = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / "datasets--BoKelvin--SLAKE"
    snap = repo / "snapshots" / rev
    snap.mkdir(parents=True)
    _zip_demo(snap / "imgs.zip", prefix="", json_name="ignored.json")
    recs = json.loads((DEMO / "train.json").read_text())
    for split, r in {
        "train": recs[:2000],
        "validation": recs[2000:2300],
        "test": recs[2300:],
    }.items():
        (snap / f"{split}.json").write_text(json.dumps(r))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(rev)
    return rev


def test_hub_from_prefilled_cache_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = tmp_path / "hf"
    rev = _fill_hub_cache(cache)
    dest = tmp_path / "slake"
    kw = {"cache_dir": cache, "expected_images": N_IMG, "expected_qa": N_QA}
    fetch_slake(dest, source="hub", **kw)
    assert len(read_qa(dest)) == N_QA and len(read_slake(dest)[0]) == N_IMG
    lock = json.loads((tmp_path / "slake.lock.json").read_text())
    assert lock["revision"] == rev and lock["repo_id"] == "BoKelvin/SLAKE"
    assert sorted(lock["files"]) == ["imgs.zip", "test.json", "train.json", "validation.json"]
    # later use: the cached train.json changed -> the lock catches it
    train = cache / "datasets--BoKelvin--SLAKE" / "snapshots" / rev / "train.json"
    train.write_text(train.read_text().replace('"CT"', '"XX"', 1))
    with pytest.raises(DatasetIntegrityError, match=r"^train\.json: size .* differ from lock file"):
        fetch_slake(dest, source="hub", **kw)


def test_hub_offline_fails_fast_with_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(DatasetUnavailableError) as err:
        fetch_slake(tmp_path / "slake", cache_dir=tmp_path / "empty-cache")
    assert time.perf_counter() - t0 < 5
    msg = str(err.value)
    for part in ("imgs.zip", "BoKelvin/SLAKE", "HF_HUB_OFFLINE", "local_path", "config/demo.yaml"):
        assert part in msg, part
    assert isinstance(err.value, RuntimeError) and "\n" not in msg
    _assert_clean(tmp_path, tmp_path / "slake")


def test_hub_unreachable_endpoint_fails_fast(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    t0 = time.perf_counter()
    with pytest.raises(DatasetUnavailableError) as err:
        fetch_slake(tmp_path / "slake", cache_dir=tmp_path / "empty-cache", timeout=3)
    assert time.perf_counter() - t0 < 5
    msg = str(err.value)
    for part in (
        "http://127.0.0.1:9",
        "BoKelvin/SLAKE",
        "local_path",
        "HF_HUB_OFFLINE=1",
        "demo.yaml",
    ):
        assert part in msg, part
    _assert_clean(tmp_path, tmp_path / "slake")


# ----------------------------------------------------------------------------- hub tables


def _tree(root: Path) -> dict[str, int]:
    """Every file under ``root`` with its mtime (to prove a rerun wrote nothing)."""
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def _check_table_copy(dest: Path, rows: dict[str, list[dict]]) -> pd.DataFrame:
    """dest holds exactly the source's images, byte for byte, and the table lists them."""
    table = pd.read_parquet(dest / "table.parquet")
    assert list(table.columns) == ["path", "split", "label", "caption"]
    stored = [r for s in rows for r in rows[s] if r["bytes"] is not None]
    assert len(table) == len(stored)
    want = {f"images/{s}/{r['id']}.{r['ext']}": (s, r) for s in rows for r in rows[s] if r["bytes"]}
    assert sorted(table["path"]) == sorted(want)
    for _, row in table.iterrows():
        split, src = want[row["path"]]
        assert (dest / row["path"]).read_bytes() == src["bytes"]  # written as is
        assert row["split"] == split and row["label"] == src["label"]
        assert row["caption"] == src["caption"]
    on_disk = sorted(p.relative_to(dest).as_posix() for p in (dest / "images").rglob("*.*"))
    assert on_disk == sorted(want)
    return table


@pytest.fixture()
def tiny_hub(tmp_path):
    """A pre-filled HF cache holding the tiny MedNIST dataset repo, offline."""
    made = build_tiny_image_dataset(tmp_path / "hf", empty_cell=True)
    with offline_hub(tmp_path / "hf"):
        yield made


def test_hub_table_from_cache_offline(tiny_hub, tmp_path):
    dest = tmp_path / "resources" / "datasets" / "mednist"
    out = fetch_hub_table(dest, repo_id=IMAGE_DATASET_REPO)
    assert out == dest
    table = _check_table_copy(dest, tiny_hub["rows"])
    # ids: the file stem of the cell's path (train), the row index where there is none (test)
    assert "images/train/abdomenct_000008.png" in set(table["path"])
    assert "images/test/test-00000.png" in set(table["path"])
    assert table["split"].value_counts().to_dict() == {"train": 12, "test": 6}
    assert set(table["label"]) == set(MEDNIST_CLASSES)  # ClassLabel ints -> README names
    assert {p.rsplit(".", 1)[1] for p in table["path"]} == {"png", "jpg"}
    # the empty cell: in neither images/ nor the table, listed with its reason
    skipped = pd.read_csv(dest / "skipped_download.tsv", sep="\t", dtype=str)
    assert skipped.to_dict("records") == [{"id": "train/train-00012", "reason": "empty image cell"}]
    lock = json.loads((dest.parent / "mednist.lock.json").read_text())
    assert lock["repo_id"] == IMAGE_DATASET_REPO and lock["revision"] == tiny_hub["revision"]
    assert sorted(lock["files"]) == tiny_hub["files"]
    assert sorted(p.name for p in dest.parent.iterdir()) == ["mednist", "mednist.lock.json"]

    # a second run: the files match the lock file and the copy, nothing is written
    before = _tree(dest.parent)
    fetch_hub_table(dest, repo_id=IMAGE_DATASET_REPO)
    assert _tree(dest.parent) == before
    # a different request (one split) rebuilds the copy from the same, still locked, files
    fetch_hub_table(dest, repo_id=IMAGE_DATASET_REPO, splits=["test"])
    assert set(pd.read_parquet(dest / "table.parquet")["split"]) == {"test"}
    assert not (dest / "images" / "train").exists()


def test_hub_table_cache_changed_after_lock(tiny_hub, tmp_path):
    dest = tmp_path / "mednist"
    fetch_hub_table(dest, repo_id=IMAGE_DATASET_REPO)
    readme = tiny_hub["snapshot"] / "README.md"
    readme.write_text(readme.read_text().replace("'2': CXR", "'2': XX"))
    with pytest.raises(DatasetIntegrityError, match=r"^README\.md: size .* differ from lock file"):
        fetch_hub_table(dest, repo_id=IMAGE_DATASET_REPO)
    assert "CXR" in set(pd.read_parquet(dest / "table.parquet")["label"])  # left untouched


def test_hub_table_pins(tiny_hub, tmp_path):
    name = "data/train-00000-of-00001.parquet"
    real = hashlib.sha256((tiny_hub["snapshot"] / name).read_bytes()).hexdigest()
    dest = tmp_path / "mednist"
    with pytest.raises(DatasetIntegrityError, match=rf"^{name}: sha256 {real} does not match"):
        fetch_hub_table(dest, repo_id=IMAGE_DATASET_REPO, pins={name: "0" * 64})
    _assert_clean(tmp_path, dest)
    assert not (tmp_path / "mednist.lock.json").exists()
    fetch_hub_table(dest, repo_id=IMAGE_DATASET_REPO, pins={name: "sha256:" + real})
    assert (dest / "table.parquet").is_file()


def test_hub_table_unavailable_is_one_line(tmp_path, monkeypatch):
    with offline_hub(tmp_path / "empty-hf"):
        t0 = time.perf_counter()
        with pytest.raises(DatasetUnavailableError) as err:
            fetch_hub_table(tmp_path / "mednist", repo_id="org/not-cached")
    assert time.perf_counter() - t0 < 5
    msg = str(err.value)
    assert "\n" not in msg and isinstance(err.value, RuntimeError)
    for part in ("org/not-cached", "HF_HUB_OFFLINE", "local_path", "hf download", "demo.yaml"):
        assert part in msg, part
    _assert_clean(tmp_path, tmp_path / "mednist")


def test_hub_table_unreachable_endpoint_fails_fast(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    t0 = time.perf_counter()
    with pytest.raises(DatasetUnavailableError) as err:
        fetch_hub_table(
            tmp_path / "mednist", repo_id="org/x", cache_dir=tmp_path / "empty", timeout=3
        )
    assert time.perf_counter() - t0 < 5
    msg = str(err.value)
    assert "\n" not in msg and "http://127.0.0.1:9" in msg and "org/x" in msg
    _assert_clean(tmp_path, tmp_path / "mednist")


def test_hub_table_image_column_choice(tmp_path):
    made = build_tiny_image_dataset(tmp_path / "hf", second_image_column=True)
    dest = tmp_path / "mednist"
    with offline_hub(tmp_path / "hf"):
        with pytest.raises(DatasetIntegrityError) as err:
            fetch_hub_table(dest, repo_id=IMAGE_DATASET_REPO)
        msg = str(err.value)
        assert "\n" not in msg
        assert msg == "several image columns (image, mask); choose one with download.image_column"
        _assert_clean(tmp_path, dest)
        with pytest.raises(DatasetIntegrityError, match=r"^image_column='img' is not a column; columns: image, mask, label, caption$"):
            fetch_hub_table(dest, repo_id=IMAGE_DATASET_REPO, image_column="img")
        with pytest.raises(DatasetIntegrityError, match=r"^image_column='label' holds int64"):
            fetch_hub_table(dest, repo_id=IMAGE_DATASET_REPO, image_column="label")
        fetch_hub_table(dest, repo_id=IMAGE_DATASET_REPO, image_column="mask")
    table = _check_table_copy(dest, made["rows"])  # the other image column is not in the table
    assert "mask" not in table.columns and "image" not in table.columns


def test_hub_table_binary_column_and_parquet_metadata(tmp_path):
    """Raw bytes instead of structs; ClassLabel names from the parquet's own metadata."""
    made = build_tiny_image_dataset(tmp_path / "hf", binary_column=True, hf_metadata=True, readme=False)
    dest = tmp_path / "mednist"
    with offline_hub(tmp_path / "hf"):
        fetch_hub_table(dest, repo_id=IMAGE_DATASET_REPO)
    for s, rows in made["rows"].items():  # no path in the cells: index ids everywhere
        for i, r in enumerate(rows):
            r["id"] = f"{s}-{i:05d}"
    table = _check_table_copy(dest, made["rows"])
    assert table["label"].tolist()[:2] == ["AbdomenCT", "AbdomenCT"]


def test_hub_table_without_class_names_keeps_integers(tmp_path):
    build_tiny_image_dataset(tmp_path / "hf", readme=False)
    dest = tmp_path / "mednist"
    with offline_hub(tmp_path / "hf"):
        fetch_hub_table(dest, repo_id=IMAGE_DATASET_REPO, splits=["train"])
    table = pd.read_parquet(dest / "table.parquet")
    assert sorted(set(table["label"])) == list(range(len(MEDNIST_CLASSES)))
    assert set(table["split"]) == {"train"}


def test_hub_table_bad_split_and_parameters(tiny_hub, tmp_path):
    dest = tmp_path / "mednist"
    with pytest.raises(DatasetIntegrityError, match=r"split\(s\) \['validation'\] not found .* found: train, test$"):
        fetch_hub_table(dest, repo_id=IMAGE_DATASET_REPO, splits=["train", "validation"])
    with pytest.raises(ValueError, match="splits='train' must be a non-empty list"):
        fetch_hub_table(dest, repo_id=IMAGE_DATASET_REPO, splits="train")
    with pytest.raises(ValueError, match="needs repo_id"):
        fetch_hub_table(dest)
    with pytest.raises(DatasetIntegrityError, match="wrote 18 images .* expected_images=642"):
        fetch_hub_table(dest, repo_id=IMAGE_DATASET_REPO, expected_images=642)
    _assert_clean(tmp_path, dest)
    assert not (tmp_path / "mednist.lock.json").exists()


def test_hub_table_local_directory_and_zip(tmp_path):
    src = tmp_path / "copy"  # as `hf download <repo> --repo-type dataset --local-dir copy`
    made = tiny_image_dataset_files(src)
    (src / ".cache").mkdir()
    (src / ".cache" / "x.lock").write_text("")
    dest = tmp_path / "a"
    fetch_hub_table(dest, source="local", local_path=src)
    _check_table_copy(dest, made["rows"])
    lock = json.loads((tmp_path / "a.lock.json").read_text())
    assert lock["source"] == "local" and sorted(lock["files"]) == made["files"]  # hidden: no

    z = tmp_path / "mednist.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in sorted(src.rglob("*")):
            if f.is_file():
                zf.write(f, "mednist-tiny/" + f.relative_to(src).as_posix())
    dest = tmp_path / "b"
    fetch_hub_table(dest, source="local", local_path=z)
    _check_table_copy(dest, made["rows"])
    assert not (dest / ".src").exists()
    lock = json.loads((tmp_path / "b.lock.json").read_text())
    assert list(lock["files"]) == ["mednist.zip"]
    before = _tree(tmp_path / "b")
    fetch_hub_table(dest, source="local", local_path=z)
    assert _tree(tmp_path / "b") == before


def test_hub_table_interrupted_run_leaves_nothing(tiny_hub, tmp_path, monkeypatch):
    import medembed.datasets._download as dl

    real = dl._image_ext
    calls = []

    def killed_midway(data):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt  # as if the job were killed while writing images
        return real(data)

    monkeypatch.setattr(dl, "_image_ext", killed_midway)
    dest = tmp_path / "mednist"
    with pytest.raises(KeyboardInterrupt):
        fetch_hub_table(dest, repo_id=IMAGE_DATASET_REPO)
    _assert_clean(tmp_path, dest)
    assert not (tmp_path / "mednist.lock.json").exists()

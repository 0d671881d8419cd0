"""Fetch a dataset (Hugging Face hub or a local copy), verify it and lay it out for a reader.

* :func:`fetch_slake`: SLAKE, into a directory ``dest_dir`` in SLAKE layout
  (``imgs/<id>/source.jpg`` plus ``train.json``, ``validation.json``, ``test.json``) that
  :func:`medembed.datasets._slake.read_slake` reads.
* :func:`fetch_hub_table`: any hub dataset in the parquet layout the ``datasets`` library
  pushes (``data/<split>-00000-of-0000N.parquet``, an image column, label columns), into
  ``dest_dir/images/<split>/<row id>.<ext>`` plus ``dest_dir/table.parquet`` (``path``,
  ``split``, the label columns with ClassLabel integers mapped to names), which the
  ``table`` reader reads. Rows without a usable image go to ``skipped_download.tsv``.

Both share the hub access, the pins and lock file, the zip checks and the atomic
move into place described below (for tables, the raw files are the parquet files and
README.md, or the local directory's files, or the local zip).

Integrity, in the order it is checked:

1. every raw file (``imgs.zip`` and the json files from the hub; the zip, or the files of a
   local directory) has its size and sha256 compared with the user's ``pins`` and with the
   lock file. The lock file is written on the first successful run and checked on every
   later run: any difference is a :class:`DatasetIntegrityError` naming the file;
2. zip limits, before a byte is decompressed: at most ``max_members`` entries, at most
   ``max_unpacked_mb`` MB in all, and no compression ratio above ``max_ratio`` (for the
   archive, and for any entry of 1 MB or more), so a zip bomb fails with one line instead
   of filling the disk; then every member name (absolute paths, ``..`` components, drive
   letters and symlinks are rejected) and the CRCs (``ZipFile.testzip``). The extraction
   counts the bytes it writes against the same total;
3. the json files must parse as lists of QA records; the numbers of images and QA records
   must equal ``expected_images`` / ``expected_qa`` (``None`` skips a count).

Extraction goes to a hidden temporary directory next to ``dest_dir`` that is renamed into
place only after every check passed, with a marker file ``.medembed_download.json``
inside it; a killed run therefore never leaves a directory that looks like a dataset.

Network use is fail-fast: a cached copy is used without contacting the hub; otherwise one
metadata request with a short timeout decides whether the hub is reachable, and when it is
not (or ``HF_HUB_OFFLINE=1``) a single :class:`DatasetUnavailableError` explains how to
proceed instead of the hub client's retry loop.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from io import BytesIO
from pathlib import Path, PurePosixPath

from .. import io
from .._hub import hub_offline, short_error
from ._images import sha256_file
from ._slake import SLAKE_SPLITS

log = logging.getLogger(__name__)

SLAKE_REPO_ID = "BoKelvin/SLAKE"
SLAKE_N_IMAGES = 642
SLAKE_N_QA = 14028
SOURCES = ("hub", "local")
MARKER = ".medembed_download.json"
#: Split file names used by other SLAKE copies (the original Slake1.0.zip has validate.json).
SPLIT_ALIASES = {"validate.json": "validation.json", "val.json": "validation.json"}
_REQUIRED_QA_KEYS = ("img_name", "question", "answer")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
#: Default zip limits: SLAKE's imgs.zip is ~200 MB in ~3,000 entries with a ratio near 1.
MAX_UNPACKED_MB = 20_000
MAX_RATIO = 100
MAX_MEMBERS = 200_000
_RATIO_MIN_BYTES = 1 << 20


class DatasetUnavailableError(RuntimeError):
    """The dataset could not be fetched (offline, hub unreachable, local path missing)."""


class DatasetIntegrityError(ValueError):
    """A fetched file failed verification (checksum, CRC, unsafe zip entry, json, counts)."""


# ----------------------------------------------------------------------------- public API


def fetch_slake(
    dest_dir: str | os.PathLike,
    *,
    source: str = "hub",
    repo_id: str = SLAKE_REPO_ID,
    local_path: str | os.PathLike | None = None,
    revision: str | None = None,
    pins: Mapping[str, str] | None = None,
    lock_file: str | os.PathLike | None = None,
    splits: Sequence[str] = SLAKE_SPLITS,
    expected_images: int | None = SLAKE_N_IMAGES,
    expected_qa: int | None = SLAKE_N_QA,
    cache_dir: str | os.PathLike | None = None,
    endpoint: str | None = None,
    timeout: float = 10.0,
    max_unpacked_mb: float = MAX_UNPACKED_MB,
    max_ratio: float = MAX_RATIO,
    max_members: int = MAX_MEMBERS,
) -> Path:
    """Fetch, verify and extract SLAKE into ``dest_dir``; return ``dest_dir``.

    Parameters
    ----------
    dest_dir
        Directory to create in SLAKE layout. If it already holds a complete dataset made
        from the same files (marker matches the verified raw files) it is returned as is.
    source
        ``"hub"``: ``imgs.zip`` and ``<split>.json`` of the dataset repo ``repo_id`` through
        ``huggingface_hub.hf_hub_download`` (HF cache, resumable). ``"local"``: ``local_path``,
        either a zip in SLAKE layout (e.g. ``Slake1.0.zip``; one top-level folder is allowed),
        a directory holding ``imgs.zip`` and the json files (a hub snapshot), or a directory
        already in SLAKE layout (``imgs/`` + json files).
    revision
        Hub branch, tag or commit; default the commit recorded in the lock file, else ``main``.
    pins
        ``{file name: sha256}`` the raw files must match (names as in the lock file: e.g.
        ``imgs.zip``, ``train.json``, or the local zip's file name).
    lock_file
        JSON file recording size and sha256 of every raw file; default
        ``<dest_dir>.lock.json`` next to ``dest_dir``. Written on the first successful run,
        checked on every later one. Keep it under version control to pin the data.
    splits
        Split json files that must be present (``train``, ``validation``, ``test``).
    expected_images, expected_qa
        Required numbers of images (``imgs/<id>/source.*``) and QA records over ``splits``;
        defaults are the full SLAKE (642, 14,028); ``None`` skips the check.
    cache_dir, endpoint, timeout
        Hub cache directory (default ``HF_HUB_CACHE``), hub URL (default ``HF_ENDPOINT``) and
        the timeout in seconds of the reachability check and of each metadata request.
    max_unpacked_mb, max_ratio, max_members
        Zip limits checked before extraction: total uncompressed size in MB (10⁶ bytes),
        compression ratio (uncompressed / compressed, of the archive and of every entry of
        1 MB or more) and number of entries.
    """
    dest = Path(dest_dir)
    if source not in SOURCES:
        raise ValueError(f"source={source!r} is not allowed; use one of {', '.join(SOURCES)}")
    bad_splits = [s for s in splits if s not in SLAKE_SPLITS]
    if bad_splits or not splits:
        raise ValueError(f"splits={list(splits)!r}: each must be one of {', '.join(SLAKE_SPLITS)}")
    for key, val in (("expected_images", expected_images), ("expected_qa", expected_qa)):
        if val is not None and (isinstance(val, bool) or not isinstance(val, int) or val < 1):
            raise ValueError(f"{key}={val!r} must be a positive integer or None")
    if timeout <= 0:
        raise ValueError(f"timeout={timeout!r} must be > 0 seconds")
    limits = ZipLimits(max_unpacked_mb, max_ratio, max_members)
    pins = _check_pins(pins)
    lock_path = (
        Path(lock_file) if lock_file is not None else dest.with_name(dest.name + ".lock.json")
    )
    lock = _read_lock(lock_path)

    if source == "hub":
        if local_path is not None:
            raise ValueError("local_path is only used with source='local'")
        files = [f"{s}.json" for s in splits]
        raw = _fetch_hub(
            repo_id,
            ["imgs.zip", *files],
            revision=revision or (lock or {}).get("revision"),
            cache_dir=cache_dir,
            endpoint=endpoint,
            timeout=timeout,
        )
        origin = {"source": "hub", "repo_id": repo_id, "revision": _snapshot_commit(raw)}
    else:
        if local_path is None:
            raise ValueError("source='local' needs local_path (a SLAKE zip or directory)")
        raw = _list_local(Path(local_path))
        origin = {"source": "local", "local_path": str(Path(local_path).resolve())}

    digests = {name: _digest(path) for name, path in raw.items()}
    _check_digests(digests, pins, lock, lock_path)

    done = _complete_record(dest, digests)
    if done is not None:
        per_split = done.get("n_qa_per_split", {})
        missing = [s for s in splits if s not in per_split]
        if missing:
            raise DatasetIntegrityError(f"{dest} was made without split(s) {missing}")
        n_qa = sum(per_split[s] for s in splits)
        _check_counts(done["n_images"], n_qa, expected_images, expected_qa, splits)
        log.info("SLAKE at %s is complete and matches %s; nothing to do", dest, lock_path)
        return dest
    _prepare_dest(dest)

    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        _assemble(raw, tmp, splits, limits)
        counts = _verify_layout(tmp, splits, expected_images, expected_qa)
        record = {**origin, "files": digests, **counts}
        io.write_json(tmp / MARKER, record)
        _move_into_place(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if lock is None:
        io.write_json(lock_path, {"dataset": "slake", **origin, "files": digests})
        log.info("wrote lock file %s (%d files)", lock_path, len(digests))
    log.info(
        "SLAKE ready at %s: %d images, %d QA records", dest, counts["n_images"], counts["n_qa"]
    )
    return dest


def fetch_hub_table(
    dest_dir: str | os.PathLike,
    *,
    repo_id: str | None = None,
    revision: str | None = None,
    image_column: str | None = None,
    splits: Sequence[str] | None = None,
    pins: Mapping[str, str] | None = None,
    lock_file: str | os.PathLike | None = None,
    source: str = "hub",
    local_path: str | os.PathLike | None = None,
    config: str | None = None,
    expected_images: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    endpoint: str | None = None,
    timeout: float = 10.0,
    max_unpacked_mb: float = MAX_UNPACKED_MB,
    max_ratio: float = MAX_RATIO,
    max_members: int = MAX_MEMBERS,
) -> Path:
    """Fetch a hub dataset in the parquet layout; write its images and a table; return ``dest_dir``.

    The source is a dataset repo as the ``datasets`` library pushes it:
    ``data/<split>-00000-of-0000N.parquet`` (or ``<config>/<split>/*.parquet``), one image
    column (cells ``{"bytes": ..., "path": ...}`` or raw bytes) and label columns. Written:

    * ``dest_dir/images/<split>/<row id>.<ext>``: the image bytes as stored, never
      re-encoded; ``ext`` from the bytes (Pillow's format, ``dcm`` for DICOM). The row id is
      the stem of the cell's ``path`` when it has one, unique within the split, else
      ``<split>-<row index in the split, zero-padded to 5 digits>``;
    * ``dest_dir/table.parquet``: ``path`` (relative to ``dest_dir``), ``split``, then every
      non-image column of the source; ClassLabel integers become their names when the
      parquet's ``huggingface`` metadata or the README's ``dataset_info`` give them. Source
      columns named ``path`` or ``split`` are renamed ``source_path`` / ``source_split``;
    * ``dest_dir/skipped_download.tsv``: ``id`` (``<split>/<row id>``) and ``reason`` of
      rows whose image cell is empty or not a recognised image (they are in neither of the
      above).

    Parameters
    ----------
    repo_id, revision
        Dataset repo on the hub (``source="hub"``) and its branch, tag or commit (default
        the commit in the lock file, else ``main``).
    image_column
        The image column; ``None`` finds the single one (an ``Image`` feature, a
        ``{bytes, path}`` struct or a binary column); none or several is an error naming them.
    splits
        Splits to take; ``None`` takes every split found.
    pins, lock_file
        As for :func:`fetch_slake`: ``{file name: sha256}`` of the raw files (repo paths such
        as ``data/train-00000-of-00001.parquet``, or the local zip's name) and the lock file
        (default ``<dest_dir>.lock.json``) written on the first run, checked on every later one.
    source, local_path
        ``"local"``: ``local_path`` is a directory in the same layout (e.g. made with
        ``hf download <repo> --repo-type dataset --local-dir <dir>``) or a zip of one.
    config
        The config (subset) to take when the repo has several (``<config>/...``).
    expected_images
        Required number of images written over ``splits``; ``None`` skips the check.
    cache_dir, endpoint, timeout, max_unpacked_mb, max_ratio, max_members
        As for :func:`fetch_slake`.

    A second call whose raw files match the lock file and the existing copy (made with the
    same ``image_column``, ``splits`` and ``config``) returns at once.
    """
    dest = Path(dest_dir)
    if source not in SOURCES:
        raise ValueError(f"source={source!r} is not allowed; use one of {', '.join(SOURCES)}")
    if splits is not None:
        if isinstance(splits, str) or not splits or not all(isinstance(s, str) for s in splits):
            raise ValueError(f"splits={splits!r} must be a non-empty list of split names or None")
        splits = list(dict.fromkeys(splits))
    if expected_images is not None and (
        isinstance(expected_images, bool) or not isinstance(expected_images, int) or expected_images < 1
    ):
        raise ValueError(f"expected_images={expected_images!r} must be a positive integer or None")
    if timeout <= 0:
        raise ValueError(f"timeout={timeout!r} must be > 0 seconds")
    limits = ZipLimits(max_unpacked_mb, max_ratio, max_members)
    pins = _check_pins(pins)
    lock_path = (
        Path(lock_file) if lock_file is not None else dest.with_name(dest.name + ".lock.json")
    )
    lock = _read_lock(lock_path)
    request = {"image_column": image_column, "splits": splits, "config": config}

    if source == "hub":
        if local_path is not None:
            raise ValueError("local_path is only used with source='local'")
        if not repo_id:
            raise ValueError("source='hub' needs repo_id (the dataset repo, e.g. org/name)")
        rev = revision or (lock or {}).get("revision")
        names, rev = _hub_listing(
            repo_id, revision=rev, cache_dir=cache_dir, endpoint=endpoint, timeout=timeout
        )
        layout = _pick_layout(_table_layout(names), config, splits, f"dataset {repo_id}")
        wanted = [f for fs in layout.values() for f in fs]
        if "README.md" in names:
            wanted.append("README.md")
        raw = _fetch_hub(
            repo_id,
            wanted,
            revision=rev,
            cache_dir=cache_dir,
            endpoint=endpoint,
            timeout=timeout,
            how=_how_to_proceed_table,
        )
        origin = {"source": "hub", "repo_id": repo_id, "revision": _snapshot_commit(raw) or rev}
    else:
        if local_path is None:
            raise ValueError(
                "source='local' needs local_path (a directory in the hub's parquet layout or a zip)"
            )
        raw = _list_local(Path(local_path))
        layout = None  # known once a zip is extracted
        origin = {"source": "local", "local_path": str(Path(local_path).resolve())}

    digests = {name: _digest(path) for name, path in raw.items()}
    _check_digests(digests, pins, lock, lock_path, subset_ok=source == "hub")

    done = _complete_record(dest, digests, TABLE_FILE, request)
    if done is not None:
        log.info("%s is complete and matches %s; nothing to do", dest, lock_path)
        return dest
    _prepare_dest(dest, "fetch_hub_table")

    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        files = dict(raw)
        if layout is None:
            files = _local_table_files(raw, tmp / ".src", limits)
            layout = _pick_layout(_table_layout(files), config, splits, str(local_path))
        classes, images = _readme_features(files.get("README.md"), config)
        counts = _write_table(
            {s: [files[f] for f in fs] for s, fs in layout.items()},
            tmp,
            image_column=image_column,
            classes=classes,
            readme_images=images,
            provenance=origin,
        )
        if expected_images is not None and counts["n_images"] != expected_images:
            raise DatasetIntegrityError(
                f"wrote {counts['n_images']} images over splits {list(layout)}, "
                f"expected_images={expected_images}"
            )
        shutil.rmtree(tmp / ".src", ignore_errors=True)
        io.write_json(tmp / MARKER, {**origin, "files": digests, "request": request, **counts})
        _move_into_place(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if lock is None:
        io.write_json(lock_path, {"dataset": "hub_table", **origin, "files": digests})
        log.info("wrote lock file %s (%d files)", lock_path, len(digests))
    log.info(
        "%s ready at %s: %d images (%s), %d rows skipped (see %s)",
        origin.get("repo_id") or origin.get("local_path"),
        dest,
        counts["n_images"],
        ", ".join(f"{s} {n}" for s, n in counts["n_images_per_split"].items()),
        counts["n_skipped"],
        SKIPPED_FILE,
    )
    return dest


# ----------------------------------------------------------------------------- sources


def _how_to_proceed(repo_id: str, what: str = "a SLAKE zip or directory (e.g. Slake1.0.zip, or ") -> str:
    return (
        f"To proceed: (a) set source: local and local_path: to {what}a copy made with `hf download "
        f"{repo_id} --repo-type dataset --local-dir <dir>` on a machine with internet); "
        "(b) pre-fill the Hugging Face cache there with the same `hf download` command, copy it "
        "to this machine and run with HF_HOME=<that cache> HF_HUB_OFFLINE=1; "
        "(c) or run the offline demo: snakemake --configfile config/demo.yaml"
    )


def _how_to_proceed_table(repo_id: str) -> str:
    return _how_to_proceed(repo_id, "a directory in the hub's parquet layout, or a zip of it (")


def _fetch_hub(
    repo_id: str,
    filenames: Sequence[str],
    *,
    revision: str | None,
    cache_dir,
    endpoint: str | None,
    timeout: float,
    how=_how_to_proceed,
) -> dict[str, Path]:
    """Paths of ``filenames`` of dataset ``repo_id`` in the HF cache, downloading if needed.

    ``how(repo_id)`` is the "To proceed: ..." half of the unavailable message.
    """
    from huggingface_hub import HfApi, hf_hub_download

    endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or "").rstrip("/") or None
    cache_dir = str(cache_dir) if cache_dir is not None else None
    kw = {"repo_type": "dataset", "cache_dir": cache_dir}

    # 1. the cache alone: no network at all when everything is there.
    cached, missing = {}, []
    for fn in filenames:
        try:
            cached[fn] = Path(
                hf_hub_download(repo_id, fn, revision=revision, local_files_only=True, **kw)
            )
        except Exception:  # noqa: BLE001 - any failure means "not usable from the cache"
            missing.append(fn)
    if not missing:
        log.info("all %d files of %s found in the HF cache", len(cached), repo_id)
        return cached

    what = f"{', '.join(missing)} of dataset {repo_id}" + (f"@{revision}" if revision else "")
    if hub_offline():
        raise DatasetUnavailableError(
            f"cannot fetch {what}: HF_HUB_OFFLINE is set and the files are not in the Hugging Face "
            f"cache ({cache_dir or 'default HF_HUB_CACHE'}). {how(repo_id)}"
        )
    # 2. one quick reachability check (the hub client's own retries take ~25 s per file).
    api = HfApi(endpoint=endpoint)
    try:
        info = api.dataset_info(repo_id, revision=revision, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - connection, DNS, HTTP and auth errors alike
        host = endpoint or "https://huggingface.co"
        raise DatasetUnavailableError(
            f"cannot fetch {what} from {host} ({type(exc).__name__}: {short_error(exc, 200)}). "
            f"{how(repo_id)}"
        ) from exc
    commit = getattr(info, "sha", None) or revision
    # 3. download (resumes partial files left in the cache by an interrupted run).
    out = dict(cached) if commit == revision else {}
    for fn in filenames:
        if fn in out:
            continue
        try:
            out[fn] = Path(
                hf_hub_download(
                    repo_id, fn, revision=commit, endpoint=endpoint, etag_timeout=timeout, **kw
                )
            )
        except Exception as exc:  # noqa: BLE001
            raise DatasetUnavailableError(
                f"cannot fetch {fn} of dataset {repo_id}@{commit} ({type(exc).__name__}: "
                f"{short_error(exc, 200)}). {how(repo_id)}"
            ) from exc
    return out


def _snapshot_commit(raw: Mapping[str, Path]) -> str | None:
    """Commit hash from a cache path ``.../snapshots/<commit>/<file>`` (None if not one)."""
    for p in raw.values():
        parts = Path(p).parts
        if "snapshots" in parts:
            i = parts.index("snapshots")
            if i + 1 < len(parts) and re.fullmatch(r"[0-9a-f]{40}", parts[i + 1]):
                return parts[i + 1]
    return None


def _list_local(path: Path) -> dict[str, Path]:
    """Raw files of a local SLAKE copy, keyed by the name used in pins and the lock file."""
    if not path.exists():
        raise DatasetUnavailableError(
            f"local_path={str(path)!r} does not exist; point it at a SLAKE zip or directory"
        )
    if path.is_file():
        return {path.name: path}
    files: dict[str, Path] = {}
    for f in sorted(path.rglob("*")):
        rel = f.relative_to(path)
        if f.is_file() and not any(p.startswith(".") for p in rel.parts):
            files[rel.as_posix()] = f
    if not files:
        raise DatasetUnavailableError(f"local_path={str(path)!r} is an empty directory")
    return files


# ----------------------------------------------------------------------------- checksums


def _digest(path: Path) -> dict:
    return {"size": path.stat().st_size, "sha256": sha256_file(path)}


def _check_pins(pins: Mapping[str, str] | None) -> dict[str, str]:
    out = {}
    for name, value in (pins or {}).items():
        v = str(value).strip().lower()
        if v.startswith("sha256:"):
            v = v[len("sha256:") :]
        if not _HEX64.match(v):
            raise ValueError(f"pins[{name!r}]={value!r} is not a sha256 hex digest (64 hex digits)")
        out[str(name)] = v
    return out


def _read_lock(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        lock = json.loads(path.read_text())
        if not isinstance(lock.get("files"), dict):
            raise ValueError("no 'files' mapping")
    except (ValueError, AttributeError) as exc:
        raise DatasetIntegrityError(
            f"lock file {path} is unreadable ({exc}); restore it or delete it to re-create it"
        ) from exc
    return lock


def _check_digests(
    digests: Mapping[str, dict],
    pins: Mapping[str, str],
    lock: dict | None,
    lock_path: Path,
    subset_ok: bool = False,
) -> None:
    """Pins and lock file against ``digests``; ``subset_ok``: the download may use only
    some of the locked files (hub tables fetch only the chosen splits)."""
    unknown = sorted(set(pins) - set(digests))
    if unknown:
        raise DatasetIntegrityError(
            f"pins name file(s) {unknown} that are not part of this download "
            f"(files: {', '.join(sorted(digests))})"
        )
    for name, want in pins.items():
        got = digests[name]["sha256"]
        if got != want:
            raise DatasetIntegrityError(
                f"{name}: sha256 {got} does not match the pinned value {want} (config pins)"
            )
    if lock is None:
        return
    locked = lock["files"]
    extra, gone = sorted(set(digests) - set(locked)), sorted(set(locked) - set(digests))
    if extra or (gone and not subset_ok):
        raise DatasetIntegrityError(
            f"files differ from lock file {lock_path}: new {extra}, missing {gone}; "
            "if the change is intended, delete the lock file to re-create it"
        )
    for name, d in digests.items():
        want = locked[name]
        if int(want.get("size", -1)) != d["size"] or want.get("sha256") != d["sha256"]:
            raise DatasetIntegrityError(
                f"{name}: size {d['size']} / sha256 {d['sha256']} differ from lock file "
                f"{lock_path} (size {want.get('size')} / sha256 {want.get('sha256')}); "
                "the file changed since it was first downloaded: re-download it, or delete "
                "the lock file if the change is intended"
            )


# ----------------------------------------------------------------------------- destination


def _complete_record(
    dest: Path, digests: Mapping[str, dict], required: str = "imgs", request: Mapping | None = None
) -> dict | None:
    """The marker record of ``dest`` if it was made from exactly these raw files.

    ``required``: the entry a complete copy holds; ``request``: settings the copy must have
    been made with (compared with the marker's ``request``), None for none.
    """
    marker = dest / MARKER
    if not marker.is_file():
        return None
    try:
        rec = json.loads(marker.read_text())
    except ValueError:
        return None
    if rec.get("files") != dict(digests) or not (dest / required).exists():
        return None
    if request is not None and rec.get("request") != dict(request):
        return None
    return rec


def _prepare_dest(dest: Path, maker: str = "fetch_slake") -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    for stale in dest.parent.glob(f".{dest.name}.tmp-*"):
        log.warning("leftover temporary directory of an interrupted run: %s", stale)
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise DatasetIntegrityError(f"{dest} exists and is not a directory; remove it first")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / MARKER).is_file():
        raise DatasetIntegrityError(
            f"{dest} exists, is not empty and was not made by {maker}; "
            "remove it or choose another destination"
        )


def _move_into_place(tmp: Path, dest: Path) -> None:
    """Rename ``tmp`` to ``dest``; an older complete copy of ours is swapped out first."""
    old = None
    if dest.is_dir() and any(dest.iterdir()):
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
        os.replace(dest, old / "d")
    elif dest.is_dir():
        dest.rmdir()
    os.replace(tmp, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ----------------------------------------------------------------------------- zips


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a zip member may not be extracted (None if it is safe)."""
    name = info.filename
    posix = name.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix):
        return "absolute path"
    if ".." in PurePosixPath(posix).parts:
        return "'..' path component"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)) and stat.S_IFMT(mode):
        return "special file"
    if "\x00" in name:
        return "NUL byte in name"
    return None


class ZipLimits:
    """Caps on a zip's size, compression ratio and entry count (see :func:`fetch_slake`)."""

    def __init__(
        self,
        max_unpacked_mb: float = MAX_UNPACKED_MB,
        max_ratio: float = MAX_RATIO,
        max_members: int = MAX_MEMBERS,
    ) -> None:
        for key, val in (
            ("max_unpacked_mb", max_unpacked_mb), ("max_ratio", max_ratio),
            ("max_members", max_members),
        ):
            if isinstance(val, bool) or not isinstance(val, (int, float)) or val <= 0:
                raise ValueError(f"{key}={val!r} must be a positive number")
        self.max_bytes = int(max_unpacked_mb * 1_000_000)
        self.max_ratio = float(max_ratio)
        self.max_members = int(max_members)

    def check(self, zf: zipfile.ZipFile, label: str) -> int:
        """Raise if ``zf`` exceeds a limit (from its directory, nothing decompressed)."""
        infos = zf.infolist()
        if len(infos) > self.max_members:
            raise DatasetIntegrityError(
                f"{label}: {len(infos):,} zip entries exceed max_members={self.max_members:,}; "
                "nothing extracted (raise download.max_members if the archive is trusted)"
            )
        total = sum(i.file_size for i in infos)
        packed = sum(i.compress_size for i in infos)
        if total > self.max_bytes:
            raise DatasetIntegrityError(
                f"{label}: {total / 1e6:,.1f} MB uncompressed exceed max_unpacked_mb="
                f"{self.max_bytes / 1e6:g}; nothing extracted (raise download.max_unpacked_mb "
                "if the archive is trusted)"
            )
        worst = max(
            (i for i in infos if i.file_size >= _RATIO_MIN_BYTES),
            key=lambda i: i.file_size / max(i.compress_size, 1),
            default=None,
        )
        for what, size, comp in (
            ("the archive", total, packed),
            *([(repr(worst.filename), worst.file_size, worst.compress_size)] if worst else []),
        ):
            ratio = size / max(comp, 1)
            if size >= _RATIO_MIN_BYTES and ratio > self.max_ratio:
                raise DatasetIntegrityError(
                    f"{label}: compression ratio {ratio:,.0f} of {what} ({size / 1e6:,.1f} MB "
                    f"from {comp / 1e6:,.3f} MB) exceeds max_ratio={self.max_ratio:g}, a zip "
                    "bomb? nothing extracted (raise download.max_ratio if the archive is trusted)"
                )
        return total


def _open_zip(path: Path, label: str, limits: ZipLimits | None = None) -> zipfile.ZipFile:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetIntegrityError(f"{label}: not a readable zip file ({exc})") from exc
    try:
        (limits or ZipLimits()).check(zf, label)
        bad = [(i.filename, why) for i in zf.infolist() if (why := _member_problem(i))]
        if bad:
            shown = "; ".join(f"{n!r}: {w}" for n, w in bad[:5])
            raise DatasetIntegrityError(
                f"{label}: unsafe zip entries rejected, nothing extracted ({len(bad)}: {shown})"
            )
        try:
            first_bad = zf.testzip()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise DatasetIntegrityError(f"{label}: corrupt zip ({exc})") from exc
        if first_bad is not None:
            raise DatasetIntegrityError(f"{label}: CRC check failed for member {first_bad!r}")
    except BaseException:
        zf.close()
        raise
    return zf


def _zip_root(names: Iterable[str]) -> tuple[str, bool]:
    """``(prefix, images_at_top)`` of a SLAKE zip.

    ``prefix`` is stripped from every member (e.g. ``Slake1.0/``). If no member has an
    ``imgs`` folder the zip holds the image folders themselves (``xmlab0/source.jpg``) and
    ``images_at_top`` is True: they go under ``imgs/``.
    """
    prefixes = set()
    for n in names:
        parts = PurePosixPath(n.replace("\\", "/")).parts
        if "imgs" in parts[:-1] or (n.endswith("/") and "imgs" in parts):
            prefixes.add("/".join(parts[: parts.index("imgs")]))
    if len(prefixes) > 1:
        raise DatasetIntegrityError(f"zip has several 'imgs' folders: {sorted(prefixes)}")
    if prefixes:
        p = prefixes.pop()
        return (p + "/" if p else ""), False
    return "", True


def _extract_zip(
    zf: zipfile.ZipFile, dest: Path, label: str, limits: ZipLimits | None = None, find_root=None
) -> None:
    """Extract ``zf`` into ``dest``; ``find_root(names) -> (prefix, images_at_top)`` (default
    :func:`_zip_root`, SLAKE's) says which prefix to strip."""
    limits = limits or ZipLimits()
    budget = limits.max_bytes  # defence in depth: the sizes in the directory could lie
    names = [i.filename for i in zf.infolist()]
    prefix, images_at_top = (find_root or _zip_root)(names)
    root = dest.resolve()
    for info in zf.infolist():
        name = info.filename.replace("\\", "/")
        if name.startswith("__MACOSX/") or PurePosixPath(name).name == ".DS_Store":
            continue
        if prefix:
            if not name.startswith(prefix):
                continue  # outside the dataset folder (e.g. a README next to it)
            name = name[len(prefix) :]
        if not name or name == "/":
            continue
        rel = PurePosixPath("imgs", name) if images_at_top else PurePosixPath(name)
        target = (dest / rel).resolve()
        if root not in target.parents:  # defence in depth: already rejected above
            raise DatasetIntegrityError(f"{label}: entry {info.filename!r} escapes the destination")
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with zf.open(info) as src, open(target, "xb") as out:
                while block := src.read(1 << 20):
                    budget -= len(block)
                    if budget < 0:
                        raise DatasetIntegrityError(
                            f"{label}: more than max_unpacked_mb={limits.max_bytes / 1e6:g} "
                            "MB written while extracting; stopped"
                        )
                    out.write(block)
        except FileExistsError as exc:
            raise DatasetIntegrityError(f"{label}: duplicate entry {info.filename!r}") from exc


def _names(raw: Mapping[str, Path], n: int = 6) -> str:
    names = sorted(raw)
    return (
        ", ".join(names[:n]) + (f", ... ({len(names)} files)" if len(names) > n else "") or "none"
    )


# ----------------------------------------------------------------------------- assembly


def _assemble(
    raw: Mapping[str, Path], tmp: Path, splits: Sequence[str], limits: ZipLimits | None = None
) -> None:
    """Build the SLAKE layout in ``tmp`` from the raw files."""
    zips = {n: p for n, p in raw.items() if n.lower().endswith(".zip")}
    jsons = {n: p for n, p in raw.items() if n.lower().endswith(".json")}
    others = {n: p for n, p in raw.items() if n not in zips and n not in jsons}
    if any(PurePosixPath(n).parts[0] == "imgs" for n in others):
        # a local directory already in SLAKE layout: copy it (no zip involved)
        for name, path in raw.items():
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    else:
        named = [n for n in zips if PurePosixPath(n).name.lower() == "imgs.zip"]
        image_zips = named or list(zips)
        if not image_zips:
            raise DatasetIntegrityError(
                f"no image zip among the files ({_names(raw)}); expected imgs.zip, a SLAKE "
                "zip, or a directory holding imgs/ and the split json files"
            )
        if len(image_zips) > 1:
            raise DatasetIntegrityError(
                f"several zips found, cannot tell which holds the images: {sorted(image_zips)}"
            )
        zname = image_zips[0]
        # checks limits, names and CRCs before extracting
        with _open_zip(zips[zname], zname, limits) as zf:
            _extract_zip(zf, tmp, zname, limits)
        for name, path in jsons.items():
            target = tmp / name
            if "/" not in name and not target.exists():
                shutil.copyfile(path, target)
    for alias, canonical in SPLIT_ALIASES.items():
        if (tmp / alias).is_file() and not (tmp / canonical).exists():
            os.replace(tmp / alias, tmp / canonical)


def _load_split(path: Path) -> list:
    try:
        recs = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DatasetIntegrityError(f"{path.name}: not valid JSON ({exc})") from exc
    if not isinstance(recs, list):
        raise DatasetIntegrityError(
            f"{path.name}: expected a list of QA records, got {type(recs).__name__}"
        )
    for i, r in enumerate(recs):
        if not isinstance(r, dict) or any(k not in r for k in _REQUIRED_QA_KEYS):
            raise DatasetIntegrityError(
                f"{path.name}: record {i} is not a QA record with keys {list(_REQUIRED_QA_KEYS)}"
            )
    return recs


def _verify_layout(
    root: Path, splits: Sequence[str], expected_images: int | None, expected_qa: int | None
) -> dict:
    imgs = root / "imgs"
    if not imgs.is_dir():
        raise DatasetIntegrityError("no imgs/ folder in the extracted data")
    image_ids = {
        d.name
        for d in imgs.iterdir()
        if d.is_dir() and ((d / "source.jpg").is_file() or (d / "source.png").is_file())
    }
    n_qa, per_split, orphans = 0, {}, 0
    for s in splits:
        f = root / f"{s}.json"
        if not f.is_file():
            raise DatasetIntegrityError(f"{s}.json is missing (required split {s!r})")
        recs = _load_split(f)
        per_split[s] = len(recs)
        n_qa += len(recs)
        orphans += sum(str(r["img_name"]).split("/")[0] not in image_ids for r in recs)
    _check_counts(len(image_ids), n_qa, expected_images, expected_qa, splits)
    if orphans:
        log.warning("%d QA records name an image that is not in imgs/", orphans)
    return {"n_images": len(image_ids), "n_qa": n_qa, "n_qa_per_split": per_split}


def _check_counts(n_images, n_qa, expected_images, expected_qa, splits) -> None:
    if expected_images is not None and n_images != expected_images:
        raise DatasetIntegrityError(
            f"found {n_images} images (imgs/<id>/source.*), expected_images={expected_images}"
        )
    if expected_qa is not None and n_qa != expected_qa:
        raise DatasetIntegrityError(
            f"found {n_qa} QA records in {', '.join(f'{s}.json' for s in splits)}, "
            f"expected_qa={expected_qa}"
        )


# ----------------------------------------------------------------------------- hub tables

TABLE_FILE = "table.parquet"
SKIPPED_FILE = "skipped_download.tsv"
#: ``train-00000-of-00003.parquet`` (also with the ``-<hash>`` suffix newer pushes add).
_SHARD = re.compile(r"^(?P<split>[^/]+?)-\d{5}-of-\d{5}(?:-[0-9A-Za-z]+)?\.parquet$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
#: Pillow format -> file extension, where the lower-case format name is not the usual one.
_PIL_EXT = {"JPEG": "jpg", "MPO": "jpg", "TIFF": "tif", "JPEG2000": "jp2"}
_SPLIT_ORDER = ("train", "validation", "valid", "val", "dev", "test")
_RENAMED = {"path": "source_path", "split": "source_split"}


def _hub_listing(
    repo_id: str, *, revision: str | None, cache_dir, endpoint: str | None, timeout: float
) -> tuple[list[str], str | None]:
    """``(file names, commit)`` of dataset ``repo_id``: from the HF cache if a snapshot of
    its parquet files is there, else from one metadata request to the hub."""
    from huggingface_hub import HfApi, snapshot_download

    endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or "").rstrip("/") or None
    cache_dir = str(cache_dir) if cache_dir is not None else None
    try:
        snap = Path(
            snapshot_download(
                repo_id,
                repo_type="dataset",
                revision=revision,
                cache_dir=cache_dir,
                local_files_only=True,
                allow_patterns=["*.parquet", "README.md"],
            )
        )
        names = sorted(
            p.relative_to(snap).as_posix()
            for p in snap.rglob("*")
            if p.is_file() and not any(q.startswith(".") for q in p.relative_to(snap).parts)
        )
        if any(n.endswith(".parquet") for n in names):
            log.info("%s: file list taken from the HF cache (%s)", repo_id, snap)
            return names, snap.name
    except Exception:  # noqa: BLE001 - any failure means "not usable from the cache"
        pass
    what = f"dataset {repo_id}" + (f"@{revision}" if revision else "")
    if hub_offline():
        raise DatasetUnavailableError(
            f"cannot list the files of {what}: HF_HUB_OFFLINE is set and it is not in the "
            f"Hugging Face cache ({cache_dir or 'default HF_HUB_CACHE'}). "
            f"{_how_to_proceed_table(repo_id)}"
        )
    try:
        info = HfApi(endpoint=endpoint).dataset_info(repo_id, revision=revision, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - connection, DNS, HTTP and auth errors alike
        host = endpoint or "https://huggingface.co"
        raise DatasetUnavailableError(
            f"cannot list the files of {what} on {host} ({type(exc).__name__}: "
            f"{short_error(exc, 200)}). {_how_to_proceed_table(repo_id)}"
        ) from exc
    names = sorted(s.rfilename for s in (info.siblings or []))
    return names, getattr(info, "sha", None) or revision


def _table_layout(names: Iterable[str]) -> dict[str, dict[str, list[str]]]:
    """``{config: {split: [parquet files in shard order]}}`` from a repo's file names.

    ``data/<split>-00000-of-0000N.parquet`` and ``<split>-…`` at the top are config
    ``default``; ``<config>/<split>-….parquet``, ``<config>/<split>/….parquet`` and
    ``data/<split>.parquet`` are recognised too.
    """
    out: dict[str, dict[str, list[str]]] = {}
    for n in names:
        p = PurePosixPath(n)
        if p.suffix != ".parquet" or any(part.startswith(".") for part in p.parts):
            continue
        dirs = list(p.parts[:-1])
        m = _SHARD.match(p.name)
        if m:
            split = m["split"]
        elif dirs and dirs[-1] != "data":
            split = dirs.pop()
        else:
            split = p.stem
        if dirs and dirs[-1] == "data":
            dirs.pop()
        out.setdefault("/".join(dirs) or "default", {}).setdefault(split, []).append(n)
    for by_split in out.values():
        for files in by_split.values():
            files.sort()
    return out


def _split_key(name: str) -> tuple:
    return (_SPLIT_ORDER.index(name), "") if name in _SPLIT_ORDER else (len(_SPLIT_ORDER), name)


def _pick_layout(
    layout: Mapping[str, Mapping[str, list[str]]],
    config: str | None,
    splits: Sequence[str] | None,
    where: str,
) -> dict[str, list[str]]:
    """``{split: files}`` of the chosen config and splits (every split when ``splits`` is None)."""
    if not layout:
        raise DatasetIntegrityError(
            f"no parquet files in {where}; expected data/<split>-00000-of-0000N.parquet "
            "or <config>/<split>/*.parquet"
        )
    if config is None:
        if len(layout) > 1:
            raise DatasetIntegrityError(
                f"{where} has several configs ({', '.join(sorted(layout))}); "
                "choose one with download.config"
            )
        config = next(iter(layout))
    if config not in layout:
        raise DatasetIntegrityError(
            f"config={config!r} not found in {where}; found: {', '.join(sorted(layout))}"
        )
    found = layout[config]
    missing = [s for s in splits or () if s not in found]
    if missing:
        raise DatasetIntegrityError(
            f"split(s) {missing} not found in {where}; found: {', '.join(sorted(found, key=_split_key))}"
        )
    chosen = list(splits) if splits is not None else sorted(found, key=_split_key)
    bad = [s for s in chosen if not _SAFE_NAME.match(s)]
    if bad:
        raise DatasetIntegrityError(f"split name(s) {bad} cannot be used as folder names")
    return {s: list(found[s]) for s in chosen}


def _common_root(names: Iterable[str]) -> tuple[str, bool]:
    """Zip prefix to strip: the one top-level folder every entry is in (``""`` if none)."""
    tops = set()
    for n in names:
        parts = PurePosixPath(n.replace("\\", "/")).parts
        if n.startswith("__MACOSX/") or not parts:
            continue
        tops.add(parts[0] + "/" if len(parts) > 1 or n.endswith("/") else "")
    return (tops.pop() if len(tops) == 1 else ""), False


def _local_table_files(raw: Mapping[str, Path], work: Path, limits: ZipLimits) -> dict[str, Path]:
    """``{repo path: file}`` of a local copy: the files of a directory, or of a zip extracted
    (limits, names and CRCs checked first) into ``work``."""
    zips = [n for n in raw if n.lower().endswith(".zip")]
    if len(raw) != 1 or not zips:
        return dict(raw)
    with _open_zip(raw[zips[0]], zips[0], limits) as zf:
        work.mkdir()
        _extract_zip(zf, work, zips[0], limits, find_root=_common_root)
    return {
        p.relative_to(work).as_posix(): p
        for p in sorted(work.rglob("*"))
        if p.is_file() and not any(q.startswith(".") for q in p.relative_to(work).parts)
    }


def _class_names(spec) -> list[str] | None:
    """ClassLabel names from README YAML (``{'0': a, '1': b}`` or a list)."""
    if isinstance(spec, list):
        return [str(x) for x in spec]
    if isinstance(spec, dict):
        try:
            pairs = sorted((int(k), str(v)) for k, v in spec.items())
        except (TypeError, ValueError):
            return None
        if [k for k, _ in pairs] == list(range(len(pairs))):
            return [v for _, v in pairs]
    return None


def _readme_features(path: Path | None, config: str | None) -> tuple[dict[str, list[str]], set[str]]:
    """``({column: ClassLabel names}, {image columns})`` from a README's ``dataset_info``."""
    if path is None:
        return {}, set()
    import yaml

    text = Path(path).read_text(encoding="utf-8", errors="replace")
    m = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, re.S)
    if not m:
        return {}, set()
    try:
        header = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError as exc:
        log.warning("README.md: YAML header unreadable (%s); labels stay integers", exc)
        return {}, set()
    info = header.get("dataset_info") if isinstance(header, dict) else None
    infos = [i for i in (info if isinstance(info, list) else [info]) if isinstance(i, dict)]
    if len(infos) > 1:
        want = config or "default"
        infos = [i for i in infos if i.get("config_name", "default") == want] or infos[:1]
    classes, images = {}, set()
    for inf in infos[:1]:
        for feat in inf.get("features") or []:
            if not isinstance(feat, dict) or "name" not in feat:
                continue
            dtype = feat.get("dtype")
            if dtype == "image":
                images.add(feat["name"])
            elif isinstance(dtype, dict) and isinstance(dtype.get("class_label"), dict):
                names = _class_names(dtype["class_label"].get("names"))
                if names is not None:
                    classes[feat["name"]] = names
    return classes, images


def _parquet_features(schema) -> tuple[dict[str, list[str]], set[str]]:
    """The same from the ``huggingface`` metadata the ``datasets`` library stores in parquet."""
    raw = (schema.metadata or {}).get(b"huggingface")
    try:
        feats = json.loads(raw)["info"]["features"] if raw else {}
    except (ValueError, KeyError, TypeError):
        feats = {}
    classes, images = {}, set()
    for name, f in feats.items() if isinstance(feats, dict) else ():
        if not isinstance(f, dict):
            continue
        if f.get("_type") == "Image":
            images.add(name)
        elif f.get("_type") == "ClassLabel" and isinstance(f.get("names"), list):
            classes[name] = [str(x) for x in f["names"]]
    return classes, images


def _is_image_type(t) -> bool:
    import pyarrow as pa

    if pa.types.is_struct(t):
        names = [t.field(i).name for i in range(t.num_fields)]
        return "bytes" in names and (
            pa.types.is_binary(t.field("bytes").type) or pa.types.is_large_binary(t.field("bytes").type)
        )
    return pa.types.is_binary(t) or pa.types.is_large_binary(t)


def _choose_image_column(schema, image_column: str | None, hinted: set[str]) -> str:
    columns = list(schema.names)
    if image_column is not None:
        if image_column not in columns:
            raise DatasetIntegrityError(
                f"image_column={image_column!r} is not a column; columns: {', '.join(columns)}"
            )
        if not _is_image_type(schema.field(image_column).type):
            raise DatasetIntegrityError(
                f"image_column={image_column!r} holds {schema.field(image_column).type}, "
                "not image bytes ({bytes, path} struct or binary)"
            )
        return image_column
    found = [c for c in columns if _is_image_type(schema.field(c).type)]
    hinted_found = [c for c in found if c in hinted]
    if len(found) > 1 and len(hinted_found) == 1:
        return hinted_found[0]
    if len(found) == 1:
        return found[0]
    if not found:
        raise DatasetIntegrityError(
            f"no image column ({{bytes, path}} struct or binary) among: {', '.join(columns)}"
        )
    raise DatasetIntegrityError(
        f"several image columns ({', '.join(found)}); choose one with download.image_column"
    )


def _image_ext(data: bytes) -> tuple[str | None, str]:
    """``(extension, "")`` of image bytes, or ``(None, reason)``."""
    from PIL import Image

    if len(data) >= 132 and data[128:132] == b"DICM":
        return "dcm", ""
    try:
        with Image.open(BytesIO(data)) as im:
            fmt = im.format
    except Image.DecompressionBombError as exc:
        return None, f"too large to open safely ({short_error(exc, 120)})"
    except Exception:  # noqa: BLE001 - UnidentifiedImageError and truncated headers alike
        fmt = None
    if not fmt:
        return None, "not an image format Pillow or DICOM recognises"
    return _PIL_EXT.get(fmt, fmt.lower()), ""


def _row_ids(files: Sequence[Path], split: str, image_column: str) -> list[str]:
    """Row ids of a split: the stem of a cell's ``path`` when it has one that is unique in
    the split (ignoring case) and usable as a file name, else ``<split>-<zero-padded row
    index>`` (for every row, should a stem equal another row's index id)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    stems: list[str | None] = []
    for f in files:
        pf = pq.ParquetFile(f)
        t = pf.schema_arrow.field(image_column).type
        if pa.types.is_struct(t) and t.get_field_index("path") >= 0:
            for b in pf.iter_batches(columns=[f"{image_column}.path"], batch_size=4096):
                for cell in b.column(0).to_pylist():
                    p = (cell or {}).get("path")
                    stems.append(PurePosixPath(str(p).replace("\\", "/")).stem if p else None)
        else:
            stems.extend([None] * pf.metadata.num_rows)
    width = max(5, len(str(max(len(stems) - 1, 0))))
    counts: dict[str, int] = {}
    for s in stems:
        if s:
            counts[s.lower()] = counts.get(s.lower(), 0) + 1
    ids = [
        s if s and counts[s.lower()] == 1 and _SAFE_NAME.match(s) else f"{split}-{i:0{width}d}"
        for i, s in enumerate(stems)
    ]
    if len({r.lower() for r in ids}) < len(ids):  # a stem that looks like an index id
        ids = [f"{split}-{i:0{width}d}" for i in range(len(stems))]
    return ids


def _map_class_labels(df, classes: Mapping[str, list[str]]) -> list[str]:
    """ClassLabel integer columns of ``df`` to their names (in place); the mapped columns."""
    import pandas as pd

    mapped = []
    for col, names in classes.items():
        if col not in df.columns or not pd.api.types.is_integer_dtype(df[col].dtype):
            continue
        values = df[col]
        bad = sorted({int(v) for v in values.dropna() if not -1 <= int(v) < len(names)})
        if bad:
            log.warning("%s: values %s have no class name (of %d); left empty", col, bad[:5], len(names))
        df[col] = [names[int(v)] if 0 <= int(v) < len(names) else None for v in values]
        mapped.append(col)
    return mapped


def _write_table(
    split_files: Mapping[str, Sequence[Path]],
    out: Path,
    *,
    image_column: str | None,
    classes: Mapping[str, list[str]],
    readme_images: set[str],
    provenance: Mapping,
) -> dict:
    """Write ``images/``, ``table.parquet`` and ``skipped_download.tsv`` into ``out``."""
    import pandas as pd
    import pyarrow.parquet as pq

    first = next(f for fs in split_files.values() for f in fs)
    schema = pq.ParquetFile(first).schema_arrow
    meta_classes, meta_images = _parquet_features(schema)
    classes = {**classes, **meta_classes}
    col = _choose_image_column(schema, image_column, meta_images | set(readme_images))
    drop = [c for c in schema.names if c == col or c in meta_images or c in readme_images
            or _is_image_type(schema.field(c).type)]
    frames, skipped, per_split = [], [], {}
    for split, files in split_files.items():
        ids = _row_ids(files, split, col)
        (out / "images" / split).mkdir(parents=True)
        i, n_written = 0, 0
        for f in files:
            pf = pq.ParquetFile(f)
            if col not in pf.schema_arrow.names:
                raise DatasetIntegrityError(f"{f.name}: no column {col!r} (split {split})")
            for batch in pf.iter_batches(batch_size=256):
                keep, paths = [], []
                for cell in batch.column(col).to_pylist():
                    rid = ids[i]
                    i += 1
                    data = cell.get("bytes") if isinstance(cell, dict) else cell
                    if not data:
                        where = (cell or {}).get("path") if isinstance(cell, dict) else None
                        why = f"no image bytes (path {where!r} only)" if where else "empty image cell"
                        skipped.append((f"{split}/{rid}", why))
                        keep.append(False)
                        continue
                    ext, why = _image_ext(data)
                    if ext is None:
                        skipped.append((f"{split}/{rid}", why))
                        keep.append(False)
                        continue
                    rel = f"images/{split}/{rid}.{ext}"
                    with open(out / rel, "xb") as fh:
                        fh.write(data)
                    keep.append(True)
                    paths.append(rel)
                rest = batch.drop_columns([c for c in drop if c in batch.schema.names])
                if rest.num_columns:
                    df = rest.to_pandas().loc[keep].reset_index(drop=True)
                else:
                    df = pd.DataFrame(index=range(len(paths)))
                df = df.rename(columns={c: _RENAMED[c] for c in df.columns if c in _RENAMED})
                df.insert(0, "path", paths)
                df.insert(1, "split", split)
                frames.append(df)
                n_written += len(paths)
        per_split[split] = n_written
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["path", "split"])
    mapped = _map_class_labels(table, {_RENAMED.get(c, c): n for c, n in classes.items()})
    n_images = int(len(table))
    if n_images == 0:
        raise DatasetIntegrityError(
            f"no image could be written: {len(skipped)} rows skipped "
            f"({skipped[0][1] if skipped else 'no rows'})"
        )
    io.write_table(
        out / TABLE_FILE,
        table,
        params={**provenance, "image_column": col, "class_labels": {c: classes[c] for c in mapped if c in classes}},
    )
    io.write_table(out / SKIPPED_FILE, pd.DataFrame(skipped, columns=["id", "reason"]))
    if skipped:
        log.warning("%d rows without a usable image, listed in %s", len(skipped), SKIPPED_FILE)
    return {
        "image_column": col,
        "n_images": n_images,
        "n_images_per_split": per_split,
        "n_skipped": len(skipped),
        "class_labels": mapped,
    }

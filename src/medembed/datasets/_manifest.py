"""From candidate image records to the manifest: one checked row per readable image (or frame).

Every candidate is decoded in full (and hashed) in a pool of ``threads`` threads: Pillow's
decoders, numpy and hashlib release the GIL, so the pool scales with cores while the rows
come back in the records' order. The manifest is sorted by id; that order is the order of
every array computed downstream, whatever ``threads`` is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from ._folder import SKIP_KEY
from ._images import (
    DEFAULT_MAX_ASPECT_RATIO,
    DEFAULT_MAX_PIXELS,
    _check_file,
    frame_ref,
    load_image,
    looks_like_dicom,
    sha256_file,
)
from ._pixels import ImageError

log = logging.getLogger(__name__)

MANIFEST_CORE = ["id", "path"]
MANIFEST_PROBE = ["width", "height", "sha256"]
SKIPPED_COLUMNS = ["id", "path", "reason"]


class EmptyDatasetError(ValueError):
    pass


@dataclass(frozen=True)
class DecodeOptions:
    """How files are decoded; the embedding must decode with the same (``load_image(**asdict)``)."""

    max_pixels: int | None = DEFAULT_MAX_PIXELS
    max_aspect_ratio: float | None = DEFAULT_MAX_ASPECT_RATIO
    voi_index: int | None = 0

    def __post_init__(self):
        for key in ("max_pixels", "max_aspect_ratio", "voi_index"):
            v = getattr(self, key)
            low = 1 if key != "voi_index" else 0
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < low):
                raise ValueError(f"{key}={v!r} must be a number >= {low} or null")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DicomOptions:
    frames: str = "middle"
    tags: tuple[str, ...] = ()
    keep_identifiers: bool = False
    salt: bytes | None = None


def probe_file(path, decode: DecodeOptions, dicom: DicomOptions) -> list[dict]:
    """Decode ``path`` fully; one dict per image it yields (``frame``, width, height, tags, sha256).

    Raises :class:`ImageError` with the reason if it cannot be used.
    """
    from . import _dicom

    path = Path(path)
    _check_file(path)
    if looks_like_dicom(path):
        ds = _dicom.read_dicom(path)
        _dicom.check_pixels(ds, decode.max_pixels, decode.max_aspect_ratio)
        header = _dicom.dicom_header(
            ds, dicom.tags, keep_identifiers=dicom.keep_identifiers, salt=dicom.salt
        )
        multi = _dicom.n_frames(ds) > 1
        entries = []
        for f in _dicom.frame_numbers(ds, dicom.frames):
            im = _dicom.decode_frame(ds, f, decode.voi_index)
            entries.append({"frame": f if multi else None, "width": im.width, "height": im.height})
        del ds
    else:
        im = load_image(path, **decode.as_dict())
        entries = [{"frame": None, "width": im.width, "height": im.height}]
        header = dict.fromkeys(dicom.tags)
    digest = sha256_file(path)
    return [{**e, **header, "sha256": digest} for e in entries]


def _probe_record(rec: dict, decode: DecodeOptions, dicom: DicomOptions):
    if rec.get(SKIP_KEY):
        return ImageError(rec[SKIP_KEY])
    try:
        return probe_file(rec["path"], decode, dicom)
    except ImageError as exc:
        return exc
    except MemoryError:
        return ImageError("too large: out of memory while decoding")
    except Exception as exc:  # noqa: BLE001 - a decoder bug must not stop a non-strict run
        return ImageError(f"unreadable ({type(exc).__name__}: {exc})")


def _probe_all(records, decode, dicom, threads: int, name: str) -> Iterator:
    """Probe results in the order of ``records`` (a thread pool when ``threads`` > 1)."""
    bar = dict(total=len(records), desc=f"checking {name} images", mininterval=2)
    if threads <= 1 or len(records) < 2:
        yield from tqdm((_probe_record(r, decode, dicom) for r in records), **bar)
        return
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="probe") as pool:
        results = pool.map(lambda r: _probe_record(r, decode, dicom), records)
        try:
            yield from tqdm(results, **bar)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def build_manifest(
    records: Sequence[dict],
    label_columns: Sequence[str] = (),
    *,
    strict: bool = False,
    name: str = "dataset",
    threads: int = 1,
    decode: DecodeOptions | None = None,
    dicom: DicomOptions | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Probe every record's image; return ``(manifest, skipped)``.

    ``records`` are dicts with ``id``, ``path`` and the label columns (and, for files known to
    be unusable, the reason under ``_skip``). Unreadable images are listed in ``skipped``
    (id, path, reason) and logged, or raise with ``strict=True``. With
    ``dicom.frames == "all"`` a multi-frame file gives one row per frame, with id
    ``<id>#f003`` and path ``<path>#f003`` (1-based) that :func:`load_image` reads. The
    manifest is sorted by id.
    """
    decode = decode or DecodeOptions()
    dicom = dicom or DicomOptions()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads={threads!r} must be a positive integer")
    rows, skipped = [], []
    records = sorted(records, key=lambda r: r["id"])
    ids = [r["id"] for r in records]
    if len(set(ids)) != len(ids):
        dup = pd.Series(ids)[pd.Series(ids).duplicated()].iloc[0]
        raise ValueError(f"{name}: duplicate image id {dup!r}")
    for rec, result in zip(records, _probe_all(records, decode, dicom, threads, name)):
        base = {k: v for k, v in rec.items() if k != SKIP_KEY}
        if isinstance(result, ImageError):
            if strict:
                raise ImageError(f"{name}: {rec['path']}: {result} (strict: true)") from result
            reason = " ".join(str(result).split())  # one line (decoder messages hold newlines)
            log.warning("skipping %s: %s", rec["path"], reason)
            skipped.append({"id": rec["id"], "path": str(rec["path"]), "reason": reason})
            continue
        multi = len(result) > 1
        for entry in result:
            row = {**base, "path": str(rec["path"]), **entry}
            if multi:
                row["id"] = f"{rec['id']}#f{entry['frame']:03d}"
                row["path"] = frame_ref(rec["path"], entry["frame"])
            rows.append(row)
    n_files = len(records)
    if skipped:
        log.warning("%s: skipped %d unreadable file(s) of %d", name, len(skipped), n_files)
    if not rows:
        raise EmptyDatasetError(
            f"{name}: no readable images ({n_files} candidates, {len(skipped)} unreadable)"
        )
    rows.sort(key=lambda r: r["id"])
    if len({r["id"] for r in rows}) != len(rows):
        raise ValueError(f"{name}: a frame id collides with an image id")
    has_frames = any(r["frame"] is not None for r in rows)
    tags = list(dicom.tags)
    labels = list(label_columns)
    front = MANIFEST_CORE + labels
    tail = tags + (["frame"] if has_frames else []) + MANIFEST_PROBE
    other = [c for c in rows[0] if c not in front + tail and c != "frame"]
    cols = front + other + [c for c in tail if c not in front]
    manifest = pd.DataFrame(rows)[cols]
    if has_frames:
        manifest["frame"] = manifest["frame"].astype("Int64")
    skipped_df = pd.DataFrame(skipped, columns=SKIPPED_COLUMNS)
    log.info("%s: %d images in manifest, %d skipped", name, len(manifest), len(skipped_df))
    return manifest, skipped_df


def patient_leakage(manifest: pd.DataFrame, patient_col: str, split_col: str) -> dict:
    """Patients whose images fall in more than one split (a patient-level split leak).

    Rows without a patient id or a split are ignored. Returns ``n_patients``,
    ``n_leaking_patients`` (in ≥ 2 splits), ``share_leaking_patients``,
    ``n_images_of_leaking_patients``, ``split_pairs`` (``{"test|train": patients}``) and up
    to 10 ``examples`` (patient → splits), plus the two column names.
    """
    for c in (patient_col, split_col):
        if c not in manifest.columns:
            raise ValueError(f"patient_leakage: no column {c!r} in the manifest")
    df = manifest[[patient_col, split_col]].dropna()
    df = df[(df[patient_col].astype(str) != "") & (df[split_col].astype(str) != "")]
    splits = df.groupby(patient_col)[split_col].agg(lambda s: sorted(set(map(str, s))))
    leaking = splits[splits.map(len) > 1]
    pairs: dict[str, int] = {}
    for ss in leaking:
        for i, a in enumerate(ss):
            for b in ss[i + 1:]:
                pairs[f"{a}|{b}"] = pairs.get(f"{a}|{b}", 0) + 1
    n = int(len(splits))
    return {
        "patient_column": patient_col,
        "split_column": split_col,
        "n_patients": n,
        "n_leaking_patients": int(len(leaking)),
        "share_leaking_patients": float(len(leaking) / n) if n else 0.0,
        "n_images_of_leaking_patients": int(df[patient_col].isin(leaking.index).sum()),
        "split_pairs": dict(sorted(pairs.items())),
        "examples": {str(k): v for k, v in list(leaking.items())[:10]},
    }


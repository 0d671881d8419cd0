"""Dataset readers (registry stage ``readers``) and the manifest they produce."""

from __future__ import annotations

from .. import _registry as registry
from ._dicom import FRAME_POLICIES, check_tags, is_dicom, resolve_salt
from ._download import DatasetIntegrityError, DatasetUnavailableError, fetch_hub_table, fetch_slake
from ._images import (
    DEFAULT_MAX_ASPECT_RATIO,
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    load_image,
    probe_image,
    sha256_file,
)
from ._manifest import (
    DecodeOptions,
    DicomOptions,
    EmptyDatasetError,
    build_manifest,
    patient_leakage,
    probe_file,
)
from ._pixels import ImageError
from ._slake import read_qa
from ._table import TableError, load_table, read_table_dataset

__all__ = [
    "DEFAULT_MAX_ASPECT_RATIO",
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "TableError",
    "DatasetIntegrityError",
    "DatasetUnavailableError",
    "DecodeOptions",
    "DicomOptions",
    "EmptyDatasetError",
    "ImageError",
    "build_manifest",
    "fetch_hub_table",
    "fetch_slake",
    "is_dicom",
    "load_table",
    "load_image",
    "make_manifest",
    "patient_leakage",
    "probe_file",
    "probe_image",
    "read_qa",
    "read_table_dataset",
    "sha256_file",
]


def make_manifest(
    reader: str,
    path,
    *,
    strict: bool = False,
    name: str = "dataset",
    threads: int = 1,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    max_aspect_ratio: float | None = DEFAULT_MAX_ASPECT_RATIO,
    voi_index: int | None = 0,
    frames: str = "middle",
    dicom_tags=(),
    keep_identifiers: bool = False,
    identifier_salt: str | None = None,
    **reader_kw,
):
    """Run reader ``reader`` on ``path`` and check every image: ``(manifest, skipped, labels)``.

    What the reader knows beyond the rows (the table reader's findings, patient and split
    columns, images not in the table) is in ``manifest.attrs["reader"]``.

    Decoding: ``max_pixels``, ``max_aspect_ratio`` and ``voi_index`` (see :func:`load_image`;
    recorded in ``manifest.attrs["decode"]``, which the embedding must decode with).
    DICOM: ``frames`` (``middle`` or ``all``), ``dicom_tags`` (header keywords that become
    columns and, where they hold values, label columns), identifiers hashed with
    ``identifier_salt`` (or ``$MEDEMBED_ID_SALT``) unless ``keep_identifiers``.
    ``threads`` decode in parallel; the manifest does not depend on it.
    """
    if frames not in FRAME_POLICIES:
        raise ValueError(f"frames={frames!r} is not allowed; use one of {', '.join(FRAME_POLICIES)}")
    tags = check_tags(list(dicom_tags or ()))
    salt = resolve_salt(identifier_salt, tags, keep_identifiers)
    decode = DecodeOptions(max_pixels=max_pixels, max_aspect_ratio=max_aspect_ratio, voi_index=voi_index)
    dicom = DicomOptions(frames=frames, tags=tuple(tags), keep_identifiers=keep_identifiers, salt=salt)
    read = registry.load("readers", reader)
    if reader == "table":
        reader_kw["strict"] = strict  # a listed file missing from disk stops a strict run
    records, labels, *info = read(path, **reader_kw)
    info = info[0] if info else {}
    clash = [t for t in tags if any(t in r for r in records[:1])]
    if clash:
        raise ValueError(f"dicom_tags {clash} clash with columns of the {reader} reader")
    manifest, skipped = build_manifest(
        records, labels, strict=strict, name=name, threads=threads, decode=decode, dicom=dicom
    )
    labels = list(labels) + [t for t in tags if manifest[t].notna().any()]
    manifest.attrs["decode"] = decode.as_dict()
    manifest.attrs["reader"] = info
    return manifest, skipped, labels

"""Dataset readers (registry stage ``readers``) and the manifest they produce."""

from __future__ import annotations

from .. import registry
from ._download import DatasetIntegrityError, DatasetUnavailableError, fetch_slake
from ._images import IMAGE_EXTENSIONS, ImageError, load_image, probe_image, sha256_file
from ._manifest import EmptyDatasetError, build_manifest
from ._slake import read_qa

__all__ = [
    "IMAGE_EXTENSIONS",
    "DatasetIntegrityError",
    "DatasetUnavailableError",
    "EmptyDatasetError",
    "ImageError",
    "build_manifest",
    "fetch_slake",
    "load_image",
    "make_manifest",
    "probe_image",
    "read_qa",
    "sha256_file",
]


def make_manifest(reader: str, path, *, strict: bool = False, name: str = "dataset", **reader_kw):
    """Run reader ``reader`` on ``path`` and check every image: ``(manifest, skipped, labels)``."""
    read = registry.load("readers", reader)
    records, labels = read(path, **reader_kw)
    manifest, skipped = build_manifest(records, labels, strict=strict, name=name)
    return manifest, skipped, labels

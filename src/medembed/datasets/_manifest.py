"""From candidate image records to the manifest: one checked row per readable image."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd
from tqdm.auto import tqdm

from ._images import ImageError, probe_image

log = logging.getLogger(__name__)

MANIFEST_CORE = ["id", "path"]
MANIFEST_PROBE = ["width", "height", "sha256"]


class EmptyDatasetError(ValueError):
    pass


def build_manifest(
    records: Sequence[dict],
    label_columns: Sequence[str] = (),
    *,
    strict: bool = False,
    name: str = "dataset",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Probe every record's image; return ``(manifest, skipped)``.

    ``records`` are dicts with ``id``, ``path`` and the label columns. Unreadable
    images are listed in ``skipped`` (id, path, reason) and logged, or raise with
    ``strict=True``. The manifest's row order (sorted by id) is the order of every
    array computed downstream.
    """
    rows, skipped = [], []
    records = sorted(records, key=lambda r: r["id"])
    ids = [r["id"] for r in records]
    if len(set(ids)) != len(ids):
        dup = pd.Series(ids)[pd.Series(ids).duplicated()].iloc[0]
        raise ValueError(f"{name}: duplicate image id {dup!r}")
    for rec in tqdm(records, desc=f"checking {name} images", mininterval=2):
        try:
            info = probe_image(rec["path"])
        except ImageError as exc:
            if strict:
                raise ImageError(f"{name}: {rec['path']}: {exc} (strict: true)") from exc
            log.warning("skipping %s: %s", rec["path"], exc)
            skipped.append({"id": rec["id"], "path": str(rec["path"]), "reason": str(exc)})
            continue
        rows.append({**rec, "path": str(rec["path"]), **info})
    if skipped:
        log.warning("%s: skipped %d unreadable file(s) of %d", name, len(skipped), len(records))
    if not rows:
        raise EmptyDatasetError(
            f"{name}: no readable images ({len(records)} candidates, {len(skipped)} unreadable)"
        )
    cols = MANIFEST_CORE + list(label_columns) + [
        c for c in rows[0] if c not in MANIFEST_CORE + list(label_columns) + MANIFEST_PROBE
    ] + MANIFEST_PROBE
    manifest = pd.DataFrame(rows)[cols]
    skipped_df = pd.DataFrame(skipped, columns=["id", "path", "reason"])
    log.info("%s: %d images in manifest, %d skipped", name, len(manifest), len(skipped_df))
    return manifest, skipped_df

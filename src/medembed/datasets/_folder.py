"""Reader for any directory tree of images; the parent folder name is an optional label."""

from __future__ import annotations

import os
from pathlib import Path

from ._images import IMAGE_EXTENSIONS


def read_folder(
    path: str | os.PathLike,
    *,
    label_name: str | None = "class",
    extensions: tuple[str, ...] = IMAGE_EXTENSIONS,
) -> tuple[list[dict], list[str]]:
    """Candidate records for every file with an image extension below ``path``.

    Returns ``(records, label_columns)``. The id is the path relative to ``path``
    without extension. With ``label_name`` set, files inside a sub-folder get that
    folder's name as label; files directly in ``path`` get no label.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    exts = {e.lower() for e in extensions}
    records = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fn in sorted(filenames):
            p = Path(dirpath) / fn
            if fn.startswith(".") or p.suffix.lower() not in exts:
                continue
            rel = p.relative_to(root)
            rec = {"id": rel.with_suffix("").as_posix(), "path": p}
            if label_name:
                rec[label_name] = rel.parent.name if rel.parent != Path(".") else None
            records.append(rec)
    labels = [label_name] if label_name and any(r[label_name] for r in records) else []
    if label_name and not labels:
        for r in records:
            r.pop(label_name, None)
    return records, labels

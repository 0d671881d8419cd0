"""Reader for any directory tree of images; the parent folder name is an optional label.

Which files are candidates
    every file with an image extension (:data:`IMAGE_EXTENSIONS`, any case: ``.PNG`` too),
    plus every other file that starts like a DICOM file (``DICM`` at byte 128), such as the
    extension-less files of PACS exports. ``DICOMDIR`` index files and hidden files and
    folders (``.name``) are ignored.

Ids
    the path relative to the folder, in POSIX form, without its image extension
    (``Hand/001.jpeg`` → ``Hand/001``). Files whose ids would collide, such as ``a.png`` and
    ``a.jpg`` in one folder, keep their extension (``a.png``, ``a.jpg``); only those do, so
    adding a file never renames an unrelated image. A DICOM file found by its preamble
    keeps its whole name (``1.2.840.113619.2.55.3.604`` stays as is).

Links
    a link to a file inside the folder is read like the file. A broken link with an image
    extension, and one whose target lies outside the folder (skipped for safety: a dataset
    must not read files it does not contain), become candidates that are skipped with that
    reason; so does a linked folder, which is not followed. Links without an image extension
    are sniffed for DICOM only when they point to a file inside the folder.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from ._dicom import is_dicom
from ._images import IMAGE_EXTENSIONS

#: Key of a candidate record that is known to be unreadable before decoding (e.g. a broken
#: link); :func:`~medembed.datasets.build_manifest` skips it with this reason.
SKIP_KEY = "_skip"
_IGNORED_NAMES = {"dicomdir", "thumbs.db", "desktop.ini"}


def _link_problem(p: Path, root_real: Path) -> str | None:
    """Why the link ``p`` must not be read (None if its target is a file inside the folder)."""
    try:
        target = os.readlink(p)
    except OSError:
        target = "?"
    real = Path(os.path.realpath(p))
    if not real.exists():
        return f"broken link (target {target!r} does not exist)"
    if real != root_real and root_real not in real.parents:
        return f"link leaves the folder (target {target!r} is outside it): skipped for safety"
    if real.is_dir():
        return f"link to a folder (target {target!r}): not followed"
    return None


def _candidate(p: Path, exts: set[str], root_real: Path) -> bool:
    """A file to list: an image extension, or (for other names) a DICOM preamble.

    A link without an image extension is sniffed only when its target is a file inside the
    folder; a broken or outside one cannot be told from any other file and is not listed.
    """
    if p.name.lower() in _IGNORED_NAMES:
        return False
    if p.suffix.lower() in exts:
        return True
    if p.is_symlink() and _link_problem(p, root_real) is not None:
        return False
    return is_dicom(p)


def _base_id(rel: Path, exts: set[str]) -> str:
    return rel.with_suffix("").as_posix() if rel.suffix.lower() in exts else rel.as_posix()


def unique_ids(rels: list[Path], exts: set[str]) -> list[str]:
    """Ids for relative paths: without extension, except where that would collide."""
    ids = [_base_id(r, exts) for r in rels]
    for _ in range(len(rels) + 1):
        groups = defaultdict(list)
        for i, x in enumerate(ids):
            groups[x].append(i)
        clashes = [g for g in groups.values() if len(g) > 1]
        if not clashes:
            return ids
        for g in clashes:
            for i in g:
                ids[i] = rels[i].as_posix()  # the full relative path is unique
    raise AssertionError("unreachable: full relative paths are unique")


def read_folder(
    path: str | os.PathLike,
    *,
    label_name: str | None = "class",
    extensions: tuple[str, ...] = IMAGE_EXTENSIONS,
) -> tuple[list[dict], list[str]]:
    """Candidate records for every image below ``path`` (see the module docstring).

    Returns ``(records, label_columns)``. With ``label_name`` set, files inside a
    sub-folder get that folder's name as label; files directly in ``path`` get no label.
    Records of files known to be unreadable without decoding (links) carry the reason
    under :data:`SKIP_KEY`.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    root_real = Path(os.path.realpath(root))
    exts = {e.lower() for e in extensions}
    found: list[tuple[Path, str | None]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        subdirs = []
        for d in sorted(dirnames):
            if d.startswith("."):
                continue
            if (here / d).is_symlink():
                found.append((here / d, _link_problem(here / d, root_real) or "link to a folder: not followed"))
            else:
                subdirs.append(d)
        dirnames[:] = subdirs
        for fn in sorted(filenames):
            p = here / fn
            if fn.startswith(".") or not _candidate(p, exts, root_real):
                continue
            found.append((p, _link_problem(p, root_real) if p.is_symlink() else None))
    found.sort(key=lambda x: x[0].relative_to(root).as_posix())
    rels = [p.relative_to(root) for p, _ in found]
    records = []
    for (p, problem), rel, rid in zip(found, rels, unique_ids(rels, exts)):
        rec = {"id": rid, "path": p}
        if label_name:
            rec[label_name] = rel.parent.name if rel.parent != Path(".") else None
        if problem:
            rec[SKIP_KEY] = problem
        records.append(rec)
    labels = [label_name] if label_name and any(r[label_name] for r in records) else []
    if label_name and not labels:
        for r in records:
            r.pop(label_name, None)
    return records, labels

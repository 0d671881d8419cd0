"""A cheap signature of what a folder holds, so a changed image folder reruns its manifest.

A folder dataset's images are not inputs snakemake can see (a directory's mtime changes
only when its own entries change, not when a file deep inside it does). The manifest
job therefore gets, as a param, a hash of every file's relative path, size and mtime
below the folder: adding, removing or rewriting an image changes it; reading the folder
again does not. Stat calls only, no file is opened. Standard library only.
"""

from __future__ import annotations

import hashlib
import os


def tree_signature(path: str | os.PathLike) -> str:
    """Short hash of (relative path, size, mtime_ns) of every file below ``path``.

    A missing folder gives ``"missing"`` (the reader reports it with a clear error).
    """
    root = os.fspath(path)
    if not os.path.isdir(root):
        return "missing"
    h = hashlib.sha256()
    stack = [root]
    entries = []
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                for e in it:
                    if e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
                        continue
                    try:
                        st = e.stat()
                        entries.append((os.path.relpath(e.path, root), st.st_size, st.st_mtime_ns))
                    except OSError:  # a broken link: still part of what the folder holds
                        entries.append((os.path.relpath(e.path, root), -1, -1))
        except OSError:
            continue
    for rel, size, mtime in sorted(entries):
        h.update(f"{rel}\0{size}\0{mtime}\n".encode())
    return h.hexdigest()[:16]

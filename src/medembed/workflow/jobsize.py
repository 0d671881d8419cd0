"""How many threads a job gets, from the size of its feature matrix (read by the Snakefile).

On a small collection most jobs (k-means on 120 images, a t-SNE of 600) finish in a
second or two, most of it start-up, and a second thread buys nothing. Asking for the
rule's full threads anyway makes snakemake run them one at a time on a 2-core laptop.
So a job gets one thread per :data:`ROWS_PER_THREAD` rows of its features, at least one
and at most the rule's maximum; two such jobs then run side by side.

Snakemake evaluates ``threads`` once when it builds the DAG, when the features may not
exist yet (the maximum is used then, e.g. in a dry run), and again just before it starts
the job, when they do. Threads change how a job runs, never its result (they are not
params), so a rerun with other threads reruns nothing. ``--set-threads rule=N`` overrides.

Dependency-free apart from numpy (which snakemake's own process has loaded already).
"""

from __future__ import annotations

import math
import os
import zipfile

ROWS_PER_THREAD = 4096


def n_rows(path: str | os.PathLike, member: str = "X.npy") -> int | None:
    """Rows of the matrix ``member`` of an ``.npz``, from its header; None if not readable yet."""
    from .._npy import read_header

    try:
        with zipfile.ZipFile(path) as zf, zf.open(member) as fh:
            shape = read_header(fh)[0]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    return int(shape[0]) if shape else None


def threads_for(rows: int | None, most: int) -> int:
    """One thread per :data:`ROWS_PER_THREAD` rows, between 1 and ``most``; ``most`` if unknown."""
    most = max(1, int(most))
    if rows is None:
        return most
    return max(1, min(most, math.ceil(rows / ROWS_PER_THREAD)))

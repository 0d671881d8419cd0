"""The header of a ``.npy`` stream (numpy only: the Snakefile's process reads it too)."""

from __future__ import annotations

import numpy as np


def read_header(fh) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` of the ``.npy`` array at ``fh``'s position; ``fh``
    is left at the first byte of the data."""
    version = np.lib.format.read_magic(fh)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    return read(fh)

"""Threads sized from a job's feature matrix (medembed.workflow.jobsize, used by rules/common.smk)."""

import numpy as np
import pytest

from medembed import io
from medembed.workflow import jobsize


def test_rows_are_read_from_the_header_without_loading(tmp_path):
    path = tmp_path / "f.npz"
    io.write_array(path, np.zeros((1234, 7), np.float32), ids=np.arange(1234).astype(str))
    assert jobsize.n_rows(path) == 1234


@pytest.mark.parametrize("content", [None, b"", b"not a zip"])
def test_missing_or_unreadable_files_give_none(tmp_path, content):
    path = tmp_path / "f.npz"
    if content is not None:
        path.write_bytes(content)
    assert jobsize.n_rows(path) is None


@pytest.mark.parametrize(
    ("rows", "most", "want"),
    [(120, 2, 1), (4096, 2, 1), (4097, 2, 2), (10**6, 2, 2), (10**6, 8, 8), (9000, 8, 3), (None, 2, 2), (0, 4, 1)],
)
def test_one_thread_per_block_of_rows_between_one_and_the_rule_maximum(rows, most, want):
    assert jobsize.threads_for(rows, most) == want

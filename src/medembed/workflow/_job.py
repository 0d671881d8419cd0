"""Glue for rule scripts: route logging, warnings, tqdm and tracebacks into the job log.

The package never imports snakemake; scripts call :func:`job_logging` with
``snakemake.log[0]`` and do everything else through the package.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path

from .._registry import THREAD_KEYS

log = logging.getLogger("medembed")


@contextlib.contextmanager
def job_logging(logfile: str | os.PathLike, level: int = logging.INFO) -> Iterator[logging.Logger]:
    """Send ``logging``, ``warnings`` and stderr (where tqdm writes) to ``logfile``.

    On an exception the traceback goes to the log and one line naming the error
    goes to the real stderr, then the exception propagates so the job fails.
    """
    logfile = Path(logfile)
    logfile.parent.mkdir(parents=True, exist_ok=True)
    real_stderr = sys.stderr
    with open(logfile, "a", buffering=1) as fh:
        handler = logging.StreamHandler(fh)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        old_level = root.level
        root.addHandler(handler)
        root.setLevel(level)
        logging.captureWarnings(True)
        sys.stderr = fh
        try:
            yield log
        except BaseException as exc:
            fh.write(traceback.format_exc())
            real_stderr.write(f"medembed error: {type(exc).__name__}: {exc} (log: {logfile})\n")
            raise
        finally:
            sys.stderr = real_stderr
            root.removeHandler(handler)
            root.setLevel(old_level)
            logging.captureWarnings(False)
            warnings.resetwarnings()


def job_settings(resources, threads: int | None = None) -> dict:
    """The job's runtime settings: the JSON ``settings`` resource, with ``n_jobs`` = threads.

    Runtime keys (device, batch size, model location, timeouts, ...) travel as a resource
    rather than a param so that changing them reruns nothing (see medembed.workflow.registry.RUNTIME_KEYS).
    """
    raw = getattr(resources, "settings", None) if not isinstance(resources, dict) else resources.get("settings")
    out = json.loads(raw) if raw else {}
    if threads is not None:  # the rule's threads decide a method's parallelism
        out.update(dict.fromkeys(sorted(THREAD_KEYS), max(1, int(threads))))
    return out


def set_threads(n: int) -> None:
    """Limit BLAS/OpenMP/torch threads to what the job was given."""
    n = max(1, int(n))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, str(n))
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:  # pragma: no cover - threadpoolctl ships with sklearn
        pass
    # torch reads OMP_NUM_THREADS when it is first imported; a job that already imported
    # it gets the limit set directly. Jobs that never use torch do not import it here.
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)

"""The workflow machinery: what the Snakefile and the rule scripts use, never the analysis.

The analysis API (``datasets``, ``embed``, ``pp``, ``tl``, ``pl``, ``explore``, ``report``,
``io``) never imports this package; this package sits on top of it (the layers contract
in pyproject.toml, checked by tests/test_architecture.py).

- :mod:`.registry`: the method names as the workflow reads them, code versions of jobs
- :mod:`.config`: config checks with one-line errors naming the key
- :mod:`.graph`: the job graph declared once (rule all, the report's layout, the benchmarks)
- :mod:`.codeversion`: the hash of a job's import closure (reruns a job when its code changes)
- :mod:`.fsstate`, :mod:`.jobsize`: a folder's signature, threads from a job's feature rows
- :mod:`.resume`: ``python -m medembed.workflow.resume`` after an interrupted run
- job glue re-exported here for the rule scripts (``from medembed.workflow import
  job_logging``): :func:`job_logging`, :func:`job_settings`, :func:`set_threads`

The registry and the config checks are standard library only: ``rules/common.smk``
imports them at parse time, without the analysis stack. :mod:`.graph` is the exception: it
reads the issue types from ``tl._issues``, which imports numpy and pandas (snakemake has
already loaded both when the Snakefile is parsed). The job glue is imported on first use
(see :mod:`medembed._lazy`), so reading the registry does not import ``logging`` either.
"""

from __future__ import annotations

from .._lazy import attach

_LAZY = {
    "job_logging": "._job",
    "job_settings": "._job",
    "set_threads": "._job",
}

__getattr__, __dir__, __all__ = attach(__name__, _LAZY)

"""Lazy re-exports for the package namespaces (PEP 562).

``medembed.tl.cluster_metrics`` imports ``medembed.tl._metrics`` only when first used,
so a job that needs one function does not pay for importing sklearn, torch or
matplotlib through modules it never touches. Each namespace declares its names in a
literal ``_LAZY = {name: "._module"}`` map, which :mod:`medembed.workflow.codeversion` also reads
to know which module a job's ``tl.name`` reaches.
"""

from __future__ import annotations

import importlib


def attach(package: str, table: dict[str, str]):
    """``(__getattr__, __dir__, __all__)`` for a package whose names live in submodules."""

    def __getattr__(name: str):
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(table[name], package)
        return getattr(module, name) if hasattr(module, name) else module

    def __dir__():
        return sorted(table)

    return __getattr__, __dir__, sorted(table)

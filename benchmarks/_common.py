"""The one place tests/ and benchmarks/ reach each other's helpers, without editing ``sys.path``.

``python benchmarks/x.py`` finds its sibling modules because Python puts the script's folder
on the path, and pytest finds the helpers in tests/ because it puts the folder of
tests/conftest.py there. A module of the *other* folder is loaded from its file:

* benchmarks: ``from_tests("browser")`` (headless Chromium) or
  ``from_tests("hub_fixtures", "openclip_fixture")`` (the tiny BiomedCLIP's vocabulary);
* tests (through ``conftest.from_benchmarks``): ``from_benchmarks("scale", "tutorial")``.

Name a module's sibling dependencies before it (``openclip_fixture`` imports ``hub_fixtures``,
``tutorial`` imports ``scale``): each is registered in ``sys.modules`` under its plain name, so
the later module's ``from hub_fixtures import ...`` finds it there. A module that is already
imported already (a sibling of the running script, a helper pytest imported) is reused.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
BENCHMARKS = ROOT / "benchmarks"


def _load(folder: Path, name: str) -> ModuleType:
    path = (folder / f"{name}.py").resolve()
    module = sys.modules.get(name)
    if module is not None:  # imported before, from the path or by an earlier call
        if Path(getattr(module, "__file__", None) or "").resolve() != path:
            raise ImportError(f"module {name!r} is already imported from {module.__file__}, not {path}")
        return module
    if not path.is_file():
        raise ImportError(f"no module {name!r} in {folder}")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _load_all(folder: Path, names: tuple[str, ...]) -> ModuleType:
    modules = [_load(folder, name) for name in names]
    return modules[-1]


def from_tests(*names: str) -> ModuleType:
    """The test helper module ``names[-1]`` (tests/<name>.py), after its dependencies ``names[:-1]``."""
    return _load_all(TESTS, names)


def from_benchmarks(*names: str) -> ModuleType:
    """The benchmark module ``names[-1]`` (benchmarks/<name>.py), after its dependencies ``names[:-1]``."""
    return _load_all(BENCHMARKS, names)

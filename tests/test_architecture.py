"""The package shows its architecture, and the architecture holds.

* The import-linter contracts in pyproject.toml (``[tool.importlinter]``): the workflow
  machinery (``medembed.workflow``) on top of the analysis API, the API in layers
  (report/explore > pl > tl > pp > embed > datasets > io > private helpers), pl never
  importing tl, and no import cycle between the modules of any namespace.
* ``scripts/`` is not a package: each script is a rule's thin adapter that only snakemake
  runs, so no module imports one, and no file puts scripts/ on ``sys.path``.
* The package root holds the analysis namespaces, ``io``, ``report``, ``workflow`` and
  private helpers (``_x.py``), nothing else: machinery cannot creep back beside them.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

PKG = ROOT / "src" / "medembed"
#: The public names of the package root: scanpy-style namespaces plus io, report, workflow.
PUBLIC = {"datasets", "embed", "pp", "tl", "pl", "explore", "io", "report", "workflow"}


def test_import_contracts_hold():
    """``lint-imports`` (grimp reads this checkout's src/ statically) keeps every contract."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    res = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    out = res.stdout + res.stderr
    assert res.returncode == 0, f"import contracts broken (pyproject.toml [tool.importlinter]):\n{out}"
    assert "0 broken" in out and "BROKEN" not in out, out


def _py_files():
    for folder in ("src", "tests", "benchmarks", "scripts"):
        yield from sorted((ROOT / folder).rglob("*.py"))


def _names_scripts(node: ast.AST) -> bool:
    """Does the expression mention the scripts/ folder (a literal or a name ``SCRIPTS``)?"""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and "scripts" in sub.value.split("/"):
            return True
        if isinstance(sub, ast.Name | ast.Attribute):
            name = sub.id if isinstance(sub, ast.Name) else sub.attr
            if name.lower() in {"scripts", "scripts_dir"}:
                return True
    return False


def _is_sys_path(node: ast.AST) -> bool:
    return ast.unparse(node).startswith("sys.path")


def test_nothing_imports_scripts():
    """No ``import scripts`` / ``from scripts ...``, no scripts/ on ``sys.path`` (insert,
    append, extend, slice assignment, ``+=``), no loading a script by its file path."""
    found = []
    for path in _py_files():
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), filename=rel)):
            where = f"{rel}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Import):
                if any(a.name == "scripts" or a.name.startswith("scripts.") for a in node.names):
                    found.append(f"{where}: {ast.unparse(node)}")
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0 and node.module and node.module.split(".")[0] == "scripts":
                    found.append(f"{where}: {ast.unparse(node)}")
            elif isinstance(node, ast.Call):
                func = ast.unparse(node.func)
                args = [*node.args, *(k.value for k in node.keywords)]
                path_edit = func.startswith("sys.path.") or func.endswith("addsitedir")
                loads = func.endswith(("spec_from_file_location", "import_module", "run_path", "run_module"))
                if (path_edit or loads) and any(_names_scripts(a) for a in args):
                    found.append(f"{where}: {ast.unparse(node)}")
            elif isinstance(node, ast.Assign | ast.AugAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(_is_sys_path(t) for t in targets) and _names_scripts(node.value):
                    found.append(f"{where}: {ast.unparse(node)}")
    assert not found, "scripts/ is not a package; move shared code into src/medembed:\n" + "\n".join(found)


def test_package_root_holds_only_the_api_namespaces_and_private_helpers():
    """Public: the analysis namespaces plus io, report and workflow (the machinery's one
    home). Anything else at the root is private (``_x.py``), so a loose public module such
    as the old ``config.py`` or ``registry.py`` fails here (and in the exhaustive layers
    contract) until it is put in its place."""
    public, stray = set(), []
    for entry in sorted(PKG.iterdir()):
        if entry.name == "__pycache__" or entry.name == "__init__.py":
            continue
        if entry.is_dir():
            if not (entry / "__init__.py").is_file():
                stray.append(f"{entry.name}/ (not a package)")
            elif entry.name.startswith("_"):
                stray.append(f"{entry.name}/ (a private subpackage: use a private module)")
            else:
                public.add(entry.name)
        elif entry.suffix == ".py":
            if not entry.name.startswith("_"):
                public.add(entry.stem)
        else:
            stray.append(entry.name)
    assert public <= PUBLIC, f"public modules at the package root beyond {sorted(PUBLIC)}: {sorted(public - PUBLIC)}"
    assert public == PUBLIC, f"namespaces missing from the package root: {sorted(PUBLIC - public)}"
    assert not stray, f"unexpected entries in src/medembed: {stray}"

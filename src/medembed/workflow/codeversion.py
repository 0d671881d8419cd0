"""The code version of a workflow job, derived from what its script imports.

Snakemake reruns a job when its script changes, but not when a package module the
script imports changes. :func:`code_version` closes that gap: it hashes the script
together with every ``medembed`` module the script reaches, directly or transitively,
read from the source with :mod:`ast` (no import is executed, so the Snakefile can call
it without torch or sklearn). A job gets the hash as a param, so an edit to any module
reruns exactly the jobs whose code reaches it.

How names are followed:

- ``from medembed.tl import _metrics`` / ``import medembed.tl._metrics`` / relative
  imports: the module named.
- ``from medembed import tl`` and then ``tl.cluster_metrics(...)`` in the same file: the
  attribute is resolved through the package's ``__init__`` (its ``from ._x import name``
  re-exports, or its lazy ``_LAZY = {name: "._x"}`` map) to the one submodule that
  defines it, so using ``tl.cluster_table`` does not make a job depend on every module
  ``tl`` re-exports. A package's ``__init__`` itself is part of the hash, except its
  ``_LAZY`` map (:func:`hashed_bytes`): a new export reruns only the jobs that use it.
- Imports inside functions count like top-level ones (they run when the code runs).
- Methods that the registry loads by name are not visible as imports: the caller names
  them (``extra``), e.g. the clusterer module of the job's ``{method}`` wildcard.
- Files a module reads as package data (CSS, JavaScript, ...) are not imports: the
  module lists them, relative to its own directory, in a literal top-level
  ``PACKAGE_DATA = ("static/x.js", ...)``, and they are hashed together with it.
- The registry (``medembed._registry`` and its workflow view
  ``medembed.workflow.registry``) is not followed: it maps every method name to its
  module, so adding a method would otherwise rerun everything. The job's own registry
  entry is hashed instead (see :func:`medembed.workflow.registry.code_version`).

This module uses only the standard library.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = "medembed"
#: The ``medembed`` package directory (this module is ``medembed/workflow/codeversion.py``).
PKG_ROOT = Path(__file__).resolve().parents[1]
#: Modules never followed (see the module docstring).
NOT_FOLLOWED = frozenset({f"{PACKAGE}._registry", f"{PACKAGE}.workflow.registry"})


def module_file(module: str) -> Path | None:
    """Source file of a ``medembed`` module name (package -> its ``__init__.py``)."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PKG_ROOT.joinpath(*parts[1:])
    if (base / "__init__.py").exists():
        return base / "__init__.py"
    if base.with_suffix(".py").exists():
        return base.with_suffix(".py")
    return None


def _is_package(module: str) -> bool:
    f = module_file(module)
    return f is not None and f.name == "__init__.py"


def _resolve_relative(current: str, is_pkg: bool, level: int, target: str | None) -> str:
    """Absolute name of ``from <level dots><target> import ...`` inside ``current``."""
    if level == 0:
        return target or ""
    parts = current.split(".")
    if not is_pkg:
        parts = parts[:-1]
    parts = parts[: len(parts) - (level - 1)] if level > 1 else parts
    return ".".join(parts + ([target] if target else []))


@functools.cache
def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


@functools.cache
def exports(package: str) -> dict[str, str]:
    """``{name: defining module}`` for the names a package's ``__init__`` re-exports."""
    f = module_file(package)
    if f is None or f.name != "__init__.py":
        return {}
    out: dict[str, str] = {}
    for node in _parse(f).body:
        if isinstance(node, ast.ImportFrom):
            src = _resolve_relative(package, True, node.level, node.module)
            for alias in node.names:
                name = alias.asname or alias.name
                sub = f"{src}.{alias.name}"
                out[name] = sub if module_file(sub) else src
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_LAZY" for t in node.targets
        ):
            for name, rel in ast.literal_eval(node.value).items():
                level = len(rel) - len(rel.lstrip("."))
                out[name] = _resolve_relative(package, True, level, rel.lstrip(".") or None)
    return out


def _attribute_uses(tree: ast.AST, alias: str) -> set[str]:
    """Attributes read from the name ``alias`` (``alias.attr``) anywhere in ``tree``."""
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == alias
    }


def _through_package(package: str, names: set[str]) -> set[str]:
    """The modules that ``names`` of ``package`` lead to, plus the package itself."""
    out = {package}
    table = exports(package)
    for name in names:
        sub = f"{package}.{name}"
        if module_file(sub) is not None:
            out.add(sub)
        elif name in table and table[name] != package:
            out.add(table[name])
    return out


def _package_body_uses(tree: ast.Module, package: str) -> tuple[list[ast.AST], set[str]]:
    """For a package ``__init__``: the nodes that run beyond re-exporting, and the
    re-exported names that its own functions and classes use.

    Top-level ``from ._x import name`` lines only re-export; a caller that uses ``name``
    reaches ``_x`` through :func:`exports`. What the package's own definitions use is
    followed like any import.
    """
    table = exports(package)
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    used = {
        n.id
        for d in defs
        for n in ast.walk(d)
        if isinstance(n, ast.Name) and n.id in table
    }
    return defs, used


@functools.cache
def direct_imports(path: Path, module: str = "") -> frozenset[str]:
    """The ``medembed`` modules that the file at ``path`` (module ``module``) imports.

    A package's ``__init__`` counts only what its own definitions import and use (see
    :func:`_package_body_uses`), not every module it re-exports.
    """
    tree = _parse(path)
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    roots: list[ast.AST] = [tree]
    if is_pkg and module:
        roots, used = _package_body_uses(tree, module)
        found |= {exports(module)[name] for name in used}
    for node in (n for root in roots for n in ast.walk(root)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != PACKAGE:
                    continue
                if alias.asname and _is_package(alias.name):
                    found |= _through_package(alias.name, _attribute_uses(tree, alias.asname))
                else:
                    found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            src = _resolve_relative(module, is_pkg, node.level, node.module)
            if src.split(".")[0] != PACKAGE:
                continue
            if not _is_package(src):
                found.add(src)
                continue
            for alias in node.names:
                sub = f"{src}.{alias.name}"
                if module_file(sub) is not None:
                    if _is_package(sub):  # a subpackage used as a namespace: follow its attributes
                        found |= _through_package(sub, _attribute_uses(tree, alias.asname or alias.name))
                    else:
                        found.add(sub)
                else:
                    found |= _through_package(src, {alias.name})
    return frozenset(m for m in found if module_file(m) is not None)


@functools.cache
def package_data(path: Path) -> tuple[Path, ...]:
    """The data files that the module at ``path`` declares in ``PACKAGE_DATA``.

    Paths are relative to the module's directory; a listed file that does not exist is
    an error, so a rename cannot silently drop it from the hash.
    """
    for node in _parse(path).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "PACKAGE_DATA" for t in targets):
                files = tuple(path.parent / rel for rel in ast.literal_eval(node.value))
                missing = [str(f) for f in files if not f.is_file()]
                if missing:
                    raise FileNotFoundError(f"{path}: PACKAGE_DATA lists missing {missing}")
                return files
    return ()


def closure(path: Path, module: str = "", extra: tuple[str, ...] = ()) -> list[Path]:
    """Every ``medembed`` source file that ``path`` reaches, plus ``extra`` modules and
    the package data those modules declare (``PACKAGE_DATA``), sorted."""
    seen: set[str] = set()
    todo = [*direct_imports(Path(path), module), *extra]
    while todo:
        mod = todo.pop()
        if mod in seen or mod in NOT_FOLLOWED:
            continue
        seen.add(mod)
        f = module_file(mod)
        if f is None:
            continue
        todo.extend(direct_imports(f, mod))
    files = {f for f in map(module_file, seen) if f is not None}
    files |= {d for f in files for d in package_data(f)}
    return sorted(files)


def module_name(path: Path) -> str:
    """The dotted name of a file inside the package ('' outside it)."""
    try:
        rel = Path(path).resolve().relative_to(PKG_ROOT)
    except ValueError:
        return ""
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([PACKAGE, *parts])


def hashed_bytes(path: Path) -> bytes:
    """What the hash reads of ``path``: the file, except a package ``__init__``'s lazy
    ``_LAZY`` map. The map only routes names to submodules, and the job's closure already
    holds (and hashes) the submodules its names reach, so exporting a new name from ``tl``
    reruns no job that does not use it."""
    data = path.read_bytes()
    if path.name != "__init__.py" or b"_LAZY" not in data:
        return data
    lines = data.decode().splitlines(keepends=True)
    for node in _parse(path).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in targets):
            del lines[node.lineno - 1:node.end_lineno]
            break
    return "".join(lines).encode()


def code_version(script: str | Path, extra: tuple[str, ...] = (), salt: str = "") -> str:
    """Short hash of ``script`` and every package file it reaches (plus ``extra`` modules)."""
    script = Path(script)
    h = hashlib.sha256(salt.encode())
    for f in [script, *closure(script, module_name(script), tuple(extra))]:
        h.update(str(f.relative_to(PKG_ROOT) if f.is_relative_to(PKG_ROOT) else f.name).encode())
        h.update(hashed_bytes(f))
    return h.hexdigest()[:12]

"""The code version of a job is derived from its script's imports, not a hand-kept list."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT

from medembed.workflow import codeversion, registry


def _closure(script: str, *extra: str) -> set[str]:
    files = codeversion.closure(ROOT / "scripts" / script, "", extra)
    return {str(f.relative_to(codeversion.PKG_ROOT)) for f in files}


def test_attribute_use_reaches_only_the_defining_module():
    """``tl.cluster_table`` reaches tl/_api.py, not every module ``tl`` re-exports."""
    deps = _closure("cluster.py")
    assert {"tl/__init__.py", "tl/_api.py", "io.py", "workflow/__init__.py", "workflow/_job.py"} <= deps
    assert "tl/_metrics.py" not in deps and "pl/_maps.py" not in deps
    assert "_registry.py" not in deps and "workflow/registry.py" not in deps  # the job's own registry entry is hashed instead


def test_transitive_imports_are_followed():
    deps = _closure("cluster.py", registry.module_of("cluster", "hyphc"))
    assert "tl/cluster/_hyperbolic.py" in deps  # imported by the HypHC module, not by the script
    assert "tl/cluster/_hyperbolic.py" not in _closure("cluster.py", registry.module_of("cluster", "kmeans"))


def test_evaluation_reaches_metrics_and_plots_reach_their_module():
    assert "tl/_metrics.py" in _closure("evaluate_clustering.py")
    assert "pl/_samples.py" in _closure("plot_cluster_details.py")
    assert "pl/_samples.py" not in _closure("plot_tree.py")


def test_relative_and_function_level_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "medembed"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text('_LAZY = {"f": "._a"}\n')
    (pkg / "sub" / "_a.py").write_text("def f():\n    from .._b import g\n    return g()\n")
    (pkg / "_b.py").write_text("from .sub import _c\n")
    (pkg / "sub" / "_c.py").write_text("X = 1\n")
    (pkg / "_unused.py").write_text("")
    script = tmp_path / "job.py"
    script.write_text("from medembed import sub\nsub.f()\n")
    monkeypatch.setattr(codeversion, "PKG_ROOT", pkg)
    for fn in (codeversion._parse, codeversion.exports, codeversion.direct_imports):
        fn.cache_clear()
    try:
        got = {str(f.relative_to(pkg)) for f in codeversion.closure(script)}
        assert got == {"sub/__init__.py", "sub/_a.py", "_b.py", "sub/_c.py"}
        before = codeversion.code_version(script)
        (pkg / "sub" / "_c.py").write_text("X = 2\n")
        codeversion._parse.cache_clear()
        assert codeversion.code_version(script) != before  # a transitive edit changes the version
        (pkg / "_unused.py").write_text("# edit\n")
        codeversion._parse.cache_clear()
        after = codeversion.code_version(script)
        (pkg / "_unused.py").write_text("")
        assert after == codeversion.code_version(script)  # an unrelated edit does not
    finally:
        for fn in (codeversion._parse, codeversion.exports, codeversion.direct_imports):
            fn.cache_clear()


def test_the_explorer_job_hashes_its_static_files():
    """explorer.js and explorer.css are package data, not imports: make_explorer's
    version must still cover them, or an edit to them would not rerun the explorers."""
    deps = _closure("make_explorer.py")
    assert {"explore/_page.py", "explore/static/explorer.js", "explore/static/explorer.css"} <= deps
    assert "explore/static/explorer.js" not in _closure("cluster.py")


def test_declared_package_data_is_hashed(tmp_path, monkeypatch):
    pkg = tmp_path / "medembed"
    (pkg / "static").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "_page.py").write_text('PACKAGE_DATA = ("static/a.js",)\n')
    (pkg / "static" / "a.js").write_text("var a = 1;\n")
    (pkg / "static" / "other.js").write_text("")
    script = tmp_path / "job.py"
    script.write_text("from medembed import _page\n")
    monkeypatch.setattr(codeversion, "PKG_ROOT", pkg)
    caches = (codeversion._parse, codeversion.exports, codeversion.direct_imports,
              codeversion.package_data)
    for fn in caches:
        fn.cache_clear()
    try:
        got = {str(f.relative_to(pkg)) for f in codeversion.closure(script)}
        assert got == {"_page.py", "static/a.js"}
        before = codeversion.code_version(script)
        (pkg / "static" / "a.js").write_text("var a = 2;\n")
        assert codeversion.code_version(script) != before  # editing the data file reruns
        after = codeversion.code_version(script)
        (pkg / "static" / "other.js").write_text("// edit\n")
        assert codeversion.code_version(script) == after  # an undeclared file does not
        (pkg / "_page.py").write_text('PACKAGE_DATA = ("static/gone.js",)\n')
        for fn in caches:
            fn.cache_clear()
        with pytest.raises(FileNotFoundError, match="gone.js"):
            codeversion.code_version(script)
    finally:
        for fn in caches:
            fn.cache_clear()


def test_a_new_lazy_export_reruns_only_the_jobs_that_use_it(tmp_path, monkeypatch):
    """Exporting a name from a namespace's ``_LAZY`` map leaves every other job's version
    alone; re-routing a used name, or editing the ``__init__`` elsewhere, changes it."""
    pkg = tmp_path / "medembed"
    (pkg / "tl").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    init = 'from .._lazy import attach\n\n_LAZY = {\n    "a": "._a",\n}\n\n__getattr__ = attach(_LAZY)\n'
    (pkg / "tl" / "__init__.py").write_text(init)
    for m in ("_a", "_b", "_c"):
        (pkg / "tl" / f"{m}.py").write_text(f"def {m[1:]}():\n    return {m!r}\n")
    (pkg / "_lazy.py").write_text("def attach(t):\n    return None\n")
    script = tmp_path / "job.py"
    script.write_text("from medembed import tl\n\ntl.a()\n")
    monkeypatch.setattr(codeversion, "PKG_ROOT", pkg)
    caches = (codeversion._parse, codeversion.exports, codeversion.direct_imports, codeversion.package_data)

    def version(text):
        (pkg / "tl" / "__init__.py").write_text(text)
        for fn in caches:
            fn.cache_clear()
        return codeversion.code_version(script)

    try:
        before = version(init)
        assert version(init.replace('"a": "._a",', '"a": "._a",\n    "b": "._b",')) == before
        assert version(init.replace('"._a"', '"._c"')) != before  # the used name now reaches ._c
        assert version(init + "X = 1\n") != before  # the rest of the __init__ still counts
    finally:
        for fn in caches:
            fn.cache_clear()


def _rule_blocks():
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        for block in re.split(r"\n(?=(?:rule|checkpoint) \w+:)", smk.read_text()):
            m = re.match(r"(?:rule|checkpoint) (\w+):", block.strip())
            if m:
                yield m.group(1), block


def test_every_rule_hashes_the_script_it_runs():
    seen = 0
    for name, block in _rule_blocks():
        script = re.search(r'script:\s*\n\s*"\.\./scripts/(\w+\.py)"', block)
        if script is None:
            continue
        code = re.search(r'code=code\(\s*"(\w+\.py)"', block)
        assert code is not None, f"rule {name} has no code version"
        assert code.group(1) == script.group(1), f"rule {name} hashes {code.group(1)}, runs {script.group(1)}"
        seen += 1
    assert seen >= 20


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "scripts").glob("*.py")))
def test_every_script_has_a_stable_version(script):
    v = registry.code_version(ROOT / "scripts" / script)
    assert re.fullmatch(r"[0-9a-f]{12}", v) and v == registry.code_version(Path(ROOT / "scripts" / script))


def test_runtime_keys_are_split_from_science():
    science, runtime = registry.split_runtime("encoder", {"name": "x", "batch_size": 8, "device": "cpu"})
    assert science == {"name": "x"} and runtime == {"batch_size": 8, "device": "cpu"}

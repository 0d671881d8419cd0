"""What each job script really imports (no torch in the jobs that run no model), and how
runtime settings reach the jobs (one list of runtime keys, one way in).

A job pays for every module it imports (torch alone costs seconds and ~600 MB of RSS),
so a job that only gathers arrays or fits a scikit-learn model must not reach torch
through a shared helper. For each script the probe runs its module-level import lines
(read with :mod:`ast`; the snakemake body is not executed), then resolves every
``pkg.name`` the body uses on an imported ``medembed`` namespace, which loads the lazy
submodule (:mod:`medembed._lazy`) the job would load, then the registry entries the job
loads by its wildcard. All scripts run in one fresh interpreter whose import system
refuses torch and records which script asked for it: a module that imports torch is then
never in ``sys.modules``, so every script that reaches it is caught, not only the first
(one interpreter per script took 140 s on two busy cores; this takes a few).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "scripts").glob("*.py"))

#: Job scripts whose import closure legitimately contains torch. Only embed_shard: it runs
#: the image DataLoader and forward pass (medembed.embed._images). embed_texts, zero_shot
#: and a cluster job with method hyphc / hyphc_learned use torch too, but import it inside
#: the functions that run the model (load_encoder, embed_texts, HyperbolicHC.fit), so their
#: import closure stays torch-free and they are checked like every other script.
IMPORTS_TORCH = {"embed_shard"}

#: Registry stages a job loads by name at run time (make_encoder, make_clusterer, ...).
REGISTRY_STAGES = {
    "embed_images": "encoders",  # makes the configured encoder to ask needs_finalize
    "cluster": "cluster",
    "cluster_stability": "cluster",
    "reduce": "reduce",
    "detect_outliers": "outliers",
    "make_manifest": "readers",
}

PROBE = r"""
import importlib, importlib.abc, json, sys, traceback
sys.path.insert(0, {src!r})
asked = {{}}
current = [None]

class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            where = [f for f in traceback.extract_stack() if "/medembed/" in f.filename][-1:]
            asked.setdefault(current[0], [f"{{f.filename.split('/src/')[-1]}}:{{f.lineno}}" for f in where])
            raise ModuleNotFoundError("torch is blocked by test_job_imports", name=name)
        return None

sys.meta_path.insert(0, NoTorch())
for script, imports, attrs, extra in {jobs!r}:
    current[0] = script
    try:
        exec(compile(imports, script, "exec"), {{}})
        for mod, name in attrs:
            getattr(sys.modules[mod], name)
        for target in extra:
            module, _, attr = target.partition(":")
            getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("torch"):
            raise
print(json.dumps({{"asked": asked, "torch_loaded": "torch" in sys.modules}}))
"""


def _is_type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def job_imports(script: Path) -> tuple[str, list[tuple[str, str]]]:
    """``(import lines, [(medembed module, attribute used)])`` of a job script."""
    tree = ast.parse(script.read_text(), filename=str(script))
    lines, namespaces = [], {}
    for node in tree.body:
        if _is_type_checking(node) or not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        lines.append(ast.unparse(node))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "medembed":
            for alias in node.names:  # `from medembed import tl`: tl may be a lazy namespace
                namespaces[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    attrs = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in namespaces:
            attrs.add((namespaces[node.value.id], node.attr))
    return "\n".join(lines), sorted(attrs)


def scripts_asking_for_torch(scripts) -> dict[str, list[str]]:
    """``{script stem: [module:line that imports torch]}`` for scripts whose closure imports it."""
    from medembed.workflow import registry

    jobs = []
    for s in scripts:
        stage = REGISTRY_STAGES.get(s.stem)
        extra = sorted(registry.REGISTRY[stage].values()) if stage else []
        jobs.append((s.stem, *job_imports(s), extra))
    code = PROBE.format(src=str(ROOT / "src"), jobs=jobs)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.splitlines()[-1])
    assert not out["torch_loaded"]
    return out["asked"]


def test_job_imports_reads_lines_and_lazy_names():
    imports, attrs = job_imports(ROOT / "scripts" / "embed_images.py")
    assert "from medembed import embed, io" in imports and "snakemake" not in imports
    assert ("medembed.embed", "check_finite") in attrs and ("medembed.embed", "gather_shards") in attrs


def test_no_torch_in_jobs_that_run_no_model():
    """Exactly the allow-listed job scripts import torch; the rest (gather, combine, ...) do not."""
    assert IMPORTS_TORCH <= {s.stem for s in SCRIPTS}, "an allow-listed script no longer exists"
    asked = scripts_asking_for_torch(SCRIPTS)
    offenders = {k: v for k, v in asked.items() if k not in IMPORTS_TORCH}
    assert not offenders, f"job scripts that run no model import torch (script: where): {offenders}"
    # The probe sees torch where it is imported (and the allow-list is not stale).
    assert set(asked) == IMPORTS_TORCH, f"no longer imports torch, drop from IMPORTS_TORCH: {IMPORTS_TORCH - set(asked)}"


# ----------------------------------------------------------------------------- runtime settings


def _py_files():
    return sorted((ROOT / "src" / "medembed").rglob("*.py")) + SCRIPTS


def test_method_runtime_keys_are_listed_once():
    """registry.RUNTIME_KEYS holds the method runtime keys; no other file keeps a copy."""
    from medembed.workflow import registry

    keys = registry.RUNTIME_KEYS["method"]
    assert registry.THREAD_KEYS <= keys
    copies, thread_literals = [], []
    for path in _py_files():
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), filename=rel)):
            if isinstance(node, ast.Set | ast.List | ast.Tuple):
                names = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
                if len(names & keys) >= 2 and rel != "src/medembed/_registry.py":
                    copies.append(f"{rel}:{node.lineno}")
            elif isinstance(node, ast.Constant) and node.value == "core_dist_n_jobs":
                thread_literals.append(rel)
    assert not copies, f"a second list of runtime keys (import registry.RUNTIME_KEYS instead): {copies}"
    # Named only where it is defined (the registry) and by the estimator that takes it.
    assert set(thread_literals) <= {"src/medembed/_registry.py", "src/medembed/tl/cluster/_hdbscan.py"}, thread_literals


def test_threads_and_runtime_keys_reach_methods_as_the_registry_says():
    from medembed import tl
    from medembed.tl import _api
    from medembed.workflow import job_settings, registry

    settings = job_settings({"settings": '{"device": "cpu"}'}, threads=3)
    assert settings == {"device": "cpu", **dict.fromkeys(registry.THREAD_KEYS, 3)}
    assert _api.RUNTIME_PARAMS == registry.RUNTIME_KEYS["method"]
    model = tl.make_clusterer("hdbscan", runtime=settings, min_cluster_size=5)
    assert model.core_dist_n_jobs == 3
    assert not set(tl.result_params(model)) & registry.RUNTIME_KEYS["method"]


def test_scripts_pass_runtime_settings_one_way():
    """Method jobs hand ``job_settings(resources, threads)`` to the package as ``runtime=``
    (tl.make_* and tl.stability filter it per method); no script filters it itself."""
    for script in SCRIPTS:
        tree = ast.parse(script.read_text(), filename=script.name)
        as_runtime = {id(k.value) for k in ast.walk(tree) if isinstance(k, ast.keyword) and k.arg == "runtime"}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "runtime_params":
                raise AssertionError(f"{script.name}:{node.lineno}: pass runtime= instead of tl.runtime_params")
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "job_settings" and len(node.args) == 2:
                assert id(node) in as_runtime, f"{script.name}:{node.lineno}: pass job_settings(...) as runtime="


# ----------------------------------------------------------------------------- the shard plan


def _smk_functions(path: Path, names) -> str:
    """The source of the top-level ``def``s ``names`` of a .smk file (plain Python)."""
    text, out = path.read_text(), []
    for name in names:
        start = text.index(f"\ndef {name}(") + 1
        end = text.find("\n\n\n", start)
        end = len(text) if end == -1 else end
        out.append(text[start:end])
    return "\n\n\n".join(out)


def test_shard_plan_is_read_through_io_once(tmp_path):
    """common.smk reads the plan TSV through medembed.io: keys of decimal digits (or with an
    'e' that reads as a float) stay text and match their shard; no rule parses it by hand."""
    from types import SimpleNamespace as NS

    import pandas as pd

    from medembed import io

    common = ROOT / "rules" / "common.smk"
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        assert '.split("\\t")' not in smk.read_text(), f"{smk.name} parses a TSV by hand; use medembed.io"
    keys = ["1234567890123456", "00000000000000e1", "0a1b2c3d4e5f6a7b"]
    plan = tmp_path / "plan.tsv"
    io.write_table(plan, pd.DataFrame({"shard": keys, "start": [0, 250, 500], "stop": [250, 500, 760],
                                       "n_images": [250, 250, 260]}))
    ns = {
        "medembed_io": io,
        "checkpoints": NS(plan_shards=NS(get=lambda dataset: NS(output=NS(plan=str(plan))))),
        "rules": NS(embed_shard=NS(output=NS(emb="{dataset}/{encoder}/{shard}.npz"))),
        "expand": lambda pattern, **kw: [pattern.format(**{**kw, "shard": s}) for s in kw["shard"]],
    }
    exec(_smk_functions(common, ["shard_plan", "shard_runtime", "image_shards", "shard_keys"]), ns)
    assert ns["shard_keys"]("demo") == keys
    assert ns["image_shards"](NS(dataset="d", encoder="e")) == [f"d/e/{k}.npz" for k in keys]
    assert [ns["shard_runtime"](NS(shard=k), NS(plan=str(plan))) for k in keys] == [12, 12, 12]
    assert ns["shard_runtime"](NS(shard="ffffffffffffffff"), NS(plan=str(plan))) == 120
    for name in ("shard_runtime", "image_shards", "shard_keys"):  # one reader, used by all three
        body = _smk_functions(common, [name])
        assert "shard_plan(" in body or "shard_keys(" in body, name

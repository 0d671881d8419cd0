"""Project hygiene that users rely on: schema = registry, formatting, lint, entry points."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from medembed.workflow import config as mconfig
from medembed.workflow import registry

BIN = Path(sys.executable).parent
SCHEMA = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())


@pytest.mark.parametrize("stage", ["reduce", "cluster", "outliers"])
def test_schema_method_names_equal_registry_keys(stage):
    assert set(SCHEMA["properties"][stage]["properties"]) == set(registry.names(stage))


@pytest.mark.parametrize("stage", ["reduce", "cluster", "outliers"])
def test_schema_params_are_constructor_params(stage):
    """Every parameter the schema allows is accepted by the estimator, with the same default."""
    for name, spec in SCHEMA["properties"][stage]["properties"].items():
        est = registry.load(stage, name)()
        params = est.get_params()
        for key, sub in spec.get("properties", {}).items():
            assert key in params, f"{stage}.{name}.{key} is not a parameter of {type(est).__name__}"
            if "default" in sub:
                value = list(params[key]) if isinstance(params[key], tuple) else params[key]
                assert sub["default"] == value, f"{stage}.{name}.{key} default differs"


@pytest.mark.parametrize("cfg", ["config/config.yaml", "config/demo.yaml"])
def test_shipped_configs_are_valid(cfg):
    config = yaml.safe_load((ROOT / cfg).read_text())
    mconfig.check_schema(config, ROOT / "config" / "schema.yaml")


def test_snakefiles_are_snakefmt_formatted():
    proc = subprocess.run(
        [str(BIN / "snakefmt"), "--check", "Snakefile", "rules/"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def test_snakemake_lint_is_clean():
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "--configfile", "config/demo.yaml"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Congratulations" in proc.stdout + proc.stderr


def test_readme_opens_with_demo_and_test_commands_and_ci_runs_the_latter():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^(make \w+)$", readme[:1500], flags=re.M)
    assert commands[:2] == ["make demo", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_make_lint_runs_eslint_but_make_test_needs_no_npm():
    makefile = (ROOT / "Makefile").read_text()
    rules = dict(re.findall(r"^([\w-]+):([^\n]*(?:\n\t[^\n]*)*)", makefile, flags=re.M))
    assert "eslint" in rules["lint"] and "JS_STAMP" in rules["lint"]
    assert "npm" not in rules["test"] and "JS_STAMP" not in rules["test"]
    assert '"eslint"' in (ROOT / "package.json").read_text()
    assert "node_modules/" in (ROOT / ".gitignore").read_text().split()

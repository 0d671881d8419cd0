"""The machine set-up and the test helpers' side of it.

``make system-setup`` (.ci/system-setup, which ``make test`` runs first) installs the Debian
packages the tests need. The helpers (tests/browser.py, tests/slurm_cluster.py) install
nothing: on a machine without the programs, the tests that need them fail (not skip) with
one line naming the target.
"""

from __future__ import annotations

import re

import browser
import pytest
import slurm_cluster
from conftest import ROOT

SCRIPT = ROOT / ".ci" / "system-setup"
MAKE_IT = "run `make system-setup`"


def _bash_array(name: str) -> tuple[str, ...]:
    match = re.search(rf"^{name}=\(([^)]*)\)$", SCRIPT.read_text(), flags=re.M)
    assert match, f"no {name}=(...) in {SCRIPT}"
    return tuple(match.group(1).split())


def test_make_test_sets_up_the_machine_first():
    makefile = (ROOT / "Makefile").read_text()
    rules = dict(re.findall(r"^([\w-]+):([^\n]*(?:\n\t[^\n]*)*)", makefile, flags=re.M))
    assert rules["test"].split("\n")[0].split()[0] == "system-setup"
    assert rules["system-setup"].strip() == ".ci/system-setup"
    assert SCRIPT.stat().st_mode & 0o111, "not executable"
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_script_checks_and_installs_what_the_helpers_need():
    # The script's no-op check must look for exactly the programs the helpers require, or it
    # would call a machine set up when a test would still fail (or install for nothing).
    assert _bash_array("CHROMIUM_NAMES") == browser.CHROMIUM_NAMES
    assert _bash_array("SLURM_PROGRAMS") == slurm_cluster.REQUIRED
    assert _bash_array("PACKAGES") == ("chromium", *slurm_cluster.PACKAGES)


def test_no_test_installs_system_packages():
    here = {"test_system_setup.py"}
    for path in sorted((ROOT / "tests").glob("*.py")):
        if path.name not in here:
            text = path.read_text()
            assert not re.search(r"\b(apt-get|apt|dpkg|sudo)\b[\"'\s,]+(install|update|-i)\b", text), path.name


def test_page_tests_fail_naming_the_target_without_chromium(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no browser on PATH
    assert browser.find_chromium() is None
    with pytest.raises(pytest.fail.Exception) as failed:
        with browser.chromium():
            pass
    message = str(failed.value)
    assert message.startswith("chromium not installed") and message.endswith(MAKE_IT)
    assert "\n" not in message


def test_slurm_tests_fail_naming_the_target_without_slurm(monkeypatch, tmp_path):
    absent = {"munged", "sbatch"}
    monkeypatch.setattr(slurm_cluster, "_which", lambda name: None if name in absent else f"/usr/bin/{name}")
    with pytest.raises(slurm_cluster.SlurmError, match=re.escape(f"munged, sbatch not installed (slurm-wlm and munge): {MAKE_IT}")):
        slurm_cluster.require_installed()
    # the session's background run records the reason without starting anything ...
    run = slurm_cluster.start_background(tmp_path, ["true"], cwd=tmp_path, env={})
    assert run.cluster is None and run.process is None and not (tmp_path / "slurm").exists()
    # ... and the tests that wait for it fail with it, in one line
    with pytest.raises(pytest.fail.Exception) as failed:
        run.wait(timeout=1)
    message = str(failed.value)
    assert message == f"could not start a local SLURM: munged, sbatch not installed (slurm-wlm and munge): {MAKE_IT}"

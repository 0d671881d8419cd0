"""The settings snakemake really applies for the README's commands (both profiles merged).

snakemake loads ``profiles/default`` as the workflow profile on every run, also next to
``--profile profiles/slurm``, and the workflow profile wins per key. These tests read the
merged settings through ``snakemake.cli.parse_args``, the function snakemake's own CLI
uses, so they see exactly what a user's run gets.
"""

from __future__ import annotations

import os

import pytest
import yaml
from conftest import ROOT
from snakemake.cli import parse_args

DEFAULT = yaml.safe_load((ROOT / "profiles/default/profile.yaml").read_text())
SLURM = yaml.safe_load((ROOT / "profiles/slurm/profile.yaml").read_text())


def effective(*argv: str):
    """The parsed arguments of ``snakemake *argv`` run from the repository root."""
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return parse_args(list(argv))[1]
    finally:
        os.chdir(cwd)


def test_workflow_profile_shares_no_key_with_the_slurm_profile():
    # Any shared key would silently replace the slurm profile's value.
    assert not set(DEFAULT) & set(SLURM)


def test_readme_slurm_command_applies_the_slurm_profile():
    args = effective("--profile", "profiles/slurm", "--configfile", "config/demo.yaml")
    assert args.executor == "slurm"
    assert args.latency_wait == 60
    assert args.jobs == 50
    assert args.cores == len(os.sched_getaffinity(0))  # `cores: all` of the slurm profile
    assert args.slurm_status_command == "squeue"
    assert {k: r.value for k, r in args.default_resources.items() if k in ("mem_mb", "runtime")} == {
        "mem_mb": 4000,
        "runtime": 60,
    }
    # threads decide the CPUs: no default cpus_per_task overriding every rule's threads
    assert "cpus_per_task" not in args.default_resources
    embed = {k: r.value for k, r in args.set_resources["embed_shard"].items()}
    assert embed == {"mem_mb": 12000}
    assert args.group_components == {
        "pp-{dataset}-{encoder}-{features}": 1000,
        "post-{dataset}-{encoder}-{features}": 1000,
    }
    # ... and the common keys of the workflow profile still come through
    assert args.rerun_incomplete is True
    assert args.printshellcmds is True and args.show_failed_logs is True
    assert {t.name for t in args.rerun_triggers} == {"MTIME", "PARAMS", "INPUT", "SOFTWARE_ENV", "CODE"}


def test_slurm_profile_is_found_from_another_directory(tmp_path):
    """As the SLURM test runs it: --snakefile/--directory of a copy, profiles by path."""
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        args = parse_args(
            ["--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
             "--profile", str(ROOT / "profiles/slurm")]
        )[1]
    finally:
        os.chdir(cwd)
    assert (args.executor, args.latency_wait, args.rerun_incomplete) == ("slurm", 60, True)


@pytest.mark.parametrize("argv", [("--cores", "all"), ("--cores", "all", "--configfile", "config/demo.yaml")])
def test_local_commands_get_the_common_profile_only(argv):
    args = effective(*argv)
    assert args.executor in (None, "local")
    assert args.rerun_incomplete is True  # kill-and-resume: one command, no --rerun-incomplete
    assert args.printshellcmds is True and args.show_failed_logs is True
    assert not args.set_resources and not args.default_resources


def test_command_line_still_wins_over_both_profiles():
    args = effective("--profile", "profiles/slurm", "--latency-wait", "7", "--cores", "1")
    assert (args.latency_wait, args.cores, args.executor) == (7, 1, "slurm")


def test_slurm_plan_of_the_demo_has_no_group_cycle():
    """With the SLURM profile, groups are real: a path that leaves a group and enters it
    again (e.g. a local rule between two grouped ones) makes the DAG invalid. A dry run
    builds the grouped DAG without submitting anything."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--profile", "profiles/slurm", "--configfile", "config/demo.yaml"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "depends on itself" not in out


@pytest.mark.parametrize("argv", [("--cores", "all"), ("--profile", "profiles/slurm")])
def test_every_run_schedules_greedily(argv):
    # snakemake's default ILP scheduler re-solves an integer program per finished job and
    # buys nothing without temp() files or priorities (docs/scaling.md: 0.89x demo wall).
    assert effective(*argv).scheduler == "greedy"
    assert not any("temp(" in p.read_text() or "priority" in p.read_text() for p in (ROOT / "rules").glob("*.smk"))

"""The workflow through a real SLURM, with the README's command.

tests/slurm_cluster.py starts a one-node SLURM on localhost. The run here (started in the
background when the session starts, see :func:`start_run`) starts from scratch in a new
directory holding the same data as the local ``demo_run``, with a slice of its config
(:data:`SLURM_CONFIG`: one dataset and a few methods, so that every stage and both rule
groups run but the test takes minutes, not the whole demo's half hour), and is compared
with it: every job went through sbatch, SLURM
allocated what each rule asked for, and every result is the local one (a job's params are
its own slice of the config, so the same method on the same data writes the same file).
"""

from __future__ import annotations

import copy
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import DEMO_CONFIG, copy_workflow, make_folder_subset, workflow_env
from slurm_cluster import BackgroundRun, SlurmCluster, start_background

from medembed import io

pytestmark = pytest.mark.workflow



def _slice(section: str, names: list[str]) -> dict:
    return {m: DEMO_CONFIG[section][m] for m in names}


#: One dataset of the demo run and a method or two of each kind: every rule of the
#: workflow (shards, both groups, a PCA method, a tree, stability, outliers, figures, the
#: report) runs through SLURM at least once.
SLURM_CONFIG = {
    **copy.deepcopy(DEMO_CONFIG),
    "datasets": {"folder_small": DEMO_CONFIG["datasets"]["folder_small"]},
    "reduce": _slice("reduce", ["pca", "tsne"]),
    "cluster": _slice("cluster", ["dbscan", "kmeans", "finch", "gmm", "hyphc"]),
    "outliers": _slice("outliers", ["dbscan_noise", "lof", "gmm_density"]),
    "stability": {"methods": ["kmeans", "dbscan"], "n_runs": 3},
}
DATASETS = list(SLURM_CONFIG["datasets"])
ENCODER = DEMO_CONFIG["encoder"]["name"]
FEATURES = DEMO_CONFIG["features"]
# Partitions that are a pure function of the embeddings: no randomness (dbscan, finch:
# first-neighbour chains) or a fixed seed on the CPU (kmeans, gmm, hyphc).
DETERMINISTIC = [m for m in ("dbscan", "kmeans", "finch", "gmm", "hyphc") if m in SLURM_CONFIG["cluster"]]
# sbatch submissions at most. Measured on SLURM_CONFIG with the rules' groups: 24 sbatch
# jobs for 54 snakemake jobs (make_manifest, 4 embedding shards, embed_images, 5
# clusterings, 2 stability runs, 2 maps, 3 detectors, thumbnails, the "pp-..." group =
# build_knn + compute_pca, the "post-..." group = evaluations, consensus, duplicates,
# probes, explorer and figures of the feature set); a group that falls apart adds dozens.
MAX_SBATCH = 30


@dataclass
class Job:
    """One snakemake job as its log announces it."""

    rule: str
    jobid: str
    threads: int
    resources: dict[str, str]
    group: str | None


@dataclass
class SlurmRun:
    work: Path
    local: Path
    log: str
    wall: float
    jobs: dict[str, Job]             # snakemake jobid -> job
    groups: dict[str, list[Job]]     # group name -> member jobs
    submitted: dict[str, str]        # snakemake jobid or group name -> SLURM job id
    cluster: SlurmCluster


def parse_jobs(log: str) -> tuple[dict[str, Job], dict[str, list[Job]]]:
    """Jobs (rule, jobid, threads, resources) and group jobs announced in snakemake's log."""
    jobs: dict[str, Job] = {}
    groups: dict[str, list[Job]] = {}
    current: dict | None = None
    group = None

    def close():
        if current and "jobid" in current:
            job = Job(current["rule"], current["jobid"], current.get("threads", 1), current.get("resources", {}), current["group"])
            jobs[job.jobid] = job
            if job.group:
                groups.setdefault(job.group, []).append(job)

    for line in log.splitlines():
        g = re.match(r"^(?:\[.*\] )?Group job (\S+) \(jobs in lexicogr\. order\):", line)
        if g:
            close()
            current, group = None, g.group(1)
            continue
        r = re.match(r"^(\s*)(?:local)?(?:rule|checkpoint) (\w+):$", line)
        if r:
            close()
            if not r.group(1):  # a top-level rule block ends any group listing
                group = None
            current = {"rule": r.group(2), "group": group}
            continue
        if current is None:
            continue
        key, _, value = line.strip().partition(": ")
        if key == "jobid":
            current["jobid"] = value
        elif key == "threads":
            current["threads"] = int(value)
        elif key == "resources":
            current["resources"] = dict(kv.split("=", 1) for kv in value.split(", ") if "=" in kv)
    close()
    return jobs, groups


def _res(job, key: str, tbd: int) -> int:
    """A job's logged resource, or ``tbd`` where snakemake logged it as <TBD>."""
    value = job.resources[key]
    return tbd if value == "<TBD>" else int(value)


def parse_minutes(limit: str) -> int:
    """SLURM's [days-]hours:minutes:seconds as minutes."""
    days, _, hms = limit.rpartition("-")
    h, m, s = (int(x) for x in hms.split(":"))
    return (int(days) if days else 0) * 1440 + h * 60 + m + (1 if s else 0)


def parse_mb(mem: str) -> int:
    units = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024**2}
    return round(float(mem[:-1]) * units[mem[-1]]) if mem[-1] in units else int(mem)


def start_run(base: Path) -> BackgroundRun:
    """Start a SLURM cluster and the README's command on it, without waiting.

    conftest's session fixture ``background`` calls this before the session's first test
    when this module is selected: the run spends most of its time waiting on SLURM
    (status checks, scheduling), so the session's other tests run meanwhile. It has its own
    copy of the workflow (tests edit ``demo_run``'s copy for a while) and the same data as
    ``demo_run`` (the same generators).
    """
    wf, work = copy_workflow(base / "workflow"), base / "work"
    make_folder_subset(work / "data" / "folder", per_class=10, corrupt=True)
    (work / "config.yaml").write_text(yaml.safe_dump(SLURM_CONFIG, sort_keys=False))
    cmd = [
        sys.executable, "-m", "snakemake", "--snakefile", str(wf / "Snakefile"), "--directory", str(work),
        "--profile", str(wf / "profiles" / "slurm"), "--configfile", str(work / "config.yaml"),
        # The plugin's first status check waits 40 s after a submission, and again after
        # each check that finds a job done: kind to a shared slurmctld, but here, on a
        # local one, it made every wave of the DAG a 40 s wait (364 s for the run).
        "--slurm-init-seconds-before-status-checks", "2",
    ]
    # Jobs import the workflow copy's package (PYTHONPATH), like every workflow test.
    return start_background(base, cmd, cwd=work, env={"PYTHONPATH": workflow_env(wf)["PYTHONPATH"]})


@pytest.fixture(scope="module")
def slurm_run(demo_run, slurm_background):
    _, local = demo_run
    rc, log, wall = slurm_background.wait(timeout=3600)
    cluster = slurm_background.cluster
    assert rc == 0, log[-6000:] + "\n" + cluster.logs()
    work = slurm_background.cwd
    jobs, groups = parse_jobs(log)
    submitted = {}
    for sm_id, sid, path in re.findall(r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (.*)\)\.$", log, flags=re.M):
        if sm_id in jobs:
            submitted[sm_id] = sid
        else:  # a group job: its log folder is group_<group name>_<its rules>
            folder = Path(path).parent.name
            names = [g for g in groups if folder.startswith(f"group_{g}_")]
            assert len(names) == 1, (path, sorted(groups))
            submitted[names[0]] = sid
    print(f"\nSLURM run: {wall:.0f} s wall (beside other tests), {len(submitted)} sbatch jobs for {len(jobs)} snakemake jobs")
    return SlurmRun(work, local, log, wall, jobs, groups, submitted, cluster)


def test_every_job_went_through_sbatch(slurm_run):
    run = slurm_run
    assert "Using profiles" in run.log and "SLURM run ID" in run.log  # the slurm executor ran
    remote = {j.jobid for j in run.jobs.values() if j.group is None and j.rule not in {"all", *local_rules(run)}}
    assert remote, "no job was announced"
    # every remote job and every group job got a SLURM job id, each its own
    assert set(run.submitted) == remote | set(run.groups)
    assert len(set(run.submitted.values())) == len(run.submitted)
    # SLURM itself knows each of them, as a job of this run (its name is the run's id) that completed
    run_id = re.search(r"SLURM run ID: (\S+)", run.log).group(1)
    for sid in run.submitted.values():
        info = run.cluster.show_job(sid)
        assert info["JobName"] == run_id and info["JobState"] == "COMPLETED", info
    # (.snakemake/slurm_logs is not checked: the plugin deletes the logs of jobs that succeed)
    # a rule that has a group never runs as a job of its own
    grouped = {j.rule for members in run.groups.values() for j in members}
    alone = sorted({run.jobs[i].rule for i in run.submitted if i in run.jobs} & grouped)
    assert not alone, f"rules {alone} were submitted outside their group"
    n = len(run.submitted)
    print(f"\nsbatch submissions: {n} ({len(run.groups)} group jobs); bound {MAX_SBATCH}")
    assert n <= MAX_SBATCH


def local_rules(run: SlurmRun) -> set[str]:
    """Rules snakemake ran on the submitting machine ('localrule X:' blocks)."""
    return set(re.findall(r"^\s*local(?:rule|checkpoint) (\w+):$", run.log, flags=re.M))


def test_slurm_allocated_what_each_rule_asked_for(slurm_run):
    run = slurm_run
    checked = []
    for sm_id, sid in run.submitted.items():
        info = run.cluster.show_job(sid)
        cpus, mem, minutes = int(info["NumCPUs"]), parse_mb(info["MinMemoryNode"]), parse_minutes(info["TimeLimit"])
        if sm_id in run.groups:
            # A group job holds its widest layer in parallel and its layers in series:
            # each member must fit, and the time limit must cover the members run one
            # after the other on the group's CPUs.
            members = run.groups[sm_id]
            for j in members:
                assert cpus >= j.threads and mem >= _res(j, "mem_mb", 1) and minutes >= _res(j, "runtime", 1), (sid, j, info)
            total = sum(_res(j, "runtime", 1) * j.threads for j in members)
            assert minutes * cpus >= total, (sid, minutes, cpus, total)
            checked.append((f"group {sm_id}", cpus, mem, minutes))
        else:
            job = run.jobs[sm_id]
            # A resource computed from input sizes (mem_mb from the features' size, a shard's
            # runtime from its image count) is logged as <TBD> when the DAG is built; SLURM
            # then got the value computed at submission: checked to be a real request.
            want = (job.threads, _res(job, "mem_mb", mem), _res(job, "runtime", minutes))
            assert (cpus, mem, minutes) == want and mem > 0 and minutes > 0, (job.rule, sid, info)
            checked.append((job.rule, cpus, mem, minutes))
    # the profile's set-resources and the rules' own values reached SLURM
    embed = [c for c in checked if c[0] == "embed_shard"]
    assert embed and all(c[2] == 12000 for c in embed), embed
    # threads sized from the features' rows when the job is submitted (medembed.workflow.jobsize:
    # one per 4,096 rows) reached SLURM: on 30-60 images each clustering asks for 1 CPU
    clusters = [c for c in checked if c[0] == "cluster"]
    assert clusters and all(c[1] == 1 for c in clusters), clusters
    for rule in sorted({c[0] for c in checked}):
        print(rule, sorted({c[1:] for c in checked if c[0] == rule}))


def test_results_equal_the_local_run(slurm_run):
    run = slurm_run
    for ds in DATASETS:
        a = io.read_table(run.local / f"results/{ds}/manifest.parquet")
        b = io.read_table(run.work / f"results/{ds}/manifest.parquet")
        assert list(a["id"]) == list(b["id"])
        ea = io.read_array(run.local / f"results/{ds}/{ENCODER}/image.npz")
        eb = io.read_array(run.work / f"results/{ds}/{ENCODER}/image.npz")
        assert list(ea.ids) == list(eb.ids)
        np.testing.assert_allclose(ea.X, eb.X, atol=1e-5)
        for feats in FEATURES:
            base = f"results/{ds}/{ENCODER}/{feats}"
            for m in DETERMINISTIC:
                la = io.read_table(run.local / f"{base}/cluster/{m}.parquet")
                lb = io.read_table(run.work / f"{base}/cluster/{m}.parquet")
                assert list(la["id"]) == list(lb["id"])
                assert (la["cluster"].to_numpy() == lb["cluster"].to_numpy()).all(), (ds, m)
            key = ["kind", "method", "features", "params_hash", "label", "metric"]
            mb = io.read_table(run.work / f"{base}/metrics.tsv")
            ma = io.read_table(run.local / f"{base}/metrics.tsv")
            ma = ma[ma["method"].isin(set(mb["method"]))]  # the local run has more methods
            assert set(mb["method"]) == {*SLURM_CONFIG["reduce"], *SLURM_CONFIG["cluster"], *SLURM_CONFIG["outliers"]}
            merged = pd.merge(ma, mb, on=key, how="outer", suffixes=("_local", "_slurm"), indicator=True)
            assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"][key]
            a, b = merged["value_local"].to_numpy(float), merged["value_slurm"].to_numpy(float)
            same = np.isclose(b, a, rtol=1e-5, atol=1e-6, equal_nan=True)
            assert same.all(), f"{ds}/{feats} metrics differ:\n" + merged.loc[~same, [*key, "value_local", "value_slurm"]].to_string()
    assert (run.work / "results" / "report.html").stat().st_size > 0

"""Kill a run in the middle of embedding (SIGINT, SIGKILL), then resume it with one command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
from conftest import copy_workflow, make_folder_subset, workflow_env

from medembed import io

pytestmark = pytest.mark.workflow

TARGET = "results/folder/efficientnet_lite0/image.npz"
CONFIG = {
    "datasets": {"folder": {"reader": "folder", "path": "data/folder", "label_name": "class"}},
    "encoder": {"name": "efficientnet_lite0", "batch_size": 8},
    "embed": {"shard_size": 10},
    "features": ["image"],
    "reduce": {"pca": {}},
    "cluster": {"kmeans": {"n_clusters": 6}},
    "outliers": {},
    "plot": {"map": "pca", "color_by": "kmeans"},
}


def _cmd(wf, work, *extra):
    return [
        "--snakefile", str(wf / "Snakefile"), "--directory", str(work),
        "--configfile", str(work / "config.yaml"), "--cores", "2", *extra, TARGET,
    ]


def _start_and_kill(wf, work, sig) -> None:
    """Start a run in its own process group and send ``sig`` once a shard is embedded."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "snakemake", *_cmd(wf, work)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=workflow_env(wf),
    )
    shards = work / "results/folder/efficientnet_lite0/shards"
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if shards.is_dir() and any(p.suffix == ".npz" for p in shards.iterdir()):
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    os.killpg(proc.pid, sig)
    proc.wait(timeout=120)


def _assert_nothing_partial_looks_complete(work, all_may_be_done: bool = False) -> None:
    plan = io.read_table(work / "results/folder/shards.tsv")
    manifest = io.read_table(work / "results/folder/manifest.parquet")
    done = 0
    for _, row in plan.iterrows():
        f = work / f"results/folder/efficientnet_lite0/shards/image-{row['shard']}.npz"
        if f.exists():  # whatever carries a final name is whole
            arr = io.read_array(f)
            assert list(arr.ids) == list(manifest["id"][row["start"]:row["stop"]])
            done += 1
    assert done >= 1
    if not all_may_be_done:  # SIGKILL stops everything at once
        assert done < len(plan), "the kill should land between the first and the last shard"
        assert not (work / TARGET).exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_killed_run_resumes_with_one_command(tmp_path, sig):
    wf, work = copy_workflow(tmp_path / "workflow"), tmp_path / "work"
    make_folder_subset(work / "data" / "folder", per_class=10, corrupt=False)
    (work / "config.yaml").write_text(yaml.safe_dump(CONFIG, sort_keys=False))

    _start_and_kill(wf, work, sig)
    # On SIGINT snakemake stops cleanly and may let the running job finish first.
    _assert_nothing_partial_looks_complete(work, all_may_be_done=sig == signal.SIGINT)
    if sig == signal.SIGKILL:  # the lock outlives a SIGKILL: a plain rerun refuses to start
        plain = subprocess.run(
            [sys.executable, "-m", "snakemake", *_cmd(wf, work)], capture_output=True, text=True, timeout=300,
            env=workflow_env(wf),
        )
        assert plain.returncode != 0 and "lock" in (plain.stdout + plain.stderr).lower()

    # The documented recovery (README, `make resume`).
    resumed = subprocess.run(
        [sys.executable, "-m", "medembed.workflow.resume", *_cmd(wf, work)], capture_output=True, text=True, timeout=900,
        env=workflow_env(wf),
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    manifest = io.read_table(work / "results/folder/manifest.parquet")
    emb = io.read_array(work / TARGET)
    assert list(emb.ids) == list(manifest["id"]) and len(set(emb.ids)) == len(manifest) == 60
    assert np.isfinite(emb.X).all()
    assert not list((work / "results").rglob("*.part"))

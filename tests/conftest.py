"""Shared fixtures: small real image sets cut from the demo data, and planted structure."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

# One BLAS/OpenMP thread in the test process: on 2 shared cores, scikit-learn's threads
# oversubscribe (a GMM BIC search took 110 s instead of 1.7 s). Workflow jobs run in
# their own processes with their rule's threads.
from threadpoolctl import threadpool_limits  # noqa: E402

threadpool_limits(1)
DEMO = ROOT / "data" / "demo"


def from_benchmarks(*names: str):
    """The benchmark module ``names[-1]`` (after its sibling dependencies ``names[:-1]``), loaded
    from its file by ``benchmarks/_common.py``, the one home of what tests and benchmarks share."""
    import importlib.util

    common = sys.modules.get("_common")
    if common is None:
        spec = importlib.util.spec_from_file_location("_common", ROOT / "benchmarks" / "_common.py")
        common = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(common)
        sys.modules["_common"] = common
    return common.from_benchmarks(*names)


def make_slake_subset(dest: Path, per_modality: int = 8) -> Path:
    """A SLAKE-layout copy with ``per_modality`` images of each modality and their QA records."""
    qa = json.loads((DEMO / "slake-mini" / "train.json").read_text())
    first = {}
    for rec in qa:
        first.setdefault(rec["img_name"].split("/")[0], rec["modality"])
    keep = []
    for modality in sorted(set(first.values())):
        keep += sorted(k for k, m in first.items() if m == modality)[:per_modality]
    (dest / "imgs").mkdir(parents=True)
    for k in keep:
        shutil.copytree(DEMO / "slake-mini" / "imgs" / k, dest / "imgs" / k)
    recs = [r for r in qa if r["img_name"].split("/")[0] in set(keep)]
    (dest / "train.json").write_text(json.dumps(recs))
    return dest


def make_folder_subset(dest: Path, per_class: int = 10, *, corrupt: bool = True) -> Path:
    """A MedNIST-style class-folder copy; with ``corrupt``, three unreadable files are added."""
    for cls in sorted(p for p in (DEMO / "mednist-mini").iterdir() if p.is_dir()):
        (dest / cls.name).mkdir(parents=True)
        for f in sorted(cls.iterdir())[:per_class]:
            shutil.copy(f, dest / cls.name / f.name)
    if corrupt:
        good = next((dest / "Hand").iterdir()).read_bytes()
        (dest / "Hand" / "truncated.jpeg").write_bytes(good[: len(good) // 3])
        (dest / "CXR" / "notes.png").write_text("this is not an image\n")
        (dest / "HeadCT" / "empty.jpg").write_bytes(b"")
    return dest


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Path:
    """Screenshots and figures kept for a human to look at: ``<basetemp>/shots``.

    Under pytest's basetemp (its own folder per run and per xdist worker, the last three
    runs kept), so parallel or repeated runs never write into each other's files.
    """
    return tmp_path_factory.mktemp("shots", numbered=False)


@pytest.fixture
def blobs():
    """Four well separated, L2-normalised Gaussian blobs in 32-d (planted labels)."""
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(4, 32)) * 3
    y = np.repeat(np.arange(4), 60)
    X = centers[y] + rng.normal(scale=0.3, size=(len(y), 32))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), y


WORKFLOW_PARTS = ["Snakefile", "rules", "scripts", "config/schema.yaml", "config/phrases.txt", "src", "report", "envs", "profiles"]


def copy_workflow(dest: Path) -> Path:
    """A private copy of the workflow's files (so a test may edit its sources)."""
    for part in WORKFLOW_PARTS:
        src, dst = ROOT / part, dest / part
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(src, dst)
    return dest


def snakemake(
    wf: Path, work: Path, *args: str, config: str = "config.yaml", env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run snakemake's CLI on workflow copy ``wf`` in directory ``work`` (``env``: extra variables)."""
    cmd = [
        sys.executable, "-m", "snakemake", "--snakefile", str(wf / "Snakefile"),
        "--directory", str(work), "--configfile", str(work / config), "--cores", "2", *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1500, env={**workflow_env(wf), **(env or {})})


def workflow_env(wf: Path) -> dict:
    """The environment for a run of workflow copy ``wf``: its jobs import the copy's package
    (so a test that edits a module there runs that code), not the installed one."""
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(wf / "src"), *filter(None, [env.get("PYTHONPATH")])])
    return env


def scheduled_jobs(dry_run_output: str) -> list[tuple[str, str, str]]:
    """(rule, first output, reason) of each job in a ``snakemake -n`` listing."""
    jobs, rule, output = [], None, ""
    for line in dry_run_output.splitlines():
        m = re.match(r"^(?:local)?(?:rule|checkpoint) (\w+):$", line.strip())
        if m:
            rule, output = m.group(1), ""
        elif rule and line.strip().startswith("output:"):
            output = line.split(":", 1)[1].strip().split(",")[0]
        elif rule and line.strip().startswith("reason:"):
            jobs.append((rule, output, line.split(":", 1)[1].strip()))
            rule = None
    return jobs


DEMO_CONFIG = {
    "datasets": {
        "slake_small": {"reader": "slake", "path": "data/slake"},
        "folder_small": {
            "reader": "folder",
            "path": "data/folder",
            "label_name": "class",
            # One class stands in for known anomalies so the detectors get AUROC/AP.
            "anomaly": {"column": "class", "values": ["Hand"]},
        },
    },
    "encoder": {"name": "efficientnet_lite0", "batch_size": 16},
    # Small shards, so the shared run exercises scatter/gather (30 and 60 images).
    "embed": {"shard_size": 16},
    "features": ["image"],
    "reduce": {"pca": {}, "tsne": {"perplexity": 10}, "umap": {"n_neighbors": 10}, "hnne": {}},
    "cluster": {
        "dbscan": {"eps": 0.5, "min_samples": 5},
        "hdbscan": {"min_cluster_size": 5, "min_samples": 3},
        "kmeans": {"n_clusters": 6, "n_init": 10},
        "finch": {"level": 0},
        "spectral": {"n_clusters": 6},
        "gmm": {"k_range": [2, 6], "covariance_type": "auto"},
        "hyphc": {"n_clusters": 6, "epochs": 3, "n_triplets": 20000},
        "hyphc_learned": {"n_clusters": 6, "epochs": 3, "n_triplets": 20000, "mlp_epochs": 30},
    },
    "outliers": {
        "dbscan_noise": {},
        "hdbscan_noise": {},
        "isolation_forest": {"contamination": 0.1},
        "lof": {"n_neighbors": 10},
        "gmm_density": {"n_components": 3},
    },
    "neighbors": {"n_neighbors": 30},
    "stability": {"methods": ["kmeans", "dbscan", "hyphc_learned"], "n_runs": 3},
    "pca": {"n_components": 10, "methods": ["gmm", "gmm_density"]},
    "plot": {"map": "tsne", "color_by": "kmeans"},
}


class Background:
    """A command started without waiting (Popen), its output in a file (see ``background``)."""

    def __init__(self, cmd: list[str], *, what: str, output: Path, env: dict, cwd: Path | None = None):
        self.what, self.output = what, output
        self.started = time.time()
        with open(output, "w") as out:
            self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT)

    def wait(self, timeout: float) -> tuple[int, str]:
        """Return code and output once the command ended; ``timeout`` counts from its start."""
        try:
            rc = self.proc.wait(timeout=max(1.0, self.started + timeout - time.time()))
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"{self.what} did not finish within {timeout:.0f} s", pytrace=False)
        return rc, self.output.read_text(errors="replace")

    @property
    def wall(self) -> float:
        """Seconds from the start to the command's last line of output."""
        return self.output.stat().st_mtime - self.started

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # snakemake cancels its jobs (SLURM's too)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


class BackgroundWorkflow(Background):
    """``snakemake`` on workflow copy ``wf`` in ``work`` (its ``config.yaml``), in the background."""

    def __init__(self, wf: Path, work: Path, *, env: dict | None = None, targets: list[str] = ()):
        self.wf, self.work, self.env = wf, work, dict(env or {})
        cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(wf / "Snakefile"),
               "--directory", str(work), "--configfile", str(work / "config.yaml"), "--cores", "2", *targets]
        super().__init__(cmd, what=f"the workflow run in {work}", output=work.parent / f"{work.name}.snakemake.out",
                         env={**workflow_env(wf), **self.env})

    def wait_ok(self, timeout: float = 1500) -> str:
        """The run's output once it ended; fails the calling test if the run failed."""
        rc, out = self.wait(timeout)
        assert rc == 0, out[-4000:]
        return out


def start_demo_run(base: Path) -> BackgroundWorkflow:
    """The shared demo run (see ``demo_run``), started in the background."""
    wf, work = copy_workflow(base / "workflow"), base / "work"
    make_slake_subset(work / "data" / "slake", per_modality=10)
    make_folder_subset(work / "data" / "folder", per_class=10, corrupt=True)
    (work / "config.yaml").write_text(yaml.safe_dump(DEMO_CONFIG, sort_keys=False))
    return BackgroundWorkflow(wf, work)


#: the small-collection run (tests/test_small_n.py): one dataset per size
SMALL_SIZES = (5, 10, 30, 49, 100)
SMALL_CLASSES = ("AbdomenCT", "Hand")


def make_small_folder(dest: Path, n: int) -> Path:
    """A class-folder copy of ``n`` real MedNIST images of two classes (ceil(n/2) + floor(n/2))."""
    for i, cls in enumerate(SMALL_CLASSES):
        (dest / cls).mkdir(parents=True)
        files = sorted((DEMO / "mednist-mini" / cls).iterdir())[: (n + 1 - i) // 2]
        for f in files:
            shutil.copy(f, dest / cls / f.name)
    return dest


#: The dataset read without labels (``label_name: null``): maps, clusters, outliers and
#: duplicates must still come, and hyphc_learned says it is not applicable.
SMALL_NOLABEL = 30
#: The datasets whose report figures are made too (every figure's not-applicable path).
SMALL_FULL = (5,)
#: The datasets run only up to the results of the four methods that failed on 10-49
#: images before (the other methods' caps at these sizes are checked in-process).
SMALL_FAILED_ONLY = (49, 100)
SMALL_FAILED = {"cluster": ("gmm", "kmeans_mahalanobis"), "outliers": ("knn_distance", "lof")}


#: The planted-issues dataset of the small run (tests/test_issues.py): real images of three
#: classes with known label flips, a blank image and a foreign (noise "photo") image.
PLANTED_CLASSES = ("AbdomenCT", "CXR", "Hand")
PLANTED_PER_CLASS = 20


def make_planted_folder(dest: Path) -> dict[str, list[str]]:
    """``dest`` as class folders of real MedNIST images with planted problems; returns
    {problem: [file names]}: three label flips (an image filed under another class), a
    constant grey image, a colour-noise image among the abdominal CTs and an inverted hand
    radiograph among the hands."""
    from PIL import Image

    rng = np.random.default_rng(7)
    files, flips = _planted_files()
    for c in files:
        (dest / c).mkdir(parents=True, exist_ok=True)
    for c, fs in files.items():
        for f in fs:
            shutil.copy(f, dest / flips.get(f, c) / f.name)
    Image.fromarray(np.full((64, 64), 118, np.uint8)).save(dest / "CXR" / "blank.png")
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(dest / "AbdomenCT" / "photo.png")
    with Image.open(files["Hand"][-1]) as im:  # a negative of a hand radiograph, filed as a hand
        Image.fromarray(255 - np.asarray(im.convert("L"))).save(dest / "Hand" / "inverted.png")
    return {"flips": [f.name for f in flips], "blank": ["blank.png"], "foreign": ["photo.png", "inverted.png"]}


def _planted_files():
    files = {c: sorted((DEMO / "mednist-mini" / c).iterdir())[:PLANTED_PER_CLASS] for c in PLANTED_CLASSES}
    flips = {files["CXR"][0]: "Hand", files["CXR"][1]: "AbdomenCT", files["Hand"][0]: "CXR"}
    return files, flips


def planted_flips() -> list[str]:
    """The file names of the planted dataset's label flips."""
    return [f.name for f in _planted_files()[1]]


def small_config() -> dict:
    """The methods whose parameters n limits, on the offline ``pixels`` encoder: the four
    that failed on 10 and 30 images (knn_distance, lof, kmeans_mahalanobis, gmm), and one of
    every other kind of limit: t-SNE's perplexity, UMAP's neighbours, h-NNE (not applicable
    below 3 FINCH clusters), HDBSCAN's sizes, HypHC's triplet budget, hyphc_learned's
    labels, gmm_density's mixture and the noise detector of a clustering. Every registered
    method is checked at each size in-process (tests/test_small_n.py); this run checks that
    the workflow around them never fails. HypHC and the similarity MLP are cut short."""
    demo = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    cluster = {k: demo["cluster"][k] for k in ("kmeans_mahalanobis", "gmm", "hdbscan", "hyphc", "hyphc_learned")}
    cluster["hyphc"] = {**cluster["hyphc"], "epochs": 3}
    cluster["hyphc_learned"] = {**cluster["hyphc_learned"], "epochs": 3, "mlp_epochs": 20}
    outliers = {k: demo["outliers"][k] for k in ("knn_distance", "lof", "gmm_density", "hdbscan_noise")}
    datasets = {}
    for n in SMALL_SIZES:
        if n == SMALL_NOLABEL:
            datasets[f"n{n}"] = {"reader": "folder", "path": f"data/n{n}", "label_name": None}
        else:  # Hand stands in for known anomalies, so every detector gets a metrics row
            datasets[f"n{n}"] = {"reader": "folder", "path": f"data/n{n}", "label_name": "class",
                                 "anomaly": {"column": "class", "values": ["Hand"]}}
    datasets["planted"] = {"reader": "folder", "path": "data/planted", "label_name": "class"}
    return {
        "datasets": datasets,
        "encoders": [{"name": "pixels"}],
        "features": ["image"],
        "reduce": {k: demo["reduce"][k] for k in ("tsne", "umap", "hnne")},
        "cluster": cluster,
        "outliers": outliers,
        "neighbors": demo["neighbors"],
        "pca": {**demo["pca"], "methods": [m for m in demo["pca"]["methods"] if m in cluster or m in outliers]},
        # stability of a method not applicable at n = 5
        "stability": {**demo["stability"], "methods": ["gmm"]},
        "plot": {"map": "tsne", "color_by": "kmeans_mahalanobis"},
    }


def small_targets() -> list[str]:
    """Every dataset's metrics and duplicates; the report's figures for :data:`SMALL_FULL`;
    only the once-failing methods' results for :data:`SMALL_FAILED_ONLY`."""
    out = []
    for n in SMALL_SIZES:
        base = f"results/n{n}/pixels/image"
        if n in SMALL_FAILED_ONLY:
            out += [f"{base}/{stage}/{m}.parquet" for stage, ms in SMALL_FAILED.items() for m in ms]
            continue
        out += [f"{base}/metrics.tsv", f"{base}/duplicates/summary.json"]
        if n in SMALL_FULL:
            out += [f"{base}/figures/clusters.png", f"{base}/figures/reductions.png",
                    f"{base}/figures/outliers.png", f"{base}/explorer"]
    return [*out, "results/planted/pixels/image/issues.tsv"]


def start_small_run(base: Path) -> BackgroundWorkflow:
    """The small-collection run (see ``small_run``), started in the background."""
    wf, work = copy_workflow(base / "workflow"), base / "work"
    for n in SMALL_SIZES:
        make_small_folder(work / "data" / f"n{n}", n)
    make_planted_folder(work / "data" / "planted")
    (work / "config.yaml").write_text(yaml.safe_dump(small_config(), sort_keys=False))
    return BackgroundWorkflow(wf, work, targets=small_targets())


@pytest.fixture(scope="session", autouse=True)
def background(request, tmp_path_factory):
    """The session's long runs, started before its first test so that they overlap the rest.

    * ``"demo"``: the shared local demo run, when a selected test uses ``demo_run``. Its
      jobs are small and mostly single-threaded, and so are most unit tests: side by side
      they use the 2 cores that either alone leaves half idle.
    * ``"slurm"``: test_slurm's run on a local SLURM, when a test of tests/test_slurm.py is
      selected; it spends most of its minutes waiting on SLURM's scheduling and status
      checks (test_slurm.py waits for it).
    * ``"biomedclip"``: the offline default-path run of tests/test_workflow_biomedclip.py
      (its ``run`` fixture waits for it).
    * ``"small"``: tests/test_small_n.py's run on 5 to 100 images (``small_run``).

    Each test that uses a run waits for it and fails if the run failed; the others do not.
    """
    items = request.session.items

    def needed(*, fixture: str, module: str | None = None) -> bool:
        return any(fixture in item.fixturenames and module in (None, item.path.name) for item in items)

    runs = {}
    if needed(fixture="demo_run"):
        runs["demo"] = start_demo_run(tmp_path_factory.mktemp("wf"))
    if needed(fixture="slurm_run", module="test_slurm.py"):
        import test_slurm

        runs["slurm"] = test_slurm.start_run(tmp_path_factory.mktemp("slurm_run"))
    if needed(fixture="run", module="test_workflow_biomedclip.py"):
        import test_workflow_biomedclip

        runs["biomedclip"] = test_workflow_biomedclip.start_run(tmp_path_factory.mktemp("bmc"))
    if needed(fixture="small_run"):
        runs["small"] = start_small_run(tmp_path_factory.mktemp("small"))
    try:
        yield runs
    finally:
        for run in runs.values():
            run.stop()


@pytest.fixture(scope="session")
def demo_run(background, tmp_path_factory):
    """One full local run on small copies of both demo datasets, shared by every workflow test.

    Returns ``(workflow_copy, work_dir)``. Tests may dry-run against it and may edit the
    workflow copy's sources temporarily (restoring them), but must not change its results.
    Started in the background when the session starts (``background``).
    """
    run = background.get("demo") or start_demo_run(tmp_path_factory.mktemp("wf"))
    run.wait_ok()
    return run.wf, run.work


@pytest.fixture(scope="session")
def slurm_background(background):
    """test_slurm's SLURM run, started when the session started (``background``)."""
    return background["slurm"]


@pytest.fixture(scope="session")
def small_run(background, tmp_path_factory):
    """tests/test_small_n.py's run: the methods of :func:`small_config` on folders of 5, 10,
    30 (read without labels), 49 and 100 real images of two classes. Returns the
    :class:`BackgroundWorkflow` once it ended (failing the test if the run failed)."""
    run = background.get("small") or start_small_run(tmp_path_factory.mktemp("small"))
    run.wait_ok()
    return run

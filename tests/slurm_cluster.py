"""A real single-node SLURM on localhost for the tests (``start_cluster``, ``start_background``).

What it starts, all under one temporary directory, with nothing written to /etc:

* ``munged`` (foreground, its own socket, pid, log and seed files) with a key generated for
  this session;
* ``slurmctld`` and ``slurmd`` in the foreground (``-D``) with ``-f <dir>/slurm.conf``;
  client commands (sbatch, squeue, scontrol) find the same file through ``SLURM_CONF`` in
  ``cluster.env``; ``srun`` inside a job through a two-line wrapper first on ``PATH`` (the
  plugin's jobstep drops ``SLURM_CONF`` from the job's environment, see ``start_cluster``).

The programs come from Debian's ``slurm-wlm`` and ``munge``, which ``make system-setup``
installs (machine set-up, as root); this module installs nothing. When one of them is
missing, or SLURM cannot be started, the tests that need the cluster fail with the reason
(``make system-setup`` to run, or the daemons' logs): there is no skip. Everything else is
per session, here: a conf, key, ports and daemons of its own under the session's tmp dir,
stopped when it ends, so sessions share nothing and /etc stays as the packages left it.

Why the configuration is what it is:

* One node with the machine's CPUs (``os.sched_getaffinity``, i.e. ``nproc``) as 1 socket x
  N cores x 1 thread, and ``RealMemory`` 95% of MemTotal. ``SlurmdParameters=config_overrides``
  makes slurmd trust these numbers instead of the hardware it detects, so a container whose
  ``nproc`` is below the host's CPU count, or a VM with hyper-threads, still gets a node
  that is idle (not drained for "low socket*core*thread count") and whose allocations are
  counted in cores (``select/cons_tres`` + ``CR_Core_Memory``): a job asking for 1 CPU gets
  1 CPU, not a whole 2-thread core.
* ``ProctrackType=proctrack/linuxproc``, ``TaskPlugin=task/none``,
  ``JobAcctGatherType=jobacct_gather/none``, ``JobContainerType=job_container/none``: nothing
  that needs cgroups. A test container usually has a read-only or foreign cgroup tree
  (no delegation, no systemd), where ``proctrack/cgroup`` and ``task/cgroup`` make slurmd
  fail at start. The price is that memory and CPU limits are bookkeeping only (not
  enforced); the scheduler still allocates by them, which is what the tests check.
* No slurmdbd (``AccountingStorageType=accounting_storage/none``): ``sacct`` has nothing to
  answer from, so status is read from ``squeue`` (the profile's ``slurm-status-command``).
  ``MinJobAge=86400`` keeps finished jobs in slurmctld, so ``squeue``/``scontrol show job``
  still know a job after it ended (the plugin falls back to sacct when MinJobAge is below
  three times its first status-check delay). ``JobCompType=jobcomp/filetxt`` additionally
  writes one line per finished job (time limit, CPUs, TRES incl. memory) to
  ``cluster.jobcomp``: a durable record of what SLURM allocated, read by the tests.
* Ports are picked free at start, the node is named ``medembed1`` (``NodeAddr=127.0.0.1``,
  ``slurmd -N``), so two sessions (or a system SLURM) on one machine do not collide.
* Daemons run as the current user (root in CI): ``SlurmUser``/``SlurmdUser`` are set to it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import Background

#: The programs the cluster needs (.ci/system-setup checks the same), from Debian's PACKAGES.
REQUIRED = ("slurmctld", "slurmd", "munged", "sbatch", "srun", "squeue", "sinfo", "scontrol")
PACKAGES = ("slurm-wlm", "munge")
NODE = "medembed1"
PARTITION = "debug"
CLUSTER = "medembed"


class SlurmError(RuntimeError):
    """SLURM is not installed or could not be started; the message says why."""


def _which(name: str) -> str | None:
    # sbin is often not on a non-root PATH
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")


def require_installed() -> dict[str, str]:
    """Paths of the SLURM and munge programs; :class:`SlurmError` naming ``make system-setup``
    when one is missing."""
    missing = [p for p in REQUIRED if _which(p) is None]
    if missing:
        raise SlurmError(f"{', '.join(missing)} not installed ({' and '.join(PACKAGES)}): run `make system-setup`")
    return {p: _which(p) for p in REQUIRED}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _free_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        p = _free_port()
        if p not in ports:
            ports.append(p)
    return ports


def node_cpus() -> int:
    return len(os.sched_getaffinity(0))


def node_memory_mb() -> int:
    """95% of MemTotal, in MB: slurmd must never see less memory than configured."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(int(line.split()[1]) / 1024 * 0.95)
    raise SlurmError("no MemTotal in /proc/meminfo")


@dataclass
class SlurmCluster:
    """A running cluster: ``env`` for client commands, paths of its conf, logs and job record."""

    root: Path
    conf: Path
    env: dict[str, str]
    cpus: int
    memory_mb: int
    jobcomp: Path
    sockdir: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def run(self, *cmd: str, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise SlurmError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def logs(self) -> str:
        """The tail of every daemon log, for failure messages."""
        parts = []
        for f in sorted((self.root / "log").glob("*")):
            parts.append(f"--- {f.name}\n" + "\n".join(f.read_text(errors="replace").splitlines()[-30:]))
        return "\n".join(parts)

    def node_state(self) -> str:
        return self.run("sinfo", "-h", "-N", "-n", NODE, "-o", "%T", check=False).stdout.strip()

    def show_job(self, jobid: str) -> dict[str, str]:
        """``scontrol show job -o`` as a dict (the job must still be in slurmctld: MinJobAge)."""
        out = self.run("scontrol", "show", "job", "-o", str(jobid)).stdout
        return dict(tok.split("=", 1) for tok in out.split() if "=" in tok)

    def completed_jobs(self) -> dict[str, dict[str, str]]:
        """Every finished job as recorded by jobcomp/filetxt, keyed by job id."""
        jobs = {}
        if self.jobcomp.exists():
            for line in self.jobcomp.read_text().splitlines():
                rec = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
                if "JobId" in rec:
                    jobs[rec["JobId"]] = rec
        return jobs

    def stop(self) -> None:
        # Ask slurmctld to stop slurmd and itself, then make sure every process we started is gone.
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        shutil.rmtree(self.sockdir, ignore_errors=True)


def write_conf(root: Path, user: str, cpus: int, memory_mb: int, munge_socket: Path) -> Path:
    ctld_port, slurmd_port = _free_ports(2)
    for d in ("state", "spool", "log", "run"):
        (root / d).mkdir(parents=True, exist_ok=True)
    conf = root / "slurm.conf"
    conf.write_text(f"""\
# Generated by tests/slurm_cluster.py: one node, no accounting, no cgroups.
ClusterName={CLUSTER}
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={root / "state"}
SlurmdSpoolDir={root / "spool"}
SlurmctldPidFile={root / "run" / "slurmctld.pid"}
SlurmdPidFile={root / "run" / "slurmd.pid"}
SlurmctldLogFile={root / "log" / "slurmctld.log"}
SlurmdLogFile={root / "log" / "slurmd.log"}
SlurmctldDebug=info
SlurmdDebug=info
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
JobContainerType=job_container/none
SwitchType=switch/none
MpiDefault=none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={root / "log" / "jobcomp.txt"}
MinJobAge=86400
MaxJobCount=100000
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
SlurmdTimeout=300
InactiveLimit=0
KillWait=10
Waittime=0
SlurmdParameters=config_overrides
NodeName={NODE} NodeAddr=127.0.0.1 NodeHostname={socket.gethostname()} CPUs={cpus} Sockets=1 CoresPerSocket={cpus} ThreadsPerCore=1 RealMemory={memory_mb} State=UNKNOWN
PartitionName={PARTITION} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
""")
    return conf


def _wait(predicate, timeout: float, what: str, cluster: SlurmCluster | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if cluster is not None:
            dead = [n for n, p in cluster.procs.items() if p.poll() is not None]
            if dead:
                raise SlurmError(f"{', '.join(dead)} exited while waiting for {what}\n{cluster.logs()}")
        time.sleep(0.5)
    raise SlurmError(f"timed out after {timeout:.0f}s waiting for {what}" + (f"\n{cluster.logs()}" if cluster else ""))


def start_cluster(root: Path) -> SlurmCluster:
    """Configure and start munged, slurmctld and slurmd under ``root`` (the programs must be installed)."""
    bins = require_installed()
    root.mkdir(parents=True, exist_ok=True)
    # A short socket path: AF_UNIX paths are limited to ~108 bytes and pytest's tmp dirs are long.
    sockdir = Path(tempfile.mkdtemp(prefix="medembed-munge-", dir="/tmp"))
    munge_socket = sockdir / "munge.socket"
    user = pwd.getpwuid(os.geteuid()).pw_name
    cpus, memory_mb = node_cpus(), node_memory_mb()
    conf = write_conf(root, user, cpus, memory_mb, munge_socket)
    # Inside a job, snakemake's slurm-jobstep executor runs the rule through `srun` with every
    # SLURM_* variable but a few job ids removed, SLURM_CONF included; srun would then look
    # for /etc/slurm/slurm.conf (where a real cluster keeps it) and fail. Instead of writing
    # to /etc, an `srun` first on PATH (which the job inherits) points it at our conf.
    shim = root / "bin"
    shim.mkdir(exist_ok=True)
    (shim / "srun").write_text(f'#!/bin/sh\nSLURM_CONF="{conf}" exec "{bins["srun"]}" "$@"\n')
    (shim / "srun").chmod(0o755)
    env = {**os.environ, "SLURM_CONF": str(conf), "PATH": f"{shim}:{os.environ.get('PATH', '')}"}
    # A job environment of our own must not leak into the daemons or clients.
    for k in list(env):
        if k.startswith(("SLURM_", "SBATCH_", "SRUN_")) and k != "SLURM_CONF":
            env.pop(k)
    cluster = SlurmCluster(root, conf, env, cpus, memory_mb, root / "log" / "jobcomp.txt", sockdir)
    try:
        munge_dir = root / "munge"
        munge_dir.mkdir(mode=0o700, exist_ok=True)
        key = munge_dir / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        log = root / "log"
        cluster.procs["munged"] = subprocess.Popen(
            [bins["munged"], "-F", "--force", f"--socket={munge_socket}", f"--key-file={key}",
             f"--pid-file={munge_dir / 'munged.pid'}", f"--log-file={log / 'munged.log'}",
             f"--seed-file={munge_dir / 'munged.seed'}"],
            stdin=subprocess.DEVNULL, stdout=open(log / "munged.out", "w"), stderr=subprocess.STDOUT,
            env=env, start_new_session=True,
        )
        _wait(munge_socket.exists, 30, "munged's socket", cluster)
        for name, args in (
            ("slurmctld", [bins["slurmctld"], "-D", "-i", "-f", str(conf)]),  # -i: ignore stale state
            ("slurmd", [bins["slurmd"], "-D", "-f", str(conf), "-N", NODE]),
        ):
            cluster.procs[name] = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=open(log / f"{name}.out", "w"), stderr=subprocess.STDOUT,
                env=env, start_new_session=True,
            )
        _wait(lambda: cluster.node_state() == "idle", 90, f"node {NODE} to be idle (sinfo)", cluster)
    except BaseException:
        cluster.stop()
        raise
    return cluster


@dataclass
class BackgroundRun:
    """A command running against a cluster while the session goes on (see ``start_background``).

    The command waits on SLURM most of the time (submission, scheduling, status checks
    every few seconds), so the session's other tests run meanwhile; ``wait`` collects it.
    ``error`` holds why the cluster could not be started: the tests that need the run fail
    with it, the others are not affected.
    """

    cluster: SlurmCluster | None
    process: Background | None
    cwd: Path | None = None
    error: str | None = None

    def wait(self, timeout: float) -> tuple[int, str, float]:
        """(return code, stdout + stderr, seconds from start to its last output) of the command."""
        if self.error:
            pytest.fail(f"could not start a local SLURM: {self.error}", pytrace=False)
        rc, out = self.process.wait(timeout)
        return rc, out, self.process.wall

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        if self.cluster is not None:
            self.cluster.stop()


def start_background(root: Path, cmd: list[str], *, cwd: Path, env: dict[str, str]) -> BackgroundRun:
    """Start a cluster under ``root`` and ``cmd`` (its environment: ``cluster.env`` + ``env``),
    without waiting for ``cmd``; its output goes to ``root / "run.log"``."""
    try:
        cluster = start_cluster(root / "slurm")
    except Exception as e:  # noqa: BLE001 - any failure belongs to the tests that need the run, not to the session
        return BackgroundRun(None, None, error=str(e) if isinstance(e, SlurmError) else f"{type(e).__name__}: {e}")
    process = Background(cmd, what="the SLURM run", output=root / "run.log", env={**cluster.env, **env}, cwd=cwd)
    return BackgroundRun(cluster, process, cwd)

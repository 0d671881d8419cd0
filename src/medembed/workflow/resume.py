"""Resume an interrupted run: ``python -m medembed.workflow.resume [snakemake arguments]``.

After Ctrl-C, a killed job or a crashed node, snakemake leaves its working directory
locked (a SIGKILL never releases the lock) and may leave jobs marked incomplete. This
releases the lock and reruns what is missing or incomplete, and nothing else:

    snakemake --unlock ARGS
    snakemake --rerun-incomplete ARGS

Outputs are written atomically (a temporary name, then a rename), so a job that was
killed leaves no file that looks complete; its hidden ``*.part`` leftovers are removed.
Only the rerun's exit code is returned. Unlocking is safe only when no other snakemake
runs in the same directory: this checks for one first.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _workdir(args: list[str]) -> Path:
    for flag in ("--directory", "-d"):
        if flag in args:
            return Path(args[args.index(flag) + 1])
    return Path.cwd()


def _other_snakemake_running(workdir: Path) -> bool:
    """A live snakemake process whose working directory is ``workdir`` (Linux /proc)."""
    me = os.getpid()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if int(proc.name) == me:
                continue
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
            if not any(b"snakemake" in c for c in cmd[:3]):
                continue
            if Path(os.readlink(proc / "cwd")) == workdir.resolve():
                return True
            if str(workdir.resolve()).encode() in b" ".join(cmd):
                return True
        except (OSError, ValueError):
            continue
    return False


def remove_partial_files(root: Path) -> int:
    """Delete the hidden temporary files of killed writers below ``root``/results."""
    n = 0
    for part in (root / "results").rglob(".*.part"):
        part.unlink(missing_ok=True)
        n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    workdir = _workdir(args)
    if _other_snakemake_running(workdir):
        print(f"medembed resume: another snakemake is running in {workdir}; not unlocking", file=sys.stderr)
        return 2
    smk = [sys.executable, "-m", "snakemake"]
    subprocess.run([*smk, "--unlock", *args], check=True, capture_output=True, text=True)
    n = remove_partial_files(workdir)
    if n:
        print(f"medembed resume: removed {n} partial file(s) of killed jobs", file=sys.stderr)
    return subprocess.run([*smk, "--rerun-incomplete", *args]).returncode


if __name__ == "__main__":
    raise SystemExit(main())

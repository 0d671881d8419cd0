"""The demo workflow's wall time: this checkout against a baseline commit, back to back.

    python benchmarks/demo_wall.py --baseline <rev> [--encoders 1] [--repeat 1] [--cores 2]

Each round runs the baseline, then this checkout, each from scratch in its own temporary
directory (``data/demo`` linked in, ``config/demo.yaml`` with its first ``--encoders``
encoders; 0 = all of them), with the checkout's own package first on ``PYTHONPATH``. The
baseline is a detached ``git worktree`` of ``<rev>`` (removed afterwards). Machines here
are noisy, so the figure to quote is the ratio of two runs made one after the other; with
``--repeat 2`` the order alternates, so that neither side always gets the warmer caches.

Per run it prints the wall time, the jobs, the seconds with 0 / 1 / 2+ jobs running (from
snakemake's log), the sum of the jobs' wall and CPU time (their ``benchmark:`` files) and
the CPU time of snakemake's own process (sampled from /proc every 0.5 s), then the ratio
this / baseline of each round.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]


def first_encoders_config(src: Path, dest: Path, n_encoders: int) -> Path:
    config = yaml.safe_load(src.read_text())
    if n_encoders and "encoders" in config:
        config["encoders"] = config["encoders"][:n_encoders]
    dest.write_text(yaml.safe_dump(config, sort_keys=False))
    return dest


def busy_seconds(log: str) -> dict[int, float]:
    """Seconds during which 0, 1 and 2+ jobs were running, from snakemake's log."""
    lines = log.splitlines()
    events = []
    for i, line in enumerate(lines[:-1]):
        m = re.match(r"\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]", line)
        if not m:
            continue
        t = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
        nxt = lines[i + 1]
        if re.match(r"(local)?(rule|checkpoint) \w+:", nxt):
            events.append((t, +1))
        elif nxt.startswith("Finished jobid"):
            events.append((t, -1))
    events.sort(key=lambda e: (e[0], -e[1]))
    busy = {0: 0.0, 1: 0.0, 2: 0.0}
    running, last = 0, events[0][0] if events else None
    for t, d in events:
        busy[min(running, 2)] += (t - last).total_seconds()
        running, last = running + d, t
    return busy


def job_times(work: Path) -> pd.DataFrame:
    """Each job's wall and CPU seconds (its ``benchmark:`` file), by path under logs/benchmarks."""
    rows = []
    root = work / "logs" / "benchmarks"
    for f in root.rglob("*.tsv"):
        row = pd.read_csv(f, sep="\t").iloc[-1]
        rows.append({"job": str(f.relative_to(root).with_suffix("")), "s": float(row["s"]),
                     "cpu": float(row.get("cpu_time", 0.0) or 0.0)})
    return pd.DataFrame(rows).set_index("job")


def own_cpu_seconds(pid: int, last: float) -> float:
    """User + system CPU seconds of process ``pid`` alone (children excluded); ``last`` once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return last
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_demo(checkout: Path, work: Path, config: Path, n_encoders: int, cores: int) -> dict:
    work.mkdir(parents=True)
    (work / "data").mkdir()
    os.symlink(ROOT / "data" / "demo", work / "data" / "demo")
    cfg = first_encoders_config(config, work / "config.yaml", n_encoders)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(checkout / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(checkout / "Snakefile"), "--directory", str(work),
           "--configfile", str(cfg), "--cores", str(cores)]
    t0 = time.perf_counter()
    # cwd=work: snakemake takes the workflow profile from ./profiles/default before the one
    # beside the Snakefile, so from this repository both sides would get this one's profile
    with open(work / "snakemake.out", "w") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=work, stdout=out, stderr=subprocess.STDOUT)
        main_cpu = 0.0
        while proc.poll() is None:  # snakemake's own CPU (scheduling, bookkeeping), not its jobs'
            main_cpu = own_cpu_seconds(proc.pid, main_cpu)
            time.sleep(0.5)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"demo failed in {checkout}:\n{(work / 'snakemake.out').read_text()[-3000:]}")
    log = max((work / ".snakemake" / "log").glob("*.snakemake.log")).read_text()
    jobs = job_times(work)
    return {"wall": wall, "main_cpu": main_cpu, "jobs": len(jobs), "busy": busy_seconds(log), "job_s": jobs["s"].sum(),
            "job_cpu": jobs["cpu"].sum(), "times": jobs}


def show(name: str, r: dict) -> None:
    b = r["busy"]
    print(f"  {name:9s} wall {r['wall']:6.1f} s  {r['jobs']:3d} jobs  0/1/2+ running {b[0]:5.0f}/{b[1]:5.0f}/{b[2]:5.0f} s"
          f"  job wall {r['job_s']:6.1f} s  job CPU {r['job_cpu']:6.1f} s  snakemake's own CPU {r['main_cpu']:5.1f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", required=True, help="the commit to compare against (e.g. main, HEAD~3)")
    p.add_argument("--encoders", type=int, default=1, help="first N encoders of the config; 0 = all (default 1)")
    p.add_argument("--config", type=Path, default=ROOT / "config" / "demo.yaml")
    p.add_argument("--repeat", type=int, default=1, help="rounds; the order alternates (default 1)")
    p.add_argument("--cores", type=int, default=2)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="demo_wall-") as tmp:
        tmp = Path(tmp)
        base = tmp / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(base), args.baseline], check=True)
        try:
            rev = subprocess.run(["git", "-C", str(base), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
            print(f"demo ({args.config.name}, encoders: {args.encoders or 'all'}) on {args.cores} cores: baseline {rev} vs this checkout")
            ratios = []
            for k in range(args.repeat):
                order = [("baseline", base), ("this", ROOT)]
                if k % 2:
                    order.reverse()
                res = {name: run_demo(co, tmp / f"{name}-{k}", args.config, args.encoders, args.cores) for name, co in order}
                print(f"round {k + 1}:")
                for name, _ in order:
                    show(name, res[name])
                diff = (res["this"]["times"]["s"] - res["baseline"]["times"]["s"]).dropna()
                moved = diff[diff.abs() >= 1.0].sort_values()
                if len(moved):
                    print("  jobs whose wall changed by 1 s or more (this - baseline):")
                    for job, d in moved.items():
                        print(f"    {d:+6.1f} s  {job}  ({res['baseline']['times'].at[job, 's']:.1f} -> {res['this']['times'].at[job, 's']:.1f})")
                ratios.append(res["this"]["wall"] / res["baseline"]["wall"])
                print(f"  ratio this/baseline: wall {ratios[-1]:.2f}x, job CPU {res['this']['job_cpu'] / res['baseline']['job_cpu']:.2f}x")
            if len(ratios) > 1:
                print(f"wall ratio over {len(ratios)} rounds: " + ", ".join(f"{r:.2f}" for r in ratios))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)


if __name__ == "__main__":
    main()

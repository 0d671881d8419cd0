"""An NIH ChestX-ray14-style table made from the demo's SLAKE images, run through the workflow.

SLAKE's QA records answer "What diseases are included in the picture?" for some images
(Cardiomegaly, Atelectasis, Effusion, Nodule, Pneumonia, Pneumothorax, Liver Cancer, Brain
Edema, …; "None" for a normal image). This writes them as NIH's ``Finding Labels`` column
(``Effusion|Nodule``, ``No Finding``; empty where SLAKE asked nothing, i.e. unknown), with
``Patient ID``-style ids, ``View Position`` (the modality) and ``split``, into
``<out>/Data_Entry.csv`` beside a config reading it with ``reader: table``, then runs
snakemake on it (``--run``) and prints the per-finding kNN-probe AUROC of the encoder
comparison and the enrichment of the findings in the colour-by clustering.

    python benchmarks/findings_demo.py --out /tmp/findings_demo --run
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
SLAKE = ROOT / "data" / "demo" / "slake-mini"
QUESTION = "What diseases are included in the picture?"


def finding_labels(qa: list[dict]) -> dict[str, str]:
    """``{img_name: "A|B" or "No Finding"}`` from SLAKE's disease answers."""
    found: dict[str, set[str]] = defaultdict(set)
    for r in qa:
        if r["q_lang"] != "en" or r["question"] != QUESTION:
            continue
        for d in re.split(r",| and ", r["answer"]):
            d = d.strip().title().replace("Brian", "Brain")  # SLAKE's own typo
            if d:
                found[r["img_name"]].add("No Finding" if d == "None" else d)
    return {k: "|".join(sorted(v - {"No Finding"}) or ["No Finding"]) for k, v in found.items()}


def write_table(out: Path) -> Path:
    qa = json.loads((SLAKE / "train.json").read_text())
    labels = finding_labels(qa)
    first = {}
    for r in qa:
        first.setdefault(r["img_name"], r)
    rows = [{
        "Image Index": name,
        "Finding Labels": labels.get(name, ""),
        "Patient ID": f"{int(r['img_id']):05d}",
        "View Position": r["modality"],
        "split": "train",
    } for name, r in sorted(first.items())]
    table = out / "Data_Entry.csv"
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(table, index=False)
    return table


def write_config(out: Path, table: Path) -> Path:
    config = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    config["datasets"] = {"slake_nih": {
        "reader": "table", "table": str(table), "root": str(SLAKE / "imgs"),
        "path_column": "Image Index", "labels": ["View Position"],
        "multilabel": {"column": "Finding Labels", "sep": "|"}, "patient_column": "Patient ID",
    }}
    config["encoders"] = config["encoders"][:1] + [e for e in config["encoders"] if e["name"] == "pixels"]
    path = out / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/findings_demo")
    ap.add_argument("--run", action="store_true", help="run snakemake on it and print the tables")
    ap.add_argument("--cores", default="2")
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    table = write_table(out)
    df = pd.read_csv(table, keep_default_na=False)
    counts = df["Finding Labels"].str.split("|").explode().value_counts()
    print(f"{table}: {len(df)} images, {int((df['Finding Labels'] != '').sum())} with findings")
    print(counts.to_string())
    config = write_config(out, table)
    if not args.run:
        print(f"config: {config}")
        return
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(out),
           "--configfile", str(config), "--cores", args.cores]
    subprocess.run(cmd, check=True)
    results = out / "results" / "slake_nih"
    enc = pd.read_csv(results / "encoders.tsv", sep="\t")
    print(enc.to_string())
    for f in sorted(results.glob("*/image/cluster/*_findings.tsv")):
        print(f"\n{f.relative_to(out)}")
        print(pd.read_csv(f, sep="\t").to_string())


if __name__ == "__main__":
    main()

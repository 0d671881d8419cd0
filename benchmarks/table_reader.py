"""Validation of a large label table by the table reader, against its floors, same process.

Writes ``--rows`` empty image files in folders of ``--per-folder`` (the layout of CheXpert:
one folder per patient study) and an NIH-style csv listing them (a delimited finding
column, a patient id with leading zeros, a view and an age), then times, back to back:

* ``read_csv``: pandas reading the csv alone (the floor of any reader);
* ``stat per row``: one ``os.stat`` per listed file (what a naive existence check costs);
* ``validate``: ``read_table_dataset`` - sniffing, every start-up check, the path safety
  check, existence through one directory listing per folder, the findings as binary
  columns, and the candidate records (no image is decoded: that is the manifest's probe).

It prints the seconds and the ratios validate / read_csv and validate / stat per row. The
issue's target: 1,000,000 rows in at most 30 s on 2 cores.

    python benchmarks/table_reader.py [--rows 1000000] [--dir /tmp/table_bench]
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from medembed.datasets import read_table_dataset

FINDINGS = ["Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia"]


def make(root: Path, rows: int, per_folder: int, seed: int = 0) -> Path:
    """``rows`` empty files under ``root/images`` and the csv listing them; the csv's path."""
    rng = np.random.default_rng(seed)
    images = root / "images"
    rels = []
    for i in range(rows):
        folder = f"p{i // per_folder:06d}"
        if i % per_folder == 0:
            (images / folder).mkdir(parents=True, exist_ok=True)
        rel = f"{folder}/{i:08d}_000.png"
        open(images / rel, "wb").close()
        rels.append(rel)
    k = rng.integers(0, 3, size=rows)
    picks = rng.integers(0, len(FINDINGS), size=(rows, 2))
    labels = ["|".join(sorted({FINDINGS[j] for j in p[:n]})) or "No Finding" for n, p in zip(k, picks)]
    df = pd.DataFrame({
        "Image Index": rels,
        "Finding Labels": labels,
        "Patient ID": [f"{i // per_folder:05d}" for i in range(rows)],
        "View Position": rng.choice(["PA", "AP"], size=rows),
        "Patient Age": rng.integers(1, 95, size=rows),
    })
    table = root / "Data_Entry.csv"
    df.to_csv(table, index=False)
    return table


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--per-folder", type=int, default=1000)
    ap.add_argument("--dir", default="/tmp/medembed_table_bench")
    ap.add_argument("--keep", action="store_true", help="keep the files (and reuse them next time)")
    args = ap.parse_args(argv)
    root = Path(args.dir)
    table = root / "Data_Entry.csv"
    if not (args.keep and table.exists() and sum(1 for _ in open(table)) == args.rows + 1):
        shutil.rmtree(root, ignore_errors=True)
        t = time.perf_counter()
        make(root, args.rows, args.per_folder)
        print(f"made {args.rows:,} files and the csv in {time.perf_counter() - t:.1f} s")
    try:
        t = time.perf_counter()
        df = pd.read_csv(table, dtype={"Image Index": str, "Patient ID": str})
        t_read = time.perf_counter() - t

        t = time.perf_counter()
        images = root / "images"
        missing = sum(not os.path.exists(images / p) for p in df["Image Index"])
        t_stat = time.perf_counter() - t
        assert missing == 0

        t = time.perf_counter()
        records, labels, info = read_table_dataset(
            table=table, root=images, path_column="Image Index", labels=["View Position"],
            multilabel={"column": "Finding Labels", "sep": "|"}, patient_column="Patient ID",
        )
        t_validate = time.perf_counter() - t
        assert len(records) == args.rows and not any("_skip" in r for r in records)
        print(f"rows {args.rows:,}  labels {labels}")
        print(f"read_csv        {t_read:7.2f} s")
        print(f"stat per row    {t_stat:7.2f} s")
        print(f"validate        {t_validate:7.2f} s   (target: <= 30 s at 1,000,000 rows)")
        print(f"ratio validate / read_csv     {t_validate / t_read:.2f}")
        print(f"ratio validate / stat per row {t_validate / t_stat:.2f}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Rule make_manifest: list and check the images of one dataset (and its QA records)."""

from typing import TYPE_CHECKING

import pandas as pd

from medembed import datasets, io
from medembed.workflow import job_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_logging(snakemake.log[0]):
    cfg = dict(snakemake.params.dataset)
    reader, path, strict = cfg.pop("reader"), cfg.pop("path", None), cfg.pop("strict", False)
    if reader != "folder":
        cfg.pop("label_name", None)
    manifest, skipped, labels = datasets.make_manifest(
        reader, path, strict=strict, name=snakemake.wildcards.dataset,
        threads=snakemake.threads, **cfg,
    )
    info = manifest.attrs.get("reader") or {}
    qa = datasets.read_qa(path) if reader == "slake" else pd.DataFrame(columns=["image_id"])
    io.write_table(snakemake.output.qa, qa)
    io.write_table(snakemake.output.skipped, skipped)
    io.write_table(
        snakemake.output.manifest,
        manifest,
        params={
            "reader": reader,
            "path": path,
            "table": str(cfg["table"]) if cfg.get("table") else None,
            "root": str(cfg["root"]) if cfg.get("root") else None,
            "label_columns": labels,
            "n_skipped": len(skipped),
            "decode": manifest.attrs["decode"],
            "frames": cfg.get("frames", "middle"),
            "dicom_tags": list(cfg.get("dicom_tags") or []),
            "keep_identifiers": bool(cfg.get("keep_identifiers", False)),
            # table reader: findings as binary label columns, patient / split columns,
            # image files on disk that the table does not list
            "multilabel": info.get("multilabel"),
            "patient_column": info.get("patient_column"),
            "split_column": info.get("split_column"),
            "n_unlisted": info.get("n_unlisted", 0),
        },
    )

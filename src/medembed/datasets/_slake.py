"""Reader for the SLAKE layout: ``imgs/<id>/source.jpg`` plus flat QA json files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

SLAKE_SPLITS = ("train", "validation", "test")
IMAGE_LABELS = ("modality", "location")
QA_COLUMNS = [
    "qid", "img_id", "img_name", "question", "answer", "q_lang",
    "answer_type", "content_type", "base_type", "location", "modality", "split",
]


def read_qa(path: str | os.PathLike) -> pd.DataFrame:
    """All QA records of the split files present under ``path``, with a ``split`` column."""
    root = Path(path)
    frames = []
    for split in SLAKE_SPLITS:
        f = root / f"{split}.json"
        if not f.exists():
            continue
        try:
            recs = json.loads(f.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"SLAKE: {f} is not valid JSON ({exc})") from exc
        df = pd.DataFrame.from_records(recs)
        df["split"] = split
        frames.append(df)
    if not frames:
        raise FileNotFoundError(f"SLAKE: no train/validation/test json under {root}")
    qa = pd.concat(frames, ignore_index=True)
    missing = {"img_name", "question", "answer"} - set(qa.columns)
    if missing:
        raise ValueError(f"SLAKE: QA records lack {sorted(missing)}")
    qa["image_id"] = qa["img_name"].astype(str).str.split("/").str[0]
    return qa[[c for c in QA_COLUMNS if c in qa.columns] + ["image_id"]]


def _mode(s: pd.Series):
    s = s.dropna().astype(str)
    s = s[s != ""]
    return s.mode().iloc[0] if len(s) else None


def read_slake(path: str | os.PathLike) -> tuple[list[dict], list[str]]:
    """Candidate records for SLAKE images, labelled with ``modality`` and ``location``.

    Labels are per image in SLAKE but repeated on each QA record; the most common
    value wins. ``split`` is the split of the image's QA records (for leakage checks).
    """
    root = Path(path)
    imgs = root / "imgs"
    if not imgs.is_dir():
        raise FileNotFoundError(f"SLAKE: image folder not found: {imgs}")
    qa = read_qa(root)
    per_image = qa.groupby("image_id").agg({c: _mode for c in [*IMAGE_LABELS, "split"] if c in qa})
    records = []
    for d in sorted(p for p in imgs.iterdir() if p.is_dir()):
        src = next((d / n for n in ("source.jpg", "source.png") if (d / n).exists()), None)
        if src is None:
            continue
        rec = {"id": d.name, "path": src}
        if d.name in per_image.index:
            rec.update(per_image.loc[d.name].to_dict())
        else:
            rec.update({c: None for c in per_image.columns})
        records.append(rec)
    labels = [c for c in IMAGE_LABELS if c in per_image.columns]
    return records, labels

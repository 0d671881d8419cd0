"""The default path (SLAKE download + BiomedCLIP image and text features) run offline.

A SLAKE-format zip made from the demo data goes through download_dataset (source: local)
and a tiny open_clip model in the exact hf-hub cache layout stands in for BiomedCLIP,
loaded with HF_HUB_OFFLINE=1 through the same code the real model uses.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import (
    ROOT,
    BackgroundWorkflow,
    copy_workflow,
    make_slake_subset,
    scheduled_jobs,
    snakemake,
)
from openclip_fixture import build_tiny_openclip

from medembed import io
from medembed.embed._phrases import read_phrases, search_texts

pytestmark = pytest.mark.workflow


def test_default_config_dry_run_lists_download_embeddings_and_analysis():
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rules = {r for r, _, _ in scheduled_jobs(proc.stdout + proc.stderr)}
    assert {
        "download_dataset", "make_manifest", "embed_images", "embed_texts", "combine_features",
        "zero_shot", "embed_phrases", "reduce", "cluster", "detect_outliers", "evaluate_clustering", "make_report",
    } <= rules


def start_run(base: Path) -> BackgroundWorkflow:
    """The offline default-path run, started without waiting (conftest's ``background``
    starts it before the session's first test)."""
    wf, work = copy_workflow(base / "workflow"), base / "work"
    slake = make_slake_subset(base / "slake_src", per_modality=5)
    n_qa = len(json.loads((slake / "train.json").read_text()))
    zpath = work / "Slake1.0.zip"
    work.mkdir()
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in sorted(slake.rglob("*")):
            if f.is_file():
                zf.write(f, "Slake1.0/" + f.relative_to(slake).as_posix())
    qa = json.loads((slake / "train.json").read_text())
    built = build_tiny_openclip(base / "hf_home", [q["question"] + " " + q["answer"] for q in qa])
    config = {
        "datasets": {
            "slake": {
                "reader": "slake",
                "download": {
                    "source": "local", "local_path": "Slake1.0.zip", "splits": ["train"],
                    "expected_images": 15, "expected_qa": n_qa,
                },
            }
        },
        "encoder": {"name": "biomedclip", "params": {"model_id": built["model_id"]}, "batch_size": 8},
        "features": ["image", "text", "image_text"],
        "texts": {"language": "all"},
        "zero_shot": {"modality": {"CT": "a CT scan", "MRI": "an MRI scan", "X-Ray": "a chest X-ray"}},
        "phrases": "config/phrases.txt",  # the shipped list, found in the workflow's folder
        # One method per stage: this run is about the download, the hub encoder and its
        # three feature sets; every other method runs in the shared demo run.
        "reduce": {"pca": {}},
        "cluster": {"kmeans": {"n_clusters": 3}},
        "outliers": {"isolation_forest": {}},
        "pca": {"methods": ["isolation_forest"]},  # the input it is validated on for the consensus
        "plot": {"map": "pca", "color_by": "kmeans"},
        "stability": {"methods": []},  # covered by the shared demo run
    }
    (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = {"HF_HOME": str(built["hf_home"]), "HF_HUB_CACHE": str(built["hub"]), "HF_HUB_OFFLINE": "1"}
    return BackgroundWorkflow(wf, work, env=env)


@pytest.fixture(scope="module")
def run(background, tmp_path_factory):
    bg = background.get("biomedclip") or start_run(tmp_path_factory.mktemp("bmc"))
    bg.wait_ok()
    n_qa = len(json.loads((bg.work.parent / "slake_src" / "train.json").read_text()))
    return bg.work, n_qa, bg.wf, bg.env


def test_download_extracts_and_locks_the_dataset(run):
    work, *_ = run
    root = work / "resources/datasets/slake"
    assert len(list((root / "imgs").iterdir())) == 15
    lock = json.loads((work / "resources/datasets/slake.lock.json").read_text())
    assert "Slake1.0.zip" in json.dumps(lock)


def test_image_text_and_combined_features(run):
    work, n_qa, *_ = run
    base = work / "results/slake/biomedclip"
    manifest = io.read_table(work / "results/slake/manifest.parquet")
    img = io.read_array(base / "image.npz")
    texts = io.read_table(base / "texts.parquet")
    T = io.read_array(base / "texts.npz")
    txt = io.read_array(base / "text.npz")
    both = io.read_array(base / "image_text.npz")
    assert img.X.shape[0] == len(manifest) == 15
    assert len(texts) == n_qa and T.X.shape[0] == n_qa
    assert txt.X.shape == img.X.shape and list(txt.ids) == list(manifest["id"])
    assert both.X.shape == (15, 2 * img.X.shape[1])
    for arr in (img, T, txt, both):
        np.testing.assert_allclose(np.linalg.norm(arr.X, axis=1), 1, atol=1e-5)
    # The per-image text feature is the normalised mean of that image's text embeddings.
    first = manifest["id"].iloc[0]
    rows = T.X[(texts["image_id"] == first).to_numpy()]
    mean = rows.mean(0) / np.linalg.norm(rows.mean(0))
    np.testing.assert_allclose(txt.X[0], mean, atol=1e-5)
    for feat in ("image", "text", "image_text"):
        metrics = io.read_table(base / feat / "metrics.tsv")
        assert set(metrics.loc[metrics["kind"] == "cluster", "method"]) == {"kmeans"}
        assert set(metrics.loc[metrics["kind"] == "reduce", "method"]) == {"pca"}
        assert metrics["value"].notna().any()


def test_zero_shot_scores_and_accuracy(run):
    work, *_ = run
    base = work / "results/slake/biomedclip"
    scores = io.read_table(base / "zero_shot.parquet")
    assert len(scores) == 15 and "pred:modality" in scores
    acc = pd.read_csv(base / "zero_shot_accuracy.tsv", sep="\t")
    row = acc[acc["column"] == "modality"].iloc[0]
    assert row["n"] == 15 and 0 <= row["accuracy"] <= 1
    assert "Zero-shot" in (work / "results/report.html").read_text()


def test_search_phrases_reach_every_explorer(run):
    """embed_phrases embeds the phrase file and the zero-shot prompts once; each feature
    set's explorer ships every image's cosine (image embedding) to every phrase."""
    work, *_ = run
    base = work / "results/slake/biomedclip"
    cfg = yaml.safe_load((work / "config.yaml").read_text())
    P = io.read_array(base / "phrases.npz")
    texts = search_texts(read_phrases(ROOT / "config" / "phrases.txt"), cfg["zero_shot"])
    assert P.ids.tolist() == texts and "an MRI scan" in texts
    np.testing.assert_allclose(np.linalg.norm(P.X, axis=1), 1, atol=1e-5)
    img = io.read_array(base / "image.npz")
    C = img.X @ P.X.T
    for feat in ("image", "text", "image_text"):
        text = (base / feat / "explorer" / "data.js").read_text()
        data = json.loads(text[text.index("{"): text.rindex("}") + 1])
        se = data["search"]
        assert se["phrases"] == texts
        order = [img.ids.tolist().index(i) for i in data["ids"]]
        np.testing.assert_allclose(se["hi"], C[order].max(0), atol=1e-5)


def test_cluster_cards_score_centroids_against_the_phrases_in_the_image_space(run):
    """With a text tower, every cluster card carries the phrases nearest its centroid,
    scored with the image embedding whatever the feature set (image_text is twice as wide
    as the phrase vectors); each first phrase is numpy's argmax, and the explorer's legend
    and medoid labels carry the cards' names."""
    work, *_ = run
    base = work / "results/slake/biomedclip"
    P, img = io.read_array(base / "phrases.npz"), io.read_array(base / "image.npz")
    Pu = P.X / np.linalg.norm(P.X, axis=1, keepdims=True)
    for feat in ("image", "image_text"):
        cards = io.read_table(base / feat / "cards" / "kmeans" / "cluster_cards.tsv")
        labels = io.read_table(base / feat / "cluster" / "kmeans.parquet").set_index("id")["cluster"]
        assert cards["size"].sum() == 15 and set(cards["name_source"]) <= {"labels", "zero_shot", "none"}
        for card in cards.itertuples():
            members = img.X[labels.reindex(img.ids).to_numpy() == card.cluster]
            c = members / np.linalg.norm(members, axis=1, keepdims=True)
            c = c.mean(0) / np.linalg.norm(c.mean(0))
            assert card.phrases.split(";")[0].rsplit(" ", 1)[0] == P.ids[np.argmax(Pu @ c)], (feat, card)
        text = (base / feat / "explorer" / "data.js").read_text()
        data = json.loads(text[text.index("{"): text.rindex("}") + 1])
        km = next(c for c in data["colorings"] if c.get("name") == "kmeans")
        assert set(km["names"]) - {""} == set(cards["name"]) and len(km["medoids"]) == len(cards)


@pytest.mark.parametrize(
    "change",
    [
        lambda e: e.update(batch_size=3),
        lambda e: e.update(device="cpu"),
        lambda e: e["params"].update(local_dir="/elsewhere/hf_cache"),
    ],
    ids=["batch_size", "device", "local_dir"],
)
def test_runtime_keys_of_a_hub_encoder_rerun_nothing(run, change):
    """Moving the model cache, switching the device or the batch size reruns no job."""
    work, _, wf, env = run
    cfg = yaml.safe_load((work / "config.yaml").read_text())
    change(cfg["encoder"])
    (work / "config_runtime.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    proc = snakemake(wf, work, "-n", config="config_runtime.yaml", env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert scheduled_jobs(proc.stdout + proc.stderr) == []

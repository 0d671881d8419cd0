"""OpenCLIPEncoder, text embeddings and zero-shot on a tiny BiomedCLIP-like model, offline.

The model is written into a temporary HF cache in the hub's own layout (see
``openclip_fixture.py``) and loaded through the same ``hf-hub:`` code path BiomedCLIP uses,
with ``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from openclip_fixture import make_local_model_dir, offline_tiny_openclip  # noqa: E402

from medembed.datasets._slake import read_qa, read_slake
from medembed.embed import Encoder, embed_images, make_encoder
from medembed.embed._openclip import ModelUnavailableError, OpenCLIPEncoder
from medembed.embed._texts import build_qa_texts, embed_texts, mean_text_embedding
from medembed.embed._zeroshot import zero_shot, zero_shot_accuracy

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo" / "slake-mini"
LONG = " ".join(["what abnormality is seen in the left lung of this chest x-ray image"] * 12)


@pytest.fixture(scope="module")
def qa() -> pd.DataFrame:
    return read_qa(DEMO)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, qa):
    """The tiny model in a temporary HF_HOME, which is made the process's cache, offline."""
    texts = (qa["question"] + " " + qa["answer"]).tolist()
    with offline_tiny_openclip(tmp_path_factory.mktemp("hf_home"), texts) as built:
        yield built


@pytest.fixture(scope="module")
def encoder(tiny) -> OpenCLIPEncoder:
    return make_encoder("biomedclip", model_id=tiny["model_id"]).load("cpu")


@pytest.fixture(scope="module")
def paths() -> list[str]:
    records, _ = read_slake(DEMO)
    return [str(r["path"]) for r in records[::10]]  # 12 images, all three modalities


@pytest.fixture(scope="module")
def texts(qa) -> list[str]:
    df = build_qa_texts(qa.iloc[::6], language="all")  # 448 texts, en + zh, many repeats
    return df["text"].tolist() + [LONG, "", LONG, "CT", "ct"]


def _naive_texts(encoder, texts, batch_size=32):
    """The Medical Image Analysis Tutorial's loop: batches of 32, every text padded to the full context length."""
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            f = encoder.model.encode_text(encoder.tokenizer(texts[i : i + batch_size]))
            out.append((f / f.norm(dim=-1, keepdim=True)).numpy())
    return np.vstack(out)


def _naive_images(encoder, paths):
    from PIL import Image

    batch = torch.stack([encoder.preprocess(Image.open(p).convert("RGB")) for p in paths])
    with torch.no_grad():
        f = encoder.model.encode_image(batch)
    return (f / f.norm(dim=-1, keepdim=True)).numpy()


# ----------------------------------------------------------------------------- loading


def test_loads_tiny_model_through_hf_hub_offline(encoder, tiny):
    import open_clip

    assert isinstance(encoder.model, open_clip.CustomTextCLIP)
    assert encoder.supports_text and encoder.name == "open_clip"
    assert encoder.context_length_ == 64 and encoder.dynamic_padding
    saved = torch.load(tiny["snapshot"] / "open_clip_pytorch_model.bin", weights_only=True)
    state = encoder.model.state_dict()
    for key in ("visual.head.proj.weight", "text.proj.0.weight", "logit_scale"):
        assert torch.equal(state[key], saved[key]), key  # the checkpoint, not a random init
    assert OpenCLIPEncoder.name == "biomedclip"
    assert type(make_encoder("open_clip", model_id=tiny["model_id"])) is OpenCLIPEncoder


def test_real_environment_variables_in_a_fresh_process(tiny, encoder):
    """HF_HOME + HF_HUB_OFFLINE=1 set before Python starts, as on a compute node."""
    script = (
        "import json, sys; from medembed.embed import make_encoder;"
        "from medembed.embed._texts import embed_texts;"
        f"e = make_encoder('biomedclip', model_id={tiny['model_id']!r}).load('cpu');"
        "print(json.dumps(embed_texts(e, ['What modality is used? CT', 'Lung']).tolist()))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(HF_HOME=str(tiny["hf_home"]), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    res = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr[-2000:]
    got = np.array(json.loads(res.stdout.strip().splitlines()[-1]), dtype=np.float32)
    want = embed_texts(encoder, ["What modality is used? CT", "Lung"])
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_local_model_directory_and_explicit_cache(tiny, encoder, tmp_path, paths, texts):
    """local_dir works without the process cache: a model folder, or an HF cache folder."""
    from huggingface_hub import constants

    empty = tmp_path / "empty"
    empty.mkdir()
    model_dir = make_local_model_dir(tiny, tmp_path / "model")
    want_t = embed_texts(encoder, texts[:40])
    want_i = embed_images(encoder, paths[:4], num_workers=0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(constants, "HF_HUB_CACHE", str(empty))  # nothing in the default cache
        for local_dir in (model_dir, tiny["hf_home"], tiny["hub"]):
            enc = OpenCLIPEncoder(tiny["model_id"], local_dir=local_dir).load("cpu")
            np.testing.assert_allclose(embed_texts(enc, texts[:40]), want_t, atol=1e-6)
            np.testing.assert_allclose(
                embed_images(enc, paths[:4], num_workers=0), want_i, atol=1e-6
            )
    with pytest.raises(ValueError, match="neither a model directory"):
        OpenCLIPEncoder(tiny["model_id"], local_dir=empty).load("cpu")


def test_missing_model_fails_fast_offline_and_unreachable(tiny, monkeypatch):
    from huggingface_hub import constants

    t0 = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as err:
        OpenCLIPEncoder("hf-hub:nobody/not-cached").load("cpu")
    assert time.perf_counter() - t0 < 5
    msg = str(err.value)
    for part in ("nobody/not-cached", "HF_HUB_OFFLINE", "local_dir", "config/demo.yaml"):
        assert part in msg, part

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    t0 = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match="nobody/not-cached.*hf download"):
        OpenCLIPEncoder("hf-hub:nobody/not-cached").load("cpu")
    assert time.perf_counter() - t0 < 5


def test_bad_parameters(tiny):
    with pytest.raises(ValueError, match="model_id='ViT-B-16'"):
        OpenCLIPEncoder("ViT-B-16")
    with pytest.raises(ValueError, match="context_length=1"):
        OpenCLIPEncoder(tiny["model_id"], context_length=1)
    with pytest.raises(ValueError, match="exceeds the text tower's maximum 128"):
        OpenCLIPEncoder(tiny["model_id"], context_length=300).load("cpu")
    with pytest.raises(ValueError, match="bad parameter"):
        make_encoder("biomedclip", modelid="x")
    with pytest.raises(ValueError, match="not loaded"):
        OpenCLIPEncoder(tiny["model_id"]).preprocess(None)


# ----------------------------------------------------------------------------- images


def test_embed_images_shapes_norms_determinism(encoder, paths):
    X = embed_images(encoder, paths, batch_size=5)
    assert X.shape == (len(paths), 16) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(X, embed_images(encoder, paths, batch_size=5))
    np.testing.assert_allclose(
        embed_images(encoder, paths, batch_size=3, num_workers=0), X, atol=1e-5
    )
    np.testing.assert_allclose(_naive_images(encoder, paths), X, atol=1e-5)
    assert len({tuple(np.round(r, 4)) for r in X}) == len(paths)  # images differ


# ----------------------------------------------------------------------------- texts


def test_dynamic_padding_and_dedupe_equal_the_tutorial_loop(encoder, texts):
    T = embed_texts(encoder, texts)
    N = _naive_texts(encoder, texts)
    assert T.shape == (len(texts), 16) and T.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(T, axis=1), 1, atol=1e-5)
    assert np.abs(T - N).max() < 1e-5
    # equal strings get bit-identical rows; batch size does not matter beyond rounding
    i, j = texts.index(LONG), len(texts) - 3
    np.testing.assert_array_equal(T[i], T[j])
    np.testing.assert_allclose(embed_texts(encoder, texts, batch_size=7), T, atol=1e-5)
    np.testing.assert_array_equal(embed_texts(encoder, texts), T)  # deterministic
    # speed: benchmarks/embed_texts.py (a timing here would race the tests running beside it)


def test_token_ids_are_the_unpadded_tokenizer_output(encoder, texts):
    sample = texts[:50] + [LONG, ""]
    ids = encoder.token_ids(sample)
    full = encoder.tokenize(sample)
    assert full.shape == (len(sample), 64)
    for row, r in zip(full.tolist(), ids, strict=True):
        assert row[: len(r)] == r and set(row[len(r) :]) <= {encoder.pad_token_id}
    assert len(ids[-2]) == 64  # the long text is truncated to context_length
    padded = encoder.pad(ids)
    assert padded.shape == (len(sample), 64) and torch.equal(padded, full)
    short = OpenCLIPEncoder(encoder.model_id, context_length=16).load("cpu")
    assert max(len(r) for r in short.token_ids([LONG])) == 16


def test_embed_texts_errors(encoder):
    class ImageOnly(Encoder):
        name = "image_only"

        def _build(self):
            return torch.nn.Identity()

        def preprocess(self, image):
            return image

        def encode_images(self, batch):
            return batch

    with pytest.raises(ValueError, match="has no text tower"):
        embed_texts(ImageOnly().load("cpu"), ["a"])
    with pytest.raises(ValueError, match="no texts"):
        embed_texts(encoder, [])
    with pytest.raises(ValueError, match="item 1 is float"):
        embed_texts(encoder, ["a", float("nan")])
    with pytest.raises(ValueError, match="batch_size=0"):
        embed_texts(encoder, ["a"], batch_size=0)
    with pytest.raises(ValueError, match="not loaded"):
        embed_texts(OpenCLIPEncoder(encoder.model_id), ["a"])


def test_build_qa_texts(qa):
    en = build_qa_texts(qa, language="en")
    assert list(en.columns) == ["text", "image_id", "qid", "q_lang"]
    assert len(en) == (qa["q_lang"] == "en").sum() and set(en["q_lang"]) == {"en"}
    assert len(build_qa_texts(qa, language="zh")) == (qa["q_lang"] == "zh").sum()
    alltexts = build_qa_texts(qa, language="all")
    assert len(alltexts) == len(qa)
    first = qa.iloc[0]
    assert alltexts["text"][0] == f"{first['question']} {first['answer']}"
    assert alltexts["image_id"][0] == first["img_name"].split("/")[0]
    assert alltexts["qid"].tolist() == list(range(len(qa)))  # the demo records carry no qid
    t = build_qa_texts(qa, template="Q: {question} A: {answer} ({modality})", language="en")
    assert t["text"][0].startswith("Q: ") and t["text"][0].endswith(f"({first['modality']})")
    raw = pd.DataFrame(
        {
            "img_name": ["xmlab1/source.jpg"],
            "question": ["q?"],
            "answer": [None],
            "qid": [7],
            "q_lang": ["en"],
        }
    )
    out = build_qa_texts(raw)
    assert out.loc[0, ["text", "image_id", "qid"]].tolist() == ["q?", "xmlab1", 7]
    with pytest.raises(ValueError, match="language='de'"):
        build_qa_texts(qa, language="de")
    with pytest.raises(ValueError, match=r"unknown column\(s\) \['organ'\]"):
        build_qa_texts(qa, template="{question} {organ}")
    with pytest.raises(ValueError, match="uses no column"):
        build_qa_texts(qa, template="hello")
    with pytest.raises(ValueError, match="needs a q_lang column"):
        build_qa_texts(raw.drop(columns="q_lang"), language="en")


def test_mean_text_embedding():
    X = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0]], dtype=np.float32)
    img = ["b", "b", "a", "zz_not_in_manifest", "b"]
    M, has = mean_text_embedding(X, img, ["a", "b", "c"])
    assert M.shape == (3, 3) and M.dtype == np.float32
    np.testing.assert_allclose(M[0], [1, 0, 0])
    np.testing.assert_allclose(M[1], np.array([1, 2, 0]) / np.sqrt(5), atol=1e-6)
    np.testing.assert_array_equal(M[2], 0)
    assert has.tolist() == [True, True, False]
    with pytest.raises(ValueError, match="1 images have no text"):
        mean_text_embedding(X, img, ["a", "b", "c"], missing="error")
    with pytest.raises(ValueError, match="missing='drop'"):
        mean_text_embedding(X, img, ["a"], missing="drop")
    with pytest.raises(ValueError, match="5 text rows but 2 image ids"):
        mean_text_embedding(X, ["a", "b"], ["a"])


def test_mean_text_embedding_on_real_texts(encoder, qa):
    df = build_qa_texts(qa.iloc[:300], language="en")
    T = embed_texts(encoder, df["text"].tolist())
    ids = sorted(df["image_id"].unique()) + ["xmlab_none"]
    M, has = mean_text_embedding(T, df["image_id"], ids)
    assert has.sum() == len(ids) - 1 and not has[-1]
    np.testing.assert_allclose(np.linalg.norm(M[has], axis=1), 1, atol=1e-5)
    k = ids.index(df["image_id"].iloc[0])
    v = T[(df["image_id"] == ids[k]).to_numpy()].mean(axis=0)
    np.testing.assert_allclose(M[k], v / np.linalg.norm(v), atol=1e-5)


# ----------------------------------------------------------------------------- zero-shot


PROMPTS = {
    "modality": {
        "CT": ["a CT scan", "computed tomography of the chest"],
        "MRI": "an MRI scan of the brain",
        "X-Ray": ["a chest x-ray"],
    },
    "location": {"Lung": "an image of the lung", "Brain": "an image of the brain"},
}


def test_zero_shot_and_accuracy(encoder, paths):
    records, _ = read_slake(DEMO)
    manifest = pd.DataFrame(records[::10])[["id", "modality", "location"]]
    X = embed_images(encoder, paths, num_workers=0)
    scores = zero_shot(encoder, X * 3.0, PROMPTS, ids=manifest["id"])  # unnormalised input is fine
    assert list(scores.columns) == [
        "id",
        "sim:modality:CT",
        "sim:modality:MRI",
        "sim:modality:X-Ray",
        "pred:modality",
        "sim:location:Lung",
        "sim:location:Brain",
        "pred:location",
    ]
    # similarities are cosines with the renormalised mean of each class's prompt vectors
    P = embed_texts(encoder, ["a CT scan", "computed tomography of the chest"])
    ct = P.mean(axis=0) / np.linalg.norm(P.mean(axis=0))
    np.testing.assert_allclose(scores["sim:modality:CT"], X @ ct, atol=1e-5)
    sims = scores[["sim:modality:CT", "sim:modality:MRI", "sim:modality:X-Ray"]].to_numpy()
    assert (scores["pred:modality"] == np.array(["CT", "MRI", "X-Ray"])[sims.argmax(1)]).all()

    acc = zero_shot_accuracy(scores, manifest).set_index("column")
    assert list(acc.index) == ["modality", "location"]
    correct = (scores["pred:modality"] == manifest["modality"]).to_numpy()
    assert acc.loc["modality", "n"] == len(paths)
    assert acc.loc["modality", "n_correct"] == correct.sum()
    assert acc.loc["modality", "accuracy"] == pytest.approx(correct.mean())
    want_bal = np.mean(
        [
            correct[(manifest["modality"] == c).to_numpy()].mean()
            for c in sorted(manifest["modality"].unique())
        ]
    )
    assert acc.loc["modality", "balanced_accuracy"] == pytest.approx(want_bal)
    unknown = (~manifest["location"].isin(["Lung", "Brain"])).sum()
    assert (
        acc.loc["location", "n_unknown_label"] == unknown and acc.loc["location", "n_classes"] == 2
    )

    # rows are matched on id, not position; unlabeled images are left out
    shuffled = manifest.iloc[::-1].copy()
    shuffled.loc[shuffled.index[0], "modality"] = None
    acc2 = zero_shot_accuracy(scores, shuffled).set_index("column")
    assert acc2.loc["modality", "n"] == len(paths) - 1


def test_zero_shot_errors(encoder):
    X = np.eye(16, dtype=np.float32)[:3]
    with pytest.raises(ValueError, match="at least 2 class names"):
        zero_shot(encoder, X, {"modality": {"CT": "a CT"}})
    with pytest.raises(ValueError, match=r"prompts\['modality'\]\['MRI'\]"):
        zero_shot(encoder, X, {"modality": {"CT": "a CT", "MRI": []}})
    with pytest.raises(ValueError, match="has dim 8 but the text tower gives 16"):
        zero_shot(encoder, np.ones((2, 8)), PROMPTS)
    with pytest.raises(ValueError, match="all-zero rows"):
        zero_shot(encoder, np.zeros((2, 16)), PROMPTS)
    with pytest.raises(ValueError, match="3 image rows but 2 ids"):
        zero_shot(encoder, X, PROMPTS, ids=["a", "b"])

"""Search by text in the explorer: the phrase file, its embedding by a real (tiny) text
tower, the cosines and cluster names the explorer ships, and the page in Chromium.

The encoder is the tiny BiomedCLIP-like open_clip model of ``openclip_fixture.py``, loaded
offline from a temporary HF cache; its vocabulary is built from the phrases, so every
phrase is tokenised into words the model has (random weights: the cosines are real
text-tower x image-tower products, not meaningful ones).
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser import chromium, open_page
from conftest import DEMO, ROOT
from openclip_fixture import offline_tiny_openclip

from medembed import datasets, embed, io, tl
from medembed.embed import embed_images, make_encoder
from medembed.embed._phrases import embed_phrases, read_phrases, search_texts
from medembed.embed._texts import embed_texts
from medembed.explore import build_explorer, explorer_data, make_thumbnails, read_cards

PHRASES = ROOT / "config" / "phrases.txt"
PROMPTS = {"modality": {"CT": ["a CT scan", "a computed tomography image"], "MRI": "an MRI scan"}}


def _decode(s: str, dtype) -> np.ndarray:
    return np.frombuffer(base64.b64decode(s), dtype)


# ---- the phrase file ---------------------------------------------------------------------

def test_read_phrases_skips_comments_blanks_and_repeats(tmp_path):
    f = tmp_path / "p.txt"
    f.write_text("# header\n\n  a CT   scan \n# ---- group ----\npneumothorax\na CT scan\n\t\nthe  abdomen\n")
    assert read_phrases(f) == ["a CT scan", "pneumothorax", "the abdomen"]
    # the zero-shot prompts follow, each once and not repeating a phrase
    assert search_texts(read_phrases(f), PROMPTS) == [
        "a CT scan", "pneumothorax", "the abdomen", "a computed tomography image", "an MRI scan"]
    assert search_texts(["x"], None) == ["x"]


def test_read_phrases_errors_are_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^phrases: file '.*nope\.txt' not found \(config key `phrases`") as e:
        read_phrases(tmp_path / "nope.txt")
    assert "\n" not in str(e.value)
    (tmp_path / "empty.txt").write_text("# only a comment\n\n")
    with pytest.raises(ValueError, match="holds no phrase"):
        read_phrases(tmp_path / "empty.txt")


def test_shipped_phrase_list():
    """config/phrases.txt: a short radiology vocabulary, grouped under comment headers."""
    phrases = read_phrases(PHRASES)
    assert 60 <= len(phrases) <= 100
    assert {"a CT scan", "an MRI of the brain", "a chest X-ray", "a frontal radiograph", "pneumothorax",
            "pleural effusion", "a fracture", "the abdomen"} <= set(phrases)
    headers = [line for line in PHRASES.read_text().splitlines() if line.startswith("# ----")]
    assert len(headers) >= 4


# ---- the tiny text tower -----------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny model in a temporary HF_HOME made the process's cache, offline."""
    texts = search_texts(read_phrases(PHRASES), PROMPTS)
    with offline_tiny_openclip(tmp_path_factory.mktemp("hf_home"), texts) as built:
        yield built


@pytest.fixture(scope="module")
def encoder(tiny):
    return make_encoder("biomedclip", model_id=tiny["model_id"]).load("cpu")


@pytest.fixture(scope="module")
def texts():
    return search_texts(read_phrases(PHRASES), PROMPTS)


@pytest.fixture(scope="module")
def P(encoder, texts):
    return embed_phrases(encoder, texts, batch_size=16)


def test_embed_phrases_gives_unit_text_vectors_in_order(encoder, texts, P):
    assert P.shape == (len(texts), 16) and P.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(P, axis=1), 1, atol=1e-5)
    # each row is that text's own embedding, whatever the batching
    for k in (0, 17, len(texts) - 1):
        np.testing.assert_allclose(P[k], embed_texts(encoder, [texts[k]])[0], atol=1e-5)
    assert len(np.unique(P.round(4), axis=0)) == len(texts)  # distinct phrases, distinct vectors
    with pytest.raises(ValueError, match="distinct"):
        embed_phrases(encoder, ["a CT scan", "a CT scan"])
    # and through the package's lazy namespace, as the rule's script calls it
    np.testing.assert_allclose(embed.embed_phrases(encoder, texts[:3]), P[:3], atol=1e-5)


# ---- what the explorer ships ---------------------------------------------------------------

def _planted(n=40, k=7, d=16, seed=0):
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(k, d))
    P /= np.linalg.norm(P, axis=1, keepdims=True)
    X = rng.normal(size=(n, d))
    ids = np.array([f"img{i:03d}" for i in range(n)])
    return X, P, ids


def test_explorer_data_ships_decodable_cosines_and_exact_top_order():
    X, P, ids = _planted()
    manifest = pd.DataFrame({"id": ids, "path": [f"/d/{i}.png" for i in ids]})
    texts = [f"phrase {j}" for j in range(len(P))]
    perm = np.random.default_rng(1).permutation(len(ids))  # the image array in another order
    data = explorer_data(manifest, {"m": io.Array(X[:, :2], ids)},
                         phrases=io.Array(P, np.array(texts)), image=io.Array(3 * X[perm], ids[perm]))
    se = data["search"]
    assert se["phrases"] == texts and se["k_top"] == len(ids)
    C = (X / np.linalg.norm(X, axis=1, keepdims=True)) @ P.T
    q = _decode(se["q"], np.uint8).reshape(len(texts), len(ids))
    lo, hi = np.array(se["lo"]), np.array(se["hi"])
    np.testing.assert_allclose(lo, C.min(0), atol=1e-6)
    np.testing.assert_allclose(hi, C.max(0), atol=1e-6)
    back = lo[:, None] + q / 255 * (hi - lo)[:, None]
    assert np.abs(back - C.T).max() <= (hi - lo).max() / 510 + 1e-6  # half a code step
    top = _decode(se["top"], np.int32).reshape(len(texts), -1)
    for j in range(len(texts)):
        assert top[j].tolist() == np.argsort(-C[:, j], kind="stable").tolist()
    # the exact order is capped; no phrases, no search
    small = explorer_data(manifest, {"m": io.Array(X[:, :2], ids)}, phrases=io.Array(P, np.array(texts)),
                          image=io.Array(X, ids))
    assert small["search"]["k_top"] == len(ids)
    assert explorer_data(manifest, {"m": io.Array(X[:, :2], ids)})["search"] is None
    with pytest.raises(ValueError, match="both the phrase and the image"):
        explorer_data(manifest, {"m": io.Array(X[:, :2], ids)}, phrases=io.Array(P, np.array(texts)))
    with pytest.raises(ValueError, match="lacks 1 of the map's ids"):
        explorer_data(manifest, {"m": io.Array(X[:, :2], ids)}, phrases=io.Array(P, np.array(texts)),
                      image=io.Array(X[1:], ids[1:]))
    with pytest.raises(ValueError, match="dim 15 but phrase embedding dim 16"):
        explorer_data(manifest, {"m": io.Array(X[:, :2], ids)}, phrases=io.Array(P, np.array(texts)),
                      image=io.Array(X[:, :15], ids))


def _cards(method=None):
    t = pd.DataFrame({"cluster": [0, 2, -1, 9], "name": ["chest X-rays", "brain MRI", "odd ones", "gone"],
                      "medoid_id": ["img005", "img011", "img020", "img001"]})
    return t if method is None else t.assign(method=method)


def test_explorer_data_names_clusters_and_their_medoids():
    X, _, ids = _planted()
    manifest = pd.DataFrame({"id": ids, "path": [f"/d/{i}.png" for i in ids]})
    labels = np.arange(len(ids)) % 4 - 1  # -1 (noise), 0, 1, 2
    cl = pd.DataFrame({"id": ids, "cluster": labels})
    data = explorer_data(manifest, {"m": io.Array(X[:, :2], ids)}, clusterings={"km": cl, "other": cl},
                         cluster_names={"km": _cards()})
    km, other = (next(c for c in data["colorings"] if c["name"] == m) for m in ("km", "other"))
    names = dict(zip(km["cats"], km["names"]))
    assert names == {"noise": "odd ones", "0": "chest X-rays", "1": "", "2": "brain MRI"}
    assert sorted((ids[p], km["cats"][k]) for p, k in km["medoids"]) == [
        ("img005", "0"), ("img011", "2"), ("img020", "noise")]
    assert "names" not in other and "medoids" not in other
    with pytest.raises(ValueError, match=r"cluster cards of 'km' lack column\(s\) \['medoid_id'\]"):
        explorer_data(manifest, {"m": io.Array(X[:, :2], ids)}, clusterings={"km": cl},
                      cluster_names={"km": _cards().drop(columns="medoid_id")})


def test_read_cards_by_method_column_or_folder(tmp_path):
    (tmp_path / "kmeans").mkdir()
    io.write_table(tmp_path / "kmeans" / "cluster_cards.tsv", _cards().assign(medoid_id=["000123", "7", "NA", "x"]))
    io.write_table(tmp_path / "all.tsv", pd.concat([_cards("hdbscan"), _cards("gmm").iloc[:2]]))
    cards = read_cards([tmp_path / "kmeans" / "cluster_cards.tsv", tmp_path / "all.tsv"])
    assert sorted(cards) == ["gmm", "hdbscan", "kmeans"]
    assert cards["kmeans"]["medoid_id"].tolist() == ["000123", "7", "NA", "x"]  # ids stay text
    assert list(cards["hdbscan"].columns) == ["cluster", "name", "medoid_id"] and len(cards["gmm"]) == 2
    assert read_cards([]) == {}


# ---- the page in Chromium ------------------------------------------------------------------

@pytest.fixture(scope="module")
def search_explorer(tmp_path_factory, encoder, texts, P):
    """An explorer of 24 real SLAKE images embedded by the tiny model, searchable by its
    real phrase vectors; kmeans clusters named by a synthetic card table."""
    base = tmp_path_factory.mktemp("search_explorer")
    manifest, _, _ = datasets.make_manifest("slake", DEMO / "slake-mini", threads=2)
    manifest = manifest.iloc[::5].reset_index(drop=True)  # 24 images, every modality
    make_thumbnails(manifest, base / "thumbnails", decode=manifest.attrs.get("decode"), threads=2)
    ids = manifest["id"].to_numpy()
    X = embed_images(encoder, manifest["path"].tolist(), batch_size=8, num_workers=0)
    Y = tl.make_reducer("pca", n_components=2).fit_transform(X)
    km = tl.cluster_table(ids, tl.make_clusterer("kmeans", n_clusters=3, n_init=4).fit(X))
    medoids = [ids[np.flatnonzero(km["cluster"].to_numpy() == c)[0]] for c in range(3)]
    cards = pd.DataFrame({"cluster": [0, 1, 2], "name": ["axial CT of the abdomen", "brain MRI", "chest X-rays"],
                          "medoid_id": medoids})
    built = build_explorer(
        base / "explorer", manifest, {"pca": io.Array(Y, ids)}, thumbnails=base / "thumbnails",
        label_columns=["modality"], clusterings={"kmeans": km}, phrases=io.Array(P, np.array(texts)),
        image=io.Array(X, ids), cluster_names={"kmeans": cards}, title="slake-24 search",
    )
    shutil.rmtree(base / "thumbnails")
    C = X @ P.T
    return {"dir": base / "explorer", "ids": ids, "C": C, "texts": texts, "cards": cards, "built": built, "km": km}


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def test_search_in_chromium(search_explorer, browser, tmp_path, shots):
    ex, ids, C, texts = search_explorer, search_explorer["ids"], search_explorer["C"], search_explorer["texts"]
    n = len(ids)
    page, errors = open_page(browser, (ex["dir"] / "index.html").as_uri(), wait_for="window.explorer && explorer.ready")
    page.wait_for_function(f"explorer.renderedPoints === {n}")
    assert page.locator("#search-box").is_visible()
    # completion: every embedded phrase (and prompt) is offered
    offered = page.evaluate("Array.from(document.querySelectorAll('#phrases option')).map(o => o.value)")
    assert offered == texts
    before = page.evaluate("explorer.state.color")
    assert before == "modality"
    shot_before = page.locator("#plot").screenshot()

    # type a phrase: the map is coloured by its cosine and the images ranked by it
    phrase = "pleural effusion"
    j = texts.index(phrase)
    page.fill("#search", phrase)
    page.wait_for_function(f"explorer.state.color === 'search: {phrase}'")
    assert page.evaluate("explorer.state.search") == j
    assert page.locator("#color").input_value() == f"search: {phrase}"
    assert "cosine similarity" in page.locator("#legend").inner_text()
    order = np.argsort(-C[:, j], kind="stable")
    shown = page.evaluate("Array.from(document.querySelectorAll('#search-results .nb')).map(e => +e.dataset.index)")
    assert shown[0] == order[0]  # the closest image, by numpy on the same vectors, comes first
    assert shown == order[: len(shown)].tolist() and len(shown) == min(24, n)
    assert phrase in page.locator("#search-title").inner_text()
    assert page.evaluate("explorer.ranked(3)") == order[:3].tolist()
    # the points' colours changed: the drawn map differs from the modality colouring
    page.wait_for_timeout(100)
    assert page.locator("#plot").screenshot() != shot_before
    page.wait_for_function("Array.from(document.querySelectorAll('#search-results img')).every(im => im.complete && im.naturalWidth > 0)")
    # hovering a point shows its cosine
    i = int(order[0])
    p = page.evaluate(f"explorer.screenOf({i})")
    page.mouse.move(p["x"], p["y"])
    page.wait_for_function(f"explorer.state.hover === {i}")
    line = next(t for t in page.locator("#hover").inner_text().splitlines() if t.startswith(f"cosine to “{phrase}”: "))
    assert abs(float(line.rsplit(" ", 1)[1]) - C[i, j]) < 0.01
    _shot(page, tmp_path, "explorer_search", shots)
    page.mouse.move(5, 5)

    # Enter on a part of a phrase picks the first phrase containing it; a prompt is a phrase too
    page.fill("#search", "")
    page.type("#search", "computed tomo")
    page.press("#search", "Enter")
    k = texts.index("a computed tomography image")
    page.wait_for_function(f"explorer.state.search === {k}")
    assert page.evaluate("explorer.ranked(1)") == [int(np.argmax(C[:, k]))]
    # an unknown phrase changes nothing; Escape clears and restores the colouring
    page.fill("#search", "zzzz")
    page.press("#search", "Enter")
    assert page.evaluate("explorer.state.search") == k
    page.press("#search", "Escape")
    page.wait_for_function("explorer.state.search === -1")
    assert page.evaluate("explorer.state.color") == before
    assert page.locator("#search-panel").is_hidden()
    assert errors == []


def test_cluster_names_in_chromium(search_explorer, browser, tmp_path, shots):
    ex, ids = search_explorer, search_explorer["ids"]
    page, errors = open_page(browser, (ex["dir"] / "index.html").as_uri(), wait_for="window.explorer && explorer.ready")
    assert page.evaluate("explorer.drawnNames") == []  # the labels go with the clustering's colouring
    assert page.locator("#names-box").is_hidden()
    page.select_option("#color", "kmeans")
    assert page.locator("#names-box").is_visible()
    legend = page.locator("#legend").inner_text()
    cards = ex["cards"]
    for c, name in zip(cards["cluster"], cards["name"]):
        assert f"{c} · {name}" in legend
    page.wait_for_function("explorer.drawnNames.length === 3")
    drawn = page.evaluate("explorer.drawnNames")
    assert sorted((ids[d["point"]], d["text"]) for d in drawn) == sorted(zip(cards["medoid_id"], cards["name"]))
    # the label sits at its medoid's point on screen
    for d in drawn:
        q = page.evaluate(f"explorer.screenOf({d['point']})")
        box = page.locator("#plot").bounding_box()
        assert abs(q["x"] - box["x"] - d["x"]) < 1 and abs(q["y"] - box["y"] - d["y"]) < 1
    _shot(page, tmp_path, "explorer_cluster_names", shots)
    # the toggle hides them
    page.uncheck("#names")
    page.wait_for_function("explorer.drawnNames.length === 0")
    page.check("#names")
    page.wait_for_function("explorer.drawnNames.length === 3")
    # a pinned point's card names its cluster
    i = int(np.flatnonzero(ids == cards["medoid_id"].iloc[1])[0])
    page.evaluate(f"explorer.pin({i})")
    assert "1 · brain MRI" in page.locator("#pinned").inner_text()
    assert errors == []


def _shot(page, tmp_path: Path, name: str, shots: Path) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path))
    shutil.copy(path, shots / path.name)
    return path

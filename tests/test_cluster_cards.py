"""Cluster cards (tl.cluster_cards): planted structure comes back as names from the labels
with the right shares, enrichment agrees with Fisher's exact test, the medoid is the true
cosine medoid, unexplained clusters are named zero-shot by a real (tiny) open_clip text
tower, noise and one-cluster / one-class collections give clear cards; the figures draw
and the workflow schedules one job per listed clustering."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import DEMO, copy_workflow
from PIL import Image
from scipy.stats import fisher_exact

from medembed import io, pl, tl
from medembed.explore import make_thumbnails
from medembed.workflow import config as medembed_config
from medembed.workflow import graph

# ---- planted data ------------------------------------------------------------------------


def _planted(seed: int = 0):
    """Three 16-d blobs (sizes 20, 30, 10) and their labels: blob 0 is 18 CT·Abdomen + 2
    MRI·Brain, blob 1 is 30 X-Ray with 27 Lung, blob 2 mixes CT and MRI evenly."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 16)) * 3
    y = np.repeat([0, 1, 2], [20, 30, 10])
    X = centres[y] + rng.normal(scale=0.3, size=(len(y), 16))
    modality = ["CT"] * 18 + ["MRI"] * 2 + ["X-Ray"] * 30 + ["CT", "MRI"] * 5
    location = ["Abdomen"] * 18 + ["Brain"] * 2 + ["Lung"] * 27 + ["Chest"] * 3 + ["Abdomen", "Brain"] * 5
    manifest = pd.DataFrame({"id": [f"i{i:02d}" for i in range(len(y))], "modality": modality,
                             "location": location, "site": ["A"] * 45 + ["B"] * 15})
    return X.astype(np.float32), y, manifest


def test_planted_clusters_are_named_from_their_labels():
    X, y, man = _planted()
    cards, enr = tl.cluster_cards(y, X, man, label_columns=["modality", "location"], metadata=["site"],
                                  stability=0.8)
    assert list(cards.columns) == list(tl.CARD_COLUMNS)
    c = cards.set_index("cluster")
    assert list(cards["cluster"]) == [1, 0, 2]  # largest first
    assert c.loc[0, "name"] == "CT · Abdomen (90 %)" and c.loc[0, "name_source"] == "labels"
    # location Lung covers 27 of 30 (90 %), X-Ray all of them: both over-represented
    assert c.loc[1, "name"] == "X-Ray · Lung (90 %)"
    # a 50/50 mix: no value reaches the share, no phrases: a plain name
    assert c.loc[2, "name"] == "cluster 2" and c.loc[2, "name_source"] == "none"
    assert list(c["size"]) == [30, 20, 10] and c.loc[0, "share"] == pytest.approx(20 / 60)
    assert (c["stability"] == 0.8).all()
    assert "modality=CT" in c.loc[0, "enriched"] and "location=Abdomen" in c.loc[0, "enriched"]
    assert c.loc[0, "metadata"] == "site: A 100 %" and c.loc[2, "metadata"] == "site: B 100 %"
    assert c.loc[1, "metadata"] == "site: A 83 %"
    # the long table: every cluster x (column, value) cell, BH over all of them
    assert list(enr.columns) == list(tl._cards.ENRICHMENT_COLUMNS)
    values = man["modality"].nunique() + man["location"].nunique()
    assert len(enr) == 3 * values
    np.testing.assert_allclose(enr["q"], tl.benjamini_hochberg(enr["p"].to_numpy()))
    # min_share: 0.95 leaves 90 % clusters unnamed by their labels
    strict = tl.cluster_cards(y, X, man, label_columns=["modality", "location"], min_share=0.95)[0]
    assert strict.set_index("cluster").loc[0, "name"] == "cluster 0"


def test_enrichment_cell_matches_fisher_exact_by_hand():
    X, y, man = _planted()
    enr = tl.cluster_enrichment(y, man, ["modality", "location"])
    cell = enr[(enr["cluster"] == 0) & (enr["column"] == "modality") & (enr["value"] == "CT")].iloc[0]
    # 2 x 2 table: CT in / not in cluster 0 (18, 2) against CT elsewhere (5, 35)
    n_ct = (man["modality"] == "CT").sum()
    table = [[18, 2], [n_ct - 18, len(man) - 20 - (n_ct - 18)]]
    assert cell["n_in"] == 18 and cell["share_in"] == pytest.approx(18 / 20)
    assert cell["share_all"] == pytest.approx(n_ct / 60)
    assert cell["fold"] == pytest.approx((18 / 20) / (n_ct / 60))
    assert cell["p"] == pytest.approx(fisher_exact(table, alternative="greater")[1], rel=1e-9)
    # BH by hand: rank of this p among all, p * m / rank, then the running minimum from the top
    p = np.sort(enr["p"].to_numpy())
    m = len(p)
    ranked = np.minimum.accumulate((p * m / np.arange(1, m + 1))[::-1])[::-1]
    want_q = min(ranked[np.searchsorted(p, cell["p"], side="right") - 1], 1.0)
    assert cell["q"] == pytest.approx(want_q)
    assert cell["q"] < 0.05


def test_missing_labels_are_left_out_and_findings_join():
    X, y, man = _planted()
    man = man.assign(modality=man["modality"].where(man.index != 0, None),
                     Effusion=["1"] * 15 + ["0"] * 5 + ["0"] * 40)
    enr = tl.cluster_enrichment(y, man, ["modality"], ["Effusion"], finding_source="Finding Labels")
    ct = enr[(enr["cluster"] == 0) & (enr["value"] == "CT")].iloc[0]
    assert ct["n_in"] == 17 and ct["share_in"] == pytest.approx(17 / 19)  # the unknown row is out
    eff = enr[(enr["cluster"] == 0) & (enr["column"] == "Finding Labels")].iloc[0]
    assert eff["value"] == "Effusion" and eff["n_in"] == 15 and eff["fold"] == pytest.approx(0.75 / 0.25)


def test_medoid_is_the_true_cosine_medoid_and_nearest_follow():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 8)) + 2.0
    ids = [f"x{i}" for i in range(40)]
    medoid, nearest = tl.central_images(X, ids, n=5)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    D = 1 - U @ U.T  # cosine distances
    assert medoid == ids[int(np.argmin(D.sum(axis=1)))]  # brute force: the true medoid
    c = U.mean(0) / np.linalg.norm(U.mean(0))
    order = np.argsort(-(U @ c))
    assert [medoid, *nearest] == [ids[i] for i in order[:6]]
    # in the cards: per cluster, on that cluster's rows only
    Xp, y, man = _planted()
    cards = tl.cluster_cards(y, Xp, man, label_columns=["modality"])[0].set_index("cluster")
    for k in (0, 1, 2):
        rows = np.flatnonzero(y == k)
        m, near = tl.central_images(Xp[rows], man["id"].to_numpy()[rows])
        assert cards.loc[k, "medoid_id"] == m and cards.loc[k, "nearest_ids"] == ",".join(near)


def test_noise_gets_its_own_card_last():
    X, y, man = _planted()
    y = y.copy()
    y[[0, 25, 55]] = -1
    cards = tl.cluster_cards(y, X, man, label_columns=["modality", "location"])[0]
    assert cards.iloc[-1]["cluster"] == -1
    assert cards.iloc[-1]["name"] == "noise" and cards.iloc[-1]["name_source"] == "noise"
    assert cards.iloc[-1]["size"] == 3
    assert tl.card_names(cards) == {int(k): n for k, n in zip(cards["cluster"][:-1], cards["name"][:-1])}


def test_one_cluster_and_one_class_give_clear_cards():
    X, _, man = _planted()
    one = np.zeros(len(X), int)
    cards, enr = tl.cluster_cards(one, X, man, label_columns=["modality", "location"])
    assert len(cards) == 1 and cards.iloc[0]["name"] == "cluster 0" and cards.iloc[0]["share"] == 1.0
    assert (enr["fold"] == 1).all() and (enr["q"] == 1).all()  # nothing can be over-represented
    assert cards.iloc[0]["enriched"] == "" and np.isnan(cards.iloc[0]["stability"])
    # one class everywhere: the class names no cluster (it tells none apart)
    Xp, y, man = _planted()
    single = man.assign(modality="CT")
    cards = tl.cluster_cards(y, Xp, single, label_columns=["modality"])[0]
    assert set(cards["name_source"]) == {"none"}
    # ... but joins a name that another column explains
    cards = tl.cluster_cards(y, Xp, single.assign(location=man["location"]),
                             label_columns=["modality", "location"])[0].set_index("cluster")
    assert cards.loc[1, "name"] == "CT · Lung (90 %)"
    # no label columns at all, and a two-image cluster
    y2 = np.r_[np.zeros(58, int), 1, 1]
    cards, enr = tl.cluster_cards(y2, Xp, man)
    assert enr.empty and list(enr.columns) == list(tl._cards.ENRICHMENT_COLUMNS)
    assert list(cards["name"]) == ["cluster 0", "cluster 1"]
    assert cards.iloc[1]["nearest_ids"].count(",") == 0  # one other image
    with pytest.raises(ValueError, match="labels"):
        tl.cluster_cards(y2[:10], Xp, man)


def test_stability_is_read_from_the_stability_table():
    table = tl.stability_table({"method": "kmeans", "scheme": "seeds", "n_runs": 3, "ari_mean": 0.7,
                                "ari_min": 0.6}, "image")
    assert tl.clustering_stability(table) == pytest.approx(0.7)
    na = tl.stability_table({"method": "gmm", "scheme": "seeds", "n_runs": 3,
                             "not_applicable": "not applicable at n = 3"}, "image")
    assert np.isnan(tl.clustering_stability(na)) and np.isnan(tl.clustering_stability(None))


# ---- zero-shot names from a real (tiny) open_clip text tower ------------------------------

PHRASES = ["chest x-ray", "brain mri", "abdominal ct", "hand radiograph", "knee mri"]


@pytest.fixture(scope="module")
def phrase_vectors(tmp_path_factory):
    """The phrases embedded by the tiny BiomedCLIP-like model (tests/openclip_fixture.py),
    loaded offline through open_clip's hf-hub path, as in tests/test_openclip.py."""
    from openclip_fixture import offline_tiny_openclip

    from medembed.embed import make_encoder
    from medembed.embed._texts import embed_texts

    with offline_tiny_openclip(tmp_path_factory.mktemp("hf_home"), PHRASES) as built:
        encoder = make_encoder("biomedclip", model_id=built["model_id"]).load("cpu")
        P = embed_texts(encoder, PHRASES)
    return P


def test_unexplained_clusters_are_named_by_the_phrases_nearest_their_centroid(phrase_vectors):
    P = phrase_vectors
    assert P.shape == (len(PHRASES), 16)
    rng = np.random.default_rng(0)
    # planted image embeddings: cluster 0 around "brain mri", cluster 1 around "abdominal ct",
    # cluster 2 around "chest x-ray" (scaled: only directions count)
    spread = 0.02 * np.linalg.norm(P[1] - P[2])
    X = np.vstack([3.0 * P[i] + rng.normal(scale=spread, size=(12, P.shape[1])) for i in (1, 2, 0)])
    y = np.repeat([0, 1, 2], 12)
    # labels explain cluster 2 only (every chest image is X-Ray), the others are mixed
    man = pd.DataFrame({"id": [f"z{i}" for i in range(36)],
                        "modality": ["CT", "MRI"] * 12 + ["X-Ray"] * 12})
    cards = tl.cluster_cards(y, X, man, label_columns=["modality"], phrases=PHRASES, P=P)[0].set_index("cluster")
    assert cards.loc[2, "name_source"] == "labels" and cards.loc[2, "name"] == "X-Ray (100 %)"
    for k, want in ((0, "brain mri"), (1, "abdominal ct")):
        assert cards.loc[k, "name_source"] == "zero_shot"
        assert cards.loc[k, "name"].startswith(want + " / ")
        # by hand: the centroid of the normalised rows against the normalised phrases
        U = X[y == k] / np.linalg.norm(X[y == k], axis=1, keepdims=True)
        c = U.mean(0) / np.linalg.norm(U.mean(0))
        sims = (P / np.linalg.norm(P, axis=1, keepdims=True)) @ c
        top = np.argsort(-sims)[:3]
        assert cards.loc[k, "name"] == " / ".join(PHRASES[i] for i in top) + \
            f" (margin {sims[top[0]] - sims[top[1]]:.2f})"
        # the tiny untrained text tower's phrases lie close together (margins ~1e-4): float32 rounding
        assert cards.loc[k, "margin"] == pytest.approx(sims[top[0]] - sims[top[1]], abs=1e-6)
        assert cards.loc[k, "margin"] > 0
        assert cards.loc[k, "phrases"].startswith(f"{want} {sims[top[0]]:.2f}")
    # the phrase table alone, and vectors of another dimension: no zero-shot names
    z = tl.zero_shot_names(X, y, PHRASES, P).set_index("cluster")
    assert z.loc[0, "phrases"][0] == "brain mri" and len(z.loc[0, "cosines"]) == 3
    other = tl.cluster_cards(y, X, man, label_columns=["modality"], phrases=PHRASES, P=P[:, :8])[0]
    assert set(other["name_source"]) == {"labels", "none"}
    with pytest.raises(ValueError, match="phrases"):
        tl.zero_shot_names(X, y, PHRASES[:2], P)


# ---- figures -----------------------------------------------------------------------------


def _png(path) -> np.ndarray:
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"), np.float32)
    assert arr.std() > 10, f"{path} looks blank"
    return arr


def test_card_gallery_and_names_on_the_map(tmp_path, shots):
    paths = sorted((DEMO / "mednist-mini").glob("*/*.jpeg"))[::10][:60]
    man = pd.DataFrame({"id": [f"m{i}" for i in range(len(paths))], "path": list(map(str, paths)),
                        "class": [p.parent.name for p in paths]})
    thumbs = make_thumbnails(man, tmp_path / "th", tile=48)
    rng = np.random.default_rng(1)
    classes = sorted(set(man["class"]))
    y = np.array([classes.index(c) for c in man["class"]])
    y[:3] = -1
    X = np.eye(len(classes))[np.maximum(y, 0)] + rng.normal(scale=0.1, size=(len(y), len(classes)))
    cards = tl.cluster_cards(y, X, man, label_columns=["class"], stability=0.91)[0]
    assert cards["name_source"].iloc[:-1].eq("labels").all()
    out = shots / "cluster_cards.png"
    pl.cluster_cards(cards, thumbs, method="kmeans", path=out)
    arr = _png(out)
    assert arr.shape[0] > 1.2 * 100 * len(cards)  # a row per card
    pl.cluster_cards(cards.iloc[:0], thumbs, path=tmp_path / "empty.png")
    _png(tmp_path / "empty.png")
    # names at the median of each cluster's points, small clusters and noise left out
    Y = rng.normal(size=(len(y), 2)) + 10 * np.eye(len(classes), 2)[np.maximum(y, 0)]
    names = tl.card_names(cards)
    pos = pl._cards.name_positions(Y, y, names, min_size=3)
    assert {p[2] for p in pos} == {int(k) for k in cards["cluster"] if k != -1}
    for x0, y0, k, name in pos:
        np.testing.assert_allclose([x0, y0], np.median(Y[y == k], axis=0))
        assert name == names[k]
    assert len(pl._cards.name_positions(Y, y, names, max_labels=2)) == 2
    map_ = io.Array(X=Y.astype(np.float32), ids=man["id"].to_numpy())
    table = pd.DataFrame({"id": man["id"], "cluster": y})
    pl.clusters_on_map(map_, {"kmeans": table, "other": table}, map_name="tsne", path=shots / "clusters_named.png",
                       names={"kmeans": names})
    _png(shots / "clusters_named.png")


# ---- the workflow --------------------------------------------------------------------------


def test_config_lists_the_clusterings_with_cards():
    from conftest import DEMO_CONFIG

    cfg = yaml.safe_load(yaml.safe_dump(DEMO_CONFIG))
    assert graph.Plan(cfg).methods("cards") == ["kmeans"]  # the colouring clustering by default
    cfg["plot"]["cards"] = ["hdbscan", "kmeans"]
    assert graph.Plan(cfg).methods("cards") == ["kmeans", "hdbscan"]
    cfg["plot"]["cards"] = ["nope"]
    with pytest.raises(medembed_config.ConfigError, match="plot.cards"):
        medembed_config.check_consistency(cfg)


def test_workflow_schedules_one_card_job_per_listed_clustering(tmp_path):
    from conftest import DEMO_CONFIG
    from test_job_graph import _dry_run

    wf = copy_workflow(tmp_path / "wf")
    cfg = yaml.safe_load(yaml.safe_dump(DEMO_CONFIG))
    cfg["datasets"] = {"cxr": {"reader": "folder", "path": "data/cxr", "label_name": "class"}}
    cfg["plot"]["cards"] = ["hdbscan"]
    jobs, one = _dry_run(wf, tmp_path / "work", cfg, findings=set())
    cards = {j["output"][0]: j for j in jobs if j["rule"] == "cluster_cards"}
    base = "results/cxr/efficientnet_lite0/image"
    assert set(cards) == {f"{base}/cards/{m}/cluster_cards.tsv" for m in ("kmeans", "hdbscan")}
    # stability where it is measured (kmeans), none for hdbscan; the map reads every card table
    assert f"{base}/metrics/stability/kmeans.tsv" in cards[f"{base}/cards/kmeans/cluster_cards.tsv"]["input"]
    assert not any("stability" in p for p in cards[f"{base}/cards/hdbscan/cluster_cards.tsv"]["input"])
    maps = next(j for j in jobs if j["rule"] == "plot_cluster_maps")
    assert set(cards) <= set(maps["input"])
    assert {f"{base}/figures/cards/kmeans.png", f"{base}/figures/cards/hdbscan.png",
            f"{base}/cards/kmeans/cluster_cards.tsv"} <= set(one["make_report"]["input"])
    assert f"{base}/cards/hdbscan/cluster_enrichment.tsv" in one["all"]["input"]


def test_report_table_of_the_cards():
    from medembed import report

    X, y, man = _planted()
    y = y.copy()
    y[0] = -1
    cards = tl.cluster_cards(y, X, man, label_columns=["modality", "location"])[0]
    out = report.cards_table(cards, method="kmeans")
    assert "<b>kmeans</b>: 4 cards." in out and "CT · Abdomen" in out and "<td>noise</td>" in out
    assert "modality=CT ×" in out and "labels" in out
    assert "no clusters" in report.cards_table(cards.iloc[:0])

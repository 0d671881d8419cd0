"""The issue table: each source turned into rows of one shape, ranked per type, counted."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import planted_flips

from medembed import tl


def test_outlier_rows_name_the_detectors_that_agree():
    ids = [f"i{k}" for k in range(10)]
    det = {
        "lof": pd.DataFrame({"id": ids, "score": np.arange(10.0), "is_outlier": [False] * 8 + [True, True]}),
        "knn_distance": pd.DataFrame({"id": ids, "score": np.arange(10.0), "is_outlier": [False] * 9 + [True]}),
        "pca_error": pd.DataFrame({"id": ids, "score": np.arange(10.0)[::-1], "is_outlier": [True] + [False] * 9}),
    }
    cons = tl.consensus(det)
    rows = tl.outlier_issues(cons, det)
    # a majority (2 of 3) flagged only i9
    assert rows["id"].tolist() == ["i9"]
    assert rows["detail"].iloc[0] == "lof, knn_distance"
    assert "flagged by lof, knn_distance (2 of 3 detectors)" in rows["evidence"].iloc[0]
    top = tl.outlier_issues(cons, det, top_n=3)
    assert set(top["id"]) == set(cons.nsmallest(3, "rank")["id"]) | {"i9"}
    assert top["score"].between(0, 1).all()


def test_duplicates_and_split_leaks():
    pairs = pd.DataFrame({"i": [0, 2], "j": [1, 3], "similarity": [0.995, 0.99],
                          "id_i": ["a", "c"], "id_j": ["b", "d"]})
    split = {"a": "train", "b": "test", "c": "train", "d": "train"}
    rows = tl.duplicate_issues(pairs, split)
    dup = rows[rows["issue"] == "near_duplicate"].set_index("id")
    assert set(dup.index) == {"a", "b", "c", "d"} and dup.loc["a", "other_id"] == "b"
    assert "0.995 to b (test)" in dup.loc["a", "evidence"]
    leak = rows[rows["issue"] == "split_leak"].set_index("id")
    assert set(leak.index) == {"a", "b"}  # c and d share a split: no leak
    assert leak.loc["b", "detail"] == "test / train" and leak.loc["b", "other_id"] == "a"
    assert tl.duplicate_issues(pairs.iloc[0:0]).empty
    assert set(tl.duplicate_issues(pairs)["issue"]) == {"near_duplicate"}  # no split: no leaks


def test_confounded_cluster_found_only_when_metadata_beats_every_label():
    rng = np.random.default_rng(0)
    n = 200
    scanner = np.repeat(["GE", "Siemens"], n // 2)
    modality = rng.choice(["CT", "MRI"], n)  # independent of the clusters
    ids = [f"i{k}" for k in range(n)]
    manifest = pd.DataFrame({"id": ids, "path": [f"/x/{i}.png" for i in ids], "modality": modality,
                             "Manufacturer": scanner, "sha256": ids, "width": 64})
    by_scanner = pd.DataFrame({"id": ids, "cluster": (scanner == "GE").astype(int)})
    by_label = pd.DataFrame({"id": ids, "cluster": (modality == "CT").astype(int)})
    assert tl.metadata_columns(manifest, exclude=["modality"]) == ["Manufacturer"]
    rows, nmi = tl.confounded_clusters({"kmeans": by_scanner, "gmm": by_label}, manifest,
                                       label_columns=["modality"])
    assert set(rows["detail"]) == {"kmeans: Manufacturer"} and len(rows) == 2  # one row per cluster
    assert "100% Manufacturer = " in rows["evidence"].iloc[0]
    assert "NMI(kmeans, Manufacturer) = 1.00 > NMI with the best label modality" in rows["evidence"].iloc[0]
    got = nmi.set_index(["clustering", "column"])["nmi"]
    assert got[("kmeans", "Manufacturer")] == pytest.approx(1.0) and got[("gmm", "modality")] == pytest.approx(1.0)
    # noise is left out; a single cluster says nothing
    assert tl.confounded_clusters({"one": by_scanner.assign(cluster=0)}, manifest,
                                  label_columns=["modality"])[0].empty


def test_issue_table_ranks_each_type_and_summary_counts_images():
    parts = [
        pd.DataFrame({"id": ["b", "a"], "issue": "outlier", "detail": "", "score": [0.5, 0.9], "evidence": "x"}),
        pd.DataFrame({"id": ["a"], "issue": "label_error", "detail": "modality", "score": [1.4], "evidence": "y"}),
        tl.unreadable_issues(pd.DataFrame({"id": ["z"], "path": ["/d/z.png"], "reason": ["cannot decode"]})),
    ]
    t = tl.issue_table(parts, paths={"a": "/d/a.png", "b": "/d/b.png"})
    assert list(t.columns) == ["id", "path", "issue", "detail", "score", "rank", "evidence", "other_id"]
    assert t["issue"].tolist() == ["label_error", "unreadable", "outlier", "outlier"]  # the report's order
    assert t.loc[t["issue"] == "outlier", "id"].tolist() == ["a", "b"]  # highest score first
    assert t.loc[t["issue"] == "outlier", "rank"].tolist() == [1, 2]
    assert t["score"].max() == 1.0  # clipped to [0, 1]
    assert t.set_index("issue").loc["unreadable", "path"] == "/d/z.png"
    s = tl.issue_summary(t, n_images=10).set_index("issue")
    assert s.loc["outlier", "images"] == 2 and s.loc["any", "images"] == 3
    assert s.loc["any", "share"] == pytest.approx(0.3) and s.loc["split_leak", "rows"] == 0
    with pytest.raises(ValueError, match="unknown issue type"):
        tl.issue_table([parts[0].assign(issue="typo")])
    assert tl.issue_table([]).empty


# ---- what a person sees ------------------------------------------------------------------

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo" / "mednist-mini"


@pytest.fixture(scope="module")
def demo_issues(tmp_path_factory):
    """Eight real images, their thumbnails and an issue table of every shape."""
    from medembed import explore

    files = sorted(DEMO.glob("*/*"))[:8]
    manifest = pd.DataFrame({"id": [f.stem for f in files], "path": [str(f) for f in files]})
    th = explore.make_thumbnails(manifest, tmp_path_factory.mktemp("th") / "thumbs", tile=48)
    ids = manifest["id"].tolist()
    parts = [
        pd.DataFrame({"id": ids[:3], "issue": "label_error", "detail": "class", "score": [0.9, 0.8, 0.7],
                      "evidence": ["labelled Hand; out-of-fold p(Hand) = 0.03, p(CXR) = 0.95; 9 of 10 neighbours CXR"] * 3}),
        tl.duplicate_issues(pd.DataFrame({"id_i": [ids[3]], "id_j": [ids[4]], "similarity": [0.99]}),
                            {ids[3]: "train", ids[4]: "test"}),
        tl.unreadable_issues(pd.DataFrame({"id": ["bad"], "path": ["/d/bad.png"], "reason": ["cannot decode"]})),
    ]
    return tl.issue_table(parts, manifest.set_index("id")["path"]), th


@pytest.mark.parametrize("kind", ["label_error", "split_leak", "unreadable", "outlier"])
def test_issue_gallery_draws_each_type(demo_issues, kind, tmp_path, shots):
    from PIL import Image

    from medembed import pl

    issues, th = demo_issues
    png = tmp_path / f"{kind}.png"
    pl.issue_gallery(issues, th, kind, path=png)
    with Image.open(png) as im:
        w, h = im.size
        assert w > 200 and h > 100
        grey = np.asarray(im.convert("L"))
    assert grey.std() > 5  # not blank
    if kind == "split_leak":  # the image beside its near-copy: two tiles in the row
        assert w > 2 * 150
    png.rename(shots / f"issues_{kind}.png")


def test_report_opens_each_dataset_with_look_at_these_first(demo_issues, tmp_path):
    from medembed import io, pl, report

    issues, th = demo_issues
    base = tmp_path / "results/ds/enc/image"
    io.write_table(base / "issues.tsv", issues)
    io.write_table(base / "issues_summary.tsv", tl.issue_summary(issues, 9))
    pngs = {k: base / f"figures/issues/{k}.png" for k in tl.ISSUE_TYPES}
    for k, p in pngs.items():
        pl.issue_gallery(issues, th, k, path=p)
    summary = {k: tmp_path / f"results/run/{k}.html" for k in ("data", "run")}
    for k, p in summary.items():
        io.write_text(p, report.table_fragment(f"<p>{k}</p>", title=k))
    captions = {p.stem: p.read_text() for p in (Path(__file__).resolve().parents[1] / "report").glob("*.rst")}
    section = {"encoder": "enc", "features": "image", "figures": {}, "per_method": {},
               "tables": {"issues": str(base / "issues.tsv"), "issues_summary": str(base / "issues_summary.tsv")},
               "issues": {k: str(p) for k, p in pngs.items()}}
    layout = [{"name": "ds", "tables": {}, "figures": {}, "zero_shot": {}, "sections": [section]}]
    out = tmp_path / "results/report.html"
    inputs = [str(p) for p in pngs.values()] + list(section["tables"].values()) + [str(p) for p in summary.values()]
    report.write_report(out, inputs=inputs, summary={k: str(v) for k, v in summary.items()}, datasets=layout,
                        captions=captions, config={})
    page = out.read_text()
    head = page.split("Dataset <code>ds</code>")[1]
    assert head.index("Look at these first") < head.index("<h3>ds · enc · image")
    assert "<a href='ds/enc/image/issues.tsv'>issues.tsv</a>" in page
    # galleries of the types present only (3 label errors, 2 near-duplicates, 2 leaks, 1 unreadable)
    assert page.count("<img") == 4
    assert "<td>label error</td><td>3</td><td>3</td><td>33.3%</td>" in page.replace("\n", "")


@pytest.mark.workflow
def test_planted_problems_top_their_types_in_the_workflow(small_run):
    """The small run's "planted" dataset (conftest.make_planted_folder): three label flips,
    a blank image and a colour-noise image among 60 real MedNIST images. issues.tsv names
    each at the top of its type, with evidence."""
    from medembed import io

    work = small_run.work
    issues = io.read_table(work / "results/planted/pixels/image/issues.tsv")
    manifest = io.read_table(work / "results/planted/manifest.parquet")
    name = manifest.set_index("id")["path"].map(lambda p: Path(p).name)
    issues = issues.assign(file=issues["id"].map(name))
    labels = issues[issues["issue"] == "label_error"]
    flipped = set(planted_flips())
    top = set(labels.nsmallest(len(flipped) + 1, "rank")["file"])
    assert flipped <= top, labels.head(8)
    assert labels["evidence"].str.startswith("labelled ").all()
    quality = issues[issues["issue"] == "image_quality"].sort_values("rank")
    assert quality.iloc[0]["file"] == "blank.png" and quality.iloc[0]["detail"] == "blank"
    # the run's encoder is the grey 32 x 32 pixel baseline: a negative radiograph is far from
    # everything in it (top 15 % of the consensus), a colour-noise "photo" averages to mid-grey
    # and is not (benchmarks/outliers_planted.py measures the foreign images on EfficientNet)
    consensus = io.read_table(work / "results/planted/pixels/image/outliers_consensus.parquet")
    rank = consensus.assign(file=consensus["id"].map(name)).set_index("file")["rank"]
    assert rank["inverted.png"] <= 0.15 * len(consensus), rank.sort_values().head()
    outliers = issues[issues["issue"] == "outlier"]
    assert set(outliers["id"]) == set(consensus.loc[consensus["is_outlier"], "id"])  # a majority flagged each
    summary = io.read_table(work / "results/planted/pixels/image/issues_summary.tsv").set_index("issue")
    assert summary.loc["any", "images"] >= 5 and summary.loc["unreadable", "images"] == 0

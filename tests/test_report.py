"""The report's pieces: clean tables with the best cells marked, captions from report/*.rst,
the run summary from benchmark files, and a page built only from the files it is given,
loaded in a real headless Chromium."""

from __future__ import annotations

import os
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from browser import chromium, open_page
from conftest import ROOT

from medembed import io, pl, report

CAPTIONS = {p.stem: p.read_text() for p in (ROOT / "report").glob("*.rst")}


def _metrics() -> pd.DataFrame:
    rows = []
    for method, ari, sup, db in (("kmeans", 0.8, "none", 1.2), ("dbscan", 0.1, "none", 0.7),
                                 ("hyphc_learned", 0.95, "semi:0.3", 0.2)):
        for metric, v in (("ari", ari), ("nmi", ari - 0.05), ("purity", 0.9)):
            rows.append(("cluster", method, "class", metric, v, sup))
        rows += [("cluster", method, None, "davies_bouldin", db, sup),
                 ("cluster", method, None, "noise_fraction", 0.5 if method == "dbscan" else 0.0, sup),
                 ("cluster", method, None, "n_clusters", 6.0, sup)]
    rows += [("reduce", "tsne", None, "trustworthiness", 0.95, "none"),
             ("reduce", "pca", None, "trustworthiness", 0.85, "none")]
    return pd.DataFrame(rows, columns=["kind", "method", "label", "metric", "value", "supervision"])


def _cells(html_text: str) -> list[list[tuple[str, bool]]]:
    """Rows of (text, best) of the first table in ``html_text``."""
    body = html_text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [[(re.sub("<.*?>", "", c[1]), "best" in c[0]) for c in re.findall(r"<td([^>]*)>(.*?)</td>", r)]
            for r in body.split("</tr>") if "<td" in r]


def test_metrics_tables_are_clean_and_mark_the_best():
    out = report.metrics_tables(_metrics())
    assert "metric / method" not in out and "<th>metric</th>" not in out
    # one header row per table, no pivot's second header row
    assert out.count("<thead><tr>") == out.count("<table") == out.count("<tr><th>") == 3
    assert all("<th" not in body.split("</tbody>")[0] for body in out.split("<tbody>")[1:])
    parts = out.split("<h4>")
    partition = next(p for p in parts if p.startswith("Clusterings: the partitions"))
    header = re.findall(r"<th>(.*?)</th>", partition)
    assert header == ["method", "n_clusters", "noise_fraction", "davies_bouldin"]
    rows = {r[0][0]: r[1:] for r in _cells(partition)}
    # lower is better for davies_bouldin and noise_fraction; n_clusters never wins
    assert [b for _, b in rows["dbscan"]] == [False, False, True]
    assert [b for _, b in rows["kmeans"]] == [False, True, False]
    # the semi-supervised method is shown last, apart, and never takes the best mark
    assert list(rows)[-1] == "hyphc_learned" and not any(b for _, b in rows["hyphc_learned"])
    assert "class='semi'" in partition
    agreement = next(p for p in parts if "agreement with <code>class</code>" in p)
    rows = {r[0][0]: r[1:] for r in _cells(agreement)}
    assert rows["kmeans"][0] == ("0.800", True) and rows["hyphc_learned"][0] == ("0.950", False)
    maps = next(p for p in parts if p.startswith("2-D maps"))
    assert {r[0][0]: r[1][1] for r in _cells(maps)} == {"tsne": True, "pca": False}


def test_skip_kinds_and_data_summary(tmp_path):
    assert report.skip_kind("truncated image: 22 bytes not processed") == "truncated image"
    assert report.skip_kind("empty file (0 bytes)") == "empty file"
    manifest = pd.DataFrame({"id": ["a", "b", "c"], "path": ["x"] * 3, "class": ["A", "A", "B"]})
    io.write_table(tmp_path / "m.parquet", manifest, params={"label_columns": ["class"], "path": "data/x",
                                                             "reader": "folder"})
    skipped = pd.DataFrame({"id": ["d", "e", "f"], "path": ["d", "e", "f"],
                            "reason": ["empty file: 0 bytes", "empty file: 0 bytes", "not an image: text"]})
    io.write_table(tmp_path / "s.tsv", skipped)
    io.write_array(tmp_path / "e.npz", np.zeros((3, 7), np.float32), ids=np.array(["a", "b", "c"]))
    out = report.data_summary({"ds": {"manifest": tmp_path / "m.parquet", "skipped": tmp_path / "s.tsv"}},
                              {"ds": {"enc": tmp_path / "e.npz"}})
    assert "3 images read" in out and "3 unreadable" in out
    assert "empty file 2, not an image 1" in out
    assert [c[0] for c in _cells(out.split("</details>")[1])[0]] == ["enc", "3", "7"]


def test_run_summary_from_benchmarks(tmp_path):
    head = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    files = {}
    for rule, rows in (("cluster", [(2.0, 150.0), (5.0, 400.0)]), ("reduce", [(9.0, 90.0)])):
        for i, (s, rss) in enumerate(rows):
            f = tmp_path / f"{rule}{i}.tsv"
            f.write_text(head + f"{s}\t0:00:0{int(s)}\t{rss}\t1\t1\t1\t0\t0\t50\t{s / 2}\n")
            files.setdefault(rule, []).append(str(f))
    table = report.benchmark_summary(files)
    assert table.loc["cluster", "jobs"] == 2 and table.loc["cluster", "total s"] == 7.0
    assert table.loc["cluster", "peak MB"] == 400.0 and table.loc["reduce", "longest s"] == 9.0
    out = report.run_summary(files, {"cluster": {"kmeans": {"n_clusters": 6}}})
    assert "3 jobs in 2 stages" in out and "n_clusters: 6" in out


def test_every_caption_renders():
    """Each report/*.rst renders (Jinja2 + docutils) with the context make_report gives it."""
    ctx = {"wildcards": {"dataset": "ds", "encoder": "enc", "features": "image", "method": "kmeans"},
           "params": {"map_name": "tsne", "color_by": "kmeans"},
           "config": {"datasets": {"ds": {}}, "encoders": [{"name": "enc"}], "reduce": {"tsne": {}},
                      "cluster": {"kmeans": {}}, "outliers": {"lof": {}}}}
    assert {"metrics", "metrics_heatmap", "contingency", "outlier_gallery", "duplicates", "finch", "data",
            "run", "outliers"} <= set(CAPTIONS)
    for kind, text in CAPTIONS.items():
        out = report.render_caption(text, strict=True, **ctx)  # raises on invalid rst
        assert "{{" not in out and "snakemake." not in out, kind
    # the outliers caption names every detector the workflow has
    for det in ("isolation_forest", "dbscan_noise", "hdbscan_noise", "gmm_density", "pca_error",
                "knn_distance", "lof"):
        assert det in CAPTIONS["outliers"]
    assert "2-D maps" in CAPTIONS["metrics"] and "Outlier detectors" in CAPTIONS["metrics"]


@pytest.fixture
def small_report(tmp_path):
    """A report built from a synthetic layout: real figures from the package functions."""
    res = tmp_path / "results"
    base = res / "ds" / "enc" / "image"
    rng = np.random.default_rng(0)
    ids = np.array([f"i{i}" for i in range(200)])
    lab = rng.integers(0, 4, 200)
    map_ = io.Array(X=rng.normal(size=(200, 2)).astype(np.float32), ids=ids)
    table = pd.DataFrame({"id": ids, "cluster": lab, "level_0": lab, "level_1": lab // 2})
    manifest = pd.DataFrame({"id": ids, "class": np.where(lab < 2, "A", "B")})
    figs = {"clusters": base / "figures/clusters.png", "metrics": base / "figures/metrics.png",
            "finch": base / "figures/finch.png"}
    pl.clusters_on_map(map_, {"kmeans": table}, map_name="tsne", path=figs["clusters"])
    pl.metrics_heatmap(_metrics(), path=figs["metrics"])
    pl.finch_levels(map_, table, map_name="tsne", path=figs["finch"])
    per = {m: base / f"figures/contingency/{m}.png" for m in ("kmeans", "dbscan")}
    for m, p in per.items():
        pl.contingency(table, manifest, label_columns=["class"], method=m, path=p)
    tables = {"metrics": base / "tables/metrics.html"}
    io.write_text(tables["metrics"], report.table_fragment(report.metrics_tables(_metrics()), title="m"))
    summary = {"data": res / "run/data.html", "run": res / "run/summary.html"}
    io.write_text(summary["data"], report.table_fragment("<p>200 images</p>", title="d"))
    io.write_text(summary["run"], report.table_fragment(report.run_summary({}, {"plot": {"map": "tsne"}}),
                                                        title="r"))
    layout = [{"name": "ds", "tables": {}, "figures": {}, "zero_shot": {}, "sections": [{
        "encoder": "enc", "features": "image", "explorer": None,
        "figures": {k: str(v) for k, v in figs.items()}, "tables": {k: str(v) for k, v in tables.items()},
        "per_method": {"contingency": {m: str(p) for m, p in per.items()}, "samples": {}, "trees": {}}}]}]
    inputs = [str(p) for p in [*figs.values(), *per.values(), *tables.values(), *summary.values()]]
    out = res / "report.html"
    return out, dict(inputs=inputs, summary={k: str(v) for k, v in summary.items()}, datasets=layout,
                     captions=CAPTIONS, config={"plot": {"map": "tsne", "color_by": "kmeans"}}, inline=["kmeans"])


def test_report_uses_only_its_inputs(small_report):
    out, kw = small_report
    missing = kw["datasets"][0]["sections"][0]["figures"]["finch"]
    with pytest.raises(ValueError, match="not an input"):
        report.write_report(out, **{**kw, "inputs": [p for p in kw["inputs"] if p != missing]})
    report.write_report(out, **kw)
    text = out.read_text()
    # the kmeans contingency inline, the dbscan one only linked (relative to the page)
    assert text.count("data:image/jpeg;base64,") == 4
    assert "href='ds/enc/image/figures/contingency/dbscan.png'" in text
    assert "metric / method" not in text and "class='best'" in text
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_report_in_chromium(small_report, shots):
    """The page loads in headless Chromium with no console error; every image decodes."""
    out, kw = small_report
    report.write_report(out, **kw)
    with chromium() as browser:
        page, errors = open_page(browser, out.as_uri(), width=1300, height=900)
        n_img = page.evaluate("document.images.length")
        widths = page.evaluate("Array.from(document.images).map(i => i.naturalWidth)")
        tables = page.evaluate("document.querySelectorAll('table.m').length")
        best = page.evaluate("getComputedStyle(document.querySelector('td.best')).backgroundColor")
        page.screenshot(path=str(out.parent / "report.png"), full_page=True)
        page.close()
    assert errors == []
    assert n_img == 4 and all(w > 0 for w in widths)
    assert tables >= 3 and best != "rgba(0, 0, 0, 0)"
    shutil.copy(out.parent / "report.png", shots / "report_unit.png")


def test_inline_budget_links_the_rest(small_report):
    """Past its inline budget the page links figures instead of growing."""
    out, kw = small_report
    report.write_report(out, **kw, budget=1)
    text = out.read_text()
    assert text.count("data:image/jpeg;base64,") == 1  # the first figure, then links
    assert "href='ds/enc/image/figures/finch.png'" in text


def test_not_applicable_results_are_listed_with_their_reason():
    na = pd.DataFrame([
        {"kind": "cluster", "method": "gmm", "label": "", "metric": "not_applicable", "value": np.nan,
         "supervision": "none", "note": "not applicable at n = 5: no mixture fits"},
        {"kind": "reduce", "method": "hnne", "label": "", "metric": "not_applicable", "value": np.nan,
         "supervision": "none", "note": "not applicable at n = 5: FINCH's first level has 2 clusters"},
    ])
    out = report.metrics_tables(pd.concat([_metrics(), na], ignore_index=True))
    assert "<h4>Not applicable to this dataset</h4>" in out
    assert "<code>cluster · gmm</code>: not applicable at n = 5: no mixture fits" in out
    assert "FINCH&#x27;s first level has 2 clusters" in out
    assert "<th>not_applicable</th>" not in out
    assert "Not applicable" not in report.metrics_tables(_metrics())


def test_metrics_table_shows_cluster_intervals_and_paired_ties():
    """ARI / NMI / purity cells read "value [low, high]"; the marks follow the paired tie
    test (a near copy of the best clustering is marked too, a poor one is not), after the
    table went through a TSV as metrics.tsv does."""
    import io as _io

    import numpy as np
    import pandas as pd

    from medembed import report, tl

    rng = np.random.default_rng(0)
    yt = rng.integers(0, 4, 300)
    good = np.where(rng.random(300) < 0.9, yt, rng.integers(0, 4, 300))
    near = good.copy()
    near[:2] = (near[:2] + 1) % 4
    reps, tabs = {}, []
    for name, pred in (("kmeans", good), ("finch", near), ("dbscan", np.where(rng.random(300) < 0.4, yt, 0))):
        reps[name] = {}
        rows = tl.cluster_metrics(pred, pd.DataFrame({"c": yt}), replicates=reps[name])
        tabs.append(pd.DataFrame(rows).assign(method=name, kind="cluster"))
    buf = _io.StringIO()
    tl.mark_ties(pd.concat(tabs, ignore_index=True), reps).to_csv(buf, sep="\t", index=False)
    html = report.metrics_tables(pd.read_csv(_io.StringIO(buf.getvalue()), sep="\t"))
    row = {r.split("</td>")[0]: r for r in html.split("<tr><td>")[1:]}
    ari = pd.read_csv(_io.StringIO(buf.getvalue()), sep="\t").query("metric == 'ari'").set_index("method")
    k = ari.loc["kmeans"]
    assert f"<td class='best'>{k['value']:.3f} [{k['low']:.3f}, {k['high']:.3f}]</td>" in row["kmeans"]
    assert row["finch"].count("class='best'") >= 3 and "class='best'" not in row["dbscan"]
    assert "bias-corrected bootstrap interval" in html

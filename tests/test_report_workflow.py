"""The report of a completed run (the shared ``demo_run``): built from its inputs, small,
readable by the group, clean in a real headless Chromium, and the same figures in
``snakemake --report``; a method removed from the config leaves the report."""

from __future__ import annotations

import re
import shutil
import stat
from pathlib import Path

import yaml
from browser import chromium, open_page
from conftest import snakemake

ENC = "efficientnet_lite0"


def _figures(work: Path) -> list[Path]:
    """Every figure and table a rule declares with report(), as made by the run."""
    res = work / "results"
    out = sorted(res.glob("*/*/*/figures/**/*.png")) + sorted(res.glob("*/*/*/tables/*.html"))
    out += sorted(res.glob("*/encoders.png")) + [res / "run/data.html", res / "run/summary.html"]
    assert len(out) > 40
    return out


def test_report_shows_every_figure_and_is_small(demo_run):
    _, work = demo_run
    page = work / "results/report.html"
    text = page.read_text()
    assert page.stat().st_size < 5_000_000
    assert page.stat().st_mode & stat.S_IRGRP  # group-readable, not mkstemp's 0600
    for ds in ("slake_small", "folder_small"):
        base = work / "results" / ds / ENC / "image"
        # per-method figures: linked relative to the page (and the file is there)
        for kind in ("contingency", "samples"):
            for png in sorted((base / "figures" / kind).glob("*.png")):
                rel = png.relative_to(work / "results").as_posix()
                assert f"href='{rel}'" in text, rel
        assert f"href='{ds}/{ENC}/image/explorer/index.html'" in text
    # the overview figures inline, as JPEG; no PNG inlined
    assert text.count("data:image/jpeg;base64,") >= 2 * 8 and "data:image/png" not in text
    for caption_head in ("Metrics heatmap", "Clusters x labels", "Outliers: the consensus top images",
                         "Near-duplicates", "Hierarchy: FINCH partitions", "Run"):
        assert caption_head in text
    assert "metric / method" not in text and "class='best'" in text
    assert "3 unreadable" in text and "empty file 1" in text
    # the run summary lists the stages from their benchmark files
    for stage in ("embed_shard", "cluster", "plot_metrics", "table_metrics", "make_explorer"):
        assert f"<td>{stage}</td>" in text, stage


def test_report_in_chromium(demo_run, tmp_path, shots):
    _, work = demo_run
    page_file = work / "results/report.html"
    with chromium() as browser:
        page, errors = open_page(browser, page_file.as_uri(), width=1300, height=900)
        widths = page.evaluate("Array.from(document.images).map(i => i.naturalWidth)")
        links = page.evaluate("Array.from(document.querySelectorAll('ul.links a')).map(a => a.href)")
        # in parts: Chromium repeats the top of a page taller than its texture limit (16k px)
        height = page.evaluate("document.body.scrollHeight")
        pages = []
        for k, y in enumerate(range(0, height, 10000)):
            pages.append(tmp_path / f"report_{k}.png")
            page.screenshot(path=str(pages[-1]), full_page=True,
                            clip={"x": 0, "y": y, "width": 1300, "height": min(10000, height - y)})
        page.close()
    assert errors == []
    assert len(widths) >= 16 and all(w > 0 for w in widths)
    assert links and all(Path(re.sub("^file://", "", u)).is_file() for u in links)
    for shot in pages:
        shutil.copy(shot, shots / f"report_demo_run_{shot.stem.split('_')[1]}.png")


def test_snakemake_report_contains_every_figure(demo_run, tmp_path):
    wf, work = demo_run
    out = tmp_path / "snakemake_report.html"
    proc = snakemake(wf, work, "--report", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    for f in _figures(work):
        rel = f.relative_to(work).as_posix()
        assert rel in text, rel
    for category in ("Data", "Embeddings", "Maps", "Clusters", "Outliers", "Duplicates", "Hierarchy",
                     "Metrics", "Run"):
        assert category in text, category


def test_a_method_removed_from_the_config_leaves_the_report(demo_run, tmp_path):
    """On a copy of the run: drop spectral; the report loses it, keeps the others."""
    wf, work = demo_run
    copy = tmp_path / "work"
    shutil.copytree(work, copy, symlinks=True)
    cfg = yaml.safe_load((copy / "config.yaml").read_text())
    del cfg["cluster"]["spectral"]
    (copy / "config_nospectral.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    proc = snakemake(wf, copy, config="config_nospectral.yaml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (copy / "results/report.html").read_text()
    assert "spectral" not in text.split("the config of this run")[0]
    assert "contingency/kmeans.png" in text and "contingency/spectral.png" not in text
    metrics = (copy / f"results/slake_small/{ENC}/image/tables/metrics.html").read_text()
    assert "<td>kmeans</td>" in metrics and "<td>spectral</td>" not in metrics

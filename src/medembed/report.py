"""The HTML report of a workflow run, for a person to read.

Everything here is built from files the caller names (the make_report job's
``snakemake.input``), never found by globbing. Captions come from ``report/<kind>.rst``,
the same files ``snakemake --report`` renders, so a caption exists once.

The page is self-contained for the overview (figures re-encoded as JPEG, tables as HTML)
and links the per-method figures (sample grids, contingency tables, trees) relative to
the page, so it stays small however many clusterings are configured.
"""

from __future__ import annotations

import base64
import html
import io as _bytes_io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import yaml

from . import io

#: Metrics where lower is better (every other column: higher is better).
LOWER_IS_BETTER = frozenset({"davies_bouldin", "noise_fraction"})
#: Columns that describe, never win (no highlight).
NOT_RANKED = frozenset({"n_clusters", "n_scored", "stability_ari_min", "n", "rank", "images", "jobs", "dim",
                        "dimension", "n_flagged"})

CSS = """
body{font-family:system-ui,sans-serif;max-width:1250px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #345}h2{margin-top:2em;border-bottom:1px solid #ccc}
h3{margin-top:1.6em}nav a{margin-right:1em}
table.m{border-collapse:collapse;font-size:13px;margin:.5em 0}
table.m td,table.m th{border:1px solid #ddd;padding:3px 8px;text-align:right}
table.m th{background:#f3f5f8}table.m td:first-child,table.m th:first-child{text-align:left}
table.m td.best{background:#d8f0d0;font-weight:bold}table.m tr.semi td{background:#fbf6e6}
table.m tr.semi td.best{background:#e7efc6}
img{max-width:100%;border:1px solid #eee}.caption{color:#444;font-size:14px;max-width:60em}
.caption p{margin:.3em 0}.note{color:#555;font-size:14px}.warn{color:#a40}
details{margin:.6em 0}pre{background:#f6f6f6;padding:.6em;font-size:12px;overflow:auto;max-height:30em}
ul.links{columns:3;font-size:14px}
"""


# ---- captions ------------------------------------------------------------------------


def render_caption(text: str, *, strict: bool = False, **context) -> str:
    """A caption (reStructuredText with Jinja2 ``{{ snakemake.* }}``, as snakemake renders
    it) as an HTML fragment. ``context`` fills ``snakemake``: wildcards, params, config.
    ``strict``: invalid reStructuredText raises instead of rendering as best it can."""
    import jinja2
    from docutils.core import publish_parts

    ns = SimpleNamespace(
        wildcards=SimpleNamespace(**context.get("wildcards", {})),
        params=SimpleNamespace(**context.get("params", {})),
        config=context.get("config", {}),
    )
    rst = jinja2.Template(text).render(snakemake=ns)
    settings = {"report_level": 5, "halt_level": 2 if strict else 5}
    body = publish_parts(rst, writer="html", settings_overrides=settings)["body"]
    return f"<div class='caption'>{body}</div>"


# ---- tables --------------------------------------------------------------------------


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else ""
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return f"{v:.0f}" if abs(v) >= 1000 or float(v).is_integer() and abs(v) >= 10 else f"{v:.3f}"
    return html.escape(str(v))


def best_cells(df: pd.DataFrame, *, rows: Sequence[bool] | None = None, skip=NOT_RANKED,
               lower=LOWER_IS_BETTER) -> np.ndarray:
    """True at the best numeric cell of each column among ``rows`` (default all): the
    highest, or the lowest for ``lower`` columns (base name before any ``label ``)."""
    best = np.zeros(df.shape, bool)
    rows = np.ones(len(df), bool) if rows is None else np.asarray(rows, bool)
    for j, col in enumerate(df.columns):
        base = str(col).split(" ")[-1]
        if base in skip or col in skip or not pd.api.types.is_numeric_dtype(df[col]):
            continue
        v = df[col].to_numpy(dtype=float).copy()
        v[~rows] = np.nan
        if not np.isfinite(v).any() or np.nanmin(v) == np.nanmax(v):
            continue  # nothing to compare, or every row ties: no winner
        target = np.nanmin(v) if base in lower else np.nanmax(v)
        best[:, j] = np.isclose(v, target)
    return best


def table_html(df: pd.DataFrame, *, index: bool = True, best: np.ndarray | None = None,
               row_class: Sequence[str] | None = None) -> str:
    """One clean HTML table: a single header row, no pivot artefacts, best cells marked."""
    cols = ([df.index.name or ""] if index else []) + [str(c) for c in df.columns]
    out = ["<table class='m'><thead><tr>", *(f"<th>{html.escape(c)}</th>" for c in cols), "</tr></thead><tbody>"]
    for i, (key, row) in enumerate(df.iterrows()):
        cls = f" class='{row_class[i]}'" if row_class is not None and row_class[i] else ""
        cells = [f"<td>{html.escape(str(key))}</td>"] if index else []
        for j, v in enumerate(row.tolist()):
            mark = " class='best'" if best is not None and best[i, j] else ""
            count = str(df.columns[j]) in NOT_RANKED or str(df.columns[j]).startswith("n_")
            if count and isinstance(v, (float, np.floating)) and np.isfinite(v) and float(v).is_integer():
                v = int(v)  # a count, not a score
            cells.append(f"<td{mark}>{_fmt(v)}</td>")
        out.append(f"<tr{cls}>{''.join(cells)}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _wide(m: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Methods x metrics from tidy rows (first value of each pair), in the rows' order."""
    methods = list(dict.fromkeys(m["method"]))
    names = list(dict.fromkeys(m["metric"])) if metrics is None else [x for x in metrics if x in set(m["metric"])]
    cols = {k: m[m["metric"] == k].groupby("method", sort=False)["value"].first().reindex(methods) for k in names}
    out = pd.DataFrame(cols, index=pd.Index(methods, name="method"))
    return out


def metrics_tables(metrics: pd.DataFrame) -> str:
    """The tidy metrics table (kind, method, label, metric, value, supervision) as clean
    tables: the partitions, agreement with each label, the maps, the detectors. Methods that
    saw labels (``supervision`` not ``none``) are rows apart, scored on held-out images,
    and never take the best mark from an unsupervised method."""
    m = metrics.assign(label=metrics["label"].fillna("").astype(str),
                       kind=metrics["kind"] if "kind" in metrics else "cluster")
    # results that do not apply to so few images are listed with their reason, not tabled
    na, m = m[m["metric"] == "not_applicable"], m[m["metric"] != "not_applicable"]
    sup = m.get("supervision", pd.Series("none", index=m.index)).fillna("none").astype(str)
    semi = set(m.loc[sup != "none", "method"])
    parts = []
    clu = m[m["kind"] == "cluster"]

    def _cluster_table(sub: pd.DataFrame, title: str, order=None) -> None:
        if sub.empty:
            return
        wide = _wide(sub, order)
        is_semi = [x in semi for x in wide.index]
        wide = pd.concat([wide[[not s for s in is_semi]], wide[is_semi]])
        is_semi = sorted(is_semi)
        best = best_cells(wide, rows=[not s for s in is_semi])
        shown = wide.astype(object)
        for j, metric in enumerate(wide.columns):
            rows = sub[sub["metric"] == metric].groupby("method", sort=False).first().reindex(wide.index)
            if "best" in rows and rows["best"].notna().any():  # best, or tied (paired bootstrap)
                best[:, j] = rows["best"].map(lambda v: str(v).lower() in ("true", "1", "1.0")).to_numpy()
            if "low" in rows and rows["low"].notna().any():
                shown[metric] = [_with_interval(v, lo, hi) for v, lo, hi in zip(rows["value"], rows["low"], rows["high"])]
        parts.append(f"<h4>{title}</h4>")
        parts.append(table_html(shown, best=best, row_class=["semi" if s else "" for s in is_semi]))

    _cluster_table(clu[clu["label"] == ""], "Clusterings: the partitions (label-free)",
                   ["n_clusters", "noise_fraction", "silhouette_cosine", "davies_bouldin", "stability_ari",
                    "stability_ari_min"])
    for label in sorted(set(clu["label"]) - {""}):
        _cluster_table(clu[clu["label"] == label], f"Clusterings: agreement with <code>{html.escape(label)}</code>",
                       ["ari", "ami", "nmi", "purity", "homogeneity", "completeness", "n_scored"])
    if {"low", "high"} <= set(clu.columns) and clu["low"].notna().any():
        parts.append("<p class='note'>ARI, NMI, purity: value [95 % bias-corrected bootstrap interval over the "
                     "images; the partition is fixed]. Marked: the best, or not distinguishable from it (the 95 % "
                     "paired bootstrap interval of the difference contains 0).</p>")
    if semi:
        parts.append("<p class='note'>Shaded rows: semi-supervised methods ("
                     + ", ".join(sorted(semi)) + "), scored on the images whose labels they did not see; "
                     "the best marks compare the unsupervised methods only.</p>")
    for kind, title in (("reduce", "2-D maps: neighbourhoods kept"), ("outliers", "Outlier detectors vs known anomalies")):
        sub = m[m["kind"] == kind]
        for label in sorted(set(sub["label"])):
            wide = _wide(sub[sub["label"] == label])
            head = title + (f" (<code>{html.escape(label)}</code>)" if label else "")
            parts += [f"<h4>{head}</h4>", table_html(wide, best=best_cells(wide))]
    if not na.empty:
        notes = na.get("note", pd.Series("", index=na.index)).fillna("").astype(str)
        items = dict.fromkeys(f"<li><code>{html.escape(str(k))} · {html.escape(str(me))}</code>: {html.escape(t)}</li>"
                              for k, me, t in zip(na["kind"], na["method"], notes))
        parts.append("<h4>Not applicable to this dataset</h4><ul class='note'>" + "".join(items) + "</ul>")
    return "\n".join(parts)


def outliers_table(top: pd.DataFrame, *, label_columns=()) -> str:
    """The consensus top table: rank, id, score, detectors flagging, each detector's scaled
    rank, the labels; the highest score per detector column marked."""
    shown = ["rank", "id", "score", "n_flagged"]
    detectors = [c for c in top.columns if c not in {*shown, "is_outlier", "path", "width", "height", *label_columns}]
    cols = [c for c in [*shown, *detectors, *label_columns] if c in top]
    df = top[cols].set_index("rank")
    best = best_cells(df, skip=NOT_RANKED | {"id", *label_columns})
    return table_html(df, best=best)


def duplicates_table(summary: Mapping, sets: pd.DataFrame) -> str:
    """The near-duplicate summary line, then one row per set (size, ids, splits)."""
    text = (f"{summary.get('n_pairs', 0)} near-duplicate pairs (cosine &ge; {summary.get('threshold')}) in "
            f"{summary.get('n_sets', 0)} sets, {summary.get('n_redundant', 0)} redundant images.")
    if summary.get("n_cross_split_sets") is not None:
        cls = "warn" if summary["n_cross_split_sets"] else "note"
        text += (f" <span class='{cls}'>{summary['n_cross_split_sets']} sets cross the split "
                 "(possible train/test leakage).</span>")
    if summary.get("leak_share") is not None:
        text += f" Leak share: {summary['leak_share']:.3f}."
    pat = summary.get("patient_leakage")
    if pat:
        n_leak, n_pat = pat.get("n_leaking_patients", 0), pat.get("n_patients", 0)
        cls = "warn" if n_leak else "note"
        pairs = ", ".join(f"{html.escape(k)} {v}" for k, v in (pat.get("split_pairs") or {}).items())
        text += (f" <span class='{cls}'>Patient-level: {n_leak} of {n_pat} patients "
                 f"(<code>{html.escape(str(pat.get('patient_column')))}</code>) have images in more than one "
                 f"<code>{html.escape(str(pat.get('split_column')))}</code> value"
                 + (f" ({pat.get('n_images_of_leaking_patients', 0)} images; {pairs})" if n_leak else "")
                 + ".</span>")
    out = [f"<p>{text}</p>"]
    if len(sets):
        g = sets.groupby("set", sort=True)
        df = pd.DataFrame({
            "images": g["id"].size(),
            "ids": g["id"].agg(lambda s: ", ".join(map(str, s))),
        })
        if "split" in sets:
            df["splits"] = g["split"].agg(lambda s: ", ".join(sorted(set(map(str, s.dropna())))))
        if "crosses_split" in sets:
            df["crosses split"] = g["crosses_split"].any().astype(bool)
        df.index.name = "set"
        out.append(table_html(df.head(200)))
    return "\n".join(out)


def table_fragment(body: str, *, title: str) -> str:
    """A table as a standalone page (for ``snakemake --report``), its body between markers
    so :func:`write_report` can embed the same HTML."""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>\n<!--fragment-->\n{body}\n<!--/fragment-->\n</body></html>")


def read_fragment(path: str | os.PathLike) -> str:
    text = Path(path).read_text()
    start, end = text.find("<!--fragment-->"), text.find("<!--/fragment-->")
    if start < 0 or end < 0:
        raise ValueError(f"{path}: not a report table fragment")
    return text[start + len("<!--fragment-->"):end].strip()


# ---- the run summary -------------------------------------------------------------------


def skip_kind(reason: str) -> str:
    """The kind of a skip reason: the text before ':' (or before ' (' when there is none)."""
    reason = str(reason)
    for sep in (":", " ("):
        if sep in reason:
            return reason.split(sep, 1)[0].strip()
    return reason.strip()


def data_summary(datasets: Mapping[str, Mapping], encoders: Mapping[str, Mapping]) -> str:
    """Per dataset: images, skipped files by kind, label counts; encoders and their dimension.

    ``datasets``: name -> {manifest, skipped} paths; ``encoders``: dataset -> {encoder id:
    features path}."""
    out = []
    for ds, files in datasets.items():
        manifest = io.read_table(files["manifest"])
        info = io.read_table_params(files["manifest"])
        skipped = io.read_table(files["skipped"])
        out.append(f"<h3>Dataset <code>{html.escape(ds)}</code></h3>")
        where = info.get("path") or info.get("table") or info.get("root")
        line = (f"<p>{len(manifest)} images read"
                + (f" from <code>{html.escape(str(where))}</code>" if where else "")
                + f" (reader {html.escape(str(info.get('reader', '')))}). ")
        if len(skipped):
            kinds = skipped["reason"].map(skip_kind).value_counts()
            line += (f"<span class='warn'>{len(skipped)} unreadable file(s) skipped</span>: "
                     + ", ".join(f"{html.escape(k)} {v}" for k, v in kinds.items()) + ".</p>")
            out.append(line)
            out.append(f"<details><summary>skipped files</summary>{table_html(skipped, index=False)}</details>")
        else:
            out.append(line + "No file was skipped.</p>")
        if info.get("n_unlisted"):
            out.append(f"<p>{int(info['n_unlisted'])} image file(s) on disk are not in the table "
                       "and were ignored.</p>")
        ml = info.get("multilabel") or {}
        findings = [f for f in ml.get("findings") or [] if f in manifest]
        if findings:  # one line: positives (and unknowns) per finding, not a line each
            out.append(f"<p>Findings from <code>{html.escape(str(ml.get('source')))}</code> ({len(findings)}, "
                       "images with each): " + ", ".join(_finding_count(manifest[f], f) for f in findings) + "</p>")
        for col in info.get("label_columns", []):
            if col in findings:
                continue
            counts = manifest[col].fillna("unknown").value_counts()
            out.append(f"<p>Label <code>{html.escape(col)}</code> ({len(counts)} values): " + ", ".join(
                f"{html.escape(str(k))} {v}" for k, v in counts.items()) + "</p>")
        rows = []
        for enc, path in encoders.get(ds, {}).items():
            arr = io.read_array(path, mmap=True)
            rows.append({"encoder": enc, "images": arr.X.shape[0], "dimension": arr.X.shape[1]})
        if rows:
            out.append(table_html(pd.DataFrame(rows).set_index("encoder")))
    return "\n".join(out)


def _finding_count(values: pd.Series, name: str) -> str:
    v = values.astype(object)
    pos, unknown = int((v.astype(str) == "1").sum()), int(v.isna().sum())
    return f"{html.escape(name)} {pos}" + (f" ({unknown} unknown)" if unknown else "")


def benchmark_summary(benchmarks: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Per stage (rule): jobs, total and longest wall time, CPU time and peak memory (max RSS),
    from the ``benchmark:`` files."""
    rows = []
    for rule, paths in benchmarks.items():
        tabs = [pd.read_csv(p, sep="\t") for p in paths]
        tabs = [t for t in tabs if len(t)]
        if not tabs:
            continue
        t = pd.concat(tabs)
        rss = pd.to_numeric(t["max_rss"], errors="coerce")
        rows.append({"stage": rule, "jobs": len(tabs), "total s": float(t["s"].sum()), "longest s": float(t["s"].max()),
                     "cpu s": float(pd.to_numeric(t["cpu_time"], errors="coerce").sum()),
                     "peak MB": float(rss.max()) if rss.notna().any() else np.nan})
    df = pd.DataFrame(rows, columns=["stage", "jobs", "total s", "longest s", "cpu s", "peak MB"])
    return df.set_index("stage")


def run_summary(benchmarks: Mapping[str, Sequence[str]], config: Mapping) -> str:
    """Time and peak memory of every stage, then the config that produced the run."""
    bench = benchmark_summary(benchmarks)
    total = bench["total s"].sum() if len(bench) else 0.0
    out = [f"<p>{int(bench['jobs'].sum()) if len(bench) else 0} jobs in {len(bench)} stages, "
           f"{total:.0f} s of wall time summed over jobs (parallel jobs overlap).</p>"]
    if len(bench):
        slow = bench.sort_values("total s", ascending=False)
        best = np.zeros(slow.shape, bool)
        for j, c in enumerate(slow.columns):
            if c in ("total s", "peak MB"):
                best[:, j] = np.isclose(slow[c].to_numpy(float), np.nanmax(slow[c].to_numpy(float)))
        out.append(table_html(slow, best=best))
        out.append("<p class='note'>Marked: the stage that took longest and the one that needed the most memory.</p>")
    out.append("<details><summary>the config of this run</summary><pre>"
               + html.escape(yaml.safe_dump(plain(config), sort_keys=False)) + "</pre></details>")
    return "\n".join(out)


def plain(obj):
    """A config as plain dicts and lists (for YAML)."""
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


# ---- figures -------------------------------------------------------------------------


def inline_image(path: str | os.PathLike, *, max_width: int = 1400, quality: int = 80) -> str:
    """A figure as an inline JPEG (``max_width`` px wide at most): a fraction of the PNG."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        if im.width > max_width:
            im = im.resize((max_width, round(im.height * max_width / im.width)), Image.Resampling.LANCZOS)
        buf = _bytes_io.BytesIO()
        im.save(buf, "JPEG", quality=quality, optimize=True, progressive=True)
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<img src="data:image/jpeg;base64,{data}" alt="{html.escape(Path(path).name)}">'


def _link(path, base: Path, text: str) -> str:
    rel = os.path.relpath(Path(path).resolve(), base.resolve())
    return f"<a href='{html.escape(Path(rel).as_posix())}'>{html.escape(text)}</a>"


# ---- the page ------------------------------------------------------------------------


def write_report(
    path: str | os.PathLike,
    *,
    inputs: Sequence[str],
    summary: Mapping,
    datasets: Sequence[Mapping],
    captions: Mapping[str, str],
    config: Mapping,
    inline: Sequence[str] = (),
    budget: int = 4_500_000,
) -> None:
    """Write the report page from files named by the caller.

    ``summary``: {data, run} table fragments. ``datasets``: one entry per dataset with
    ``name``, ``tables`` (kind -> fragment or table path), ``figures`` (kind -> path) and
    ``sections``, one per encoder x feature set: ``encoder``, ``features``, ``figures``
    (kind -> path), ``per_method`` (kind -> {method: path}), ``tables`` (kind -> fragment),
    ``explorer`` (folder). Every path must be in ``inputs`` (the job's input). Per-method
    figures of the ``inline`` methods are inlined, the others linked. Once the inlined
    images reach ``budget`` bytes, later figures are linked instead (the page stays small
    whatever the config).
    """
    known = {os.path.normpath(str(p)) for p in inputs}

    def _checked(p):
        if os.path.normpath(str(p)) not in known:
            raise ValueError(f"write_report: {p} is not an input of the report")
        return p

    base = Path(path).parent
    plot = config.get("plot", {})
    used = [0]

    def embed(p, text: str) -> str:
        """``p`` inline while the budget lasts, else a link."""
        if used[0] >= budget:
            return f"<p>{_link(p, base, text)} (linked: the page's inline budget is spent)</p>"
        tag = inline_image(p)
        used[0] += len(tag)
        return tag

    def cap(kind: str, **wildcards) -> str:
        params = {"map_name": plot.get("map", ""), "color_by": plot.get("color_by", "")}
        return render_caption(captions[kind], wildcards=wildcards, params=params, config=config)

    def figure(kind, p, title, **wc) -> str:
        return f"<h4>{html.escape(title)}</h4>{cap(kind, **wc)}{embed(_checked(p), title)}"

    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>medembed report</title>"
           f"<style>{CSS}</style></head><body>", "<h1>medembed report</h1>"]
    out.append("<nav>" + "".join(f"<a href='#ds-{html.escape(d['name'])}'>{html.escape(d['name'])}</a>"
                                 for d in datasets) + "<a href='#run'>Run</a></nav>")
    out.append("<h2 id='data'>Data</h2>" + cap("data") + read_fragment(_checked(summary["data"])))
    for d in datasets:
        ds = d["name"]
        out.append(f"<h2 id='ds-{html.escape(ds)}'>Dataset <code>{html.escape(ds)}</code></h2>")
        first = next((s for s in d["sections"] if s.get("issues") or "issues_summary" in s["tables"]), None)
        if first is not None:
            out.append(look_first(first, ds, base=base, checked=_checked, cap=cap, figure=embed))
        if "encoders" in d.get("tables", {}):
            out.append("<h3>Embeddings: which encoder fits these images?</h3>" + cap("encoders", dataset=ds))
            out.append(encoders_table(io.read_table(_checked(d["tables"]["encoders"]))))
        if "encoders" in d.get("figures", {}):
            out.append(embed(_checked(d["figures"]["encoders"]), "encoder comparison"))
        for enc, p in d.get("zero_shot", {}).items():
            out.append(f"<h3>Zero-shot labels from text prompts ({html.escape(enc)})</h3>"
                       + cap("zero_shot", dataset=ds, encoder=enc))
            out.append(table_html(io.read_table(_checked(p)), index=False))
        for s in d["sections"]:
            wc = {"dataset": ds, "encoder": s["encoder"], "features": s["features"]}
            fig, tab, per = s["figures"], s["tables"], s["per_method"]
            out.append(f"<h3>{html.escape(ds)} · {html.escape(s['encoder'])} · {html.escape(s['features'])} features</h3>")
            if s.get("explorer"):
                out.append("<p>Interactive: " + _link(Path(_checked(s["explorer"])) / "index.html", base,
                                                      "open the explorer") + " (from disk, no server).</p>")
            out.append("<h4>Metrics</h4>")
            if "metrics" in tab:
                out.append(cap("metrics", **wc) + read_fragment(_checked(tab["metrics"])))
            if "metrics" in fig:
                out.append(figure("metrics_heatmap", fig["metrics"], "Metrics heatmap", **wc))
            for kind, title in (("reductions", "Maps: every map by the clustering and every label"),
                                ("clusters", "Clusters on the map")):
                if kind in fig:
                    out.append(figure(kind, fig[kind], title, **wc))
            if per.get("cards"):  # every clustering with cards is shown: the config lists them
                out.append(_per_method("cards", "Clusters, named", per["cards"], list(per["cards"]), base, _checked,
                                       cap, wc, embed))
            if "cards" in tab:
                out.append(cards_table(io.read_table(_checked(tab["cards"])), method=plot.get("color_by", "")))
            for kind, title in (("contingency", "Clusters x labels"), ("samples", "Sample images per cluster"),
                                ("findings", "Findings per cluster (multi-label)")):
                if per.get(kind):
                    out.append(_per_method(kind, title, per[kind], inline, base, _checked, cap, wc, embed))
            if "findings" in tab:
                out.append(findings_table(io.read_table(_checked(tab["findings"])),
                                          method=plot.get("color_by", "")))
            for kind, title in (("outliers", "Outliers: each detector on the map"),
                                ("outlier_gallery", "Outliers: the consensus top images")):
                if kind in fig:
                    out.append(figure(kind, fig[kind], title, **wc))
            if "outliers" in tab:
                out.append("<h4>Outliers: the consensus table</h4>" + cap("outliers_top", **wc)
                           + read_fragment(_checked(tab["outliers"])))
            if "duplicates" in fig:
                out.append(figure("duplicates", fig["duplicates"], "Near-duplicates", **wc))
            if "duplicates" in tab:
                out.append(read_fragment(_checked(tab["duplicates"])))
            if "finch" in fig:
                out.append(figure("finch", fig["finch"], "Hierarchy: FINCH partitions", **wc))
            if per.get("trees"):
                out.append(_per_method("tree", "Hierarchy: hyperbolic trees", per["trees"], list(per["trees"])[:1],
                                       base, _checked, cap, wc, embed))
    out.append("<h2 id='run'>Run</h2>" + cap("run") + read_fragment(_checked(summary["run"])))
    out.append("</body></html>")
    io.write_text(path, "\n".join(out))


def issues_summary_table(summary: pd.DataFrame) -> str:
    """The issue counts (``tl.issue_summary``): images per type and their share, ``any`` last."""
    t = summary.copy()
    t["share"] = [f"{100 * v:.1f}%" if np.isfinite(v) else "" for v in t["share"].astype(float)]
    t["issue"] = t["issue"].str.replace("_", " ")
    return table_html(t.rename(columns={"rows": "rows in issues.tsv"}), index=False)


def look_first(section: Mapping, dataset: str, *, base: Path, checked, cap, figure) -> str:
    """"Look at these first": the issue counts of a dataset's first section, a gallery per
    issue type that has any, and a link to the full ``issues.tsv``."""
    wc = {"dataset": dataset, "encoder": section["encoder"], "features": section["features"]}
    tab, galleries = section["tables"], section.get("issues", {})
    out = [f"<h3>Look at these first ({html.escape(section['encoder'])}, "
           f"{html.escape(section['features'])} features)</h3>", cap("issues", **wc)]
    present = None
    if "issues_summary" in tab:
        summary = io.read_table(checked(tab["issues_summary"]))
        out.append(issues_summary_table(summary))
        present = set(summary.loc[summary["images"] > 0, "issue"])
    if "issues" in tab:
        out.append("<p>Every issue, with its evidence: "
                   + _link(checked(tab["issues"]), base, "issues.tsv") + "</p>")
    for kind, p in galleries.items():
        if present is None or kind in present:
            out.append(figure(checked(p), kind.replace("_", " ")))
    return "".join(out)


def cards_table(cards: pd.DataFrame, *, method: str = "", max_rows: int = 30) -> str:
    """The cluster cards of one clustering (a ``tl.cluster_cards`` table) as one table:
    name and its source, size, share, stability, over-represented values, metadata, medoid."""
    head = f"<p><b>{html.escape(method)}</b>: " if method else "<p>"
    if cards.empty:
        return head + "no clusters.</p>"
    shown = cards.head(max_rows)
    df = pd.DataFrame({
        "cluster": ["noise" if c == -1 else str(c) for c in shown["cluster"]],
        "name": shown["name"].astype(str).to_numpy(), "from": shown["name_source"].astype(str).to_numpy(),
        "n_images": shown["size"].to_numpy(), "share": [f"{100 * v:.0f} %" for v in shown["share"]],
        "stability": shown["stability"].to_numpy(dtype=float),
        "over-represented": shown["enriched"].fillna("").astype(str).to_numpy(),
        "metadata": shown["metadata"].fillna("").astype(str).to_numpy(),
        "medoid": shown["medoid_id"].astype(str).to_numpy(),
    })
    more = f" (the {max_rows} largest shown)" if len(cards) > max_rows else ""
    return head + f"{len(cards)} cards{more}.</p>" + table_html(df, index=False)


def findings_table(table: pd.DataFrame, *, method: str = "", q_max: float = 0.05, max_rows: int = 30) -> str:
    """The over-represented findings of one clustering (a ``tl.finding_enrichment`` table):
    the cells with ``q < q_max``, most significant first, at most ``max_rows``."""
    sig = table[table["q"] < q_max].sort_values(["q", "fold_change"], ascending=[True, False], kind="stable")
    head = f"<p><b>{html.escape(method)}</b>: " if method else "<p>"
    if sig.empty:
        return head + f"no cluster over-represents a finding at BH q &lt; {q_max:g}.</p>"
    shown = sig.head(max_rows)
    df = pd.DataFrame({
        "cluster": ["noise" if c == -1 else str(c) for c in shown["cluster"]],
        "finding": shown["finding"].astype(str).to_numpy(),
        "n_count": shown["count"].to_numpy(), "n_cluster": shown["n_cluster"].to_numpy(),
        "prevalence": shown["prevalence"].to_numpy(), "in dataset": shown["dataset_prevalence"].to_numpy(),
        "fold change": shown["fold_change"].to_numpy(), "q": [f"{q:.2g}" for q in shown["q"]],
    }).rename(columns={"n_count": "n_positive"})
    more = f" (the {max_rows} most significant shown)" if len(sig) > max_rows else ""
    return (head + f"{len(sig)} cluster x finding cells over-represented at BH q &lt; {q_max:g}{more}.</p>"
            + table_html(df, index=False))


def _not_applicable(value: pd.DataFrame, present: np.ndarray) -> pd.DataFrame:
    """``value`` with "n/a" where a probe row exists but has no value (e.g. a finding with
    one class only), blank where the encoder has no such row at all."""
    arr = value.to_numpy(dtype=object, copy=True)
    arr[present & value.isna().to_numpy()] = "n/a"
    return pd.DataFrame(arr, index=value.index, columns=value.columns)


def encoders_table(comparison: pd.DataFrame) -> str:
    """The encoder comparison (tidy: encoder, features, label, metric, value, low, high,
    top, best) as one row per encoder and feature set, a column per (label) metric. A value
    with a bootstrap interval reads "0.962 [0.948, 0.975]"; the ``best`` cells (the top
    value, or one not distinguishable from it) are marked.

    The per-finding kNN-probe AUROCs (metric ``knn_auroc``) of a multi-label dataset form a
    second table, one column per finding; the first keeps their mean (``knn_auroc_macro``).
    """
    note = ("<p class='note'>Marked: the best value of a column, or one not distinguishable from it "
            "(the 95 % paired bootstrap interval over images of its difference to the best contains 0; "
            "kNN and linear probes). [low, high]: 95 % bootstrap interval over images.</p>")
    per_finding = comparison["metric"] == "knn_auroc"
    if per_finding.any():
        findings = comparison[per_finding].assign(metric="")
        return (note + _encoders_wide(comparison[~per_finding])
                + "<p class='note'>kNN-probe AUROC per finding (leave-one-out on the shared graph; "
                "n/a: only one class known):</p>" + _encoders_wide(findings))
    return note + _encoders_wide(comparison)


def _with_interval(v, low, high):
    if pd.isna(v) or pd.isna(low) or pd.isna(high):
        return v
    return f"{_fmt(float(v))} [{_fmt(float(low))}, {_fmt(float(high))}]"


def _encoders_wide(comparison: pd.DataFrame) -> str:
    df = comparison.assign(label=comparison["label"].fillna("").astype(str))
    df = df.assign(row=df["encoder"] + " · " + df["features"],
                   col=(df["label"] + " " + df["metric"]).str.strip())
    for c in ("low", "high"):
        if c not in df:
            df[c] = np.nan
    rows, cols = list(dict.fromkeys(df["row"])), list(dict.fromkeys(df["col"]))
    value = pd.DataFrame(np.nan, index=pd.Index(rows, name="encoder · features"), columns=cols, dtype=object)
    best = np.zeros(value.shape, bool)
    present = np.zeros(value.shape, bool)
    for r in df.itertuples(index=False):
        i, j = rows.index(r.row), cols.index(r.col)
        value.iloc[i, j] = _with_interval(r.value, r.low, r.high)
        present[i, j] = True
        best[i, j] = bool(r.best) if "best" in df and pd.notna(r.best) else False
    if len(rows) < 2:
        best[:] = False  # nothing to compare with
    return table_html(_not_applicable(value, present), best=best)


def _per_method(kind, title, files: Mapping[str, str], inline, base, checked, cap, wc, embed) -> str:
    """Figures of one kind per method: the ``inline`` ones shown, every one linked."""
    out = [f"<h4>{html.escape(title)}</h4>", cap(kind, method=", ".join(files), **wc)]
    for method, p in files.items():
        if method in inline:
            out.append(f"<p><b>{html.escape(method)}</b></p>{embed(checked(p), method)}")
    out.append("<ul class='links'>" + "".join(f"<li>{_link(checked(p), base, method)}</li>" for method, p in files.items())
               + "</ul>")
    return "\n".join(out)

"""A self-contained HTML page summarising a workflow run, for a person to read."""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path

import pandas as pd

from . import io

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #345}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:13px;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f3f5f8}td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #eee}
.note{color:#555;font-size:14px}.warn{color:#a40}
"""

_FIGURES = [
    ("clusters.png", "Clusterings on the 2-D map",
     "Each panel is one clustering method; grey points are noise. Clusters that stay together across methods are robust structure."),
    ("reductions.png", "2-D maps compared",
     "Columns are reduction methods; rows colour the same points by a clustering and by each known label. A good map separates the known labels."),
    ("outliers.png", "Outlier detection",
     "Red crosses are images flagged by each detector. Images flagged by several detectors deserve a look (top table below)."),
]


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(path.name)}">'


def _metrics_html(metrics: pd.DataFrame) -> str:
    metrics = metrics.assign(label=metrics["label"].fillna(""))
    kind = metrics["kind"] if "kind" in metrics else pd.Series("cluster", index=metrics.index)
    parts = []
    red = metrics[kind == "reduce"]
    if len(red):
        parts.append("<h4>2-D maps: neighbourhoods kept</h4>")
        parts.append(red.pivot_table(index="method", columns="metric", values="value").to_html(float_format=lambda v: f"{v:.3f}"))
    metrics = metrics[kind == "cluster"]
    counts = metrics[metrics["label"] == ""].pivot_table(index="method", columns="metric", values="value")
    parts += ["<h4>Clusterings</h4>", counts.to_html(float_format=lambda v: f"{v:.3g}")]
    ext = metrics[metrics["label"] != ""]
    for label, sub in ext.groupby("label"):
        tab = sub.pivot_table(index="method", columns="metric", values="value")
        parts.append(f"<h4>agreement with <code>{html.escape(str(label))}</code></h4>")
        parts.append(tab.to_html(float_format=lambda v: f"{v:.3f}"))
    return "\n".join(parts)


def _outlier_html(base: Path, manifest: pd.DataFrame) -> str:
    top = base / "outliers_top.tsv"
    if not top.exists():
        return "<p class='note'>No outlier detectors configured.</p>"
    table = io.read_table(top)
    # The consensus columns a reader needs, then the image's own manifest columns.
    shown = ["rank", "id", "score", "n_flagged"] + [
        c for c in manifest.columns if c not in {"id", "sha256", "width", "height"}
    ]
    return table[[c for c in shown if c in table]].to_html(index=False, float_format=lambda v: f"{v:.3f}")


def _duplicates_html(base: Path) -> str:
    f = base / "duplicates" / "summary.json"
    if not f.exists():
        return ""
    s = io.read_json(f)
    text = (
        f"{s['n_pairs']} near-duplicate pairs (cosine &ge; {s['threshold']}) in {s['n_sets']} sets, "
        f"{s['n_redundant']} redundant images."
    )
    if s.get("n_cross_split_sets") is not None:
        cls = "warn" if s["n_cross_split_sets"] else "note"
        text += f" <span class='{cls}'>{s['n_cross_split_sets']} sets cross the split (possible train/test leakage).</span>"
    return f"<h4>Near-duplicates</h4><p>{text}</p>"


def write_report(
    path: str | os.PathLike,
    *,
    datasets,
    encoders,
    features,
    methods: dict,
    results_dir: str | os.PathLike = "results",
) -> None:
    root = Path(results_dir)
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>medembed report</title><style>{_CSS}</style></head><body>"]
    out.append("<h1>medembed report</h1>")
    out.append(
        f"<p class='note'>Encoder(s) <b>{html.escape(', '.join(encoders))}</b>. Reductions: {', '.join(methods['reduce'])}. "
        f"Clusterings: {', '.join(methods['cluster'])}. Outliers: {', '.join(methods['outliers']) or 'none'}.</p>"
    )
    for ds in datasets:
        manifest_path = root / ds / "manifest.parquet"
        manifest = io.read_table(manifest_path)
        mparams = io.read_table_params(manifest_path)
        skipped = io.read_table(root / ds / "skipped.tsv")
        out.append(f"<h2>Dataset <code>{html.escape(ds)}</code></h2>")
        out.append(
            f"<p>{len(manifest)} images read from <code>{html.escape(str(mparams.get('path', '')))}</code> "
            f"(reader {html.escape(str(mparams.get('reader', '')))})."
        )
        if len(skipped):
            out.append(f" <span class='warn'>{len(skipped)} unreadable file(s) skipped:</span></p>")
            out.append(skipped.to_html(index=False))
        else:
            out.append(" No file was skipped.</p>")
        for col in mparams.get("label_columns", []):
            counts = manifest[col].fillna("unknown").value_counts()
            out.append(f"<p>Label <code>{html.escape(col)}</code>: " + ", ".join(
                f"{html.escape(str(k))} {v}" for k, v in counts.items()) + "</p>")
        comparison = root / ds / "encoders.tsv"
        if comparison.exists():
            out.append("<h3>Which embedding fits these images?</h3>")
            out.append(
                "<p class='note'>One row per encoder and feature set; * marks the best value of each "
                "column (k-means@k and kNN accuracy against the known labels, silhouette of the labels, "
                "trustworthiness of the map, embedding throughput).</p>"
            )
            out.append(io.read_table(comparison).to_html(index=False, float_format=lambda v: f"{v:.3f}"))
            fig = root / ds / "encoders.png"
            if fig.exists():
                out.append(_img(fig))
        for encoder in encoders:
            zs = root / ds / encoder / "zero_shot_accuracy.tsv"
            if zs.exists():
                out.append("<h3>Zero-shot labels from text prompts</h3>")
                out.append(io.read_table(zs).to_html(index=False, float_format=lambda v: f"{v:.3f}"))
            for feat in features[ds][encoder]:
                base = root / ds / encoder / feat
                out.append(f"<h3>{html.escape(ds)} · {html.escape(encoder)} · {html.escape(feat)} features</h3>")
                metrics_file = base / "metrics.tsv"
                if metrics_file.exists():
                    out.append(_metrics_html(io.read_table(metrics_file)))
                for fname, title, note in _FIGURES:
                    f = base / "figures" / fname
                    if f.exists():
                        out.append(f"<h4>{title}</h4><p class='note'>{note}</p>{_img(f)}")
                out.append("<h4>Most outlying images (consensus of all detectors)</h4>")
                out.append(_outlier_html(base, manifest))
                out.append(_duplicates_html(base))
                for f in sorted((base / "figures" / "tree").glob("*.png")):
                    out.append(f"<h4>Hierarchy: {html.escape(f.stem)}</h4>{_img(f)}")
                for f in sorted((base / "figures" / "samples").glob("*.png")):
                    out.append(f"<h4>Sample images per cluster: {html.escape(f.stem)}</h4>{_img(f)}")
    out.append("</body></html>")
    io.write_text(path, "\n".join(out))

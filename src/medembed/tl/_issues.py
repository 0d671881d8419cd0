"""What to look at first: one table of suspect images, one row per (image, issue).

Each ``*_issues`` function turns one analysis result into rows of the same shape
(:data:`COLUMNS`); :func:`issue_table` joins them, ranks each type by score and adds the
paths; :func:`issue_summary` counts them. Issue types, in the order the report shows them:

- ``label_error``: a label (or finding) the embedding disagrees with (``tl.label_issues``,
  confident learning on out-of-fold probabilities and the kNN vote);
- ``image_quality``: blank, dark, bright, low-contrast, blurry, extreme-aspect or tiny
  images (``pp.quality_issues``, robust thresholds within the dataset);
- ``unreadable``: images the reader skipped (``skipped.tsv``);
- ``outlier``: the detectors' consensus (:func:`outlier_issues`);
- ``near_duplicate`` and ``split_leak``: near-copies, and near-copies across splits
  (:func:`duplicate_issues`);
- ``confounded_cluster``: a metadata column (scanner, site, ...) explains a clustering
  better than every label does (:func:`confounded_clusters`).

``score`` is in [0, 1], higher = more suspect; ``rank`` 1 is the most suspect of its type;
``evidence`` is one line a person can check; ``other_id`` names the other image of a
near-duplicate or leak.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

ISSUE_TYPES = ("label_error", "image_quality", "unreadable", "outlier", "near_duplicate", "split_leak",
               "confounded_cluster")
COLUMNS = ["id", "path", "issue", "detail", "score", "rank", "evidence", "other_id"]

#: Manifest columns that are never metadata a clustering could be confounded by.
NOT_METADATA = frozenset({"id", "path", "sha256", "width", "height", "size", "mtime", "bytes", "frame"})


def _rows(ids, issue: str, detail, score, evidence, other_id=None) -> pd.DataFrame:
    n = len(ids)

    def col(v, default=""):
        return np.full(n, default if v is None else v, dtype=object) if np.isscalar(v) or v is None \
            else np.asarray(v, dtype=object)

    return pd.DataFrame({
        "id": np.asarray(ids).astype(str), "issue": issue, "detail": col(detail),
        "score": np.clip(np.asarray(score, dtype=float), 0.0, 1.0) if n else np.zeros(0),
        "evidence": col(evidence), "other_id": col(other_id),
    })


def empty_issues() -> pd.DataFrame:
    """An issue table with no rows (the columns of :data:`COLUMNS`)."""
    return pd.DataFrame({c: pd.Series(dtype=float if c == "score" else int if c == "rank" else object)
                         for c in COLUMNS})


def outlier_issues(consensus: pd.DataFrame, detections: Mapping[str, pd.DataFrame], *,
                   top_n: int = 0) -> pd.DataFrame:
    """The consensus outliers: every image a majority of detectors flagged, and the
    ``top_n`` highest consensus scores. ``detail``: the detectors that flagged it.

    ``consensus``: ``tl.consensus``'s table (id, score, rank, is_outlier, n_flagged);
    ``detections``: detector -> its table (id, is_outlier), the detectors it combined.
    """
    if consensus is None or consensus.empty:
        return _rows([], "outlier", None, [], None)
    c = consensus.assign(id=consensus["id"].astype(str)).set_index("id")
    flagged_by = pd.Series([[] for _ in range(len(c))], index=c.index, dtype=object)
    used = [m for m in detections if m in c.columns]  # the detectors the consensus weighed
    for name in used:
        t = detections[name]
        if "is_outlier" not in t:
            continue
        hit = t.loc[t["is_outlier"].astype(bool), "id"].astype(str)
        for i in hit[hit.isin(c.index)]:
            flagged_by[i].append(name)
    keep = c["is_outlier"].astype(bool) if "is_outlier" in c else pd.Series(False, index=c.index)
    if top_n:
        keep |= c["rank"] <= top_n
    c, flagged_by = c[keep], flagged_by[keep]
    n_used = max(len(used), 1)
    evidence = [
        f"consensus score {s:.2f} (rank {int(r)} of {len(consensus)}); flagged by "
        + (", ".join(f) if f else "no detector alone") + f" ({len(f)} of {n_used} detectors)"
        for s, r, f in zip(c["score"], c["rank"], flagged_by)
    ]
    return _rows(c.index, "outlier", [", ".join(f) for f in flagged_by], c["score"], evidence)


def duplicate_issues(pairs: pd.DataFrame, split: Mapping | pd.Series | None = None) -> pd.DataFrame:
    """Near-duplicates and split leaks from ``tl.near_duplicates``' pairs (id_i, id_j,
    similarity): each image with its most similar partner (``other_id``), and, where the
    two sit in different splits, a ``split_leak`` row as well. Score: the cosine similarity."""
    if pairs is None or pairs.empty:
        return _rows([], "near_duplicate", None, [], None)
    p = pairs[["id_i", "id_j", "similarity"]].astype({"id_i": str, "id_j": str})
    both = pd.concat([p.rename(columns={"id_i": "id", "id_j": "other"}),
                      p.rename(columns={"id_j": "id", "id_i": "other"})], ignore_index=True)
    best = both.sort_values("similarity", ascending=False, kind="stable").drop_duplicates("id")
    split = None if split is None else pd.Series(split).astype(object)

    def where(i):
        return "" if split is None else f" ({split.get(i)})"

    ev = [f"cosine similarity {s:.3f} to {o}{where(o)}" for o, s in zip(best["other"], best["similarity"])]
    out = [_rows(best["id"], "near_duplicate", None, best["similarity"], ev, best["other"])]
    if split is not None:
        both = both.assign(a=both["id"].map(split), b=both["other"].map(split))
        leak = both[both["a"].notna() & both["b"].notna() & (both["a"] != both["b"])]
        leak = leak.sort_values("similarity", ascending=False, kind="stable").drop_duplicates("id")
        ev = [f"{a} image; cosine similarity {s:.3f} to {o} in {b}"
              for a, b, o, s in zip(leak["a"], leak["b"], leak["other"], leak["similarity"])]
        out.append(_rows(leak["id"], "split_leak", [f"{a} / {b}" for a, b in zip(leak["a"], leak["b"])],
                         leak["similarity"], ev, leak["other"]))
    return pd.concat(out, ignore_index=True)


def unreadable_issues(skipped: pd.DataFrame) -> pd.DataFrame:
    """The images the reader skipped (``skipped.tsv``: id, path, reason), score 1."""
    if skipped is None or skipped.empty:
        return _rows([], "unreadable", None, [], None)
    ids = skipped["id"].astype(str) if "id" in skipped else skipped["path"].astype(str)
    reason = skipped["reason"].astype(str) if "reason" in skipped else pd.Series("", index=skipped.index)
    out = _rows(ids, "unreadable", None, np.ones(len(skipped)), reason)
    out["path"] = skipped["path"].astype(str).to_numpy() if "path" in skipped else ""
    return out


def metadata_columns(manifest: pd.DataFrame, exclude: Sequence[str] = (), *, max_levels: int = 50) -> list[str]:
    """Manifest columns that could confound a clustering: text columns with 2 to
    ``max_levels`` values, fewer than one value per two images, not labels or file facts."""
    out = []
    n = len(manifest)
    for c in manifest.columns:
        if c in NOT_METADATA or c in exclude:
            continue
        v = manifest[c].dropna()
        if v.empty or pd.api.types.is_float_dtype(v):
            continue
        k = v.astype(str).nunique()
        if 2 <= k <= max_levels and k <= n / 2:
            out.append(c)
    return out


def _nmi(a: pd.Series, b: pd.Series) -> float:
    from sklearn.metrics import normalized_mutual_info_score

    ok = a.notna().to_numpy() & b.notna().to_numpy()
    if ok.sum() < 2:
        return float("nan")
    return float(normalized_mutual_info_score(a[ok].astype(str), b[ok].astype(str)))


def confounded_clusters(clusterings: Mapping[str, pd.DataFrame], manifest: pd.DataFrame, *,
                        label_columns: Sequence[str], metadata: Sequence[str] | None = None,
                        min_nmi: float = 0.1, min_share: float = 0.8) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clusterings a metadata column explains better than every label column (NMI).

    Returns ``(issues, nmi)``: ``nmi`` has one row per clustering and column (clustering,
    column, kind ``label``/``metadata``, nmi); ``issues`` one row per cluster of a
    confounded clustering whose images share one metadata value (at least ``min_share``),
    with the cluster's first image as its ``id``. A metadata column counts when its NMI is
    at least ``min_nmi`` and above the best label's (noise, ``-1``, left out).
    """
    man = manifest.assign(id=manifest["id"].astype(str)).set_index("id")
    metadata = list(metadata_columns(man.reset_index(), exclude=label_columns) if metadata is None else metadata)
    labels = [c for c in label_columns if c in man]
    rows, nmi_rows = [], []
    for name, table in clusterings.items():
        if "cluster" not in table:
            continue
        t = table.assign(id=table["id"].astype(str))
        t = t[t["cluster"] != -1]
        if t.empty or t["cluster"].nunique() < 2:
            continue
        cl = t.set_index("id")["cluster"]
        cl = cl[cl.index.isin(man.index)]
        scores = {}
        for col, kind in [*((c, "label") for c in labels), *((c, "metadata") for c in metadata)]:
            v = _nmi(cl, man[col].reindex(cl.index))
            scores[col] = (kind, v)
            nmi_rows.append({"clustering": name, "column": col, "kind": kind, "nmi": v})
        best_label = max((v for k, v in scores.values() if k == "label" and np.isfinite(v)), default=0.0)
        label_name = next((c for c, (k, v) in scores.items() if k == "label" and v == best_label), None)
        for col, (kind, v) in scores.items():
            if kind != "metadata" or not np.isfinite(v) or v < min_nmi or v <= best_label:
                continue
            values = man[col].reindex(cl.index)
            for k, members in cl.groupby(cl, sort=True):
                vals = values[members.index].dropna().astype(str)
                if vals.empty:
                    continue
                top = vals.value_counts()
                share = top.iloc[0] / len(members)
                if share < min_share:
                    continue
                than = f"NMI with the best label {label_name} = {best_label:.2f}" if label_name \
                    else "no label column"
                rows.append({
                    "id": str(members.index[0]), "detail": f"{name}: {col}",
                    "score": (v - best_label) * share,
                    "evidence": f"{name} cluster {k} ({len(members)} images): {100 * share:.0f}% {col} = "
                                f"{top.index[0]}; NMI({name}, {col}) = {v:.2f} > {than}",
                })
    issues = pd.DataFrame(rows, columns=["id", "detail", "score", "evidence"])
    out = _rows(issues["id"], "confounded_cluster", issues["detail"].to_numpy(), issues["score"],
                issues["evidence"].to_numpy())
    return out, pd.DataFrame(nmi_rows, columns=["clustering", "column", "kind", "nmi"])


def issue_table(parts: Sequence[pd.DataFrame], paths: Mapping | pd.Series | None = None) -> pd.DataFrame:
    """Every part's rows in one table (:data:`COLUMNS`): types in :data:`ISSUE_TYPES`
    order, each ranked by score (1 = most suspect; ties keep their order), with paths."""
    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return empty_issues()
    t = pd.concat([p.reindex(columns=[c for c in COLUMNS if c != "rank"]) for p in parts], ignore_index=True)
    unknown = set(t["issue"]) - set(ISSUE_TYPES)
    if unknown:
        raise ValueError(f"issue_table: unknown issue type(s) {sorted(unknown)}; allowed: {list(ISSUE_TYPES)}")
    t["id"] = t["id"].astype(str)
    for c in ("detail", "evidence", "other_id", "path"):
        t[c] = t[c].fillna("").astype(str)
    if paths is not None:
        known = pd.Series(paths).astype(str)
        t["path"] = t["path"].where(t["path"] != "", t["id"].map(known).fillna(""))
    t["score"] = t["score"].astype(float).clip(0.0, 1.0)
    order = {k: i for i, k in enumerate(ISSUE_TYPES)}
    t = t.assign(_o=t["issue"].map(order)).sort_values(["_o", "score"], ascending=[True, False], kind="stable")
    t["rank"] = t.groupby("issue").cumcount() + 1
    return t.drop(columns="_o")[COLUMNS].reset_index(drop=True)


def issue_summary(issues: pd.DataFrame, n_images: int) -> pd.DataFrame:
    """Per type (and ``any``): rows, distinct images and their share of ``n_images``."""
    rows = []
    for kind in (*ISSUE_TYPES, "any"):
        t = issues if kind == "any" else issues[issues["issue"] == kind]
        n = int(t["id"].nunique())
        rows.append({"issue": kind, "rows": int(len(t)), "images": n,
                     "share": n / n_images if n_images else float("nan")})
    return pd.DataFrame(rows)


def find_issues(
    manifest: pd.DataFrame,
    *,
    features=None,
    knn=None,
    skipped: pd.DataFrame | None = None,
    clusterings: Mapping[str, pd.DataFrame] | None = None,
    consensus: pd.DataFrame | None = None,
    detections: Mapping[str, pd.DataFrame] | None = None,
    pairs: pd.DataFrame | None = None,
    split: Mapping | pd.Series | None = None,
    quality: pd.DataFrame | None = None,
    label_columns: Sequence[str] = (),
    findings: Sequence[str] = (),
    outlier_top_n: int = 0,
    log=None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Every issue of one dataset x encoder x feature set: ``(issues, summary, nmi)``.

    ``features`` (``io.Array``, ids) and ``knn`` (``pp.Neighbors``) give the label errors of
    each ``label_columns`` column and each finding; ``quality`` is the thumbnail pass's
    measures (``pp.quality_table``); the rest are the workflow's tables as written. A part
    whose input is missing, or that is not applicable (one class, too few images), is left
    out and logged, and never stops the others.
    """
    import logging

    from ._base import NotApplicable

    log = log or logging.getLogger("medembed")
    man = manifest.assign(id=manifest["id"].astype(str))
    parts: list[pd.DataFrame] = []

    def part(what: str, fn):
        try:
            rows = fn()
        except NotApplicable as e:
            log.info("issues: %s not applicable: %s", what, e)
            return
        log.info("issues: %s: %d row(s)", what, len(rows))
        parts.append(rows)

    if features is not None and knn is not None:
        from ._label_errors import finding_issues, label_issues

        ids = np.asarray(features.ids).astype(str)
        by_id = man.set_index("id")
        for col in label_columns:
            if col in by_id:
                labels = by_id[col].reindex(ids)
                part(f"label errors of {col}", lambda labels=labels, col=col: _flagged(
                    label_issues(features.X, knn, labels, ids=ids, column=col)))
        present = [c for c in findings if c in by_id]
        if present:
            table = by_id[present].reindex(ids)
            part("label errors of the findings", lambda: _flagged(finding_issues(features.X, knn, table, ids=ids)))
    if quality is not None:
        from ..pp import quality_issues

        part("image quality", lambda: quality_issues(quality))
    if skipped is not None:
        part("unreadable", lambda: unreadable_issues(skipped))
    if consensus is not None:
        part("outliers", lambda: outlier_issues(consensus, detections or {}, top_n=outlier_top_n))
    if pairs is not None:
        part("near-duplicates", lambda: duplicate_issues(pairs, split))
    nmi = pd.DataFrame(columns=["clustering", "column", "kind", "nmi"])
    if clusterings:
        rows, nmi = confounded_clusters(clusterings, man, label_columns=[*label_columns, *findings])
        part("confounded clusters", lambda: rows)
    issues = issue_table(parts, man.set_index("id")["path"] if "path" in man else None)
    n_images = len(man) + (0 if skipped is None else len(skipped))
    return issues, issue_summary(issues, n_images), nmi


def _flagged(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows confident learning flags (the others are ranked, but not issues)."""
    return rows[rows["flagged"].astype(bool)] if "flagged" in rows else rows

"""Cluster cards: each cluster of a clustering described on one line, with a name.

:func:`cluster_cards` tables, per cluster of one clustering (noise, ``-1``, as a card of its
own): its size and share, the clustering's stability, the label values it
over-represents, what its metadata holds, its most central images and a name with the
source of that name (:data:`CARD_COLUMNS`).

- Enrichment (:func:`cluster_enrichment`): the multi-label findings test
  (:func:`medembed.tl.finding_enrichment`, a one-sided hypergeometric = Fisher exact test
  per cell) applied to every label column: a single-label column one-hot per value, plus
  each finding of a multi-label dataset; Benjamini-Hochberg q over every cell of the
  clustering's table (:data:`ENRICHMENT_COLUMNS`).
- Central images: the *medoid* is the true medoid under cosine distance, which on
  L2-normalised features is exactly the image nearest the centroid: sum_j (1 - x_i . x_j)
  = n - x_i . sum_j x_j is smallest for the x_i with the largest cosine to the mean.
  ``nearest_ids`` are the five next images by cosine to the centroid.
- Names (:func:`name_clusters`), first that applies:

  * ``labels``: each single-label column whose top value in the cluster covers at least
    ``min_share`` of the cluster's images and is over-represented there (q < ``q_max``),
    or is the whole dataset's only value, joined with " · ", with the share of the
    cluster's images that carry all of them: "CT · Abdomen (92 %)". At least one value
    must be over-represented: a value every image has does not tell a cluster apart.
  * ``zero_shot``: with phrase vectors (an encoder with a text tower), the three phrases
    closest to the cluster's centroid (the L2-normalised mean of the L2-normalised image
    embeddings) and the margin of the first over the second (:func:`zero_shot_names`):
    "chest X-ray / frontal view / lung (margin 0.04)".
  * ``none``: "cluster k". Noise is named "noise" (source ``noise``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._enrichment import benjamini_hochberg, finding_enrichment, finding_matrix

NOISE = -1

#: Columns of :func:`cluster_enrichment`, in order.
ENRICHMENT_COLUMNS = ("cluster", "column", "value", "n_in", "share_in", "share_all", "fold", "p", "q")

#: Columns of :func:`cluster_cards`, in order.
CARD_COLUMNS = (
    "cluster", "name", "name_source", "size", "share", "stability", "enriched", "metadata",
    "medoid_id", "nearest_ids", "phrases", "margin",
)


def _label_onehot(manifest: pd.DataFrame, label_columns: Sequence[str], finding_columns: Sequence[str],
                  finding_source: str | None):
    """The label matrix the enrichment tests: ``(table, [(column, value), ...])``, one
    float column (1 / 0, NaN unknown) per label value and per finding."""
    cols, keys = {}, []
    for c in label_columns:
        v = manifest[c]
        known = v.notna().to_numpy()
        s = v.astype(object).where(v.notna(), None)
        for value in sorted({str(x) for x in s.dropna()}):
            y = (s.astype(str) == value).to_numpy(dtype=float)
            y[~known] = np.nan
            cols[str(len(keys))] = y
            keys.append((str(c), value))
    if len(finding_columns):
        F = finding_matrix(manifest, list(finding_columns))
        for f in finding_columns:
            cols[str(len(keys))] = F[f].to_numpy()
            keys.append((str(finding_source or "findings"), str(f)))
    return pd.DataFrame(cols, index=range(len(manifest))), keys


def cluster_enrichment(clusters, manifest: pd.DataFrame, label_columns: Sequence[str] = (),
                       finding_columns: Sequence[str] = (), *, finding_source: str | None = None) -> pd.DataFrame:
    """Every label value's share in every cluster against the dataset, with its
    over-representation test (:data:`ENRICHMENT_COLUMNS`).

    ``clusters``: one label per row of ``manifest`` (noise ``-1`` is a group of its own).
    ``label_columns``: single-label columns, tested one-hot per value (images whose value is
    missing are left out of that column's counts); ``finding_columns``: the binary columns
    of a multi-label dataset (``"1"``/``"0"``, see :func:`~medembed.tl.finding_matrix`),
    reported as column ``finding_source`` and value the finding.

    Per cell: ``n_in`` images of the cluster carry the value, ``share_in`` = n_in / the
    cluster's images with a known value, ``share_all`` the same over the dataset, ``fold`` =
    share_in / share_all, ``p`` = P(X >= n_in) for X ~ Hypergeom (the one-sided Fisher exact
    test, :func:`~medembed.tl.finding_enrichment`), ``q`` Benjamini-Hochberg over every cell.
    """
    labels = np.asarray(clusters)
    if len(labels) != len(manifest):
        raise ValueError(f"cluster_enrichment: {len(labels)} cluster labels but {len(manifest)} manifest rows")
    onehot, keys = _label_onehot(manifest.reset_index(drop=True), label_columns, finding_columns, finding_source)
    if not keys:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("column", "value") else float)
                             for c in ENRICHMENT_COLUMNS})
    t = finding_enrichment(labels, onehot)
    key = t["finding"].astype(int)
    out = pd.DataFrame({
        "cluster": t["cluster"].to_numpy(),
        "column": [keys[k][0] for k in key], "value": [keys[k][1] for k in key],
        "n_in": t["count"].to_numpy(), "share_in": t["prevalence"].to_numpy(),
        "share_all": t["dataset_prevalence"].to_numpy(), "fold": t["fold_change"].to_numpy(),
        "p": t["p"].to_numpy(),
    })
    out["q"] = benjamini_hochberg(out["p"].to_numpy())
    return out.sort_values(["cluster", "column", "value"], kind="stable").reset_index(drop=True)


def _unit(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    norm = np.linalg.norm(X, axis=-1, keepdims=True)
    return X / np.where(norm > 0, norm, 1.0)


def centroid(X) -> np.ndarray:
    """The L2-normalised mean of the L2-normalised rows of ``X`` (a cluster's direction)."""
    return _unit(_unit(X).mean(axis=0))


def central_images(X, ids, *, n: int = 5) -> tuple[str, list[str]]:
    """The medoid of ``X`` under cosine distance (the row nearest :func:`centroid`) and the
    ``n`` next nearest rows' ids."""
    sims = _unit(X) @ centroid(X)
    order = np.argsort(-sims, kind="stable")
    ids = np.asarray(ids).astype(str)
    return str(ids[order[0]]), [str(i) for i in ids[order[1:n + 1]]]


def zero_shot_names(X, clusters, phrases: Sequence[str], P, *, top: int = 3) -> pd.DataFrame:
    """Each cluster's centroid scored against phrase vectors: ``cluster``, ``phrases`` (the
    ``top`` closest, best first), ``cosines`` (theirs), ``margin`` (cosine of the first
    minus the second; NaN with a single phrase) and ``name`` ("a / b / c (margin 0.04)").

    ``X``: the image embeddings (rows aligned with ``clusters``), ``phrases``: the phrase
    texts, ``P``: their text embeddings (one row each, the image embeddings' dimension).
    Both sides are L2-normalised here; the centroid is :func:`centroid`.
    """
    X, P = np.asarray(X), np.asarray(P)
    labels = np.asarray(clusters)
    if P.ndim != 2 or len(P) != len(phrases) or not len(phrases):
        raise ValueError(f"zero_shot_names: {len(phrases)} phrases but phrase vectors of shape {P.shape}")
    if X.shape[1] != P.shape[1]:
        raise ValueError(f"zero_shot_names: image embeddings have {X.shape[1]} dimensions, phrases {P.shape[1]}")
    Pu = _unit(P)
    rows = []
    for c in np.unique(labels):
        sims = Pu @ centroid(X[labels == c])
        order = np.argsort(-sims, kind="stable")[:top]
        best = [str(phrases[i]) for i in order]
        margin = float(sims[order[0]] - sims[order[1]]) if len(order) > 1 else np.nan
        name = " / ".join(best) + (f" (margin {margin:.2f})" if np.isfinite(margin) else "")
        rows.append({"cluster": c.item(), "phrases": best, "cosines": [float(sims[i]) for i in order],
                     "margin": margin, "name": name})
    return pd.DataFrame(rows, columns=["cluster", "phrases", "cosines", "margin", "name"])


def label_name(members: pd.DataFrame, enrichment: pd.DataFrame, cluster, label_columns: Sequence[str], *,
               min_share: float = 0.6, q_max: float = 0.05) -> tuple[str, float] | None:
    """The name of ``cluster`` from its labels (see the module's docstring) and the share of
    its images that carry every value of it, or None when the labels do not explain it.

    ``members``: the cluster's rows of the manifest; ``enrichment``: the clustering's
    :func:`cluster_enrichment` table.
    """
    if members.empty:
        return None
    parts, enriched = [], False
    e = enrichment[enrichment["cluster"] == cluster].set_index(["column", "value"])
    for c in label_columns:
        v = members[c].dropna().astype(str)
        if v.empty:
            continue
        value = v.value_counts().index[0]  # ties: value_counts keeps the first seen
        share = float((v == value).sum()) / len(members)
        if share < min_share or (c, value) not in e.index:
            continue
        cell = e.loc[(c, value)]
        only = bool(np.isclose(cell["share_all"], 1.0))
        significant = bool(cell["q"] < q_max)
        if significant or only:
            parts.append((c, value))
            enriched |= significant
    if not parts or not enriched:
        return None
    match = np.ones(len(members), bool)
    for c, value in parts:
        match &= (members[c].astype(object).where(members[c].notna(), None).astype(str) == value).to_numpy()
    share = float(match.mean())
    return f"{' · '.join(v for _, v in parts)} ({100 * share:.0f} %)", share


def name_clusters(clusters, manifest: pd.DataFrame, enrichment: pd.DataFrame, label_columns: Sequence[str] = (),
                  *, X=None, phrases: Sequence[str] | None = None, P=None, min_share: float = 0.6,
                  q_max: float = 0.05) -> pd.DataFrame:
    """A name per cluster: ``cluster``, ``name``, ``name_source`` (``labels``,
    ``zero_shot``, ``none`` or ``noise``), ``name_share`` (labels: the share of the cluster
    carrying every named value), ``phrases`` (the zero-shot top phrases with their cosines,
    "" without phrase vectors) and ``margin``. See the module's docstring for the rules;
    ``X``, ``phrases`` and ``P`` as in :func:`zero_shot_names` (all three, or none).
    """
    labels = np.asarray(clusters)
    man = manifest.reset_index(drop=True)
    zs = None
    if phrases is not None and P is not None and len(phrases) and X is not None:
        zs = zero_shot_names(X, labels, phrases, P).set_index("cluster")
    rows = []
    for c in np.unique(labels):
        c = c.item()
        row = {"cluster": c, "name": f"cluster {c}", "name_source": "none", "name_share": np.nan,
               "phrases": "", "margin": np.nan}
        if zs is not None:
            z = zs.loc[c]
            row["phrases"] = "; ".join(f"{p} {s:.2f}" for p, s in zip(z["phrases"], z["cosines"]))
            row["margin"] = z["margin"]
        if c == NOISE:
            row.update(name="noise", name_source="noise")
        elif (named := label_name(man[labels == c], enrichment, c, label_columns, min_share=min_share,
                                  q_max=q_max)) is not None:
            row.update(name=named[0], name_source="labels", name_share=named[1])
        elif zs is not None:
            row.update(name=zs.loc[c, "name"], name_source="zero_shot")
        rows.append(row)
    return pd.DataFrame(rows, columns=["cluster", "name", "name_source", "name_share", "phrases", "margin"])


def top_enriched(enrichment: pd.DataFrame, cluster, *, n: int = 3, q_max: float = 0.05) -> str:
    """The ``n`` most significant over-represented values of ``cluster`` as one line:
    "modality=CT ×2.9 (q 3e-12); location=Abdomen ×3.1 (q 2e-05)"; "" when none."""
    e = enrichment[(enrichment["cluster"] == cluster) & (enrichment["q"] < q_max) & (enrichment["fold"] > 1)]
    e = e.sort_values(["q", "fold"], ascending=[True, False], kind="stable").head(n)
    return "; ".join(f"{r.column}={r.value} ×{r.fold:.1f} (q {r.q:.1g})" for r in e.itertuples())


def metadata_composition(members: pd.DataFrame, columns: Sequence[str]) -> str:
    """The top value of each metadata column among ``members`` and its share (of the rows
    with a value): "split: train 70 %; site: A 100 %"; "" without columns."""
    out = []
    for c in columns:
        v = members[c].dropna().astype(str)
        if v.empty:
            continue
        counts = v.value_counts()
        out.append(f"{c}: {counts.index[0]} {100 * counts.iloc[0] / len(v):.0f} %")
    return "; ".join(out)


def clustering_stability(metrics: pd.DataFrame | None) -> float:
    """The mean pairwise ARI of a ``cluster_stability`` table (metric ``stability_ari``);
    NaN without a table or when stability was not applicable."""
    if metrics is None or metrics.empty or "metric" not in metrics:
        return float("nan")
    v = metrics.loc[metrics["metric"] == "stability_ari", "value"]
    return float(v.iloc[0]) if len(v) else float("nan")


def cluster_cards(clusters, X, manifest: pd.DataFrame, *, label_columns: Sequence[str] = (),
                  finding_columns: Sequence[str] = (), finding_source: str | None = None,
                  metadata: Sequence[str] = (), stability: float = float("nan"),
                  phrases: Sequence[str] | None = None, P=None, image=None, min_share: float = 0.6,
                  q_max: float = 0.05, n_nearest: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cards of one clustering and its enrichment table: ``(cards, enrichment)``.

    ``clusters``, ``X`` (the feature set's embeddings) and ``manifest`` (with an ``id``
    column or index) are row-aligned. ``metadata``: the columns whose composition a card
    lists (e.g. :func:`~medembed.tl.metadata_columns`); ``stability``: the clustering's
    (:func:`clustering_stability`), the same on every card; ``phrases``/``P``: phrase texts
    and vectors for zero-shot names (see :func:`zero_shot_names`), scored against ``image``
    (the encoder's image embedding, row-aligned: the text tower's space, whatever feature
    set ``X`` is; default ``X``) and used only when their dimensions agree. Cards (:data:`CARD_COLUMNS`): largest cluster first, noise
    last; ``nearest_ids`` comma-separated.
    """
    labels = np.asarray(clusters)
    X = np.asarray(X)
    man = manifest.reset_index() if "id" not in manifest.columns else manifest.reset_index(drop=True)
    if not (len(labels) == len(X) == len(man)):
        raise ValueError(f"cluster_cards: {len(labels)} labels, {len(X)} embeddings, {len(man)} manifest rows")
    if len(labels) == 0:
        return (pd.DataFrame(columns=list(CARD_COLUMNS)), cluster_enrichment(labels, man))
    label_columns = [c for c in label_columns if c in man]
    finding_columns = [c for c in finding_columns if c in man]
    enrichment = cluster_enrichment(labels, man, label_columns, finding_columns, finding_source=finding_source)
    image = X if image is None else np.asarray(image)
    if len(image) != len(X):
        raise ValueError(f"cluster_cards: {len(image)} image embeddings for {len(X)} rows")
    if P is not None and np.asarray(P).ndim == 2 and np.asarray(P).shape[1] != image.shape[1]:
        phrases, P = None, None  # another embedding space: no zero-shot names
    names = name_clusters(labels, man, enrichment, label_columns, X=image, phrases=phrases, P=P,
                          min_share=min_share, q_max=q_max).set_index("cluster")
    ids = man["id"].astype(str).to_numpy()
    rows = []
    for c, size in pd.Series(labels).value_counts(sort=False).items():
        c = c.item() if hasattr(c, "item") else c
        mask = labels == c
        medoid, nearest = central_images(X[mask], ids[mask], n=n_nearest)
        nm = names.loc[c]
        rows.append({
            "cluster": c, "name": nm["name"], "name_source": nm["name_source"], "size": int(size),
            "share": size / len(labels), "stability": float(stability),
            "enriched": top_enriched(enrichment, c, q_max=q_max),
            "metadata": metadata_composition(man[mask], [m for m in metadata if m in man]),
            "medoid_id": medoid, "nearest_ids": ",".join(nearest), "phrases": nm["phrases"], "margin": nm["margin"],
        })
    cards = pd.DataFrame(rows, columns=list(CARD_COLUMNS))
    order = cards.assign(_noise=cards["cluster"] == NOISE).sort_values(
        ["_noise", "size", "cluster"], ascending=[True, False, True], kind="stable").index
    return cards.loc[order].reset_index(drop=True), enrichment


def card_names(cards: pd.DataFrame) -> dict[int, str]:
    """{cluster: name} of a cards table (noise left out): the labels a map draws."""
    keep = cards[cards["cluster"] != NOISE]
    return {int(c): str(n) for c, n in zip(keep["cluster"], keep["name"])}

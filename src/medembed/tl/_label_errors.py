"""Label errors: which images carry a label their embedding contradicts.

Two views of what an image's label should be, both leave-one-out in spirit:

- :func:`out_of_fold_probabilities`: a standardised logistic regression on the embeddings,
  cross-validated (stratified K-fold), so each image is judged by a model that never saw it;
- :func:`knn_label_probabilities`: the share of the image's neighbours on the shared kNN
  graph (:class:`medembed.pp.Neighbors`, self excluded) with each label.

:func:`find_label_issues` is confident learning (Northcutt, Jiang & Chuang, "Confident
learning: estimating uncertainty in dataset labels", JAIR 70, 2021), written from the paper:

1. per-class thresholds ``t_j``: the mean of ``p_j`` over the images labelled ``j``;
2. the confident joint ``C[i, j]``: images labelled ``i`` whose ``p_j >= t_j``, each counted
   once, under the class above threshold with the largest ``p`` (images above no threshold
   are not counted);
3. calibration: each row of ``C`` rescaled to the number of images labelled ``i``, then
   ``Q = C / C.sum()`` estimates the joint of given and true label;
4. pruning by noise rate (the paper's Cl:PBNR, cleanlab's default): for every ``i != j``,
   of the images labelled ``i`` the ``round(n Q[i, j])`` with the largest margin
   ``p_j - p_i`` are issues. Classes keep at least one image, and an image whose most
   probable class is its own label is never an issue.

The ranking (``score``) is self-confidence: ``1 - p(given label)`` (the paper's and
cleanlab's default order). :func:`label_issues` and :func:`finding_issues` give the tidy
per-image tables the workflow writes (issue type ``label_error``), with ``evidence`` a
person can check against the image.

Measured by ``benchmarks/label_errors.py`` (planted flips in real features).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from ._base import NotApplicable

log = logging.getLogger(__name__)

#: Columns of :func:`label_issues` and :func:`finding_issues`, in order.
ISSUE_COLUMNS = ("id", "issue", "detail", "given", "suggested", "score", "rank", "flagged", "evidence")
ISSUE = "label_error"
FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_joint")
#: Defaults chosen by ``benchmarks/label_errors.py`` (planted flips; C = 0.01 beat 0.1 and 1
#: for the logistic view alone on MedNIST, SLAKE and digits, weights 0.3-0.7 were within noise).
#: Weight of the kNN vote in the combined probabilities:
KNN_WEIGHT = 0.5
#: Inverse L2 penalty of the logistic regression on standardised features:
LOGISTIC_C = 0.01
#: Neighbours that vote (the first columns of the shared graph, or all it has when fewer):
N_NEIGHBORS = 10
PRESENT, ABSENT = "present", "absent"


# ---------------------------------------------------------------------------------- inputs
def _is_unknown(v) -> bool:
    if v is None:
        return True
    if isinstance(v, str):
        return v.strip() == ""
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _label_array(labels) -> np.ndarray:
    """Labels as an object array, unknown (None, NaN, "") as None."""
    arr = np.asarray(pd.Series(labels, dtype=object).to_numpy(), dtype=object)
    return np.array([None if _is_unknown(v) else v for v in arr], dtype=object)


def _codes(labels, classes) -> np.ndarray:
    """Index of each label in ``classes``; -1 for unknown labels and labels not in ``classes``."""
    lookup = {c: k for k, c in enumerate(classes)}
    return np.array([-1 if v is None else lookup.get(v, -1) for v in _label_array(labels)], dtype=np.int64)


def _check_probabilities(P, n: int, k: int, who: str) -> np.ndarray:
    P = np.asarray(P, dtype=np.float64)
    if P.shape != (n, k):
        raise ValueError(f"{who}: P has shape {P.shape}; expected ({n}, {k}) (labels x classes)")
    if not np.isfinite(P).all() or (P < 0).any():
        raise ValueError(f"{who}: P must hold finite probabilities >= 0")
    return P


def _check_int(name: str, value, minimum: int, who: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{who}: {name}={value!r} is invalid; allowed: int >= {minimum}")
    return int(value)


# ------------------------------------------------------------------------- probabilities
def _fit_predict(X_train, y_train, X_test, k: int, C: float, max_iter: int) -> np.ndarray:
    """Class probabilities (columns 0..k-1) of a standardised logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out = np.zeros((len(X_test), k))
    present = np.unique(y_train)
    if len(present) == 1:  # one class in this training fold: it is all the model could say
        out[:, present[0]] = 1.0
        return out
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(did not converge|max_iter).*")
        model.fit(X_train, y_train)
    out[:, model.classes_] = model.predict_proba(X_test)
    return out


def out_of_fold_probabilities(X, labels, *, n_splits: int = 5, C: float = LOGISTIC_C, max_iter: int = 2000,
                              random_state: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cross-validated class probabilities of every image: ``(P, classes)``.

    A logistic regression (features standardised, inverse L2 penalty ``C``; strong by default,
    so the model does not learn the wrong labels of its training folds) is fitted on the images
    with a known label in ``n_splits`` stratified folds; each known image gets the
    probabilities of the model fitted without its fold. Images with an unknown label
    (None, NaN, "") get the mean prediction of the fold models (fitted on known images
    only). ``classes`` are the known labels' values, sorted; ``P`` is ``n x len(classes)``.

    ``n_splits`` is lowered to the size of the largest class when that is smaller (a class
    with fewer images than folds is spread over as many folds as it has images; an image
    that is its class's only member is judged by models that never saw the class).
    Raises :class:`~medembed.tl.NotApplicable` with fewer than two known classes.
    """
    from sklearn.model_selection import StratifiedKFold

    who = "out_of_fold_probabilities"
    _check_int("n_splits", n_splits, 2, who)
    _check_int("max_iter", max_iter, 1, who)
    if isinstance(C, bool) or not isinstance(C, (int, float, np.number)) or not C > 0:
        raise ValueError(f"{who}: C={C!r} is invalid; allowed: float > 0")
    from .._validation import check_features

    X = check_features(X, min_samples=1)
    lab = _label_array(labels)
    if len(lab) != len(X):
        raise ValueError(f"{who}: {len(lab)} labels but X has {len(X)} rows")
    known = np.array([v is not None for v in lab])
    classes = _classes(lab[known])
    if len(classes) < 2:
        only = f"only {classes[0]!r}" if len(classes) else "none"
        raise NotApplicable(who, int(known.sum()), f"needs at least 2 known classes; the labels have {only}")
    y = _codes(lab, classes)
    counts = np.bincount(y[known], minlength=len(classes))
    if counts.max() < 2:
        raise NotApplicable(who, int(known.sum()), "has no class with 2 images: there is nothing to learn from")
    splits = min(n_splits, int(counts.max()))
    if splits < n_splits:
        log.warning("%s: n_splits=%d but the largest class has %d images; using %d folds",
                    who, n_splits, counts.max(), splits)
    k, P = len(classes), np.zeros((len(X), len(classes)))
    idx_known, idx_unknown = np.flatnonzero(known), np.flatnonzero(~known)
    folds = StratifiedKFold(n_splits=splits, shuffle=True, random_state=random_state)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        split_list = list(folds.split(idx_known, y[idx_known]))
    for train, test in split_list:
        tr, te = idx_known[train], idx_known[test]
        rows = np.concatenate([te, idx_unknown])
        pred = _fit_predict(X[tr], y[tr], X[rows], k, float(C), max_iter)
        P[te] = pred[: len(te)]
        P[idx_unknown] += pred[len(te):] / len(split_list)
    return P, classes


def _classes(values) -> np.ndarray:
    """The distinct known labels, sorted (by their text when the types do not compare)."""
    distinct = set(values)
    try:
        return np.array(sorted(distinct), dtype=object)
    except TypeError:
        return np.array(sorted(distinct, key=str), dtype=object)


def _neighbour_counts(knn, codes: np.ndarray, k: int, n_neighbors: int | None) -> np.ndarray:
    idx = np.asarray(knn.indices)
    if n_neighbors is not None:
        idx = idx[:, : _check_int("n_neighbors", n_neighbors, 1, "knn_label_probabilities")]
    votes = codes[idx]  # -1: a neighbour without a (known) label
    counts = np.zeros((len(codes), k))
    for j in range(k):
        counts[:, j] = (votes == j).sum(1)
    return counts


def knn_label_probabilities(knn, labels, classes, *, n_neighbors: int | None = None) -> np.ndarray:
    """The neighbour vote: ``P[i, j]`` = share of image i's neighbours labelled ``classes[j]``.

    ``knn``: the shared graph (:class:`medembed.pp.Neighbors`, self excluded), rows aligned
    with ``labels``; its first ``n_neighbors`` columns vote (all without). Neighbours whose
    label is unknown or not in ``classes`` do not vote; an image without a single voter
    gets the class frequencies of the known labels.
    """
    classes = list(classes)
    codes = _codes(labels, classes)
    if knn.indices.shape[0] != len(codes):
        raise ValueError(f"knn_label_probabilities: the kNN graph has {knn.indices.shape[0]} rows "
                         f"but there are {len(codes)} labels")
    counts = _neighbour_counts(knn, codes, len(classes), n_neighbors)
    voters = counts.sum(1, keepdims=True)
    known = codes[codes >= 0]
    prior = np.bincount(known, minlength=len(classes)) / max(len(known), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(voters > 0, counts / np.where(voters > 0, voters, 1.0), prior[None, :])


# ------------------------------------------------------------------- confident learning
def confident_joint(labels, P, classes, *, calibrate: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(C, thresholds)``: the confident joint of given (rows) and true (columns) label.

    ``thresholds[j]`` is the mean of ``P[:, j]`` over the images labelled ``classes[j]``
    (NaN for a class nobody carries). An image labelled ``i`` counts in ``C[i, j]`` for the
    class ``j`` with the largest ``P[x, j]`` among those with ``P[x, j] >= thresholds[j]``;
    an image above no threshold, or with an unknown label, is not counted. With
    ``calibrate`` each row is rescaled to sum to the number of images labelled ``i``
    (floats; without, integer counts).
    """
    classes = list(classes)
    codes = _codes(labels, classes)
    k = len(classes)
    P = _check_probabilities(P, len(codes), k, "confident_joint")
    known = codes >= 0
    thresholds = np.full(k, np.nan)
    for j in range(k):
        if (codes == j).any():
            thresholds[j] = P[codes == j, j].mean()
    C = np.zeros((k, k))
    above = P >= np.where(np.isfinite(thresholds), thresholds, np.inf)[None, :] - 1e-12
    masked = np.where(above, P, -np.inf)
    best = masked.argmax(1)
    counted = known & above.any(1)
    np.add.at(C, (codes[counted], best[counted]), 1)
    if calibrate:
        sizes = np.bincount(codes[known], minlength=k).astype(float)
        rows = C.sum(1, keepdims=True)
        C = np.where(rows > 0, C / np.where(rows > 0, rows, 1.0), 0.0) * sizes[:, None]
    return C, thresholds


def self_confidence(labels, P, classes) -> np.ndarray:
    """``P[i, given label]`` for every image (NaN where the label is unknown): rank ascending."""
    codes = _codes(labels, list(classes))
    P = _check_probabilities(P, len(codes), len(classes), "self_confidence")
    out = np.full(len(codes), np.nan)
    ok = codes >= 0
    out[ok] = P[np.flatnonzero(ok), codes[ok]]
    return out


def find_label_issues(labels, P, classes, *, filter_by: str = "prune_by_noise_rate") -> np.ndarray:
    """Boolean mask, True = the label of this image is likely wrong (confident learning).

    ``labels``: the given labels (values of ``classes``; unknown or other values are never
    issues); ``P``: out-of-sample probabilities, ``n x len(classes)``, columns in the order
    of ``classes``. ``filter_by``:

    - ``"prune_by_noise_rate"`` (default): for each ``i != j`` the ``round(n Q[i, j])`` images
      labelled ``i`` with the largest margin ``P[:, j] - P[:, i]``;
    - ``"prune_by_class"``: for each ``i`` the ``round(n sum_{j != i} Q[i, j])`` images labelled
      ``i`` with the lowest self-confidence;
    - ``"both"``: images both of those select;
    - ``"confident_joint"``: the off-diagonal cells of the (uncalibrated) confident joint.

    ``Q`` is the calibrated confident joint divided by its sum and ``n`` the number of known
    labels. Each class keeps at least one image, and an image whose most probable class is
    its given label is never an issue.
    """
    if filter_by not in FILTERS:
        raise ValueError(f"find_label_issues: filter_by={filter_by!r} is invalid; allowed: {', '.join(FILTERS)}")
    classes = list(classes)
    codes = _codes(labels, classes)
    k = len(classes)
    P = _check_probabilities(P, len(codes), k, "find_label_issues")
    known = codes >= 0
    n = int(known.sum())
    issues = np.zeros(len(codes), dtype=bool)
    if n == 0 or k < 2:
        return issues
    if filter_by == "confident_joint":
        thresholds = confident_joint(labels, P, classes, calibrate=False)[1]
        above = P >= np.where(np.isfinite(thresholds), thresholds, np.inf)[None, :] - 1e-12
        best = np.where(above, P, -np.inf).argmax(1)
        issues = known & above.any(1) & (best != codes)
    else:
        C = confident_joint(labels, P, classes, calibrate=True)[0]
        Q = C / C.sum() if C.sum() > 0 else C
        prune = np.rint(n * Q).astype(int)
        np.fill_diagonal(prune, 0)
        sizes = np.bincount(codes[known], minlength=k)
        by_rate = np.zeros(len(codes), dtype=bool)
        by_class = np.zeros(len(codes), dtype=bool)
        for i in range(k):
            members = np.flatnonzero(codes == i)
            room = max(len(members) - 1, 0)  # keep at least one image of every class
            wanted = prune[i].copy()
            if wanted.sum() > room:  # shrink each cell in proportion, largest first
                wanted = _shrink(wanted, room)
            if filter_by in ("prune_by_noise_rate", "both"):
                for j in np.flatnonzero(wanted):
                    margin = P[members, j] - P[members, i]
                    by_rate[members[np.argsort(-margin, kind="stable")[: wanted[j]]]] = True
            if filter_by in ("prune_by_class", "both"):
                m = min(int(wanted.sum()), room, sizes[i])
                by_class[members[np.argsort(P[members, i], kind="stable")[:m]]] = True
        issues = {"prune_by_noise_rate": by_rate, "prune_by_class": by_class, "both": by_rate & by_class}[filter_by]
    issues &= known & (P.argmax(1) != codes)
    return issues


def _shrink(counts: np.ndarray, total: int) -> np.ndarray:
    """Integer counts in proportion to ``counts`` summing to ``total`` (largest remainders)."""
    exact = counts * (total / counts.sum())
    out = np.floor(exact).astype(int)
    for j in np.argsort(-(exact - out), kind="stable")[: total - out.sum()]:
        out[j] += 1
    return out


# ---------------------------------------------------------------------- the issue tables
def _probabilities(X, knn, lab, *, knn_weight, n_splits, C, n_neighbors, random_state, who):
    """``(P, classes, P_logistic, knn counts)`` for one label column (either view optional)."""
    if X is None and knn is None:
        raise ValueError(f"{who} needs X (embeddings) or knn (the shared kNN graph): compute pp.neighbors first")
    if not 0.0 <= knn_weight <= 1.0:
        raise ValueError(f"{who}: knn_weight={knn_weight!r} is invalid; allowed: float in [0, 1]")
    known = np.array([v is not None for v in lab])
    if X is not None:
        P_lr, classes = out_of_fold_probabilities(X, lab, n_splits=n_splits, C=C, random_state=random_state)
    else:
        classes = _classes(lab[known])
        if len(classes) < 2:
            only = f"only {classes[0]!r}" if len(classes) else "none"
            raise NotApplicable(who, int(known.sum()), f"needs at least 2 known classes; the labels have {only}")
        P_lr = None
    counts = None
    if knn is not None:
        n_neighbors = min(_check_int("n_neighbors", n_neighbors, 1, who), int(knn.indices.shape[1]))
        if knn.indices.shape[0] != len(lab):
            raise ValueError(f"{who}: the kNN graph has {knn.indices.shape[0]} rows but there are {len(lab)} labels")
        counts = _neighbour_counts(knn, _codes(lab, classes), len(classes), n_neighbors)
        P_knn = knn_label_probabilities(knn, lab, classes, n_neighbors=n_neighbors)
    if P_lr is None:
        P = P_knn
    elif counts is None:
        P = P_lr
    else:
        P = (1.0 - knn_weight) * P_lr + knn_weight * P_knn
    return P, classes, lab, P_lr, counts


def _runner_up(p: np.ndarray, g: int) -> int:
    """The most probable class other than ``g``."""
    q = p.copy()
    q[g] = -np.inf
    return int(q.argmax())


def _fmt(v) -> str:
    return f"{v:.2f}"


def _table(ids, detail, lab, P, classes, P_lr, counts, *, binary: str | None, filter_by: str) -> pd.DataFrame:
    codes = _codes(lab, classes)
    known = codes >= 0
    flagged = find_label_issues(lab, P, classes, filter_by=filter_by)
    sizes = np.bincount(codes[known], minlength=len(classes))
    score = 1.0 - self_confidence(lab, P, classes)
    sugg = P.argmax(1)
    rows = []
    for i in np.flatnonzero(known):
        g, s = codes[i], sugg[i]
        given, suggested = classes[g], classes[s]
        parts = []
        if binary is not None:
            pres = list(classes).index(PRESENT)
            parts.append(f"{binary} marked {given}")
            if P_lr is not None:
                parts.append(f"out-of-fold p(present) = {_fmt(P_lr[i, pres])}")
            if counts is not None:
                parts.append(f"{int(counts[i, pres])} of {int(counts[i].sum())} neighbours present")
        else:
            parts.append(f"labelled {given}")
            if sizes[g] < 2:
                parts.append(f"the only image labelled {given}")
            if P_lr is not None:
                ps = f"out-of-fold p({given}) = {_fmt(P_lr[i, g])}"
                other = s if s != g else _runner_up(P_lr[i], g)
                ps += f", p({classes[other]}) = {_fmt(P_lr[i, other])}"
                parts.append(ps)
            if counts is not None:
                parts.append(f"{int(counts[i, s])} of {int(counts[i].sum())} neighbours {suggested}")
        rows.append({"id": ids[i], "issue": ISSUE, "detail": detail, "given": given, "suggested": suggested,
                     "score": float(np.clip(score[i], 0.0, 1.0)), "flagged": bool(flagged[i]),
                     "evidence": "; ".join(parts)})
    out = pd.DataFrame(rows, columns=[c for c in ISSUE_COLUMNS if c != "rank"])
    out = out.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
    out.insert(ISSUE_COLUMNS.index("rank"), "rank", np.arange(1, len(out) + 1, dtype=np.int64))
    return out


def _ids(ids, n: int, who: str) -> np.ndarray:
    ids = np.arange(n).astype(str) if ids is None else np.asarray(ids, dtype=object)
    if len(ids) != n:
        raise ValueError(f"{who}: {len(ids)} ids but {n} labels")
    return ids


def label_issues(X, knn, labels, *, ids=None, column: str | None = None, knn_weight: float = KNN_WEIGHT,
                 n_neighbors: int = N_NEIGHBORS, n_splits: int = 5, C: float = LOGISTIC_C,
                 filter_by: str = "prune_by_noise_rate", random_state: int | None = 0) -> pd.DataFrame:
    """Label errors of one label column: one row per image with a known label.

    ``X``: the embeddings (or None: kNN vote only); ``knn``: the shared graph (or None:
    logistic regression only); ``labels``: one label per row (None/NaN/"" unknown: such
    images are not scored, but their neighbours' votes and the model still see them);
    ``ids``: one id per row (default the index of a Series ``labels``, else the row
    numbers); ``column``: the label column's name (default the Series' name). The
    probabilities are ``(1 - knn_weight) P_logistic + knn_weight P_knn``
    (:func:`out_of_fold_probabilities`; :func:`knn_label_probabilities` over the first
    ``n_neighbors`` neighbours of the graph, or all it has when fewer).

    Columns (:data:`ISSUE_COLUMNS`): ``id``; ``issue`` ``"label_error"``; ``detail`` the
    column name; ``given``; ``suggested`` (the most probable label); ``score`` =
    1 - p(given) in [0, 1], higher = more likely wrong; ``rank`` (1 = most suspect);
    ``flagged`` (confident learning, :func:`find_label_issues`); ``evidence``, e.g.
    ``"labelled MRI; out-of-fold p(MRI) = 0.03, p(CT) = 0.95; 9 of 10 neighbours CT"``.
    Rows are sorted by rank. :class:`~medembed.tl.NotApplicable` with fewer than two classes.
    """
    who = "label_issues"
    lab = _label_array(labels)
    name = column if column is not None else (getattr(labels, "name", None) or "label")
    if ids is None and isinstance(labels, pd.Series):
        ids = labels.index.to_numpy()
    ids = _ids(ids, len(lab), who)
    P, classes, lab, P_lr, counts = _probabilities(
        X, knn, lab, knn_weight=knn_weight, n_splits=n_splits, C=C, n_neighbors=n_neighbors,
        random_state=random_state, who=who)
    return _table(ids, str(name), lab, P, classes, P_lr, counts, binary=None, filter_by=filter_by)


def finding_issues(X, knn, findings: pd.DataFrame, *, ids=None, knn_weight: float = KNN_WEIGHT,
                   n_neighbors: int = N_NEIGHBORS, n_splits: int = 5, C: float = LOGISTIC_C,
                   filter_by: str = "prune_by_noise_rate", random_state: int | None = 0) -> pd.DataFrame:
    """Label errors of binary findings: each finding column of ``findings`` as its own label.

    ``findings``: one column per finding, rows aligned with ``X``/``knn``, values
    ``"1"``/``"0"`` (or 1/0, True/False), unknown as None/NaN/"" (see
    :func:`medembed.tl.finding_matrix`); ``ids`` default to its index. One row per (image, finding) with a known value:
    ``detail`` is the finding, ``given``/``suggested`` are ``"present"``/``"absent"``,
    ``rank`` counts within the finding, and ``evidence`` reads e.g.
    ``"Effusion marked absent; out-of-fold p(present) = 0.91; 8 of 10 neighbours present"``.
    A finding with fewer than two known values (all present, all absent) is skipped with
    a logged note. Rows are sorted by rank, then score.
    """
    from ._enrichment import finding_matrix

    who = "finding_issues"
    if not isinstance(findings, pd.DataFrame):
        raise TypeError(f"{who}: findings must be a DataFrame of finding columns")
    Y = finding_matrix(findings.reset_index(drop=True), list(findings.columns))
    ids = _ids(findings.index.to_numpy() if ids is None else ids, len(Y), who)
    tables = []
    for f in Y.columns:
        y = Y[f].to_numpy()
        lab = np.array([None if not np.isfinite(v) else (PRESENT if v == 1 else ABSENT) for v in y], dtype=object)
        try:
            P, classes, lab, P_lr, counts = _probabilities(
                X, knn, lab, knn_weight=knn_weight, n_splits=n_splits, C=C, n_neighbors=n_neighbors,
                random_state=random_state, who=f"{who} ({f})")
        except NotApplicable as exc:
            log.info("%s: finding %r skipped: %s", who, f, exc)
            continue
        tables.append(_table(ids, str(f), lab, P, classes, P_lr, counts, binary=str(f), filter_by=filter_by))
    if not tables:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ISSUE_COLUMNS})
    out = pd.concat(tables, ignore_index=True)
    return out.sort_values(["rank", "score"], ascending=[True, False], kind="stable").reset_index(drop=True)

"""Learned similarity for hyperbolic hierarchical clustering (Gigli, Marcotegui & Velasco-Forero,
"End-to-End Similarity Learning and Hierarchical Clustering for unfixed size datasets", GSI 2021).

The default is the paper's recipe. An MLP ``NN: R^d -> R^2`` with four hidden layers
(hidden 64, ``Linear -> BatchNorm -> LeakyReLU(0.2)`` blocks, linear output) is trained
semi-supervised on one or many point clouds with (eq. 2 of the paper)

* a triplet margin loss on the cosine similarity of its outputs over the labelled points,
  ``max(cos(a, n) - cos(a, p) + margin, 0)`` averaged over the active triplets, plus
* the HypHC loss of Chami et al. over the whole cloud (uniform triplets of all points,
  labelled or not), with similarities ``w = (1 + cos) / 2`` of the outputs and leaves =
  outputs normalised to one learnt radius in the Poincaré disk,

and the tree is decoded directly from those leaves (``embedding="mlp"``).

``margin="auto"`` (default) is the largest margin the classes can meet on the circle,
``min(1, 1 - cos(2 pi / k))`` for ``k`` labelled classes (:func:`feasible_margin`): the
paper's 1.0 for 2 and 4 classes, 0.23 for 9 (the paper: 0.2). A fixed margin of 1.0 with
6+ classes cannot be met, and the loss then merges pairs of classes onto one direction:
on a 12,000-image 6-class set this made ``hyphc_learned`` lose to k-means
(benchmarks/hyphc_learned_scale.py).

Variants of ours stay available: ``loss_on="labelled"`` (HypHC loss on the labelled
triplets only), ``spread > 0`` (adds ``spread`` x the mean similarity of labelled pairs,
which pushes classes apart), ``n_layers=2``, and ``embedding="hyphc"`` (a second HypHC
run on the learnt similarity ``w_ij = (1 + cos(NN(x_i), NN(x_j))) / 2`` instead of the
direct decode). benchmarks/hyphc_table1.py compares them with the paper's Table 1.

:func:`train_similarity_mlp` trains one MLP on many point clouds (the paper's protocol:
100 training clouds, early stopping on 20 validation clouds); :func:`decode_clouds` applies
it to new clouds.
"""

from __future__ import annotations

import copy
import math
import sys

import numpy as np

from ..._validation import Interval, Options
from .._base import NotApplicable
from ._hyperbolic import cut_linkage, dasgupta_cost, decode_tree, lca_depth_same_radius, unit_rows
from ._hyphc import HyperbolicHC, resolve_device, sample_triplets


def _torch():
    import torch

    return torch


def make_mlp(in_dim: int, hidden: int = 64, n_layers: int = 4, out_dim: int = 2, negative_slope: float = 0.2):
    """``n_layers`` blocks ``Linear -> BatchNorm1d -> LeakyReLU`` then a linear output layer."""
    nn = _torch().nn
    layers, d = [], in_dim
    for _ in range(n_layers):
        layers += [nn.Linear(d, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(negative_slope)]
        d = hidden
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


class SimilarityMLP:
    """A trained similarity network: ``embed(X)`` -> outputs, ``leaves(X)`` -> Poincaré leaves.

    ``mean_``/``scale_`` standardise the inputs (identity when not standardising),
    ``radius`` is the learnt leaf radius in the disk.
    """

    def __init__(self, net, mean, scale, radius: float, history=None):
        self.net = net
        self.mean_ = np.asarray(mean, dtype=np.float32)
        self.scale_ = np.asarray(scale, dtype=np.float32)
        self.radius = float(radius)
        self.history = history or []

    def embed(self, X) -> np.ndarray:
        torch = _torch()
        X = (np.asarray(X, dtype=np.float32) - self.mean_) / self.scale_
        dev = next(self.net.parameters()).device
        self.net.eval()
        with torch.no_grad():
            out = self.net(torch.as_tensor(X, device=dev))
        return out.double().cpu().numpy()

    def leaves(self, X) -> np.ndarray:
        """Outputs normalised onto the learnt radius: leaves in the Poincaré ball."""
        return unit_rows(self.embed(X), standardize=False) * self.radius


def _label_mask(y, label_fraction: float, rng: np.random.Generator, min_per_class: int = 2):
    """Boolean mask keeping ``round(label_fraction * n_c)`` known labels of each class ``c``."""
    y = np.asarray(y)
    known = np.zeros(len(y), dtype=bool)
    for c in np.unique(y[y >= 0]):
        idx = np.flatnonzero(y == c)
        k = int(round(label_fraction * len(idx)))
        k = min(len(idx), max(k, min(min_per_class, len(idx))))
        known[rng.choice(idx, size=k, replace=False)] = True
    return known


def _triplets_from_labels(y, rng: np.random.Generator, max_triplets: int):
    """(anchor, positive, negative) index triplets among labelled points (codes ``y``).

    All valid triplets when there are at most ``max_triplets`` of them, else that many drawn
    uniformly (anchor uniform, then positive and negative uniform given the anchor).
    """
    y = np.asarray(y)
    classes, counts = np.unique(y, return_counts=True)
    n = len(y)
    n_all = int(sum(c * (c - 1) * (n - c) for c in counts))
    if n_all == 0:
        return np.empty((0, 3), dtype=np.int64)
    if n_all <= max_triplets:
        out = []
        for c in classes:
            pos = np.flatnonzero(y == c)
            neg = np.flatnonzero(y != c)
            a, p = np.meshgrid(pos, pos, indexing="ij")
            keep = a != p
            a, p = a[keep], p[keep]
            aa = np.repeat(a, len(neg))
            pp = np.repeat(p, len(neg))
            nn_ = np.tile(neg, len(a))
            out.append(np.stack([aa, pp, nn_], axis=1))
        return np.concatenate(out).astype(np.int64)
    order = np.argsort(y, kind="stable")
    ys = y[order]
    starts = np.searchsorted(ys, classes)
    cls_of = np.searchsorted(classes, y)
    # anchors only from classes with >= 2 members
    eligible = np.flatnonzero(counts[cls_of] >= 2)
    a = rng.choice(eligible, size=max_triplets)
    ca = cls_of[a]
    # positive: another member of the anchor's class
    off = rng.integers(0, counts[ca] - 1)
    rank_a = np.empty(n, dtype=np.int64)
    rank_a[order] = np.arange(n) - starts[cls_of[order]]
    off = off + (off >= rank_a[a])
    p = order[starts[ca] + off]
    # negative: any point outside the anchor's class
    r = rng.integers(0, n - counts[ca])
    r = r + (r >= starts[ca]) * counts[ca]
    neg = order[r]
    return np.stack([a, p, neg], axis=1).astype(np.int64)


def _cloud_loss(net, rescale, x, lab_idx, trip, margin, temperature, *, loss_on="all", spread=0.0,
                hyp_triplets=None):
    """Triplet margin (cosine) loss + HypHC loss of one cloud (Gigli et al.'s eq. 2).

    ``trip`` indexes into ``lab_idx`` (the labelled points). The HypHC loss of Chami et al.
    (similarities ``w = (1 + cos) / 2`` of the outputs, leaves = outputs on the learnt
    radius ``rescale``) runs on ``hyp_triplets`` (indices into the whole cloud) when
    ``loss_on="all"`` (the paper: the whole cloud), or on the labelled triplets ``trip``
    when ``loss_on="labelled"``. ``spread > 0`` adds ``spread *`` the mean similarity of
    the labelled points (a variant of ours; not in the paper).
    """
    torch = _torch()
    f = torch.nn.functional.normalize(net(x), dim=-1)
    fl = f[lab_idx]
    a, p, n = fl[trip[:, 0]], fl[trip[:, 1]], fl[trip[:, 2]]
    c_ap, c_an, c_pn = (a * p).sum(-1), (a * n).sum(-1), (p * n).sum(-1)
    viol = torch.relu(c_an - c_ap + margin)
    active = (viol > 0).sum().clamp_min(1)
    l_trip = viol.sum() / active
    if loss_on == "all" and hyp_triplets is not None and len(hyp_triplets):
        i, j, k = f[hyp_triplets[:, 0]], f[hyp_triplets[:, 1]], f[hyp_triplets[:, 2]]
        cos = torch.stack([(i * j).sum(-1), (i * k).sum(-1), (j * k).sum(-1)], dim=-1)
    else:
        cos = torch.stack([c_ap, c_an, c_pn], dim=-1)
    cos = cos.clamp(-1.0, 1.0)
    w = 0.5 * (1.0 + cos)
    depth = lca_depth_same_radius(cos, rescale.clamp(1e-4, 1 - 1e-3))
    soft = torch.softmax(depth / temperature, dim=-1)
    l_hyp = (w.sum(-1) - (w * soft).sum(-1)).mean()
    if spread:
        l_hyp = l_hyp + spread * 0.5 * (1.0 + fl @ fl.T).mean()
    return l_trip + l_hyp


def feasible_margin(n_classes: int, out_dim: int = 2) -> float:
    """The largest triplet margin that ``n_classes`` directions in ``out_dim`` dimensions can meet.

    The loss asks ``cos(a, n) <= cos(a, p) - margin``: with every class collapsed onto one
    direction (``cos(a, p) = 1``), neighbouring classes must lie at ``cos <= 1 - margin``.
    On the circle (``out_dim=2``) ``k`` classes are at best ``2 pi / k`` apart, so
    ``margin <= 1 - cos(2 pi / k)``; in ``out_dim >= k - 1`` dimensions the regular simplex
    allows ``1 + 1 / (k - 1)``. Capped at 1. This gives the paper's margins: 1.0 for
    circles (k=2) and moons (k=4), 0.23 for 9 blobs (the paper: 0.2). A larger margin
    cannot be met, and the cheapest way to pay it is to merge pairs of classes: with
    margin 1.0 six classes collapse onto four directions.
    """
    k = max(int(n_classes), 2)
    if out_dim >= k - 1:
        return 1.0
    return float(min(1.0, 1.0 - math.cos(2.0 * math.pi / k)))


def _split_known(known, y, val_fraction: float, rng: np.random.Generator):
    """Hold ``val_fraction`` of each class's known labels out of training (>= 2 kept on each side)."""
    train, val = known.copy(), np.zeros_like(known)
    for c in np.unique(y[known]):
        idx = np.flatnonzero(known & (y == c))
        m = int(round(val_fraction * len(idx)))
        if m >= 2 and len(idx) - m >= 2:
            pick = rng.choice(idx, size=m, replace=False)
            train[pick], val[pick] = False, True
    return train, val


def train_similarity_mlp(
    clouds,
    labels,
    *,
    known=None,
    label_fraction: float = 0.3,
    val_clouds=None,
    val_labels=None,
    val_known=None,
    hidden: int = 64,
    n_layers: int = 4,
    out_dim: int = 2,
    negative_slope: float = 0.2,
    margin: float = 1.0,
    temperature: float = 0.1,
    epochs: int = 60,
    learning_rate: float = 1e-3,
    max_triplets: int = 20000,
    loss_on: str = "all",
    spread: float = 0.0,
    val_fraction: float = 0.0,
    standardize: bool = False,
    patience: int = 20,
    random_state=0,
    device: str = "auto",
    progress: bool = True,
):
    """Train one similarity MLP on many point clouds (Gigli et al.'s protocol).

    ``clouds``: list of ``(n_t, d)`` arrays; ``labels``: list of int arrays (``-1`` =
    unknown). ``known``: optional list of boolean masks of the labels the model may use;
    if None, ``label_fraction`` of each class's labels per cloud are drawn with
    ``random_state``. One optimisation step per cloud (batch norm over that cloud's points),
    ``epochs`` passes over the clouds in shuffled order, RAdam with learning rate halved
    on validation plateaus; the weights with the lowest validation loss (on the validation
    clouds' known labels; the training loss if none) are kept. Returns a
    :class:`SimilarityMLP`.

    The paper's recipe is the default: 4 hidden layers, the HypHC loss over the whole cloud
    (``loss_on="all"``: ``max_triplets`` uniform triplets of all its points per step), no
    ``spread`` term. ``loss_on="labelled"`` (HypHC loss on the labelled triplets only) and
    ``spread > 0`` are variants of ours, kept for comparison (benchmarks/hyphc_table1.py).

    Without validation clouds, ``val_fraction > 0`` holds that share of each class's known
    labels out of the triplets and keeps the weights with the lowest loss on them: the
    paper's early stopping on validation clouds, for one dataset. Without it a single
    small cloud is memorised: on mednist-mini (600 images, 180 labels) the held-out NMI of
    the decoded tree falls from 0.87 after 30 epochs to 0.45 after 300 while the labelled
    points stay perfectly separated.
    """
    torch = _torch()
    from tqdm.auto import tqdm

    if len(clouds) != len(labels) or len(clouds) == 0:
        raise ValueError(f"clouds ({len(clouds)}) and labels ({len(labels)}) must be non-empty and match")
    if loss_on not in ("all", "labelled"):
        raise ValueError(f"loss_on={loss_on!r} is invalid; allowed: 'all', 'labelled'")
    rng = np.random.default_rng(0 if random_state is None else int(random_state))
    torch.manual_seed(0 if random_state is None else int(random_state))
    dev = resolve_device(device)
    clouds = [np.asarray(c, dtype=np.float32) for c in clouds]
    labels = [np.asarray(y).astype(np.int64) for y in labels]
    if known is None:
        known = [_label_mask(y, label_fraction, rng) for y in labels]
    known = [np.asarray(k, dtype=bool) & (y >= 0) for k, y in zip(known, labels)]
    held = None
    if val_clouds is None and val_fraction > 0:
        split = [_split_known(k, y, val_fraction, rng) for k, y in zip(known, labels)]
        known, held = [a for a, _ in split], [b for _, b in split]
    d = clouds[0].shape[1]
    if standardize:
        allx = np.concatenate(clouds)
        mean, scale = allx.mean(0), allx.std(0)
        scale = np.where(scale > 0, scale, 1.0)
    else:
        mean, scale = np.zeros(d, np.float32), np.ones(d, np.float32)

    def tensor(x):
        return torch.as_tensor((x - mean) / scale, dtype=torch.float32, device=dev)

    def codes_of(y, idx):
        return np.unique(y[idx], return_inverse=True)[1]

    xs = [tensor(x) for x in clouds]
    n_hyp = max_triplets

    def hyp_trip(n, g):
        return torch.as_tensor(sample_triplets(n, n_hyp, g), device=dev) if loss_on == "all" and n >= 3 else None

    # validation sets: (x, lab_idx, fixed label triplets, fixed cloud triplets)
    vrng = np.random.default_rng(12345)
    val = []
    if val_clouds is not None:
        val_labels = [np.asarray(y).astype(np.int64) for y in val_labels]
        if val_known is None:
            krng = np.random.default_rng(rng.integers(2**31))
            val_known = [_label_mask(y, label_fraction, krng) for y in val_labels]
        for x, y, k in zip(val_clouds, val_labels, val_known):
            idx = np.flatnonzero(np.asarray(k, bool) & (y >= 0))
            tr = _triplets_from_labels(codes_of(y, idx), vrng, max_triplets)
            if len(tr):
                x = tensor(np.asarray(x, np.float32))
                val.append((x, torch.as_tensor(idx, device=dev), torch.as_tensor(tr, device=dev), hyp_trip(len(x), vrng)))
    elif held is not None:
        for x, y, h in zip(xs, labels, held):
            idx = np.flatnonzero(h)
            tr = _triplets_from_labels(codes_of(y, idx), vrng, max_triplets) if len(idx) >= 3 else np.empty((0, 3))
            if len(tr):
                val.append((x, torch.as_tensor(idx, device=dev), torch.as_tensor(tr, device=dev), hyp_trip(len(x), vrng)))

    net = make_mlp(d, hidden, n_layers, out_dim, negative_slope).to(dev)
    rescale = torch.nn.Parameter(torch.tensor([0.5], device=dev))
    opt = torch.optim.RAdam(list(net.parameters()) + [rescale], lr=learning_rate)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=max(patience // 2, 1), min_lr=1e-4)
    best = (math.inf, None, None, -1)
    history = []
    stale = 0
    prev_threads = torch.get_num_threads()
    if dev.type == "cpu":
        torch.set_num_threads(1)
    bar = tqdm(total=epochs, desc="similarity MLP", file=sys.stderr, disable=not progress, leave=False)
    try:
        for epoch in range(epochs):
            net.train()
            tot, n_steps = 0.0, 0
            for t in rng.permutation(len(xs)):
                x, lab = xs[t], np.flatnonzero(known[t])
                if len(lab) < 3:
                    continue
                trip = _triplets_from_labels(codes_of(labels[t], lab), rng, max_triplets)
                if len(trip) == 0:
                    continue
                loss = _cloud_loss(
                    net, rescale, x, torch.as_tensor(lab, device=dev), torch.as_tensor(trip, device=dev),
                    margin, temperature, loss_on=loss_on, spread=spread, hyp_triplets=hyp_trip(len(x), rng),
                )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                tot += float(loss.detach())
                n_steps += 1
            train_loss = tot / max(n_steps, 1)
            rec = {"epoch": epoch, "train_loss": train_loss}
            monitor = train_loss
            if val:
                net.eval()
                with torch.no_grad():
                    vl = [
                        float(_cloud_loss(net, rescale, x, li, tr, margin, temperature, loss_on=loss_on,
                                          spread=spread, hyp_triplets=ht))
                        for x, li, tr, ht in val
                    ]
                monitor = rec["val_loss"] = float(np.mean(vl))
            history.append(rec)
            sched.step(monitor)
            if monitor < best[0] - 1e-6:
                best = (monitor, copy.deepcopy(net.state_dict()), float(rescale.detach().clamp(1e-4, 1 - 1e-3)), epoch)
                stale = 0
            else:
                stale += 1
            bar.update(1)
            bar.set_postfix(loss=f"{monitor:.4f}")
            if stale >= patience:
                break
    finally:
        bar.close()
        torch.set_num_threads(prev_threads)
    if best[1] is None:
        raise ValueError("train_similarity_mlp: no cloud had labelled triplets to learn from")
    net.load_state_dict(best[1])
    net.eval()
    model = SimilarityMLP(net, mean, scale, best[2], history)
    model.best_epoch = best[3]
    return model


def decode_clouds(model: SimilarityMLP, clouds, n_clusters):
    """Per cloud: leaves = normalised MLP outputs, decoded tree and its cut into ``k`` clusters.

    Returns a list of ``(linkage, labels)``; ``n_clusters`` is an int or one per cloud.
    """
    ks = [n_clusters] * len(clouds) if np.isscalar(n_clusters) else list(n_clusters)
    out = []
    for x, k in zip(clouds, ks):
        E = model.leaves(x)
        Z = decode_tree(E, model.radius)
        out.append((Z, cut_linkage(Z, int(k))))
    return out


class LearnedHyperbolicHC(HyperbolicHC):
    """HypHC on a similarity learnt from a fraction of the labels (Gigli et al., GSI 2021).

    ``fit(X, y)``: ``y`` holds labels (None/NaN/-1 = unknown); ``label_fraction`` of each
    class's known labels (drawn with ``random_state``) train the similarity MLP; then HypHC
    (all :class:`HyperbolicHC` parameters) runs on ``w_ij = (1 + cos(NN(x_i), NN(x_j))) / 2``
    (``embedding="hyphc"``) or the MLP outputs are decoded directly (``embedding="mlp"``,
    the paper's and the default). Extra attributes: ``mlp_`` (:class:`SimilarityMLP`),
    ``features_`` (MLP outputs), ``margin_`` (the margin used), ``label_mask_`` (labels
    used), also the ``label_seen`` extra column of the cluster table, so that metrics score
    the other samples only.
    """

    uses_labels = True

    _parameter_constraints = {
        **HyperbolicHC._parameter_constraints,
        "label_fraction": [Interval(float, 0, 1, closed="right")],
        "hidden": [Interval(int, 1, None, closed="left")],
        "n_layers": [Interval(int, 1, None, closed="left")],
        "out_dim": [Interval(int, 2, None, closed="left")],
        "negative_slope": [Interval(float, 0, 1, closed="left")],
        "margin": [Interval(float, 0, None, closed="neither"), Options("auto")],
        "mlp_temperature": [Interval(float, 0, None, closed="neither")],
        "mlp_epochs": [Interval(int, 1, None, closed="left")],
        "mlp_learning_rate": [Interval(float, 0, None, closed="neither")],
        "mlp_triplets": [Interval(int, 1, None, closed="left")],
        "mlp_val_fraction": [Interval(float, 0, 1, closed="left")],
        "mlp_patience": [Interval(int, 1, None, closed="left"), None],
        "loss_on": [Options("all", "labelled")],
        "spread": [Interval(float, 0, None, closed="left")],
        "embedding": [Options("hyphc", "mlp")],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        min_cluster_size=None,
        label_fraction=0.3,
        hidden=64,
        n_layers=4,
        out_dim=2,
        negative_slope=0.2,
        margin="auto",
        mlp_temperature=0.1,
        mlp_epochs=300,
        mlp_learning_rate=1e-2,
        mlp_triplets=20000,
        mlp_val_fraction=0.2,
        mlp_patience=30,
        loss_on="all",
        spread=0.0,
        embedding="mlp",
        dim=2,
        standardize=True,
        temperature=0.5,
        init_size=0.05,
        max_scale=0.999,
        n_triplets=None,
        epochs=30,
        batch_size=8192,
        learning_rate=5e-3,
        anneal_every=5,
        anneal_factor=0.6,
        keep_best=True,
        warm_start=2048,
        random_state=42,
        device="auto",
        progress=True,
    ):
        super().__init__(
            n_clusters,
            min_cluster_size=min_cluster_size,
            dim=dim,
            standardize=standardize,
            temperature=temperature,
            init_size=init_size,
            max_scale=max_scale,
            n_triplets=n_triplets,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            anneal_every=anneal_every,
            anneal_factor=anneal_factor,
            keep_best=keep_best,
            warm_start=warm_start,
            random_state=random_state,
            device=device,
            progress=progress,
        )
        self.label_fraction = label_fraction
        self.hidden = hidden
        self.n_layers = n_layers
        self.out_dim = out_dim
        self.negative_slope = negative_slope
        self.margin = margin
        self.mlp_temperature = mlp_temperature
        self.mlp_epochs = mlp_epochs
        self.mlp_learning_rate = mlp_learning_rate
        self.mlp_triplets = mlp_triplets
        self.mlp_val_fraction = mlp_val_fraction
        self.mlp_patience = mlp_patience
        self.loss_on = loss_on
        self.spread = spread
        self.embedding = embedding

    @staticmethod
    def _encode_labels(y, n):
        """Integer codes for ``y`` with -1 for unknown (None, NaN, empty string, negative ints)."""
        y = np.asarray(y, dtype=object).ravel()
        if len(y) != n:
            raise ValueError(f"LearnedHyperbolicHC: y has {len(y)} entries; X has {n} samples")
        unknown = np.array(
            [v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and v == "") for v in y]
        )
        ints = np.array([isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in y])
        neg = np.zeros(n, dtype=bool)
        neg[ints] = np.array([int(v) < 0 for v in y[ints]], dtype=bool)
        unknown |= neg
        codes = np.full(n, -1, dtype=np.int64)
        if (~unknown).any():
            _, inv = np.unique(np.array([str(v) for v in y[~unknown]]), return_inverse=True)
            codes[~unknown] = inv
        return codes

    def fit(self, X, y=None):
        if y is None:
            raise ValueError(
                "LearnedHyperbolicHC needs labels: call fit(X, y) with y holding known labels "
                "(None/NaN for unknown); uses_labels=True"
            )
        X = self._check_common(X)
        if self.embedding == "mlp" and self.out_dim != self.dim:
            raise ValueError(
                f"LearnedHyperbolicHC: embedding='mlp' uses the MLP outputs as leaves, so out_dim={self.out_dim} must equal dim={self.dim}"
            )
        n = X.shape[0]
        codes = self._encode_labels(y, n)
        rng = np.random.default_rng(self.random_state)
        mask = _label_mask(codes, self.label_fraction, rng)
        n_classes = len(np.unique(codes[mask]))
        if n_classes < 2:
            raise NotApplicable(
                "LearnedHyperbolicHC", n, f"needs labelled samples of at least 2 classes; got {n_classes} "
                f"(label_fraction={self.label_fraction}, {int((codes >= 0).sum())} known labels)"
            )
        self.margin_ = feasible_margin(n_classes, self.out_dim) if self.margin == "auto" else float(self.margin)
        self.mlp_ = train_similarity_mlp(
            [X],
            [codes],
            known=[mask],
            hidden=self.hidden,
            n_layers=self.n_layers,
            out_dim=self.out_dim,
            negative_slope=self.negative_slope,
            margin=self.margin_,
            temperature=self.mlp_temperature,
            epochs=self.mlp_epochs,
            learning_rate=self.mlp_learning_rate,
            max_triplets=self.mlp_triplets,
            loss_on=self.loss_on,
            spread=self.spread,
            val_fraction=self.mlp_val_fraction,
            standardize=self.standardize,
            patience=self.mlp_epochs if self.mlp_patience is None else self.mlp_patience,
            random_state=self.random_state,
            device=self.device,
            progress=self.progress,
        )
        self.label_mask_ = mask
        F = self.mlp_.embed(X)
        self.features_ = F
        U = unit_rows(F, standardize=False)
        if self.embedding == "hyphc":
            labels, extra = self._fit_unit_rows(U)
        else:
            E = U * self.mlp_.radius
            self.embeddings_ = E
            self.radius_ = self.mlp_.radius
            self.history_ = self.mlp_.history
            self.best_epoch_ = self.mlp_.best_epoch
            self.linkage_ = decode_tree(E, self.radius_)
            self.dasgupta_cost_ = dasgupta_cost(self.linkage_, features=U)
            labels = self._cut(self.linkage_)
            extra = {"poincare_x": E[:, 0].copy(), "poincare_y": E[:, 1].copy()}
        # which samples' labels the model saw (training and validation triplets): metrics
        # score the clustering on the others only (tl._metrics.score_cluster_table)
        extra["label_seen"] = mask.copy()
        return self._finish(labels, extra)

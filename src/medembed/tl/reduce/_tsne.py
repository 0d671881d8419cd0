from __future__ import annotations

import logging

import numpy as np

from ..._validation import Interval, Options
from .._base import BaseReducer, require_samples

log = logging.getLogger(__name__)

#: Below this many samples ``negative_gradient_method="auto"`` uses Barnes-Hut (openTSNE's rule).
BH_BELOW = 10_000


class TSNEReducer(BaseReducer):
    """t-SNE through openTSNE: Barnes-Hut below 10,000 points, FFT-accelerated
    interpolation (Linderman et al. 2019) from there on.

    Same objective as the Medical Image Analysis Tutorial's ``sklearn.manifold.TSNE(perplexity=30)``, with
    PCA initialisation and openTSNE's default exaggeration schedule; it scales to
    10^5+ points where sklearn's Barnes-Hut does not.

    ``fit(X, knn=graph)`` builds the perplexity-calibrated affinities from the shared
    kNN graph (its first ``3 * perplexity`` neighbours) instead of searching again;
    the graph must have at least that many neighbours (90 for perplexity 30). Without
    ``knn`` the graph is computed with :func:`medembed.pp.neighbors`.

    ``negative_gradient_method="auto"`` follows openTSNE's own rule (``bh`` below 10,000
    samples, ``fft`` above): the FFT grid costs about 10 CPU-seconds per 750 iterations
    whatever n is (it grows with the map's extent, not with n), so on 120 points it took
    11 s where Barnes-Hut takes 0.4 s, on 600 points 14 s against 1.7 s, on 3,000 21 s
    against 14 s (same maps up to the optimiser's noise; benchmarks/tsne_methods.py). The
    method used is ``negative_gradient_method_`` and part of ``effective_params_``.

    On fewer than ``3 * perplexity + 1`` samples the perplexity is lowered to
    ``(n - 1) / 3`` with a logged warning; the value used is ``perplexity_`` and, with the
    neighbours it needed, ``effective_params_`` (``get_params`` keeps the requested value).
    """

    _parameter_constraints = {
        "n_components": [Interval(int, 1, 3, closed="both")],
        "perplexity": [Interval(float, 0, None, closed="neither")],
        "n_iter": [Interval(int, 1, None, closed="left")],
        "metric": [Options("cosine", "euclidean")],
        "initialization": [Options("pca", "spectral", "random")],
        "negative_gradient_method": [Options("auto", "fft", "bh")],
        "random_state": [int, None],
        "n_jobs": [int],
    }

    def __init__(
        self,
        n_components=2,
        *,
        perplexity=30.0,
        n_iter=750,
        metric="cosine",
        initialization="pca",
        negative_gradient_method="auto",
        random_state=42,
        n_jobs=1,
    ):
        self.n_components = n_components
        self.perplexity = perplexity
        self.n_iter = n_iter
        self.metric = metric
        self.initialization = initialization
        self.negative_gradient_method = negative_gradient_method
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X, y=None, *, knn=None):
        from openTSNE import TSNE, affinity
        from openTSNE.nearest_neighbors import PrecomputedNeighbors

        from ...pp._neighbors import resolve_knn

        X = self._validate(X)
        n = X.shape[0]
        require_samples(self, n, 4, "(perplexity 1 needs 3 neighbours)")
        # Perplexity must stay below n/3 for the affinity search to be meaningful.
        perplexity = float(min(self.perplexity, max(1.0, (n - 1) / 3)))
        if perplexity != self.perplexity:
            log.warning(
                "tsne: perplexity=%g needs more than %d samples; using perplexity=%g on %d samples",
                self.perplexity, int(3 * self.perplexity), perplexity, n,
            )
        self.perplexity_ = perplexity
        k = min(n - 1, max(1, int(3 * perplexity)))
        nb = resolve_knn(X, knn, k, self.metric, who="TSNEReducer", n_jobs=self.n_jobs)
        aff = affinity.PerplexityBasedNN(
            perplexity=perplexity,
            knn_index=PrecomputedNeighbors(nb.indices.astype(np.int64), nb.distances.astype(np.float64)),
            n_jobs=self.n_jobs,
            random_state=self.random_state,
        )
        method = self.negative_gradient_method
        if method == "auto":  # openTSNE's own rule
            method = "bh" if n < BH_BELOW else "fft"
        if self.n_components > 2:  # interpolation works in 1-D and 2-D only
            method = "bh"
        self.negative_gradient_method_ = method
        tsne = TSNE(
            n_components=self.n_components,
            n_iter=self.n_iter,
            initialization=self.initialization,
            negative_gradient_method=method,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
            verbose=False,
        )
        self.embedding_ = np.asarray(
            tsne.fit(X.astype(np.float64), affinities=aff), dtype=np.float32
        )
        self.n_neighbors_ = nb.n_neighbors
        self.effective_params_ = {
            **self.effective_params_,
            "perplexity": perplexity,
            "n_neighbors": int(nb.n_neighbors),
            "negative_gradient_method": method,
        }
        return self

    def fit_transform(self, X, y=None, *, knn=None):
        return self.fit(X, y, knn=knn).embedding_

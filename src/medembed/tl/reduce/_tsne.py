from __future__ import annotations

import numpy as np

from ..._validation import Interval, Options
from .._base import BaseReducer


class TSNEReducer(BaseReducer):
    """t-SNE through openTSNE (FFT-accelerated interpolation, Linderman et al. 2019).

    Same objective as the tutorial's ``sklearn.manifold.TSNE(perplexity=30)``, with
    PCA initialisation and openTSNE's default exaggeration schedule; it scales to
    10^5+ points where sklearn's Barnes-Hut does not.
    """

    _parameter_constraints = {
        "n_components": [Interval(int, 1, 3, closed="both")],
        "perplexity": [Interval(float, 0, None, closed="neither")],
        "n_iter": [Interval(int, 1, None, closed="left")],
        "metric": [Options("cosine", "euclidean")],
        "initialization": [Options("pca", "spectral", "random")],
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
        random_state=42,
        n_jobs=1,
    ):
        self.n_components = n_components
        self.perplexity = perplexity
        self.n_iter = n_iter
        self.metric = metric
        self.initialization = initialization
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X, y=None):
        from openTSNE import TSNE

        X = self._validate(X)
        n = X.shape[0]
        # Perplexity must stay below n/3 for the affinity search to be meaningful.
        perplexity = float(min(self.perplexity, max(1.0, (n - 1) / 3)))
        self.effective_perplexity_ = perplexity
        method = "fft" if self.n_components <= 2 else "bh"
        tsne = TSNE(
            n_components=self.n_components,
            perplexity=perplexity,
            n_iter=self.n_iter,
            metric=self.metric,
            initialization=self.initialization,
            negative_gradient_method=method,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
            verbose=False,
        )
        self.embedding_ = np.asarray(tsne.fit(X.astype(np.float64)))
        return self

"""Shared input and parameter checks that give one-line errors naming the culprit."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np


def check_features(X, *, name: str = "X", min_samples: int = 1, dtype=np.float32) -> np.ndarray:
    """2-D finite float array with at least ``min_samples`` rows (never modified in place)."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features); got shape {X.shape}")
    if X.shape[0] < min_samples:
        raise ValueError(f"{name} has {X.shape[0]} samples; at least {min_samples} needed")
    if not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"{name} must be numeric; got dtype {X.dtype}")
    X = X.astype(dtype, copy=False)
    if not np.isfinite(X).all():
        bad = int((~np.isfinite(X)).any(axis=1).sum())
        raise ValueError(f"{name} has {bad} rows with NaN or inf values")
    return X


class Interval:
    """Numeric constraint like sklearn's: ``Interval(int, 2, None, closed='left')``."""

    def __init__(self, type_, left, right, closed: str = "both") -> None:
        self.type, self.left, self.right, self.closed = type_, left, right, closed

    def __contains__(self, v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            return False
        if self.type is int and not isinstance(v, numbers.Integral):
            return False
        lo_ok = self.left is None or (v >= self.left if self.closed in ("left", "both") else v > self.left)
        hi_ok = self.right is None or (v <= self.right if self.closed in ("right", "both") else v < self.right)
        return lo_ok and hi_ok

    def __str__(self) -> str:
        lb = "[" if self.closed in ("left", "both") else "("
        rb = "]" if self.closed in ("right", "both") else ")"
        lo = "-inf" if self.left is None else self.left
        hi = "inf" if self.right is None else self.right
        return f"{self.type.__name__} in {lb}{lo}, {hi}{rb}"


class Options:
    def __init__(self, *values) -> None:
        self.values = values

    def __contains__(self, v: Any) -> bool:
        return v in self.values

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


def validate_params(estimator, constraints: Mapping[str, list]) -> None:
    """Check ``estimator``'s params against ``{name: [constraint, ...]}``; None allowed if listed."""
    for name, allowed in constraints.items():
        value = getattr(estimator, name)
        ok = False
        for c in allowed:
            if c is None:
                ok = ok or value is None
            elif isinstance(c, type):
                ok = ok or (isinstance(value, c) and (c is bool or not isinstance(value, bool)))
            else:
                ok = ok or value in c
        if not ok:
            desc = " or ".join("None" if c is None else getattr(c, "__name__", str(c)) for c in allowed)
            raise ValueError(
                f"{type(estimator).__name__}: {name}={value!r} is invalid; allowed: {desc}"
            )

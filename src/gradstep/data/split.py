"""Train/validation/test splits, standardization with the training statistics, and the Dataset type.

:func:`split` is seeded and, for integer labels, stratified; :class:`Standardizer` is fitted on the
training split only, so no statistic of the validation or test data leaks into preprocessing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import GradstepError, as_rng, check_real

__all__ = ["Dataset", "Standardizer", "split"]


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """Train, validation and test arrays of one dataset, plus what is needed to preprocess new data.

    ``X_*`` are float arrays of shape (n, n_features); ``y_*`` are int64 labels in ``0..n_classes-1``
    for classification (``classes[y]`` gives the original label) and floats for regression.
    ``standardizer`` is the :class:`Standardizer` fitted on ``X_train``, or None when not standardized.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    name: str
    n_features: int
    n_classes: int
    task: str
    standardizer: Standardizer | None = None
    classes: np.ndarray | None = None

    @property
    def mean(self) -> np.ndarray | None:
        return None if self.standardizer is None else self.standardizer.mean

    @property
    def std(self) -> np.ndarray | None:
        return None if self.standardizer is None else self.standardizer.std

    def summary(self) -> str:
        classes = f"{self.n_classes} classes" if self.task == "classification" else "regression"
        scaled = "standardized" if self.standardizer is not None else "raw"
        return (
            f"{self.name}: {self.n_features} features, {classes}; train {len(self.y_train)} / "
            f"val {len(self.y_val)} / test {len(self.y_test)} ({self.X_train.dtype}, {scaled})"
        )

    def __repr__(self) -> str:
        return f"Dataset({self.summary()})"


class Standardizer:
    """Per-feature standardization ``(X - mean) / std``, fitted on the training split only.

    A feature that is constant in the training data gets ``std = 1``, so it maps to 0 instead of
    dividing by zero. ``state_dict()`` / ``from_state_dict()`` let a saved model carry it.
    """

    def __init__(self, mean=None, std=None):
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.std = None if std is None else np.asarray(std, dtype=np.float64)

    def fit(self, X) -> Standardizer:
        X = _as_2d_float("X", X)
        if len(X) == 0:
            raise GradstepError("Standardizer.fit needs at least one sample. Received: X with 0 rows")
        self.mean = X.mean(axis=0)
        std = X.std(axis=0)
        # A constant column's float64 std can come out as rounding noise (1e-17), not exactly 0.
        std[std <= 1e-12 * np.maximum(1.0, np.abs(self.mean))] = 1.0
        self.std = std
        return self

    def _check(self, X) -> np.ndarray:
        if self.mean is None or self.std is None:
            raise GradstepError("This Standardizer is not fitted yet; call fit(X_train) first.")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.mean.shape[0]:
            raise GradstepError(
                f"Argument `X` must have shape (n, {self.mean.shape[0]}) to match the fitted features. "
                f"Received: X with shape {X.shape}"
            )
        return X

    def transform(self, X) -> np.ndarray:
        """Standardize ``X``; a float input keeps its dtype, anything else becomes float64."""
        X = self._check(X)
        out = X.dtype if X.dtype.kind == "f" else np.float64
        return ((X - self.mean) / self.std).astype(out, copy=False)

    def inverse_transform(self, X) -> np.ndarray:
        X = self._check(X)
        out = X.dtype if X.dtype.kind == "f" else np.float64
        return (X * self.std + self.mean).astype(out, copy=False)

    def fit_transform(self, X) -> np.ndarray:
        return self.fit(X).transform(X)

    def state_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std}

    @classmethod
    def from_state_dict(cls, state: dict) -> Standardizer:
        return cls(mean=state["mean"], std=state["std"])


def split(X, y, *, val_fraction, test_fraction, rng, stratify=True):
    """Seeded split into ``(X_train, y_train, X_val, y_val, X_test, y_test)``.

    The test and validation sizes are ``round(fraction * n)``. With ``stratify`` and integer labels each
    class is spread over the three splits in proportion to its size (largest remainder).
    """
    val_fraction = check_real("val_fraction", val_fraction, 0, 1, high_open=True)
    test_fraction = check_real("test_fraction", test_fraction, 0, 1, high_open=True)
    if val_fraction + test_fraction >= 1:
        raise GradstepError(
            "Arguments `val_fraction` + `test_fraction` must sum to less than 1. "
            f"Received: val_fraction={val_fraction}, test_fraction={test_fraction}"
        )
    gen = as_rng(rng)
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise GradstepError(
            f"Arguments `X` and `y` must have the same length. Received: {len(X)} and {len(y)}"
        )
    n = len(y)
    n_test, n_val = round(test_fraction * n), round(val_fraction * n)
    if n - n_test - n_val < 1:
        raise GradstepError(
            f"Arguments `val_fraction` + `test_fraction` must leave at least one training sample of {n}. "
            f"Received: val_fraction={val_fraction}, test_fraction={test_fraction}"
        )
    if stratify and y.dtype.kind in "iub":
        _, inverse = np.unique(y, return_inverse=True)
        groups = [gen.permutation(np.flatnonzero(inverse.ravel() == c)) for c in range(inverse.max() + 1)]
        counts = np.array([len(g) for g in groups])
        t = _proportional_counts(counts, n_test)
        v = _proportional_counts(counts - t, n_val)
        test = np.concatenate([g[: t[c]] for c, g in enumerate(groups)])
        val = np.concatenate([g[t[c] : t[c] + v[c]] for c, g in enumerate(groups)])
        train = np.concatenate([g[t[c] + v[c] :] for c, g in enumerate(groups)])
        train, val, test = gen.permutation(train), gen.permutation(val), gen.permutation(test)
    else:
        order = gen.permutation(n)
        test, val, train = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
    return X[train], y[train], X[val], y[val], X[test], y[test]


def _proportional_counts(counts: np.ndarray, total: int) -> np.ndarray:
    """Share ``total`` among classes in proportion to ``counts`` (largest remainder), within each class."""
    quota = counts * (total / max(counts.sum(), 1))
    take = np.minimum(np.floor(quota).astype(np.int64), counts)
    order = np.argsort(-(quota - take), kind="stable")
    rest = total - int(take.sum())
    while rest > 0:  # a second pass only when a class is full
        for c in order:
            if rest > 0 and take[c] < counts[c]:
                take[c] += 1
                rest -= 1
    return take


def _as_2d_float(name, X) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2 or X.dtype.kind not in "biuf":
        raise GradstepError(
            f"Argument `{name}` must be a numeric 2-D array. Received: {name} with shape {X.shape} "
            f"and dtype {X.dtype}"
        )
    return X.astype(np.float64, copy=False)

"""Datasets as arrays: bundled digits, generated toys, files from a path, and seeded mini-batches.

``load("digits")`` returns a :class:`Dataset` whose train/val/test splits are seeded, stratified and
standardized with the training statistics only. Mini-batches are designed for exact resume: the sample
order of an epoch is a pure function of ``(seed, epoch)``, so a run restarted at batch ``k`` of epoch
``e`` sees exactly the batches it would have seen.

>>> ds = load("digits", rng=0)
>>> for X_batch, y_batch in minibatches(ds.X_train, ds.y_train, 32, epoch=0, seed=0):
...     pass
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import _idx
from ._validation import GradstepError, check_choice, check_int, check_real, unknown_name

# fmt: off
__all__ = [
    "Dataset", "Standardizer", "load", "available", "split",
    "load_npz", "load_csv", "load_idx", "epoch_order", "minibatches", "n_batches",
]
# fmt: on

TASKS = ("classification", "regression")
_DEFAULT_N_SAMPLES = 1000


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


# ---------------------------------------------------------------------------------------------- load


def available() -> list[str]:
    """The built-in dataset names; ``digits`` (bundled with scikit-learn) is the default."""
    return list(_BUILTIN)


def load(
    name_or_path,
    *,
    rng=0,
    val_fraction=0.1,
    test_fraction=0.2,
    standardize=True,
    dtype=np.float32,
    n_samples=None,
    noise=None,
    **kwargs,
) -> Dataset:
    """Load a built-in dataset or a file, split it, and standardize it with the training statistics.

    Built-ins: ``digits`` (1797 8x8 images, 10 classes), and the generated ``moons``, ``circles``
    (``factor=0.5``), ``spirals`` (``n_classes=3`` arms; ``noise`` is the angle noise in radians) and
    ``blobs`` (``n_classes=3``, ``n_features=2``). For generated sets ``n_samples`` (default 1000) and
    ``noise`` set the size and noise; for ``digits`` and files ``n_samples`` takes a seeded subset.

    Paths: ``.npz`` (arrays ``X``/``y`` or ``x_train``/``y_train``/``x_test``/``y_test``), ``.csv``
    (numeric, optional header; the label is the last column or ``target=`` a column name or index),
    an IDX images file (``*-images-idx3-ubyte[.gz]``, labels found beside it) or a directory of
    train/t10k IDX pairs. When a file carries its own test set, it is kept as the test split,
    ``val_fraction`` is taken from the training part and ``test_fraction`` is not used. The task is
    classification when the labels are integers, else regression; ``task=`` overrides.

    ``rng`` (an int seed or a ``numpy.random.Generator``) drives generation, subsetting and splitting.
    """
    gen = _as_generator(rng)
    dtype = _check_dtype(dtype)
    check_real("val_fraction", val_fraction, 0, 1, high_open=True)  # early: before any file is read
    test_fraction = check_real("test_fraction", test_fraction, 0, 1, high_open=True)
    n_samples = None if n_samples is None else check_int("n_samples", n_samples, 1)
    noise = None if noise is None else check_real("noise", noise, 0)
    if _looks_like_path(name_or_path):
        path = Path(name_or_path)
        name, builder, generated = path.name, None, False
        _check_kwargs(kwargs, ("target", "task") if path.suffix.lower() == ".csv" else ("task",), path)
    else:
        name = _check_name(name_or_path)
        builder, allowed = _BUILTIN[name]
        generated = name in _GENERATED
        _check_kwargs(kwargs, allowed, name)
    if noise is not None and not generated:
        raise GradstepError(
            f"Argument `noise` applies to generated datasets only ({', '.join(_GENERATED)}). "
            f"Received: noise={noise!r} for '{name_or_path}'"
        )

    test_mask, task = None, "classification"
    if generated:
        X, y = builder(gen, _DEFAULT_N_SAMPLES if n_samples is None else n_samples, noise, **kwargs)
        n_samples = None
    elif builder is not None:
        X, y = builder()
    else:
        X, y, test_mask = _read_path(path, kwargs.get("target"))
        task = kwargs.get("task") or ("classification" if _is_integral(y) else "regression")
        check_choice("task", task, TASKS)

    if n_samples is not None:
        if n_samples > len(X):
            raise GradstepError(
                f"Argument `n_samples` must be at most the {len(X)} samples of '{name}'. "
                f"Received: n_samples={n_samples}"
            )
        keep = np.sort(gen.choice(len(X), size=n_samples, replace=False))
        X, y = X[keep], y[keep]
        test_mask = None if test_mask is None else test_mask[keep]

    classes = None
    if task == "classification":
        if not _is_integral(y):
            raise GradstepError(f"Dataset '{name}' has non-integer labels; pass task='regression' for them.")
        classes, y = np.unique(y, return_inverse=True)
        y = y.astype(np.int64).reshape(-1)
        if len(classes) < 2:
            raise GradstepError(f"Dataset '{name}' needs at least 2 classes; its labels hold {len(classes)}.")
    else:
        y = y.astype(dtype)

    # A test set that the file carries is kept; the validation split then comes from its training part.
    rest = slice(None) if test_mask is None else ~test_mask
    test_fraction = test_fraction if test_mask is None else 0.0
    parts = split(X[rest], y[rest], val_fraction=val_fraction, test_fraction=test_fraction, rng=gen,
                  stratify=task == "classification")  # fmt: skip
    X_train, y_train, X_val, y_val, X_test, y_test = parts
    if test_mask is not None:
        X_test, y_test = X[test_mask], y[test_mask]

    standardizer = Standardizer().fit(X_train) if standardize else None
    if standardizer is not None:
        X_train, X_val, X_test = (
            standardizer.transform(A.astype(np.float64)) for A in (X_train, X_val, X_test)
        )
    X_train, X_val, X_test = (A.astype(dtype) for A in (X_train, X_val, X_test))
    return Dataset(
        X_train, y_train, X_val, y_val, X_test, y_test,
        name=name, n_features=X.shape[1], n_classes=0 if classes is None else len(classes),
        task=task, standardizer=standardizer, classes=classes,
    )  # fmt: skip


def _as_generator(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(check_int("rng", rng, 0))


def _check_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = np.dtype(object)  # not None: np.dtype(None) means float64
    if dt.name not in ("float32", "float64") or dtype is None:
        raise GradstepError(f"Argument `dtype` must be float32 or float64. Received: dtype={dtype!r}")
    return dt


def _check_name(name) -> str:
    if isinstance(name, str) and name.lower() in _BUILTIN:
        return name.lower()
    err = unknown_name("dataset", name, _BUILTIN)
    raise GradstepError(f"{err} A path to a .npz, .csv or IDX file, or a directory of IDX files, also works.")


def _check_kwargs(kwargs: dict, allowed, source) -> None:
    for key, value in kwargs.items():
        if key not in allowed:
            accepts = ", ".join(f"`{a}`" for a in allowed) or "no extra arguments"
            raise GradstepError(
                f"Argument `{key}` is not accepted for dataset '{source}', which takes {accepts}. "
                f"Received: {key}={value!r}"
            )


def _looks_like_path(x) -> bool:
    if isinstance(x, os.PathLike):
        return True
    if not isinstance(x, str) or x.lower() in _BUILTIN:
        return False
    return "/" in x or os.sep in x or "." in x or os.path.exists(x)


def _is_integral(y: np.ndarray) -> bool:
    if y.dtype.kind in "iub":
        return True
    return y.dtype.kind == "f" and bool(np.all(np.isfinite(y))) and bool(np.all(y == np.round(y)))


# ------------------------------------------------------------------------------------------ built-ins


def _seed_for_sklearn(gen: np.random.Generator) -> int:
    return int(gen.integers(2**31 - 1))


def _digits():
    from sklearn.datasets import load_digits

    return load_digits(return_X_y=True)


def _moons(gen, n, noise):
    from sklearn.datasets import make_moons

    noise = 0.1 if noise is None else noise
    return make_moons(n_samples=n, noise=noise, random_state=_seed_for_sklearn(gen))


def _circles(gen, n, noise, factor=0.5):
    from sklearn.datasets import make_circles

    factor = check_real("factor", factor, 0, 1, low_open=True, high_open=True)
    noise = 0.05 if noise is None else noise
    return make_circles(n_samples=n, noise=noise, factor=factor, random_state=_seed_for_sklearn(gen))


def _blobs(gen, n, noise, n_classes=3, n_features=2):
    from sklearn.datasets import make_blobs

    n_classes = check_int("n_classes", n_classes, 2)
    n_features = check_int("n_features", n_features, 1)
    std = 1.0 if noise is None else noise
    return make_blobs(
        n_samples=n,
        n_features=n_features,
        centers=n_classes,
        cluster_std=std,
        random_state=_seed_for_sklearn(gen),
    )


def _spirals(gen, n, noise, n_classes=3):
    """``n_classes`` interleaved arms: arm j at angle ``2 pi j / k + 4 r + noise * N(0, 1)``, r in [0, 1]."""
    k = check_int("n_classes", n_classes, 2)
    noise = 0.2 if noise is None else noise
    sizes = [n // k + (j < n % k) for j in range(k)]
    X, y = [], []
    for j, m in enumerate(sizes):
        r = np.linspace(0.0, 1.0, m)
        theta = 2 * np.pi * j / k + 4.0 * r + noise * gen.standard_normal(m)
        X.append(np.column_stack([r * np.cos(theta), r * np.sin(theta)]))
        y.append(np.full(m, j, dtype=np.int64))
    return np.concatenate(X), np.concatenate(y)


_BUILTIN = {
    "digits": (_digits, ()),
    "moons": (_moons, ()),
    "circles": (_circles, ("factor",)),
    "spirals": (_spirals, ("n_classes",)),
    "blobs": (_blobs, ("n_classes", "n_features")),
}
_GENERATED = ("moons", "circles", "spirals", "blobs")


# -------------------------------------------------------------------------------------------- files


def _read_path(path: Path, target=None):
    """(X, y, test_mask) from a file or directory; test_mask marks a test set the file carries."""
    if not path.exists():
        raise GradstepError(f"Dataset path '{path}' does not exist.")
    if path.is_dir():
        X, y, test_mask = _idx.read_idx_dir(path)
    elif path.suffix.lower() == ".npz":
        X, y, test_mask = _read_npz(path)
    elif path.suffix.lower() == ".csv":
        X, y = load_csv(path, target=target)
        test_mask = None
    elif "idx" in path.name.lower() or "ubyte" in path.name.lower():
        (X, y), test_mask = _idx.read_idx_pair(path), None
    else:
        raise GradstepError(
            f"Unsupported dataset file '{path}': expected .npz, .csv, an IDX images file "
            "(*-images-idx3-ubyte, optionally .gz) or a directory of IDX files."
        )
    return X, y, test_mask


def _checked_xy(path, X, y):
    X, y = np.asarray(X), np.asarray(y)
    if X.dtype.kind not in "biuf" or y.dtype.kind not in "biuf":
        raise GradstepError(
            f"Dataset '{path}' must hold numeric arrays; it holds X {X.dtype} and y {y.dtype}."
        )
    if X.ndim == 0 or X.size == 0:
        raise GradstepError(f"Dataset '{path}' holds no samples: X has shape {X.shape}.")
    X = X.reshape(len(X), -1) if X.ndim != 1 else X.reshape(-1, 1)  # images (n, h, w) -> (n, h*w)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise GradstepError(f"Labels in '{path}' must be 1-D; they have shape {y.shape}.")
    if len(X) != len(y):
        raise GradstepError(f"In '{path}', X has {len(X)} rows but y has {len(y)}; they must match.")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
        raise GradstepError(f"Dataset '{path}' contains NaN or infinite values.")
    return X, y


def _read_npz(path: Path):
    import zipfile  # np.load needs it anyway; importing it here keeps `import gradstep.data` light

    try:
        loaded = np.load(path, allow_pickle=False)
        if hasattr(loaded, "files"):
            with loaded as f:
                arrays = {k.lower(): f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        raise GradstepError(f"'{path}' is not a readable .npz file.") from None
    if not hasattr(loaded, "files"):
        raise GradstepError(f"'{path}' holds a single array, not an .npz archive of named arrays X and y.")
    if {"x", "y"} <= arrays.keys():
        X, y = _checked_xy(path, arrays["x"], arrays["y"])
        return X, y, None
    if {"x_train", "y_train", "x_test", "y_test"} <= arrays.keys():
        X_tr, y_tr = _checked_xy(path, arrays["x_train"], arrays["y_train"])
        X_te, y_te = _checked_xy(path, arrays["x_test"], arrays["y_test"])
        if X_tr.shape[1] != X_te.shape[1]:
            raise GradstepError(
                f"In '{path}', x_train has {X_tr.shape[1]} features but x_test {X_te.shape[1]}."
            )
        test_mask = np.r_[np.zeros(len(y_tr), bool), np.ones(len(y_te), bool)]
        return np.concatenate([X_tr, X_te]), np.concatenate([y_tr, y_te]), test_mask
    held = ", ".join(sorted(arrays)) or "nothing"
    raise GradstepError(
        f"'{path}' must hold arrays 'X' and 'y', or 'x_train', 'y_train', 'x_test' and 'y_test'; "
        f"it holds {held}."
    )


def load_npz(path) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) from a ``.npz`` with ``X``/``y`` or ``x_train``/``y_train``/``x_test``/``y_test`` (train first).

    Images (n, h, w) are flattened to (n, h*w); dtypes are kept as stored.
    """
    path = Path(path)
    if not path.is_file():
        raise GradstepError(f"Dataset file '{path}' does not exist.")
    X, y, _ = _read_npz(path)
    return X, y


def load_csv(path, target=None) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) from a numeric, comma-separated file; the first row may be a header.

    ``target`` is the label column: None for the last, a header name, or an index (negative allowed).
    X is float64; y is int64 when every label is a whole number, else float64.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            rows = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except FileNotFoundError:
        raise GradstepError(f"Dataset file '{path}' does not exist.") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise GradstepError(f"Cannot read CSV file '{path}': {e}.") from None
    header = None
    if rows and not all(_is_number(c) for c in rows[0][1]):
        header = [c.strip() for c in rows.pop(0)[1]]
    if not rows:
        raise GradstepError(f"CSV file '{path}' holds no data rows.")
    width = len(header) if header is not None else len(rows[0][1])
    if width < 2:
        raise GradstepError(
            f"CSV file '{path}' needs at least 2 columns (features and a label); it has {width}."
        )
    for line, row in rows:
        if len(row) != width:
            raise GradstepError(f"CSV file '{path}' line {line} has {len(row)} cells, expected {width}.")
    try:
        data = np.array([row for _, row in rows], dtype=np.float64)
    except ValueError:
        # The slow search for the offending cell runs only once the fast conversion has failed.
        bad = (
            (line, col, cell) for line, row in rows for col, cell in enumerate(row, 1) if not _is_number(cell)
        )
        line, col, cell = next(bad, ("?", "?", "?"))
        raise GradstepError(
            f"CSV file '{path}' line {line}, column {col}: {cell.strip()!r} is not a number "
            "(only a header row may hold text)."
        ) from None
    col = _target_column(path, target, header, width)
    X, y = _checked_xy(path, np.delete(data, col, axis=1), data[:, col])
    return X, (y.astype(np.int64) if _is_integral(y) else y)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _target_column(path, target, header, width) -> int:
    if target is None:
        return width - 1
    if isinstance(target, str):
        if header is None:
            raise GradstepError(
                f"Argument `target` names a column, but CSV file '{path}' has no header row. "
                f"Received: target={target!r}"
            )
        if target not in header:
            raise unknown_name(f"column in '{path}'", target, header)
        return header.index(target)
    col = check_int("target", target, -width, width - 1)
    return col % width


def load_idx(path) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) from an IDX images file (labels found beside it) or a directory of train/t10k pairs.

    X is (n, pixels) in the stored dtype (uint8 for MNIST); a directory gives train rows first.
    """
    path = Path(path)
    if not path.exists():
        raise GradstepError(f"Dataset path '{path}' does not exist.")
    if path.is_dir():
        X, y, _ = _idx.read_idx_dir(path)
        return X, y
    return _idx.read_idx_pair(path)


# -------------------------------------------------------------------------------------------- split


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
    gen = _as_generator(rng)
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


# --------------------------------------------------------------------------------------- minibatches


def n_batches(n: int, batch_size: int) -> int:
    """The number of mini-batches of an epoch over ``n`` samples; the last partial batch counts."""
    n = check_int("n", n, 0)
    batch_size = check_int("batch_size", batch_size, 1)
    return -(-n // batch_size)


def epoch_order(n: int, epoch: int, seed: int, shuffle: bool = True) -> np.ndarray:
    """The sample order of one epoch, a pure function of ``(seed, epoch)``: a permutation of ``range(n)``.

    Drawn from ``numpy.random.default_rng([seed, epoch])``, never the global random state, so a
    resumed run recomputes exactly the order it was in. ``shuffle=False`` gives ``arange(n)``.
    """
    n = check_int("n", n, 0)
    epoch = check_int("epoch", epoch, 0)
    seed = check_int("seed", seed, 0)
    if not shuffle:
        return np.arange(n)
    return np.random.default_rng([seed, epoch]).permutation(n)


def minibatches(
    X, y, batch_size: int, *, epoch: int = 0, seed: int = 0, shuffle: bool = True, start: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(X_batch, y_batch)`` for one epoch, from batch index ``start`` on.

    ``batch_size = n`` is batch gradient descent and ``1`` stochastic gradient descent; the last
    batch keeps the remainder. Arguments are checked here, before the first batch is asked for.
    """
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise GradstepError(
            f"Arguments `X` and `y` must have the same length. Received: {len(X)} and {len(y)}"
        )
    total = n_batches(len(X), batch_size)
    start = check_int("start", start, 0, total)
    order = epoch_order(len(X), epoch, seed, shuffle)
    return _batches(X, y, order, batch_size, start, total)


def _batches(X, y, order, batch_size, start, total):
    for b in range(start, total):
        idx = order[b * batch_size : (b + 1) * batch_size]
        yield X[idx], y[idx]


def _as_2d_float(name, X) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2 or X.dtype.kind not in "biuf":
        raise GradstepError(
            f"Argument `{name}` must be a numeric 2-D array. Received: {name} with shape {X.shape} "
            f"and dtype {X.dtype}"
        )
    return X.astype(np.float64, copy=False)

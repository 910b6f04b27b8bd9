"""``load()``: a built-in dataset or a file, made into a seeded, split and standardized :class:`Dataset`.

The one place the other modules meet: :mod:`.builtin` and :mod:`.files` give raw ``(X, y)``,
:mod:`.split` splits and standardizes them. The random draws come from one generator in a fixed
order (generation, then the ``n_samples`` subset, then the split), so a seed gives the same arrays.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._validation import (
    GradstepError,
    as_rng,
    check_choice,
    check_float_dtype,
    check_int,
    check_real,
    looks_like_path,
    lookup,
)
from .builtin import BUILTIN, DEFAULT_N_SAMPLES, GENERATED
from .files import is_integral, read_path
from .split import Dataset, Standardizer, split

__all__ = ["load", "TASKS"]

TASKS = ("classification", "regression")


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

    ``rng`` (an int seed, a ``numpy.random.Generator``, or None for fresh entropy) drives generation,
    subsetting and splitting.
    """
    gen = as_rng(rng)
    dtype = check_float_dtype(dtype)
    check_real("val_fraction", val_fraction, 0, 1, high_open=True)  # early: before any file is read
    test_fraction = check_real("test_fraction", test_fraction, 0, 1, high_open=True)
    n_samples = None if n_samples is None else check_int("n_samples", n_samples, 1)
    noise = None if noise is None else check_real("noise", noise, 0)
    if looks_like_path(name_or_path, BUILTIN):
        name, X, y, test_mask, task = _from_file(name_or_path, gen, n_samples, noise, kwargs)
    else:
        name, X, y, test_mask, task = _from_builtin(name_or_path, gen, n_samples, noise, kwargs)
    classes, y = _encode_labels(name, y, task, dtype)

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


def _from_builtin(name, gen, n_samples, noise, kwargs):
    """(name, X, y, test_mask, task) of a built-in dataset; generated sets draw from ``gen`` first."""
    try:
        builder, allowed = lookup("dataset", name, BUILTIN)
    except GradstepError as err:
        raise GradstepError(
            f"{err} A path to a .npz, .csv or IDX file, or a directory of IDX files, also works."
        ) from None
    source, name = name, name.lower()
    _check_kwargs(kwargs, allowed, name)
    if name in GENERATED:
        n = DEFAULT_N_SAMPLES if n_samples is None else n_samples
        X, y = builder(gen, n, noise, **kwargs)
        return name, X, y, None, "classification"
    _check_no_noise(noise, source)
    X, y = builder()
    X, y, _ = _subset(gen, X, y, None, n_samples, name)
    return name, X, y, None, "classification"


def _from_file(source, gen, n_samples, noise, kwargs):
    """(name, X, y, test_mask, task) of a file or a directory of IDX files."""
    path = Path(source)
    _check_kwargs(kwargs, ("target", "task") if path.suffix.lower() == ".csv" else ("task",), path)
    _check_no_noise(noise, source)
    X, y, test_mask = read_path(path, kwargs.get("target"))
    task = kwargs.get("task") or ("classification" if is_integral(y) else "regression")
    check_choice("task", task, TASKS)
    X, y, test_mask = _subset(gen, X, y, test_mask, n_samples, path.name)
    return path.name, X, y, test_mask, task


def _subset(gen, X, y, test_mask, n_samples, name):
    """A seeded subset of ``n_samples`` rows in their original order (all rows when None)."""
    if n_samples is None:
        return X, y, test_mask
    if n_samples > len(X):
        raise GradstepError(
            f"Argument `n_samples` must be at most the {len(X)} samples of '{name}'. "
            f"Received: n_samples={n_samples}"
        )
    keep = np.sort(gen.choice(len(X), size=n_samples, replace=False))
    return X[keep], y[keep], None if test_mask is None else test_mask[keep]


def _encode_labels(name, y, task, dtype):
    """(classes, y): class labels become ``0..n_classes-1`` with ``classes[y]`` the original; regression
    targets become ``dtype`` and ``classes`` is None."""
    if task != "classification":
        return None, y.astype(dtype)
    if not is_integral(y):
        raise GradstepError(
            f"Dataset '{name}' has non-integer labels; pass task='regression' for them (--task regression): "
            f"class labels must be integer ids, and these are {_describe_labels(y)}."
        )
    classes, y = np.unique(y, return_inverse=True)
    y = y.astype(np.int64).reshape(-1)
    if len(classes) < 2:
        raise GradstepError(f"Dataset '{name}' needs at least 2 classes; its labels hold {len(classes)}.")
    return classes, y


def _describe_labels(y) -> str:
    """``50 distinct float values such as 0.0204``: what the labels look like, for an error message."""
    values = np.unique(np.asarray(y).reshape(-1))
    kind = "float" if values.dtype.kind == "f" else str(values.dtype)
    odd = [v for v in values.tolist() if not (isinstance(v, (int, float)) and float(v).is_integer())]
    example = odd[0] if odd else values[0]
    example = f"{example:.3g}" if isinstance(example, float) else repr(example)
    return f"{len(values)} distinct {kind} values such as {example}"


def _check_no_noise(noise, source) -> None:
    if noise is not None:
        raise GradstepError(
            f"Argument `noise` applies to generated datasets only ({', '.join(GENERATED)}). "
            f"Received: noise={noise!r} for '{source}'"
        )


def _check_kwargs(kwargs: dict, allowed, source) -> None:
    for key, value in kwargs.items():
        if key not in allowed:
            accepts = ", ".join(f"`{a}`" for a in allowed) or "no extra arguments"
            raise GradstepError(
                f"Argument `{key}` is not accepted for dataset '{source}', which takes {accepts}. "
                f"Received: {key}={value!r}"
            )

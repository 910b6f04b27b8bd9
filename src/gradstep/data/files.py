"""Datasets from files: NPZ archives, numeric CSV and IDX (the format of MNIST and Fashion-MNIST).

:func:`read_path` dispatches on what a path is and returns ``(X, y, test_mask)``, where ``test_mask``
marks the rows of a test set the file carries (None when it carries none).

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions), one
big-endian uint32 per dimension, then the data in big-endian C order, raw or gzipped. Images and labels
live in two files named ``<set>-images-idx3-ubyte`` and ``<set>-labels-idx1-ubyte``, where ``<set>`` is
``train`` or ``t10k``; Kaggle's copies write ``train-images.idx3-ubyte``.
"""

from __future__ import annotations

import csv
import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from .._validation import GradstepError, check_int, unknown_name

# fmt: off
__all__ = [
    "load_npz", "load_csv", "load_idx", "read_path", "is_integral",
    "read_idx", "labels_path_for", "read_idx_pair", "read_idx_dir",
]
# fmt: on


def read_path(path: Path, target=None):
    """(X, y, test_mask) from a file or directory; test_mask marks a test set the file carries."""
    if not path.exists():
        raise GradstepError(f"Dataset path '{path}' does not exist.")
    if path.is_dir():
        X, y, test_mask = read_idx_dir(path)
    elif path.suffix.lower() == ".npz":
        X, y, test_mask = _read_npz(path)
    elif path.suffix.lower() == ".csv":
        X, y = load_csv(path, target=target)
        test_mask = None
    elif "idx" in path.name.lower() or "ubyte" in path.name.lower():
        (X, y), test_mask = read_idx_pair(path), None
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
    return X, (y.astype(np.int64) if is_integral(y) else y)


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
        X, y, _ = read_idx_dir(path)
        return X, y
    return read_idx_pair(path)


def is_integral(y: np.ndarray) -> bool:
    """Whether every label is a whole number (integer dtype, or finite floats without a fraction)."""
    if y.dtype.kind in "iub":
        return True
    return y.dtype.kind == "f" and bool(np.all(np.isfinite(y))) and bool(np.all(y == np.round(y)))


# -------------------------------------------------------------------------------------------- IDX

_TYPE_CODES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise GradstepError(f"Cannot read IDX file '{path}': {e.strerror or e}.") from None
    if raw[:2] == b"\x1f\x8b":  # gzip magic: trust the content, not the file name
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error):
            raise GradstepError(f"IDX file '{path}' is a corrupt or truncated gzip archive.") from None
    return raw


def read_idx(path) -> np.ndarray:
    """Return the array stored in one IDX file, with its stored shape and a native-endian dtype."""
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPE_CODES or raw[3] == 0:
        raise GradstepError(
            f"'{path}' is not an IDX file: its magic number is 0x{raw[:4].hex() or 'empty'}, expected "
            "two zero bytes, a type code (0x08 to 0x0E) and a dimension count of at least 1."
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise GradstepError(
            f"IDX file '{path}' is truncated: its header needs {header} bytes, it has {len(raw)}."
        )
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_TYPE_CODES[raw[2]])
    count = math.prod(dims)
    expected = count * dtype.itemsize
    got = len(raw) - header
    if got != expected:
        problem = "is truncated" if got < expected else "has trailing bytes"
        raise GradstepError(
            f"IDX file '{path}' {problem}: shape {tuple(dims)} needs {expected} data bytes, it has {got}."
        )
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="))  # a writable native-endian copy


def labels_path_for(images: Path) -> Path:
    """Find the labels file beside an images file: ``*-images-idx3-ubyte`` -> ``*-labels-idx1-ubyte``."""
    name = images.name
    if "images" not in name:
        raise GradstepError(
            f"Cannot find the labels for IDX file '{images}': its name does not contain 'images' "
            "(expected e.g. train-images-idx3-ubyte beside train-labels-idx1-ubyte)."
        )
    base = name.replace("images", "labels").replace("idx3", "idx1")
    stem = base[:-3] if base.endswith(".gz") else base
    candidates = [images.with_name(n) for n in dict.fromkeys([base, stem, stem + ".gz"])]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(f"'{c.name}'" for c in candidates)
    raise GradstepError(f"No labels file found for IDX images '{images}' (looked for {looked}).")


def read_idx_pair(images) -> tuple[np.ndarray, np.ndarray]:
    """Read an images file and its labels file; return X as (n, features) and y as (n,)."""
    images = Path(images)
    X = read_idx(images)
    if X.ndim < 2:
        raise GradstepError(
            f"IDX file '{images}' holds 1-D data (a labels file?); pass the images file instead."
        )
    labels = labels_path_for(images)
    y = read_idx(labels)
    if y.ndim != 1:
        raise GradstepError(f"IDX labels file '{labels}' must be 1-D; it has shape {y.shape}.")
    if len(X) != len(y):
        raise GradstepError(
            f"IDX images '{images}' hold {len(X)} samples but labels '{labels}' hold {len(y)}."
        )
    return X.reshape(len(X), math.prod(X.shape[1:])), y  # an empty set (0, 28, 28) keeps 784 columns


def _images_files(directory: Path, prefixes: tuple[str, ...]) -> list[Path]:
    found = {}
    for p in sorted(directory.iterdir()):
        name = p.name.lower()
        if p.is_file() and "images" in name and ("idx" in name or "ubyte" in name):
            if name.startswith(prefixes):
                found.setdefault(name.removesuffix(".gz"), p)  # raw and .gz copies: keep one
    return list(found.values())


def read_idx_dir(directory) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Read the train and t10k pairs in a directory: (X, y, test_mask), train rows first.

    ``test_mask`` marks the rows of the t10k (or test) files, or is None when there are none.
    """
    directory = Path(directory)
    train = _images_files(directory, ("train",))
    test = _images_files(directory, ("t10k", "test"))
    if not train:
        raise GradstepError(
            f"Directory '{directory}' holds no IDX training images (expected train-images-idx3-ubyte, "
            "optionally .gz, beside train-labels-idx1-ubyte)."
        )
    parts = [read_idx_pair(p) for p in train + test]
    widths = {X.shape[1] for X, _ in parts}
    if len(widths) > 1:
        raise GradstepError(
            f"IDX files in '{directory}' disagree on the image size: {sorted(widths)} pixels."
        )
    X = np.concatenate([X for X, _ in parts])
    y = np.concatenate([y for _, y in parts])
    n_train = sum(len(y) for _, y in parts[: len(train)])
    if not test:
        return X, y, None
    test_mask = np.zeros(len(y), dtype=bool)
    test_mask[n_train:] = True
    return X, y, test_mask

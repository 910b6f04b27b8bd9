"""Reading IDX files, the format of MNIST and Fashion-MNIST, raw or gzipped.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions), one
big-endian uint32 per dimension, then the data in big-endian C order. Images and labels live in two
files named ``<set>-images-idx3-ubyte`` and ``<set>-labels-idx1-ubyte``, where ``<set>`` is ``train``
or ``t10k``; Kaggle's copies write ``train-images.idx3-ubyte``.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from ._validation import GradstepError

__all__ = ["read_idx", "labels_path_for", "read_idx_pair", "read_idx_dir"]

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

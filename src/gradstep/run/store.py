"""What a run leaves on disk: the checkpoint file format, a run's checkpoint, history, metrics, config.

An output folder holds ``checkpoint.gradstep``, ``history.csv``, ``history.json``, ``metrics.json``,
``config.json`` (and ``curves.png``, drawn by :mod:`gradstep.plots`). Every file is written whole or not
at all, and every JSON file is standard JSON (:mod:`gradstep._json`: a non-finite number is ``null``).

Checkpoints cannot be half-written and are verified before anything is loaded. File layout
(little-endian), no pickle anywhere::

    b"GRADSTEP"                  8 bytes, magic
    version                      uint32
    header_length                uint64
    header                       UTF-8 JSON: {"meta": {...}, "arrays": [{name, dtype, shape, offset, nbytes}]}
    payload                      the arrays' bytes, C order, at their offsets
    sha256                       32 bytes over everything above

:func:`save` writes to a temporary file in the same folder, fsyncs it, renames it over the target
(atomic on POSIX) and fsyncs the folder, so a crash at any point leaves either the old file or the new
one. :func:`load` reads the whole file and checks magic, version, length, checksum, header and every
array's bounds before returning anything; callers then check compatibility with the live model before
they copy a single number into it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._json import dumps, jsonable
from .._validation import GradstepError

if TYPE_CHECKING:
    from .build import Run

__all__ = [
    "FORMAT_VERSION",
    "CHECKPOINT_NAME",
    "Checkpoint",
    "CheckpointError",
    "save",
    "load",
    "atomic_write_bytes",
    "remove_stale_temporaries",
    "save_checkpoint",
    "load_training_checkpoint",
    "restore",
    "write_json",
    "write_history",
    "RUN_FILES",
]

CHECKPOINT_NAME = "checkpoint.gradstep"
# What a run writes into its folder; --overwrite replaces exactly these.
RUN_FILES = (CHECKPOINT_NAME, "config.json", "history.json", "history.csv", "metrics.json", "curves.png")
_KIND = "gradstep.training"

MAGIC = b"GRADSTEP"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<8sIQ")
_DIGEST_SIZE = 32
_DTYPES = {"float16", "float32", "float64", "int32", "int64", "uint8", "bool"}


class CheckpointError(GradstepError):
    """A checkpoint file that is missing, corrupt, of another version or of another model."""


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint file holds: named arrays and a JSON-compatible ``meta`` dict."""

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]


def save(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Write ``arrays`` and ``meta`` to ``path`` atomically; refuse non-finite floating-point values.

    A checkpoint is something a user resumes from, so a NaN in it is lost work disguised as saved work:
    :class:`CheckpointError` is raised and the previous file at ``path`` stays as it was.
    """
    path = Path(path)
    entries, chunks, offset = [], [], 0
    for name, array in arrays.items():
        a = np.ascontiguousarray(array)
        if a.dtype.name not in _DTYPES:
            raise CheckpointError(
                f"Cannot save array {name!r} of dtype {a.dtype}; supported: {sorted(_DTYPES)}"
            )
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise CheckpointError(f"Refusing to save a checkpoint: array {name!r} holds non-finite values")
        data = a.tobytes()
        entries.append(
            {
                "name": name,
                "dtype": a.dtype.name,
                "shape": list(a.shape),
                "offset": offset,
                "nbytes": len(data),
            }
        )
        chunks.append(data)
        offset += len(data)
    header = json.dumps({"meta": meta, "arrays": entries}, sort_keys=True, allow_nan=False).encode()
    body = b"".join([_PREFIX.pack(MAGIC, FORMAT_VERSION, len(header)), header, *chunks])
    blob = body + hashlib.sha256(body).digest()

    return atomic_write_bytes(path, blob)


def atomic_write_bytes(path: str | os.PathLike, blob: bytes) -> Path:
    """Write ``blob`` to ``path`` through a fsynced temporary file and a rename: all or nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete temporary files left beside ``path`` by writers that died mid-write (e.g. SIGKILL).

    A temporary file's name carries its writer's process id; only files whose writer is no longer
    alive are removed, so a save in progress in another process is never disturbed.
    """
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        pid = tmp.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load(path: str | os.PathLike) -> Checkpoint:
    """Read and fully verify a checkpoint; raise :class:`CheckpointError` with one clear sentence."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"No checkpoint at {path}") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path} is a folder, not a checkpoint file") from None
    except OSError as exc:
        raise CheckpointError(f"Cannot read checkpoint {path}: {exc.strerror}") from None

    if len(blob) < _PREFIX.size + _DIGEST_SIZE or not blob.startswith(MAGIC):
        raise CheckpointError(f"{path} is not a gradstep checkpoint (wrong magic bytes or too short)")
    _, version, header_len = _PREFIX.unpack_from(blob)
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {version}; this gradstep reads version {FORMAT_VERSION}"
        )
    body, digest = blob[:-_DIGEST_SIZE], blob[-_DIGEST_SIZE:]
    if hashlib.sha256(body).digest() != digest:
        raise CheckpointError(f"{path} is corrupt: its checksum does not match (truncated or modified)")
    start = _PREFIX.size
    try:
        header = json.loads(body[start : start + header_len].decode())
        meta, entries = header["meta"], header["arrays"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        raise CheckpointError(f"{path} is corrupt: its header cannot be read") from None

    payload = memoryview(body)[start + header_len :]
    arrays = {}
    for e in entries:
        try:
            dtype = np.dtype(e["dtype"]) if e["dtype"] in _DTYPES else None
            shape, off, n = tuple(int(s) for s in e["shape"]), int(e["offset"]), int(e["nbytes"])
        except (KeyError, TypeError, ValueError):
            dtype = None
        if dtype is None or off < 0 or off + n > len(payload) or n != dtype.itemsize * int(np.prod(shape)):
            raise CheckpointError(f"{path} is corrupt: array entry {e.get('name')!r} is inconsistent")
        arrays[e["name"]] = np.frombuffer(payload[off : off + n], dtype=dtype).reshape(shape).copy()
    return Checkpoint(arrays=arrays, meta=meta)


# ------------------------------------------------------------------------------ a run's checkpoint


def save_checkpoint(path: str | Path, run: Run) -> Path:
    """Write the whole run (parameters, optimizer state, configuration, position, history) atomically."""
    header, opt_arrays = run.optimizer.flat_state_dict()
    arrays = {"model/params": run.model.params}
    arrays.update({f"optimizer/{key}": a for key, a in opt_arrays.items()})
    meta = {
        "kind": _KIND,
        "config": run.config.to_dict(),
        "model": jsonable(run.model.config()),
        "optimizer": jsonable(header),
        "state": jsonable(run.state.to_dict()),
    }
    return save(path, arrays, meta)


def load_training_checkpoint(path: str | Path) -> Checkpoint:
    """:func:`load`, refusing a file that is not a training run's checkpoint."""
    c = load(path)
    if c.meta.get("kind") != _KIND:
        raise CheckpointError(f"{path} is not a training checkpoint")
    return c


def restore(source: str | Path | Checkpoint, run: Run) -> None:
    """Load a checkpoint (a path or an already loaded one) into ``run``, verifying all before any change."""
    from ..train import TrainState

    c = source if isinstance(source, Checkpoint) else load(source)
    path = "the checkpoint" if isinstance(source, Checkpoint) else source
    meta = c.meta
    if meta.get("kind") != _KIND:
        raise CheckpointError(f"{path} is not a training checkpoint")
    if meta.get("model") != jsonable(run.model.config()):
        raise CheckpointError(
            f"{path} holds a model of another architecture ({_describe(meta.get('model'))}) than this run's "
            f"({_describe(run.model.config())})"
        )
    params = c.arrays.get("model/params")
    if params is None or params.shape != run.model.params.shape or params.dtype != run.model.params.dtype:
        raise CheckpointError(f"{path} has parameters that do not fit this model")
    prefix = "optimizer/"
    opt_arrays = {k[len(prefix) :]: a for k, a in c.arrays.items() if k.startswith(prefix)}
    # The optimizer checks everything before it changes anything; only then are parameters copied.
    run.optimizer.load_flat_state_dict(meta["optimizer"], opt_arrays)
    run.model.params[...] = params
    run.state = TrainState.from_dict(meta["state"])


def _describe(model_cfg) -> str:
    if not isinstance(model_cfg, dict):
        return "unknown"
    sizes = model_cfg.get("layer_sizes")
    return f"layers {sizes}, {model_cfg.get('activation')}, {model_cfg.get('dtype')}"


# ---------------------------------------------------------------------------- results and history


def write_json(path: Path, obj: Any, *, indent: int = 2) -> None:
    """``obj`` as standard JSON text at ``path``, atomically."""
    atomic_write_bytes(path, dumps(obj, indent=indent).encode())


def write_history(out: Path, history: list[dict[str, Any]]) -> None:
    """``history.json`` and ``history.csv`` (one row per epoch, one column per layer's gradient norm)."""
    write_json(out / "history.json", history, indent=1)
    cols = ["epoch", "step", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"]
    buf = io.StringIO()
    w = csv.writer(buf)
    n_layers = len(history[0]["grad_norms"]) if history else 0
    w.writerow(cols + [f"grad_norm_layer{j + 1}" for j in range(n_layers)])
    for r in history:
        w.writerow([r.get(c, "") for c in cols] + list(r["grad_norms"]))
    atomic_write_bytes(out / "history.csv", buf.getvalue().encode())

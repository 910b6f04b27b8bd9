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
import math
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
        # NaN and Infinity are not JSON: a header holding them was not written by save().
        header = json.loads(body[start : start + header_len].decode(), parse_constant=_reject_constant)
        meta, entries = header["meta"], header["arrays"]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise CheckpointError(f"{path} is corrupt: its header cannot be read") from None
    if not isinstance(meta, dict) or not isinstance(entries, list):
        raise CheckpointError(f"{path} is corrupt: its header is not laid out as a checkpoint's")

    payload = memoryview(body)[start + header_len :]
    arrays = {}
    for e in entries:
        name, dtype, shape, off, n = _array_entry(e)
        if (
            dtype is None
            or name in arrays
            or off + n > len(payload)
            or n != dtype.itemsize * math.prod(shape)
        ):
            raise CheckpointError(f"{path} is corrupt: array entry {name!r} is inconsistent")
        a = np.frombuffer(payload[off : off + n], dtype=dtype).reshape(shape).copy()
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise CheckpointError(f"{path} is corrupt: array {name!r} holds non-finite values")
        arrays[name] = a
    return Checkpoint(arrays=arrays, meta=meta)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _array_entry(e) -> tuple:
    """(name, dtype, shape, offset, nbytes) of a header's array entry; dtype None when malformed."""
    bad = (e.get("name") if isinstance(e, dict) else None, None, (), 0, 0)
    if not isinstance(e, dict) or not isinstance(e.get("name"), str):
        return bad
    if not isinstance(e.get("dtype"), str) or e["dtype"] not in _DTYPES:
        return bad
    shape, off, n = e.get("shape"), e.get("offset"), e.get("nbytes")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape + [off, n]):
        return bad
    return e["name"], np.dtype(e["dtype"]), tuple(shape), off, n


def _is_count(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


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
        **({"data": run.data_fingerprint} if run.data_fingerprint else {}),
    }
    return save(path, arrays, meta)


def data_fingerprint(config) -> dict[str, Any]:
    """What a run's data is, to tell later whether it changed: for a file (or a folder of IDX files) its
    absolute path, size and SHA-256; for a built-in or generated dataset its name (its parameters and
    seed are the run's configuration)."""
    import hashlib

    if not config.is_file_dataset:
        return {"builtin": config.data}
    path = Path(config.data)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest, size = hashlib.sha256(), 0
    for f in files:
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
    return {"path": str(path), "size": size, "sha256": digest.hexdigest()}


def check_same_data(meta: dict, run: Run, path, *, allow_changed: bool = False) -> None:
    """Refuse, in one sentence, to resume or evaluate a checkpoint on data other than it was trained on
    (checkpoints written before fingerprints existed carry none and are not checked)."""
    saved, now = meta.get("data"), run.data_fingerprint
    if allow_changed or not saved or saved == now:
        return
    if saved.get("builtin") or (now or {}).get("builtin"):
        what = f"it was trained on {saved.get('builtin') or saved.get('path')}"
    elif saved.get("size") != now.get("size"):
        what = f"{now['path']} is now {now['size']:,} bytes; it was {saved['size']:,} when trained"
    else:
        what = f"{now['path']} has the same size but other content (SHA-256 differs)"
    raise GradstepError(
        f"The data of {path} changed since training: {what}; pass --allow-changed-data to go on anyway"
    )


def load_training_checkpoint(path: str | Path) -> Checkpoint:
    """:func:`load`, refusing a file that is not a whole, consistent training run's checkpoint."""
    c = load(path)
    check_training_meta(c.meta, path)
    return c


# The meta a training checkpoint must hold, and the type of each part.
_META = {"kind": str, "config": dict, "model": dict, "optimizer": dict, "state": dict}
_OPTIMIZER_META = {"name": str, "hyperparams": dict, "t": int, "state_names": list, "n_arrays": int}
_STATE_META = {"epoch": int, "batch": int, "step": int, "history": list, "running": dict}
_RECORD_NUMBERS = ("epoch", "step", "train_loss", "train_accuracy", "lr", "seconds")


def check_training_meta(meta: dict, path) -> None:
    """Raise :class:`CheckpointError` unless ``meta`` has every part a training run's checkpoint has,
    each of the right type, its configuration valid and its position consistent with it."""
    from .config import RunConfig

    if meta.get("kind") != _KIND:
        raise CheckpointError(f"{path} is not a training checkpoint")
    _require(meta, _META, path, "")
    header = meta["optimizer"]
    while isinstance(header, dict) and "inner" in header:  # a wrapper (Lookahead, EMA) around it
        _require(header, {"name": str, "hyperparams": dict, "inner": dict}, path, "optimizer ")
        header = header["inner"]
    _require(header, _OPTIMIZER_META, path, "optimizer ")
    _require(meta["state"], _STATE_META, path, "state ")
    try:
        config = RunConfig.from_dict(meta["config"])
    except GradstepError as exc:
        raise CheckpointError(f"{path} holds an invalid run configuration: {exc}") from None
    except (TypeError, ValueError, AttributeError):
        raise CheckpointError(f"{path} holds an invalid run configuration") from None
    _check_state(meta["state"], config, path)


def _require(d: dict, types: dict, path, what: str) -> None:
    for key, typ in types.items():
        value = d.get(key)
        if not isinstance(value, typ) or (typ is int and (isinstance(value, bool) or value < 0)):
            raise CheckpointError(f"{path} is inconsistent: its {what}{key!r} is missing or malformed")


def _check_state(state: dict, config, path) -> None:
    from ..train import TrainState

    known = {f for f in TrainState.__dataclass_fields__}
    if not set(state) <= known or not isinstance(state.get("stopped_early", False), bool):
        raise CheckpointError(f"{path} is inconsistent: its training state has unknown or malformed parts")
    initial = state.get("initial_loss")
    if initial is not None and (not _is_number(initial) or not math.isfinite(initial)):
        raise CheckpointError(f"{path} is inconsistent: its initial loss is not a finite number")
    history = state["history"]
    if len(history) != state["epoch"] or state["epoch"] > config.epochs:
        raise CheckpointError(
            f"{path} is inconsistent: it records {len(history)} epochs of history at epoch {state['epoch']} "
            f"of {config.epochs}"
        )
    for r in history:
        if not isinstance(r, dict) or not all(_is_number(r.get(k)) for k in _RECORD_NUMBERS):
            raise CheckpointError(f"{path} is inconsistent: its history holds a malformed epoch record")
        if not isinstance(r.get("grad_norms"), list) or not all(_is_number(g) for g in r["grad_norms"]):
            raise CheckpointError(f"{path} is inconsistent: its history holds malformed gradient norms")
    running = state["running"]
    if running and not (
        all(_is_number(running.get(k)) for k in ("loss_sum", "correct", "seen", "seconds"))
        and isinstance(running.get("grad_norm_sums"), list)
        and all(_is_number(g) for g in running["grad_norm_sums"])
    ):
        raise CheckpointError(f"{path} is inconsistent: its running sums of the epoch are malformed")


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def restore(source: str | Path | Checkpoint, run: Run) -> None:
    """Load a checkpoint (a path or an already loaded one) into ``run``, verifying all before any change."""
    from ..train import TrainState

    c = source if isinstance(source, Checkpoint) else load(source)
    path = "the checkpoint" if isinstance(source, Checkpoint) else source
    meta = c.meta
    check_training_meta(meta, path)
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
    state = TrainState.from_dict(meta["state"])
    _check_position(state, run, path)
    # The optimizer checks everything before it changes anything; only then are parameters copied.
    try:
        run.optimizer.load_flat_state_dict(meta["optimizer"], opt_arrays)
    except GradstepError as exc:
        raise CheckpointError(f"{path} cannot be restored: {exc}") from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        raise CheckpointError(f"{path} is inconsistent: its optimizer state is malformed") from None
    run.model.params[...] = params
    run.state = state


def _check_position(state, run: Run, path) -> None:
    """The loop's position must be one this run can be at: step = epoch x batches per epoch + batch."""
    from ..data import n_batches

    per_epoch = n_batches(len(run.data.X_train), run.config.batch_size)
    n_layers = len(run.model.layers)
    ok = state.batch < per_epoch and state.step == state.epoch * per_epoch + state.batch
    ok &= all(len(r["grad_norms"]) == n_layers for r in state.history)
    ok &= not state.running or len(state.running["grad_norm_sums"]) == n_layers
    ok &= state.batch == 0 or bool(state.running)
    if not ok:
        raise CheckpointError(
            f"{path} is inconsistent: epoch {state.epoch}, batch {state.batch} and step {state.step} are "
            f"not a position of this run ({per_epoch} batches per epoch, {n_layers} layers)"
        )


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

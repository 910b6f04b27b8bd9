"""Moved to :mod:`gradstep.run.store`; this name stays only for the importers not yet updated
(``gradstep.checkpoint`` in ``gradstep/__init__.py``, ``commands/doctor.py``). Delete it once they
import from :mod:`gradstep.run.store`."""

from .run.store import (
    FORMAT_VERSION,
    Checkpoint,
    CheckpointError,
    atomic_write_bytes,
    load,
    remove_stale_temporaries,
    save,
)

__all__ = [
    "FORMAT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "save",
    "load",
    "atomic_write_bytes",
    "remove_stale_temporaries",
]

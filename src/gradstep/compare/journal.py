"""The journal of a grid: one JSON line per finished run, appended the moment it finishes.

A grid of hundreds of runs can be stopped by anything (Ctrl-C, a lost machine, a dead Dask worker). Each
finished run is therefore written at once, as one line of ``compare-runs.jsonl``::

    {"key": ..., "config": {...RunConfig...}, "target_accuracy": 0.95, "run": {...what grid measured...}}

and a grid given the same journal with ``resume=True`` reruns only the runs it does not hold. A run is
identified by its whole :class:`~gradstep.run.RunConfig` and the target (``key``), never by its position
in the grid, so a resumed grid may add seeds or combinations and still reuse every run that matches.

One process (the one that called :func:`gradstep.compare.grid`) writes the journal, each line with a
single ``write`` to a file opened for appending, then ``fsync``: a crash can leave at most a torn last
line, which :meth:`Journal.finished` drops (and cuts off before appending after it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .._json import dumps
from .._validation import GradstepError

__all__ = ["Journal", "JOURNAL_NAME", "run_key"]

JOURNAL_NAME = "compare-runs.jsonl"


def run_key(config, target: float) -> str:
    """The identity of one run of a grid: its configuration and the target its outcome is measured
    against, as canonical JSON (the same text on every machine and in every Python session)."""
    return json.dumps({"config": config.to_dict(), "target_accuracy": target}, sort_keys=True)


class Journal:
    """``path``: the JSON-lines file. Begin it with :meth:`start` (a new grid) or read it with
    :meth:`finished` (resume); then :meth:`append` each run as it finishes."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def start(self) -> None:
        """Begin a new journal: the one at ``path``, if any, is removed (the first :meth:`append`
        creates the file, so a grid that fails before any run finishes leaves no file behind)."""
        self.path.unlink(missing_ok=True)

    def finished(self) -> dict[str, dict[str, Any]]:
        """The runs already in the journal, by :func:`run_key`; a torn last line is cut off."""
        try:
            blob = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise GradstepError(f"Cannot read the journal {self.path}: {exc.strerror}.") from None
        complete = blob[: blob.rfind(b"\n") + 1]
        if len(complete) != len(blob):
            # The process that wrote it died in the middle of a line: that run is not finished.
            self._write_new(complete)
        out = {}
        for number, line in enumerate(complete.splitlines(), start=1):
            try:
                entry = json.loads(line)
                out[entry["key"]] = entry["run"]
            except (ValueError, KeyError, TypeError):
                raise GradstepError(
                    f"The journal {self.path} is damaged at line {number}; move it away to start the grid "
                    f"afresh."
                ) from None
        return out

    def append(self, key: str, config, target: float, run: dict[str, Any]) -> None:
        """Add one finished run: one line, one ``write``, flushed to disk before returning."""
        entry = {"key": key, "config": config.to_dict(), "target_accuracy": target, "run": run}
        line = (dumps(entry, indent=None) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, line)
            if written != len(line):  # a full disk; the torn line is dropped on resume
                raise OSError(f"only {written} of {len(line)} bytes of a journal line were written")
            os.fsync(fd)
        finally:
            os.close(fd)

    def _write_new(self, blob: bytes) -> None:
        from ..run.store import atomic_write_bytes

        atomic_write_bytes(self.path, blob)

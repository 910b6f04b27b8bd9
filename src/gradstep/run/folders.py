"""Output folders: claimed atomically, checked before any work, replaced whole, removed when a run fails.

Every command that writes results (``train``, ``compare``, ``lab``) settles its output folder first, so
a path that names a file, lies under a file or cannot be written is one sentence before a single epoch
runs. A numbered folder (``runs/train-007``) is claimed with an exclusive ``mkdir``: two processes
started at once can never pick the same number, because only one ``mkdir`` of a name succeeds.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .._validation import GradstepError

__all__ = ["claim_run_dir", "next_run_dir", "prepare_folder", "remove_created", "fresh_sibling", "swap_in"]


def next_run_dir(root: str | Path = "runs", prefix: str = "train") -> Path:
    """The first ``root/prefix-NNN`` that does not exist yet (not claimed: see :func:`claim_run_dir`)."""
    root = Path(root)
    i = 1
    while (root / f"{prefix}-{i:03d}").exists():
        i += 1
    return root / f"{prefix}-{i:03d}"


def claim_run_dir(root: str | Path = "runs", prefix: str = "train") -> Path:
    """Create and return a new ``root/prefix-NNN`` folder that no other process can also have claimed.

    ``os.mkdir`` of an existing name fails, so the first free number is taken by trying it: a process
    that loses a race to another one moves on to the next number.
    """
    root = Path(root)
    prepare_folder(root)
    i = 1
    while True:
        candidate = root / f"{prefix}-{i:03d}"
        try:
            os.mkdir(candidate)
            return candidate
        except FileExistsError:
            i += 1
        except OSError as exc:
            raise GradstepError(f"Cannot create the run folder {candidate}: {exc.strerror}.") from None


def prepare_folder(out: str | Path) -> list[Path]:
    """Make sure ``out`` is a folder this process can write into; return the folders it had to create.

    Raises :class:`GradstepError` (one sentence) when ``out`` is a file, lies under a file, or is not
    writable. Writability is tested by creating a file, not by ``os.access``, which says yes to root on
    a read-only file system.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GradstepError(f"Argument `--out` must be a folder; '{out}' is a file.")
    missing = [p for p in (out, *out.parents) if not p.exists()]
    for p in reversed(missing):
        try:
            os.mkdir(p)
        except FileExistsError:
            if not p.is_dir():
                raise GradstepError(f"Cannot create the output folder {out}: '{p}' is a file.") from None
        except OSError as exc:
            remove_created(missing)
            blocker = next((q for q in p.parents if q.exists() and not q.is_dir()), None)
            reason = f"'{blocker}' is a file" if blocker is not None else exc.strerror
            raise GradstepError(f"Cannot create the output folder {out}: {reason}.") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".gradstep-write-test.", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        remove_created(missing)
        raise GradstepError(f"Cannot write into the output folder {out}: {exc.strerror}.") from None
    return missing


def remove_created(folders: list[Path]) -> None:
    """Remove the folders :func:`prepare_folder` created, deepest first, where they are still empty."""
    for p in folders:  # deepest first: prepare_folder lists out before its parents
        try:
            os.rmdir(p)
        except FileNotFoundError:
            continue
        except OSError:
            return


def fresh_sibling(out: Path, tag: str) -> Path:
    """A new, empty hidden folder beside ``out`` (same file system, so a rename can move it there)."""
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.{tag}-{os.getpid()}.", dir=out.parent))


def swap_in(new: Path, out: Path) -> None:
    """Replace the run in ``out`` by the one in ``new`` with renames, so no reader ever finds files of
    both runs in ``out``; files in ``out`` that are not a run's result files are carried over."""
    from .store import RUN_FILES

    old = fresh_sibling(out, "replaced")
    os.rmdir(old)
    os.rename(out, old)
    os.rename(new, out)
    for item in old.iterdir():
        ours = item.name in RUN_FILES or any(item.name.startswith(f".{f}.") for f in RUN_FILES)
        if not ours:
            os.rename(item, out / item.name)
    shutil.rmtree(old, ignore_errors=True)

"""Running a grid's runs on a Dask distributed cluster: one task per run, results as they finish.

Dask's futures are used directly (``client.submit`` and ``as_completed``), not joblib's Dask backend:

- each run is its own task, named after the run, so the dashboard shows which run is where, and a
  worker that dies takes with it only the run it was training (joblib's backend batches several runs
  into one task);
- ``as_completed`` hands over each result the moment it exists, so it reaches the journal at once;
- a run that cannot finish (its worker died more often than the scheduler's ``allowed-failures``) fails
  alone: the other runs go on and are kept, and the grid then reports what is missing, where joblib
  would cancel every outstanding run at the first error;
- the scheduler is an argument (an address or a ``Client``), not a process-wide joblib context.

A task carries the run's :class:`~gradstep.run.RunConfig` and the target, a few hundred bytes; the
worker loads the data itself (the split is a pure function of the seed) and sends back the measured
curves. dask is imported here, only when a grid is sent to a cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .._validation import GradstepError

__all__ = ["connect", "run_on_cluster", "GridIncomplete"]


class GridIncomplete(GradstepError):
    """Some runs of a grid did not finish; ``failed`` holds (run name, reason) for each of them. Every
    run that did finish is in the journal, when the grid has one."""

    def __init__(self, message: str, failed: list[tuple[str, str]]):
        super().__init__(message)
        self.failed = failed


def connect(scheduler: Any):
    """A ``distributed.Client`` for ``scheduler`` (an address, or a ``Client`` used as it is), and
    whether this call opened it (and so must close it)."""
    try:
        from distributed import Client
    except ImportError:
        raise GradstepError(
            "Running a grid on a Dask scheduler needs dask.distributed: pip install 'gradstep[cluster]' "
            "(or 'dask[distributed]')."
        ) from None
    if isinstance(scheduler, Client):
        _check_workers(scheduler)
        return scheduler, False
    try:
        client = Client(scheduler, set_as_default=False)  # waits distributed.comm.timeouts.connect
    except (OSError, TimeoutError, ValueError) as exc:
        raise GradstepError(f"Cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    try:
        _check_workers(client)
    except BaseException:
        client.close()
        raise
    return client, True


def _check_workers(client) -> None:
    """Every worker connected now imports the same gradstep as this process: a worker without it would
    fail each run it is given, one traceback at a time."""
    from .. import __version__

    try:
        versions = client.run(_gradstep_version)
    except Exception as exc:  # the worker could not unpickle a gradstep function: no gradstep there
        raise GradstepError(
            f"A Dask worker cannot run gradstep ({type(exc).__name__}: {exc}); install gradstep "
            f"{__version__} on every worker."
        ) from None
    wrong = {addr: v for addr, v in versions.items() if v != __version__}
    if wrong:
        addr, version = next(iter(wrong.items()))
        raise GradstepError(
            f"The Dask worker {addr} has gradstep {version}, this machine {__version__}; install the same "
            f"version on every worker, or the runs would not be comparable."
        )


def _gradstep_version() -> str:
    from .. import __version__

    return __version__


def run_on_cluster(
    client,
    function: Callable[..., dict[str, Any]],
    configs: Sequence[Any],
    target: float,
    on_done: Callable[[int, dict[str, Any]], None],
) -> None:
    """Run ``function(config, target)`` for every config on the cluster, calling ``on_done(i, result)``
    in this process as each one finishes; raise :class:`GridIncomplete` at the end if any failed."""
    import uuid

    from distributed import as_completed

    batch = uuid.uuid4().hex[:8]  # keys unique to this grid: another client's runs are never reused
    futures = {
        client.submit(function, config, target, key=f"gradstep-{_name(config)}-{batch}", pure=False): i
        for i, config in enumerate(configs)
    }
    failed, pending = [], set(futures)
    try:
        for future in as_completed(futures, loop=client.loop):
            i = futures[future]
            pending.discard(future)
            if future.status == "finished":
                on_done(i, future.result())
            else:
                exc = future.exception()
                failed.append((_name(configs[i]), f"{type(exc).__name__}: {exc}"))
            future.release()
    finally:
        # Stopped here (Ctrl-C, a full disk): the cluster should not go on training runs nobody collects.
        if pending:
            client.cancel(list(pending))
    if failed:
        name, reason = failed[0]
        raise GridIncomplete(
            f"{len(failed)} of {len(configs)} runs did not finish on the cluster (first: {name}, {reason})",
            failed,
        )


def _name(config) -> str:
    return f"{config.init_name}-{config.optimizer}-lr{config.learning_rate:g}-seed{config.seed}"

"""What every benchmark shares: turn-taking timers, summaries, the machine, optional peers.

The machine this runs on may be shared and noisy, so no figure is taken alone: the implementations
compared in a table take turns (one measurement each per round, in a rotating order), each gets the
same number of rounds, and a table reports the median over rounds with the min and max. Ratios are
computed round by round (both sides measured within seconds of each other) and summarised the same
way, which cancels most of a change in load that would skew two medians taken minutes apart.

Between two different implementations the timer pauses briefly (``SETTLE_S``): thread pools
(OpenBLAS, OpenMP, XLA) spin for a while after their last task, and a peer measured inside that window
would pay for its predecessor's spinning threads.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

SETTLE_S = 0.05
ROOT = Path(__file__).resolve().parent
THREADS = 2  # threads every framework may use; set_threads() changes it for the whole run
_limits = None  # threadpoolctl's handle, kept alive for the run


def set_threads(n: int) -> None:
    """Give every framework the same ``n`` threads: BLAS (NumPy, scikit-learn), torch, numba, XLA.

    Environment variables cover libraries not loaded yet (and subprocesses); threadpoolctl, torch and
    numba are set directly for those already loaded. JAX reads ``XLA_FLAGS`` when it is imported, but
    its CPU runtime keeps a thread pool of its own whatever they say (measured: 1.7 cores busy with
    the flags for one thread), so with fewer threads than CPUs the process is also pinned to ``n``
    CPUs: every framework then gets the same cores, however many threads it starts.
    """
    global THREADS, _limits
    THREADS = n
    if hasattr(os, "sched_setaffinity") and n < len(os.sched_getaffinity(0)):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:n])
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    if n == 1:
        flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flags).strip()
    try:
        from threadpoolctl import threadpool_limits

        _limits = threadpool_limits(limits=n)
    except ImportError:
        pass
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    if installed("numba"):
        import numba

        from gradstep.optim import _kernels  # noqa: F401  (chooses the threading layer before it starts)

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def summary(values: list[float], digits: int = 4) -> dict:
    """Median, min, max (and the count) of a list of measurements."""
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "n": len(values),
    }


def take_turns(cases: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run each case once per round, in a rotating order; return every case's measurements.

    A case is a callable that performs one measurement and returns it (seconds per step, samples per
    second, ...). Round r starts at case r mod n, so no case always follows the same neighbour.
    """
    names = list(cases)
    out: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            time.sleep(SETTLE_S)
            out[name].append(cases[name]())
    return out


def paired_ratios(a: list[float], b: list[float]) -> list[float]:
    """a[i] / b[i] for each round i (both measured in the same round)."""
    return [x / y for x, y in zip(a, b, strict=True) if y]


def time_per_call(fn: Callable[[], object], calls: int, sync: Callable[[object], object] | None = None):
    """A measurement: the mean seconds per call over ``calls`` back-to-back calls of ``fn``."""

    def measure() -> float:
        start = time.perf_counter()
        result = None
        for _ in range(calls):
            result = fn()
        if sync is not None:
            sync(result)
        return (time.perf_counter() - start) / calls

    return measure


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    return importlib.util.find_spec(module) is not None


def versions() -> dict[str, str | None]:
    """Installed versions, read from the package metadata (importing torch alone takes seconds)."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name, dist in (("gradstep", "gradstep"), ("numpy", "numpy"), ("numba", "numba"), ("torch", "torch"),
                       ("jax", "jax"), ("optax", "optax"), ("sklearn", "scikit-learn")):  # fmt: skip
        try:
            out[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return sorted(f for f in ("avx", "avx2", "fma", "avx512f") if f in flags)
    except OSError:
        pass
    return []


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine() -> dict:
    """What the figures were measured on, including how busy the machine was."""
    blas = None
    try:
        import numpy as np

        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]
    except Exception:  # noqa: BLE001
        pass
    return {
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "logical_cpus": os.cpu_count(),
        "platform": platform.platform(),
        "numpy_blas": blas,
        "versions": versions(),
        "load_average_1_5_15": load_average(),
        "threads": THREADS,
        "cpu_affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def mlp_peers(quick: bool) -> set[str]:
    """The training peers installed here; JAX only in the full run (its jit compile dwarfs --quick)."""
    peers = {p for p in ("torch", "sklearn") if installed(p)}
    if not quick and installed("jax"):
        peers.add("jax")
    return peers


def script_main(doc: str, run: Callable[..., dict], argv=None, **options) -> int:
    """The command line every benchmark script shares: ``--quick``, ``--json PATH`` and, for each
    keyword in ``options``, ``--name VALUE`` of its default's type, passed on to ``run``."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    for name, default in options.items():
        parser.add_argument(f"--{name}", type=type(default), default=default)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    text = json.dumps(run(args.quick, **{k: getattr(args, k) for k in options}), indent=2)
    if args.json:
        Path(args.json).write_text(text)
    else:
        print(text)
    return 0

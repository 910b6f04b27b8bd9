"""``gradstep bench``: run the benchmark suite (``benchmarks/run.py``) or a part of it.

The suite lives in the repository's ``benchmarks/`` folder, beside the peers it imports (PyTorch,
scikit-learn, JAX where installed), not inside the installed package. This command finds it next to
the source tree gradstep runs from (a checkout, or an editable install), in ``./benchmarks`` (a
checkout you run it from, whatever way gradstep was installed), or in the folder named by ``--suite``
or ``GRADSTEP_BENCHMARKS``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

PARTS = ("optim", "mlp", "accuracy", "startup")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a few seconds (a smoke test)")
    parser.add_argument(
        "--only", default=None, help=f"run only these parts, comma-separated: {', '.join(PARTS)}"
    )
    parser.add_argument(
        "--json",
        default=None,
        help="where to write the results (default: benchmarks/results/latest.json, quick.json with --quick)",
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="threads for every framework: BLAS, torch, numba, XLA"
    )
    parser.add_argument("--no-table", action="store_true", help="do not print the markdown tables")
    parser.add_argument(
        "--suite", default=None, help="the benchmarks/ folder (default: the one beside gradstep's sources)"
    )


def find_suite(explicit: str | None = None) -> Path | None:
    """The benchmarks/ folder holding run.py: ``explicit`` (only it, when given), else
    $GRADSTEP_BENCHMARKS, else the one beside the source tree (src/ layout or flat), else ./benchmarks."""
    if explicit:
        candidates = [explicit]
    else:
        here = Path(__file__).resolve()
        candidates = [os.environ.get("GRADSTEP_BENCHMARKS")]
        candidates += [str(parent / "benchmarks") for parent in here.parents[2:4]]
        candidates.append(str(Path.cwd() / "benchmarks"))
    for c in candidates:
        if c and (Path(c) / "run.py").is_file():
            return Path(c)
    return None


def run(args: argparse.Namespace) -> int:
    import importlib.util
    import sys

    from .._validation import GradstepError

    if args.only:
        bad = [p for p in args.only.split(",") if p.strip() and p.strip() not in PARTS]
        if bad:
            raise GradstepError(f"--only takes {', '.join(PARTS)} (comma-separated). Received: {bad[0]!r}")
    if args.threads < 1:
        raise GradstepError(f"--threads must be at least 1. Received: {args.threads}")
    suite = find_suite(args.suite)
    if suite is None:
        where = f"in {args.suite}" if args.suite else "beside gradstep's sources or in ./benchmarks"
        raise GradstepError(
            f"cannot find the benchmark suite (benchmarks/run.py) {where}: it ships with gradstep's "
            "source repository, not the installed package; run from a checkout or pass --suite PATH"
        )
    sys.path.insert(0, str(suite))
    spec = importlib.util.spec_from_file_location("gradstep_benchmarks_run", suite / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main_from_args(args)

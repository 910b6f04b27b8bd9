"""Start-up costs, each in a fresh subprocess: ``gradstep --help``, ``import gradstep``, the first fused step.

Every command runs ``repeats`` times, taking turns with the others; the table gives the median wall
time with min and max. ``python -c pass`` is the floor (the interpreter alone). The first fused step
is timed inside a fresh process, from ``import gradstep`` to the end of one Adam step on a small
float32 array: importing numba and loading the cached machine code (compiled once and kept on disk),
which a training run pays once.

    python benchmarks/bench_startup.py [--quick] [--json PATH]
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

FIRST_STEP = (
    "import time, numpy as np; t = time.perf_counter(); import gradstep; "
    "p = np.zeros(8, np.float32); gradstep.Adam([p], backend='numba').step([np.ones_like(p)]); "
    "print(time.perf_counter() - t)"
)

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import numpy": [sys.executable, "-c", "import numpy"],
    "import gradstep": [sys.executable, "-c", "import gradstep"],
    "gradstep --help": [sys.executable, "-m", "gradstep", "--help"],
}


def _timed(cmd):
    def measure() -> float:
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start

    return measure


def _first_step() -> float:
    out = subprocess.run([sys.executable, "-c", FIRST_STEP], check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False, log=C.log) -> dict:
    repeats = 2 if quick else 9
    log("startup: subprocesses")
    _first_step()  # make sure the kernel is compiled and cached before timing its loading
    cases = {name: _timed(cmd) for name, cmd in COMMANDS.items()}
    cases["import gradstep + first fused step (in-process clock)"] = _first_step
    times = C.take_turns(cases, repeats)
    rows = [{"what": name, "seconds": C.summary(ts, 3)} for name, ts in times.items()]
    return {"repeats": repeats, "rows": rows}


def main(argv=None) -> int:
    return C.script_main(__doc__, run, argv)


if __name__ == "__main__":
    sys.exit(main())

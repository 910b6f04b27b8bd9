"""``import gradstep`` and ``gradstep --help`` stay light: which modules they load, not how long it takes.

Start-up time is measured by ``benchmarks/bench_startup.py``; here the property behind it is checked
in a fresh interpreter: none of numba, matplotlib, scikit-learn, torch, scipy or jax is imported.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

HEAVY = ("numba", "llvmlite", "matplotlib", "sklearn", "scipy", "torch", "jax", "rich", "joblib")


def loaded_after(code: str) -> set[str]:
    """Top-level names of the modules loaded by ``code`` in a fresh interpreter."""
    script = (
        textwrap.dedent(code)
        + "\nimport sys\nprint(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    return set(out.stdout.split())


@pytest.mark.parametrize(
    "what, code",
    [
        ("import gradstep", "import gradstep"),
        ("public classes", "from gradstep import Adam, AdamW, Momentum, RMSprop, SGD, optim, init"),
        (
            "gradstep --help",
            """
            import contextlib, io
            from gradstep.cli import main
            with contextlib.redirect_stdout(io.StringIO()):
                assert main(["--help"]) == 0
            """,
        ),
        (
            "gradstep bench --help",
            """
            import contextlib, io
            from gradstep.cli import main
            with contextlib.redirect_stdout(io.StringIO()):
                try:
                    main(["bench", "--help"])
                except SystemExit as exc:
                    assert exc.code == 0
            """,
        ),
    ],
    ids=["import", "public_classes", "help", "bench_help"],
)
def test_stays_light(what, code):
    heavy = loaded_after(code) & set(HEAVY)
    assert not heavy, f"{what} imported {sorted(heavy)}"


def test_numpy_optimizer_step_stays_light():
    """Stepping on the reference path needs NumPy only."""
    loaded = loaded_after(
        """
        import numpy as np
        from gradstep import Adam
        Adam([np.ones(3)], backend="numpy").step([np.ones(3)])
        """
    )
    assert not loaded & set(HEAVY)

"""The benchmark suite runs end to end (``--quick``, tiny sizes) and writes the JSON the README uses.

No timing is asserted: the machine may be busy. This only keeps the benchmark code from rotting.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "run.py"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not RUN.is_file(), reason="the benchmarks/ folder is not in this tree"),
]


def check_result(result: dict, parts: list[str]) -> None:
    assert result["quick"] is True
    assert {"machine", "started", "seconds", "targets", "command"} <= set(result)
    assert {"cpu", "logical_cpus", "versions", "threads"} <= set(result["machine"])
    if "optim" in parts:
        optim = result["optim"]
        assert {"triad", "axpy_inplace"} <= set(optim["bandwidth"])
        impls = {r["impl"] for r in optim["rows"]}
        assert {"gradstep fused", "gradstep numpy", "numpy textbook"} <= impls
        assert {r["optimizer"] for r in optim["rows"]} == {"sgd", "momentum", "rmsprop", "adam"}
        assert {r["arrays"] for r in optim["rows"]} == {1, 10}
        for r in optim["rows"]:
            assert {"ms", "gbps", "params", "arrays"} <= set(r)
            assert r["ms"]["median"] > 0
    if "mlp" in parts:
        mlp = result["mlp"]
        assert {"gradstep", "gradstep fit()"} <= {r["impl"] for r in mlp["rows"]}
        assert {r["dataset"] for r in mlp["rows"]} == {"synthetic-mnist", "digits"}
        assert all(r["samples_per_s"]["median"] > 0 for r in mlp["rows"])
        lean = [a for a in mlp["allocations"] if a["path"].startswith("lean")]
        before = [a for a in mlp["allocations"] if a["path"].startswith("before")]
        assert lean and before
    if "accuracy" in parts:
        assert {"gradstep", "gradstep fit()"} <= {r["impl"] for r in result["accuracy"]["rows"]}
    if "startup" in parts:
        whats = {r["what"] for r in result["startup"]["rows"]}
        assert {"import gradstep", "gradstep --help"} <= whats


def test_run_py_quick_writes_every_part(tmp_path):
    out = tmp_path / "quick.json"
    res = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    result = json.loads(out.read_text())
    check_result(result, ["optim", "mlp", "accuracy", "startup"])
    assert "| gradstep |" in res.stdout or "gradstep fused" in res.stdout  # the tables were printed

    sys.path.insert(0, str(RUN.parent))
    import make_readme_table

    text = make_readme_table.markdown(result)
    assert "Targets" in text and "Milliseconds per step" in text


def test_gradstep_bench_command(tmp_path):
    """The CLI wiring: ``gradstep bench --quick`` (one cheap part; the full quick run is above)."""
    out = tmp_path / "bench.json"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "gradstep",
            "bench",
            "--quick",
            "--only",
            "startup",
            "--json",
            str(out),
            "--no-table",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    check_result(json.loads(out.read_text()), ["startup"])


def test_gradstep_bench_without_its_suite_says_so(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "gradstep", "bench", "--quick", "--suite", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2
    assert "cannot find the benchmark suite (benchmarks/run.py) in" in res.stderr


def test_gradstep_bench_rejects_a_bad_part():
    res = subprocess.run(
        [sys.executable, "-m", "gradstep", "bench", "--only", "optimm"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2
    assert "--only takes optim, mlp, accuracy, startup" in res.stderr

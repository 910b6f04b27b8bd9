"""Run gradstep's benchmark suite (or a part), print the tables and write the JSON.

    python benchmarks/run.py                      # everything, ~10 minutes -> benchmarks/results/latest.json
    python benchmarks/run.py --quick              # tiny sizes, seconds     -> benchmarks/results/quick.json
    python benchmarks/run.py --only optim,startup --json /tmp/out.json
    gradstep bench ...                            # the same, from the command line tool

Parts: ``optim`` (optimizer step against torch.optim, NumPy and optax, with the machine's measured
memory bandwidth), ``mlp`` (training throughput against PyTorch, JAX and scikit-learn, and the bytes a
step allocates), ``accuracy`` (seconds to a test accuracy on digits) and ``startup`` (``gradstep
--help``, ``import gradstep``, the first fused step). Every figure in one JSON comes from one run on
one machine; the JSON records the machine, the library versions and the load average before and
after. ``benchmarks/make_readme_table.py`` turns the JSON into the markdown tables of the README and
``docs/performance.md``. Peers that are not installed (JAX, optax) are skipped; ``--quick`` also skips
JAX to stay fast.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common as C  # noqa: E402

PARTS = ("optim", "mlp", "accuracy", "startup")


def parse_only(value: str | None) -> list[str]:
    if not value:
        return list(PARTS)
    parts = [p.strip() for p in value.split(",") if p.strip()]
    bad = [p for p in parts if p not in PARTS]
    if bad:
        raise SystemExit(f"run.py: error: --only takes {', '.join(PARTS)} (comma-separated); got {bad[0]!r}")
    return parts


def run(parts: list[str], quick: bool, threads: int = 2, log=C.log) -> dict:
    C.set_threads(threads)  # before the benchmarks import their frameworks
    import bench_mlp
    import bench_optim_step
    import bench_startup
    import bench_time_to_accuracy

    started = time.time()
    if quick:
        C.SETTLE_S = 0.0  # a smoke test: the figures are not meant to be compared
    result = {
        "schema": 1,
        "quick": quick,
        "parts": parts,
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        "machine": C.machine(),
        "command": "python benchmarks/run.py"
        + (" --quick" if quick else "")
        + ("" if parts == list(PARTS) else f" --only {','.join(parts)}")
        + ("" if threads == 2 else f" --threads {threads}"),
    }
    if "startup" in parts:  # first, before this process has warmed the page cache with peers
        result["startup"] = bench_startup.run(quick, log=log)
    if "optim" in parts:
        result["optim"] = bench_optim_step.run(quick, log=log)
    if "mlp" in parts:
        result["mlp"] = bench_mlp.run(quick, log=log)
    if "accuracy" in parts:
        result["accuracy"] = bench_time_to_accuracy.run(quick, log=log)
    result["seconds"] = round(time.time() - started, 1)
    result["load_average_after"] = C.load_average()
    result["targets"] = targets(result)
    return result


# -- the targets, evaluated on the measured ratios -------------------------------------------------


def targets(result: dict) -> list[dict]:
    out = []

    def add(name, measured, threshold, better="higher", detail=None):
        if measured is None:
            return
        met = measured >= threshold if better == "higher" else measured < threshold
        out.append(
            {"target": name, "measured": measured, "threshold": threshold, "better": better, "met": met}
            | ({"detail": detail} if detail else {})
        )

    optim = result.get("optim")
    if optim:
        for n in (10_000_000, 50_000_000):
            row = _find(optim["rows"], optimizer="adam", params=n, arrays=1, impl="gradstep fused")
            if not row:
                continue
            label = f"{n // 1_000_000}M"
            fused = row.get("speedup_vs_torch_fused")
            default = row.get("speedup_vs_torch_default")
            if fused:
                add(f"Adam step {label}: speed vs torch fused Adam", fused["median"], 1.0, detail=fused)
            if default:
                add(f"Adam step {label}: speed vs torch default Adam", default["median"], 5.0, detail=default)
            if "fraction_of_inplace_bw" in row:
                add(f"Adam step {label}: fraction of in-place bandwidth", row["fraction_of_inplace_bw"], 0.85)
    mlp = result.get("mlp")
    if mlp:
        for r in mlp["rows"]:
            where = f"{r['model']} batch {r['batch']} ({r['dataset']})"
            ratio = r.get("gradstep_speedup")
            if not ratio:
                continue
            if r["impl"] == "torch fused Adam" and r["batch"] in (32, 128) and "256" in r["model"]:
                add(f"MLP {where}: speed-up over torch fused Adam", ratio["median"], 1.2, detail=ratio)
            if r["impl"] == "torch fused Adam" and r["model"] == "30x64":
                add(f"MLP {where}: speed-up over torch fused Adam", ratio["median"], 2.0, detail=ratio)
            if r["batch"] == 1024 and r["impl"] != "gradstep fit()":
                add(f"MLP {where}: not slower than {r['impl']}", ratio["median"], 1.0, detail=ratio)
            if r["impl"] == "jax jit":
                add(f"MLP {where}: bare step vs jax jit", ratio["median"], 1.1, detail=ratio)
                fit_ratio = r.get("fit_speedup")
                if fit_ratio:
                    add(f"MLP {where}: fit() vs jax jit", fit_ratio["median"], 1.0, detail=fit_ratio)
            if r["impl"] == "sklearn MLPClassifier":
                add(f"MLP {where}: speed-up over sklearn MLPClassifier", ratio["median"], 3.0, detail=ratio)
    accuracy = result.get("accuracy")
    if accuracy:
        secs = {r["impl"]: (r["seconds"] or {}).get("median") for r in accuracy["rows"]}
        if secs.get("gradstep fit()") and secs.get("jax jit"):
            ratio = round(secs["jax jit"] / secs["gradstep fit()"], 3)
            add("time to 95% on digits: fit() ahead of jax jit (seconds ratio)", ratio, 1.0)
    startup = result.get("startup")
    if startup:
        row = next((r for r in startup["rows"] if r["what"] == "gradstep --help"), None)
        if row:
            add("gradstep --help (seconds)", row["seconds"]["median"], 0.3, better="lower")
    return out


def _find(rows, **keys):
    return next((r for r in rows if all(r.get(k) == v for k, v in keys.items())), None)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py", description="Run gradstep's benchmarks and write the JSON."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    return main_from_args(args)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a few seconds (a smoke test)")
    parser.add_argument("--only", default=None, help=f"comma-separated parts: {', '.join(PARTS)}")
    parser.add_argument(
        "--json",
        default=None,
        help="where to write the results (default benchmarks/results/latest.json, quick.json with --quick)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="threads for every framework: BLAS, torch, numba, XLA (default 2)",
    )
    parser.add_argument("--no-table", action="store_true", help="do not print the markdown tables")


def main_from_args(args) -> int:
    import make_readme_table

    parts = parse_only(args.only)
    if args.threads < 1:
        raise SystemExit(f"run.py: error: --threads must be at least 1; got {args.threads}")
    result = run(parts, args.quick, args.threads)
    path = (
        Path(args.json) if args.json else HERE / "results" / ("quick.json" if args.quick else "latest.json")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    if not args.no_table:
        print(make_readme_table.markdown(result))
    C.log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Turn a benchmark JSON (``benchmarks/run.py``'s) into the markdown tables of the README.

    python benchmarks/make_readme_table.py                         # benchmarks/results/latest.json
    python benchmarks/make_readme_table.py results.json --update-docs
    python benchmarks/make_readme_table.py a.json b.json           # several runs, one after the other

``--update-docs`` also writes the tables into ``docs/performance.md``, between the markers
``<!-- BEGIN BENCHMARK TABLES -->`` and ``<!-- END BENCHMARK TABLES -->``; ``--update-readme`` writes
the summary (machine, targets, time to accuracy, start-up) between the same markers in README.md.
Every number comes from the JSON; figures are medians over rounds, ``[min-max]`` where shown, and
ratios are paired round by round (see ``benchmarks/_common.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
DOCS = HERE.parent / "docs" / "performance.md"
README = HERE.parent / "README.md"
BEGIN, END = "<!-- BEGIN BENCHMARK TABLES -->", "<!-- END BENCHMARK TABLES -->"


def _num(x, digits=2) -> str:
    if x is None:
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}g}" if abs(x) < 1 else f"{x:.{digits + 1}g}"


def _range(s: dict | None, digits=2) -> str:
    if not s or s.get("median") is None:
        return "-"
    return f"{_num(s['median'], digits)} [{_num(s['min'], digits)}-{_num(s['max'], digits)}]"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _size(n: int) -> str:
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k"


def machine_section(result: dict) -> str:
    m = result["machine"]
    v = m["versions"]
    peers = ", ".join(
        f"{k} {v[k]}" for k in ("numpy", "numba", "torch", "jax", "optax", "sklearn") if v.get(k)
    )
    return (
        f"Measured by `{result['command']}` on {result['started']} ({result['seconds']:.0f} s): "
        f"{m['cpu']} ({m['logical_cpus']} logical CPUs, {', '.join(m['cpu_flags'])}), Python {v['python']}, "
        f"{peers}; NumPy's BLAS: {m['numpy_blas']}; {m['threads']} thread(s) for every framework. "
        f"Load average (1, 5, 15 min) before: {m['load_average_1_5_15']}, "
        f"after: {result.get('load_average_after')}. The machine is shared: absolute figures move with "
        "its load, so compare ratios measured in the same run."
    )


def optim_section(optim: dict) -> str:
    bw = optim["bandwidth"]
    out = [
        f"Memory bandwidth (numba `prange`, {bw['elements']:,} float32 elements, GB/s): "
        f"triad `a = b + s*c` {_range(bw['triad'])}, in place `y += s*x` {_range(bw['axpy_inplace'])}.",
        "",
    ]
    impls = []
    for r in optim["rows"]:
        if r["impl"] not in impls:
            impls.append(r["impl"])
    groups: dict[tuple, dict] = {}
    for r in optim["rows"]:
        groups.setdefault((r["optimizer"], r["params"], r["arrays"]), {})[r["impl"]] = r
    rows = []
    for (name, n, arrays), by_impl in groups.items():
        rows.append(
            [name, _size(n), str(arrays)]
            + [_num(by_impl[i]["ms"]["median"]) if i in by_impl else "-" for i in impls]
        )
    out.append("Milliseconds per step (median of the rounds):")
    out.append("")
    out.append(_table(["optimizer", "params", "arrays", *impls], rows))
    out.append("")
    rows = []
    for (name, n, arrays), by_impl in groups.items():
        g = by_impl.get("gradstep fused")
        if not g:
            continue
        rows.append(
            [
                name,
                _size(n),
                str(arrays),
                _range(g["ms"], 3),
                _num(g["gbps"]["median"]),
                _num(g.get("fraction_of_inplace_bw")),
                _range(g.get("speedup_vs_torch_fused")),
                _range(g.get("speedup_vs_torch_default")),
            ]
        )
    out.append(
        "gradstep fused: time, achieved bandwidth, and speed-up over torch (paired per round, [min-max]):"
    )
    out.append("")
    out.append(
        _table(
            [
                "optimizer",
                "params",
                "arrays",
                "ms",
                "GB/s",
                "of in-place bw",
                "x torch fused",
                "x torch default",
            ],
            rows,
        )
    )
    return "\n".join(out)


def _mlp_machine_fraction(mlp: dict, groups: dict, impls: list[str]) -> list[str]:
    """GFLOP/s of each engine and its fraction of the products' own BLAS rate; fit() against the peers."""
    if not any("gflops" in r for r in mlp["rows"]):
        return []
    out = [""]
    square = mlp.get("square_gemm")
    if square:
        out.append(
            f"GFLOP/s of the step's matrix products, and the fraction of the rate the same products reach "
            f"alone with NumPy's BLAS (paired per round); NumPy's float32 GEMM on a {square['n']} cube: "
            f"{_range(square['gflops'])} GFLOP/s:"
        )
    out.append("")
    rows = []
    for (data, model, batch), by_impl in groups.items():
        any_row = next(iter(by_impl.values()))
        cells = [data, model, str(batch), _num(any_row.get("gemm_gflops", {}).get("median"))]
        for i in impls:
            r = by_impl.get(i)
            if r and "gflops" in r:
                cells.append(f"{_num(r['gflops']['median'])} ({r['fraction_of_gemm']['median']:.2f})")
            else:
                cells.append("-")
        rows.append(cells)
    out.append(_table(["data", "model", "batch", "BLAS products only", *impls], rows))
    peers = [i for i in impls if i not in ("gradstep", "gradstep fit()")]
    rows = [
        [data, model, str(batch)] + [_range(by_impl.get(p, {}).get("fit_speedup")) for p in peers]
        for (data, model, batch), by_impl in groups.items()
    ]
    out += ["", "gradstep fit()'s speed-up over each (paired per round, [min-max]):", ""]
    out.append(_table(["data", "model", "batch", *peers], rows))
    return out


def _by_shape(mlp: dict) -> tuple[dict[tuple, dict], list[str]]:
    """The MLP rows by (data, model, batch) and implementation, and the implementations in order."""
    impls = list(dict.fromkeys(r["impl"] for r in mlp["rows"]))
    groups: dict[tuple, dict] = {}
    for r in mlp["rows"]:
        groups.setdefault((r["dataset"], r["model"], r["batch"]), {})[r["impl"]] = r
    return groups, impls


def machine_fraction_section(mlp: dict) -> str:
    """For the README: how much of the machine's matrix-product rate each engine's step reaches."""
    groups, impls = _by_shape(mlp)
    return "\n".join(_mlp_machine_fraction(mlp, groups, impls)).strip()


def mlp_section(mlp: dict) -> str:
    groups, impls = _by_shape(mlp)
    rows = []
    for (data, model, batch), by_impl in groups.items():
        rows.append(
            [data, model, str(batch)]
            + [_num(by_impl[i]["samples_per_s"]["median"]) if i in by_impl else "-" for i in impls]
        )
    out = ["Training throughput, samples/s (median of the rounds; Adam, float32):", ""]
    out.append(_table(["data", "model", "batch", *impls], rows))
    out.append("")
    peers = [i for i in impls if i != "gradstep"]
    rows = []
    for (data, model, batch), by_impl in groups.items():
        rows.append(
            [data, model, str(batch)] + [_range(by_impl.get(p, {}).get("gradstep_speedup")) for p in peers]
        )
    out.append("gradstep's speed-up over each (paired per round, [min-max]; > 1 means gradstep is faster):")
    out.append("")
    out.append(_table(["data", "model", "batch", *peers], rows))
    out += _mlp_machine_fraction(mlp, groups, impls)
    if mlp.get("allocations"):
        out += [
            "",
            "Memory a training step allocates for temporaries (tracemalloc peak above the steady state):",
            "",
        ]
        out.append(
            _table(
                ["model", "batch", "path", "bytes per step", "parameter bytes"],
                [
                    [
                        a["model"],
                        str(a["batch"]),
                        a["path"],
                        f"{a['transient_bytes_per_step']:,}",
                        f"{a['params_bytes']:,}",
                    ]
                    for a in mlp["allocations"]
                ],
            )
        )
    return "\n".join(out)


def accuracy_section(acc: dict) -> str:
    rows = [
        [r["impl"], r["reached"], _range(r["seconds"], 3), _range(r["epochs"])]
        for r in sorted(
            acc["rows"], key=lambda r: (r["seconds"]["median"] is None, r["seconds"]["median"] or 0)
        )
    ]
    target = acc["rows"][0]["target_accuracy"] if acc["rows"] else None
    head = (
        f"Time to {target} test accuracy on {acc['dataset']} ({acc['model']}, batch {acc['batch']}, "
        f"{acc['optimizer']}, seeds {acc['seeds']}, at most {acc['max_epochs']} epochs):"
    )
    return "\n".join([head, "", _table(["implementation", "reached", "seconds", "epochs"], rows)])


def startup_section(st: dict) -> str:
    rows = [[r["what"], _range(r["seconds"], 3)] for r in st["rows"]]
    return "\n".join(
        [
            f"Start-up, seconds (fresh process each, {st['repeats']} repeats):",
            "",
            _table(["what", "seconds"], rows),
        ]
    )


def targets_section(targets: list[dict]) -> str:
    rows = [
        [
            t["target"],
            _num(t["measured"], 3),
            ("< " if t["better"] == "lower" else ">= ") + _num(t["threshold"]),
            "met" if t["met"] else "**missed**",
        ]
        for t in targets
    ]
    return "\n".join(["Targets:", "", _table(["target", "measured", "target value", ""], rows)])


def markdown(result: dict) -> str:
    parts = [machine_section(result)]
    for key, fn in (
        ("optim", optim_section),
        ("mlp", mlp_section),
        ("accuracy", accuracy_section),
        ("startup", startup_section),
    ):
        if result.get(key):
            parts.append(fn(result[key]))
    import run  # the targets are re-evaluated from the figures, so an older JSON gets today's wording

    targets = run.targets(result)
    if targets:
        parts.append(targets_section(targets))
    return "\n\n".join(parts) + "\n"


def summary(result: dict) -> str:
    """The README's part: where it was measured, every target with its ratio, time to accuracy, start-up."""
    import run

    parts = [machine_section(result), targets_section(run.targets(result))]
    for key, fn in (
        ("mlp", machine_fraction_section),
        ("accuracy", accuracy_section),
        ("startup", startup_section),
    ):
        if result.get(key):
            parts.append(fn(result[key]))
    return "\n\n".join(parts) + "\n"


def update_docs(text: str, path: Path = DOCS) -> None:
    doc = path.read_text()
    if BEGIN not in doc or END not in doc:
        raise SystemExit(f"{path} has no {BEGIN} ... {END} markers")
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n\n{text}\n{END}{tail}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", nargs="*", default=[str(HERE / "results" / "latest.json")])
    parser.add_argument(
        "--update-docs", action="store_true", help="also write the tables into docs/performance.md"
    )
    parser.add_argument(
        "--update-readme", action="store_true", help="also write the summary tables into README.md"
    )
    args = parser.parse_args(argv)
    results = [json.loads(Path(p).read_text()) for p in args.json]
    if len(results) == 1:
        text = markdown(results[0])
    else:
        text = "\n".join(f"### `{r['command']}`\n\n{markdown(r)}" for r in results)
    print(text)
    if args.update_docs:
        update_docs(text)
    if args.update_readme:
        update_docs(summary(results[-1]), README)
    return 0


if __name__ == "__main__":
    sys.exit(main())

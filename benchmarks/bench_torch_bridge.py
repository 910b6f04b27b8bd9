"""gradstep's torch optimizers against torch's own, per step, and how exactly the bridge follows NumPy.

Speed: one step of every gradstep torch optimizer on its fused path (``fused=True``, the CPU default)
and its foreach path (``foreach=True``; ``--loop`` adds the for-loop), against ``torch.optim``'s
for-loop (its CPU default, ``foreach=False``), ``foreach=True`` and ``fused=True``, where torch has the
optimizer (and the version) with the same arithmetic: SGD, heavy-ball momentum (``torch.optim.SGD``),
RMSprop with epsilon outside the root, Adam in the notes' form (epsilon inside the root; torch's row is
its own form, the nearest it has) and in torch's form, AdamW in torch's form; any other registered
optimizer with its defaults and no torch peer. float32 parameters of 1M, 10M and 50M elements, each as
one tensor and as 100 tensors. Within a layout and an optimizer the implementations take turns step
by step (``_common.take_turns``: a rotating order, a pause between two), after two warm-up steps each;
a row gives the median ms/step over the rounds with the min and max, and the ratio to the reference
(torch fused where it exists, else torch's default) computed round by round, as median [min-max].

Parity (``--parity``): the 25 configurations of ``tests/test_interop_torch_optim.py`` on its problem
(100 steps on a noisy quadratic, four parameters in two groups with different learning rates, StepLR)
in float64 and float32, for-loop, foreach and fused paths, against the NumPy reference
(``backend="numpy"``) and, where torch has the same convention, against ``torch.optim``: the largest
difference relative to max(1, |w|).

    python benchmarks/bench_torch_bridge.py                    # 1M, 10M, 50M; 1 and 100 tensors
    python benchmarks/bench_torch_bridge.py --sizes 10000000 --optimizers adam
    python benchmarks/bench_torch_bridge.py --parity --json results.json
    python benchmarks/bench_torch_bridge.py --quick            # tiny sizes, a smoke test
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from gradstep import optim as np_optim  # noqa: E402
from gradstep.interop import torch as gt  # noqa: E402
from gradstep.interop.torch import fused as gt_fused  # noqa: E402

LR = 1e-3
# (row, gradstep optimizer, its hyperparameters, torch.optim's twin or None). torch's twin takes the
# path options (foreach=..., fused=...) as keywords.
ROWS = [
    ("sgd", "sgd", {}, lambda ps, **kw: torch.optim.SGD(ps, lr=LR, **kw)),
    ("momentum heavy_ball", "momentum", {"form": "heavy_ball"},
     lambda ps, **kw: torch.optim.SGD(ps, lr=LR, momentum=0.9, **kw)),
    ("rmsprop torch form", "rmsprop", {"beta": 0.99, "eps_in_sqrt": False},
     lambda ps, **kw: torch.optim.RMSprop(ps, lr=LR, **kw)),
    ("adam notes", "adam", {}, lambda ps, **kw: torch.optim.Adam(ps, lr=LR, **kw)),
    ("adam torch form", "adam", {"eps_mode": "outside_sqrt"},
     lambda ps, **kw: torch.optim.Adam(ps, lr=LR, **kw)),
    ("adamw torch form", "adamw", {"eps_mode": "outside_sqrt"},
     lambda ps, **kw: torch.optim.AdamW(ps, lr=LR, **kw)),
]  # fmt: skip
TORCH_PATHS = {
    "torch default": {"foreach": False},
    "torch foreach": {"foreach": True},
    "torch fused": {"fused": True},
}
GRADSTEP_PATHS = {"gradstep fused": {"fused": True}, "gradstep foreach": {"foreach": True}}
SIZES = (1_000_000, 10_000_000, 50_000_000)
ROUNDS = {1_000_000: 21, 10_000_000: 11, 50_000_000: 7}  # fewer rounds where a round takes seconds


def table_rows(names: list[str] | None) -> list[tuple]:
    """The table's rows, with every registered optimizer that has no row of its own (no torch peer)."""
    covered = {r[1] for r in ROWS}
    extra = [(name, name, {}, None) for name in gt.available() if name not in covered]
    return [r for r in ROWS + extra if names is None or r[1] in names or r[0] in names]


def implementations(name: str, hp: dict, twin, params, loop: bool) -> dict:
    """The optimizers of one row over ``params``; torch's versions it does not have are left out."""
    paths = dict(GRADSTEP_PATHS, **({"gradstep loop": {"foreach": False}} if loop else {}))
    if not gt_fused.available_for(gt.get(name).numpy_class):  # no elementwise kernel to fuse
        del paths["gradstep fused"]
    out = {label: gt.create(name, params, **{"lr": LR, **hp}, **kw) for label, kw in paths.items()}
    if twin is not None:
        for label, kw in TORCH_PATHS.items():
            try:
                opt = twin(params, **kw)
                opt.step()  # torch refuses some combinations only at the first step
            except (TypeError, RuntimeError):
                continue
            out[label] = opt
    return out


def time_row(row: tuple, params: list[torch.Tensor], rounds: int, loop: bool) -> list[dict]:
    label, name, hp, twin = row
    opts = implementations(name, hp, twin, params, loop)
    for opt in opts.values():
        for _ in range(2):
            opt.step()
    times = C.take_turns({k: C.time_per_call(opt.step, 1) for k, opt in opts.items()}, rounds)
    ref = "torch fused" if "torch fused" in times else "torch default" if "torch default" in times else None
    out = []
    for impl, ts in times.items():
        ms = [t * 1e3 for t in ts]
        ratios = C.paired_ratios(ts, times[ref]) if ref else []
        out.append({
            "optimizer": label, "implementation": impl, "reference": ref,
            "ms": C.summary(ms, 3), "x_reference": C.summary(ratios, 3),
        })  # fmt: skip
    del opts
    gc.collect()
    return out


def time_layout(count: int, size: int, rounds: int, names, loop: bool) -> list[dict]:
    """Every row on ``count`` float32 tensors of ``size`` elements (shared parameters and gradients:
    their values drift as each implementation steps, which does not change the work)."""
    gen = torch.Generator().manual_seed(0)
    params = [torch.randn(size, generator=gen).requires_grad_(True) for _ in range(count)]
    for p in params:
        p.grad = torch.randn(size, generator=gen)
    out = []
    for row in table_rows(names):
        C.log(f"{count} x {size:,}: {row[0]}")
        for r in time_row(row, params, rounds, loop):
            out.append({"layout": f"{count} x {size:,}", "params": count * size, "rounds": rounds, **r})
    return out


def speed_table(results: list[dict]) -> str:
    def span(s):
        return f"{s['median']:.3g} [{s['min']:.3g}-{s['max']:.3g}]" if s["n"] else "-"

    head = (
        "layout",
        "optimizer",
        "implementation",
        "ms/step [min-max]",
        "/ reference [min-max]",
        "reference",
    )
    lines = ["{:<16} {:<20} {:<17} {:<26} {:<22} {}".format(*head)]
    for r in results:
        lines.append(
            f"{r['layout']:<16} {r['optimizer']:<20} {r['implementation']:<17} {span(r['ms']):<26} "
            f"{span(r['x_reference']):<22} {r['reference'] or '-'}"
        )
    return "\n".join(lines)


# -- parity -------------------------------------------------------------------------------------

# (name, hyperparameters, torch.optim twin or None): the table of tests/test_interop_torch_optim.py.
PARITY = [
    ("sgd", {"lr": 0.1}, lambda g: torch.optim.SGD(g, lr=0.1)),
    ("sgd", {"lr": 0.1, "weight_decay": 0.05}, lambda g: torch.optim.SGD(g, lr=0.1, weight_decay=0.05)),
    ("momentum", {"lr": 0.3, "beta": 0.9}, None),
    ("momentum", {"lr": 0.3, "beta": 0.9, "nesterov": True}, None),
    ("momentum", {"lr": 0.05, "beta": 0.9, "form": "heavy_ball"},
     lambda g: torch.optim.SGD(g, lr=0.05, momentum=0.9)),
    ("momentum", {"lr": 0.05, "beta": 0.9, "form": "heavy_ball", "nesterov": True},
     lambda g: torch.optim.SGD(g, lr=0.05, momentum=0.9, nesterov=True)),
    ("momentum", {"lr": 0.05, "beta": 0.9, "form": "heavy_ball", "dampening": 0.3},
     lambda g: torch.optim.SGD(g, lr=0.05, momentum=0.9, dampening=0.3)),
    ("momentum", {"lr": 0.05, "beta": 0.8, "form": "heavy_ball", "weight_decay": 0.1},
     lambda g: torch.optim.SGD(g, lr=0.05, momentum=0.8, weight_decay=0.1)),
    ("rmsprop", {"lr": 0.01, "beta": 0.9}, None),
    ("rmsprop", {"lr": 0.01, "beta": 0.99, "eps_in_sqrt": False}, lambda g: torch.optim.RMSprop(g, lr=0.01)),
    ("rmsprop", {"lr": 0.01, "eps": 1e-6, "centered": True}, None),
    ("rmsprop", {"lr": 0.01, "eps": 1e-6, "eps_in_sqrt": False, "centered": True},
     lambda g: torch.optim.RMSprop(g, lr=0.01, alpha=0.9, eps=1e-6, centered=True)),
    ("rmsprop", {"lr": 0.01, "beta": 0.99, "eps_in_sqrt": False, "momentum": 0.9},
     lambda g: torch.optim.RMSprop(g, lr=0.01, momentum=0.9)),
    ("rmsprop", {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.1}, None),
    ("adam", {"lr": 0.01}, None),
    ("adam", {"lr": 0.01, "eps_mode": "outside_sqrt"}, lambda g: torch.optim.Adam(g, lr=0.01)),
    ("adam", {"lr": 0.01, "eps_mode": "hat", "eps": 1e-7}, None),
    ("adam", {"lr": 0.01, "bias_correction": False}, None),
    ("adam", {"lr": 0.01, "eps_mode": "hat", "bias_correction": False}, None),
    ("adam", {"lr": 0.01, "beta2": 0.9, "eps_mode": "outside_sqrt", "amsgrad": True},
     lambda g: torch.optim.Adam(g, lr=0.01, betas=(0.9, 0.9), amsgrad=True)),
    ("adam", {"lr": 0.01, "beta2": 0.9, "amsgrad": True}, None),
    ("adam", {"lr": 0.01, "eps_mode": "outside_sqrt", "weight_decay": 0.1},
     lambda g: torch.optim.Adam(g, lr=0.01, weight_decay=0.1)),
    ("adamw", {"lr": 0.01}, None),
    ("adamw", {"lr": 0.01, "eps_mode": "outside_sqrt"}, lambda g: torch.optim.AdamW(g, lr=0.01)),
    ("adamw", {"lr": 0.01, "eps_mode": "outside_sqrt", "amsgrad": True, "weight_decay": 0.3},
     lambda g: torch.optim.AdamW(g, lr=0.01, amsgrad=True, weight_decay=0.3)),
]  # fmt: skip
# Four parameters in two groups, the second with 0.3 times the first's learning rate; StepLR halves
# both every 40 steps.
GROUPS, LR_FACTOR, STEPS, STEP_SIZE, GAMMA = (
    [[(3, 4), (5,)], [(2, 3, 2), (4, 1, 3)]],
    [1.0, 0.3],
    100,
    40,
    0.5,
)


def _problem(dtype):
    rng = np.random.default_rng(0)
    shapes = [s for group in GROUPS for s in group]
    return (
        [rng.normal(size=s).astype(dtype) for s in shapes],
        [rng.uniform(0.5, 2.0, size=s).astype(dtype) for s in shapes],
        [[(0.3 * rng.normal(size=s)).astype(dtype) for s in shapes] for _ in range(STEPS)],
    )


def _run_numpy(name, hp, problem):
    params, curvature, noise = problem
    params = [p.copy() for p in params]
    opts, i = [], 0
    for shapes, factor in zip(GROUPS, LR_FACTOR, strict=True):
        group = params[i : i + len(shapes)]
        opts.append(
            (np_optim.create(name, group, **{**hp, "lr": hp["lr"] * factor}, backend="numpy"), i, factor)
        )
        i += len(shapes)
    out = []
    for k in range(STEPS):
        for opt, i, factor in opts:
            opt.lr = hp["lr"] * factor * GAMMA ** (k // STEP_SIZE)
            h, e = curvature[i : i + len(opt.params)], noise[k][i : i + len(opt.params)]
            opt.step([h_j * p + e_j for p, h_j, e_j in zip(opt.params, h, e, strict=True)])
        out.append([p.astype(np.float64) for p in params])
    return out


def _run_torch(make, lr, problem):
    params, curvature, noise = problem
    ts = [torch.tensor(p, requires_grad=True) for p in params]
    groups, i = [], 0
    for shapes, factor in zip(GROUPS, LR_FACTOR, strict=True):
        groups.append({"params": ts[i : i + len(shapes)], "lr": lr * factor})
        i += len(shapes)
    opt = make(groups)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=STEP_SIZE, gamma=GAMMA)
    out = []
    for k in range(STEPS):
        for t, h, e in zip(ts, curvature, noise[k], strict=True):
            t.grad = torch.from_numpy(h) * t.detach() + torch.from_numpy(e)
        opt.step()
        sched.step()
        out.append([t.detach().numpy().astype(np.float64) for t in ts])
    return out


def _max_rel(a, b) -> float:
    return max(
        float(np.max(np.abs(x - y) / np.maximum(1.0, np.abs(y))))
        for xs, ys in zip(a, b, strict=True)
        for x, y in zip(xs, ys, strict=True)
    )


PARITY_PATHS = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
PARITY_COLUMNS = {  # column -> (key in a row)
    "loop/np": "loop_vs_numpy", "fe/np": "foreach_vs_numpy", "fused/np": "fused_vs_numpy",
    "fused/loop": "fused_vs_loop", "loop/tor": "loop_vs_torch", "fe/tor": "foreach_vs_torch",
    "fused/tor": "fused_vs_torch",
}  # fmt: skip


def parity() -> list[dict]:
    out = []
    for name, hp, twin in PARITY:
        for dtype in (np.float64, np.float32):
            problem = _problem(dtype)
            ref = _run_numpy(name, hp, problem)
            theirs = None if twin is None else _run_torch(twin, hp["lr"], problem)
            row = {"optimizer": name, "hyperparams": hp, "dtype": np.dtype(dtype).name}
            runs = {}
            for path, kw in PARITY_PATHS.items():
                make = lambda g, n=name, h=hp, k=kw: gt.create(n, g, **h, **k)  # noqa: E731
                runs[path] = ours = _run_torch(make, hp["lr"], problem)
                row[f"{path}_vs_numpy"] = _max_rel(ours, ref)
                if theirs is not None:
                    row[f"{path}_vs_torch"] = _max_rel(ours, theirs)
            row["fused_vs_loop"] = _max_rel(runs["fused"], runs["loop"])
            out.append(row)
    return out


def parity_table(results: list[dict]) -> str:
    def fmt(x):
        return "-" if x is None else f"{x:.1e}"

    lines = [f"{'optimizer':<70} {'dtype':<8} " + " ".join(f"{c:>10}" for c in PARITY_COLUMNS)]
    for r in results:
        label = r["optimizer"] + " " + ", ".join(f"{k}={v}" for k, v in r["hyperparams"].items())
        cells = [r.get(k) for k in PARITY_COLUMNS.values()]
        lines.append(f"{label:<70} {r['dtype']:<8} " + " ".join(f"{fmt(c):>10}" for c in cells))
    for dtype in ("float64", "float32"):
        sub = [r for r in results if r["dtype"] == dtype]
        worst = [max((r[k] for r in sub if k in r), default=None) for k in PARITY_COLUMNS.values()]
        lines.append(f"{'max':<70} {dtype:<8} " + " ".join(f"{fmt(v):>10}" for v in worst))
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 3 rounds (a smoke test)")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="parameters per layout")
    parser.add_argument("--optimizers", nargs="+", default=None, help="rows to run (names or labels)")
    parser.add_argument("--rounds", type=int, default=None, help="timed steps per implementation")
    parser.add_argument("--threads", type=int, default=C.THREADS, help="torch and numba threads")
    parser.add_argument("--loop", action="store_true", help="also time gradstep's for-loop path")
    parser.add_argument("--parity", action="store_true", help="also measure parity with NumPy and torch")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    args = parser.parse_args(argv)

    C.set_threads(args.threads)
    sizes = args.sizes or ((10_000,) if args.quick else SIZES)
    start, load_before = time.time(), C.load_average()
    results = []
    for size in sizes:
        rounds = args.rounds or (3 if args.quick else ROUNDS.get(size, 11))
        for count in (1, 100):
            if size % count == 0:
                results += time_layout(count, size // count, rounds, args.optimizers, args.loop or args.quick)
    load_after = C.load_average()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {C.cpu_model()}; load average "
        f"(1, 5, 15 min) {load_before} before, {load_after} after; {time.time() - start:.0f} s"
    )
    print(speed_table(results))
    result = {"machine": C.machine(), "load_before": load_before, "load_after": load_after}
    result.update({"quick": args.quick, "results": results})
    if args.parity:
        result["parity"] = parity()
        print()
        print("Parity: max |difference| / max(1, |w|) over 100 steps")
        print(parity_table(result["parity"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()

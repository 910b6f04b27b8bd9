"""gradstep's torch Adam against torch's own, per step, and how exactly the bridge follows NumPy.

Speed: one Adam step over 10M float32 parameters, as 10 tensors of 1M and as 1 tensor of 10M, for
gradstep's torch ``Adam`` (for-loop and foreach paths, and the for-loop on whole tensors instead of
1M-element blocks; ``eps_mode="outside_sqrt"``, the same arithmetic as torch's) and
``torch.optim.Adam`` (its CPU default, the for-loop; ``foreach=True``; ``fused=True``). The
implementations take turns step by step (so a change in machine load hits all of them alike) after
two warm-up steps each, in a rotating order; the table gives the median ms/step over the repeats
with min and max, and the median over rounds of each round's ratio to torch fused and to torch's
default (the same round's times, measured within a second of each other).

Parity (``--parity``): the 25 configurations of ``tests/test_interop_torch_optim.py`` on its problem
(100 steps on a noisy quadratic, four parameters in two groups with different learning rates, StepLR)
in float64 and float32, for-loop and foreach paths, against the NumPy reference (``backend="numpy"``)
and, where torch has the same convention, against ``torch.optim``: the largest difference relative to
max(1, |w|).

    python benchmarks/bench_torch_bridge.py                 # 10M parameters, 15 repeats
    python benchmarks/bench_torch_bridge.py --parity --json results.json
    python benchmarks/bench_torch_bridge.py --quick         # tiny sizes, a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np
import torch

from gradstep import optim as np_optim
from gradstep.interop import torch as gt
from gradstep.interop.torch import blocks as gt_blocks


class Unblocked:
    """A gradstep optimizer stepping whole tensors (``GRADSTEP_TORCH_BLOCK_ELEMENTS=0``), to show
    what working block by block buys."""

    def __init__(self, opt):
        self.opt = opt

    def step(self):
        saved, gt_blocks.BLOCK_ELEMENTS = gt_blocks.BLOCK_ELEMENTS, 0
        try:
            self.opt.step()
        finally:
            gt_blocks.BLOCK_ELEMENTS = saved


IMPLEMENTATIONS = {
    "gradstep loop": lambda ps: gt.Adam(ps, lr=1e-3, eps_mode="outside_sqrt", foreach=False),
    "gradstep foreach": lambda ps: gt.Adam(ps, lr=1e-3, eps_mode="outside_sqrt", foreach=True),
    "gradstep loop, unblocked": lambda ps: Unblocked(
        gt.Adam(ps, lr=1e-3, eps_mode="outside_sqrt", foreach=False)
    ),
    "torch default": lambda ps: torch.optim.Adam(ps, lr=1e-3),
    "torch foreach": lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=True),
    "torch fused": lambda ps: torch.optim.Adam(ps, lr=1e-3, fused=True),
}


def time_steps(layout: tuple[int, int], repeats: int, warmup: int = 2) -> list[dict]:
    """Median/min/max ms per step of each implementation on ``layout = (tensors, size)`` float32."""
    count, size = layout
    gen = torch.Generator().manual_seed(0)
    # One set of parameters and gradients for all: the values drift as each steps, which does not
    # change the work. Each optimizer has its own state.
    params = [torch.randn(size, generator=gen).requires_grad_(True) for _ in range(count)]
    for p in params:
        p.grad = torch.randn(size, generator=gen)
    opts = {name: make(params) for name, make in IMPLEMENTATIONS.items()}
    times: dict[str, list[float]] = {name: [] for name in opts}
    for i in range(warmup + repeats):
        names = list(opts)
        names = names[i % len(names) :] + names[: i % len(names)]  # a rotating order, round by round
        for name in names:
            start = time.perf_counter()
            opts[name].step()
            elapsed = time.perf_counter() - start
            if i >= warmup:
                times[name].append(elapsed * 1e3)
    rows = []
    for name, ts in times.items():
        # Ratios round by round (both measured within a second of each other), then their median.
        per_round = {ref: [a / b for a, b in zip(ts, times[ref], strict=True)] for ref in REFERENCES}
        rows.append({
            "name": name, "layout": f"{count} x {size:,}", "params": count * size,
            "median_ms": statistics.median(ts), "min_ms": min(ts), "max_ms": max(ts), "repeats": len(ts),
            "x_torch_fused": statistics.median(per_round["torch fused"]),
            "x_torch_default": statistics.median(per_round["torch default"]),
        })  # fmt: skip
    return rows


REFERENCES = ("torch fused", "torch default")


def speed_table(rows: list[dict]) -> str:
    head = ("Adam step", "layout", "ms/step", "min", "max", "/fused", "/default")
    lines = ["{:<26} {:<14} {:>9} {:>8} {:>8} {:>7} {:>9}".format(*head)]
    for r in rows:
        lines.append(
            f"{r['name']:<26} {r['layout']:<14} {r['median_ms']:>9.2f} {r['min_ms']:>8.2f} "
            f"{r['max_ms']:>8.2f} {r['x_torch_fused']:>7.2f} {r['x_torch_default']:>9.2f}"
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


def parity() -> list[dict]:
    rows = []
    for name, hp, twin in PARITY:
        for dtype in (np.float64, np.float32):
            problem = _problem(dtype)
            ref = _run_numpy(name, hp, problem)
            theirs = None if twin is None else _run_torch(twin, hp["lr"], problem)
            row = {"optimizer": name, "hyperparams": hp, "dtype": np.dtype(dtype).name}
            for path, foreach in (("loop", False), ("foreach", True)):
                make = lambda g, n=name, h=hp, fe=foreach: gt.create(n, g, **h, foreach=fe)  # noqa: E731
                ours = _run_torch(make, hp["lr"], problem)
                row[f"{path}_vs_numpy"] = _max_rel(ours, ref)
                if theirs is not None:
                    row[f"{path}_vs_torch"] = _max_rel(ours, theirs)
            rows.append(row)
    return rows


def parity_table(rows: list[dict]) -> str:
    def fmt(x):
        return "-" if x is None else f"{x:.1e}"

    lines = [f"{'optimizer':<70} {'dtype':<8} {'loop/np':>8} {'fe/np':>8} {'loop/tor':>8} {'fe/tor':>8}"]
    for r in rows:
        label = r["optimizer"] + " " + ", ".join(f"{k}={v}" for k, v in r["hyperparams"].items())
        cells = [r.get(k) for k in ("loop_vs_numpy", "foreach_vs_numpy", "loop_vs_torch", "foreach_vs_torch")]
        lines.append(f"{label:<70} {r['dtype']:<8} " + " ".join(f"{fmt(c):>8}" for c in cells))
    for dtype in ("float64", "float32"):
        sub = [r for r in rows if r["dtype"] == dtype]
        keys = ("loop_vs_numpy", "foreach_vs_numpy", "loop_vs_torch", "foreach_vs_torch")
        worst = {k: max((r[k] for r in sub if k in r), default=None) for k in keys}
        lines.append(f"{'max':<70} {dtype:<8} " + " ".join(f"{fmt(v):>8}" for v in worst.values()))
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few repeats (a smoke test)")
    parser.add_argument("--repeats", type=int, default=None, help="timed steps per implementation")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--parity", action="store_true", help="also measure parity with NumPy and torch")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    layouts = [(10, 1_000), (1, 10_000)] if args.quick else [(10, 1_000_000), (1, 10_000_000)]
    repeats = args.repeats or (3 if args.quick else 15)
    load_before = os.getloadavg()
    rows = [r for layout in layouts for r in time_steps(layout, repeats)]
    load_after = os.getloadavg()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"{platform.processor() or platform.machine()}; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after"
    )
    print(speed_table(rows))
    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": load_after,
        "quick": args.quick,
        "results": rows,
    }
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

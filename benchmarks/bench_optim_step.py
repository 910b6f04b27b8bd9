"""One optimizer step over millions of float32 parameters, against every peer, and the memory ceiling.

For SGD, momentum (heavy ball), RMSprop and Adam, at 1M, 10M and 50M parameters held in one array,
and at 1M and 10M also in 100 separate arrays (the layers of a model):

- ``gradstep fused``: gradstep's optimizer with its numba kernel (``backend="numba"``), in the torch
  convention (heavy ball, epsilon outside the square root) so every row computes the same update;
- ``gradstep numpy``: the same optimizer on its NumPy reference path (``backend="numpy"``);
- ``numpy textbook``: the update as usually written in NumPy, a new temporary per operation;
- ``torch default`` (``torch.optim``'s CPU default, the for-loop), ``torch foreach`` and
  ``torch fused`` where torch has a fused kernel for that optimizer on CPU;
- ``optax (jit)``: optax's update and ``apply_updates`` in one ``jax.jit`` with donated buffers.

One step of each takes turns with the others (see ``_common``); the first two steps of each are
warm-up (compilation, page faults). The memory ceiling is measured in the same run: a STREAM-like
triad ``a = b + s*c`` and an in-place ``y += s*x``, both numba ``prange`` kernels over arrays far
larger than the caches. Each optimizer's achieved bandwidth is the bytes it must move per parameter
(SGD 12: read p, g, write p; momentum and RMSprop 20; Adam 28) over its step time, and its fraction
is that over the in-place bandwidth (the same access pattern: read, modify, write back).

    python benchmarks/bench_optim_step.py [--quick] [--json PATH]
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

LR = 1e-3
BYTES_PER_PARAM = {"sgd": 12, "momentum": 20, "rmsprop": 20, "adam": 28}


# -- the updates as usually written in NumPy (a temporary per operation) --------------------------


def _textbook(name: str):
    b1, b2, eps, beta, mu = 0.9, 0.999, 1e-8, 0.99, 0.9
    if name == "sgd":

        def step(p, g, st, t):
            p[...] = p - LR * g

    elif name == "momentum":

        def step(p, g, st, t):
            st["buf"][...] = mu * st["buf"] + g
            p[...] = p - LR * st["buf"]

    elif name == "rmsprop":

        def step(p, g, st, t):
            st["S"][...] = beta * st["S"] + (1 - beta) * g**2
            p[...] = p - LR * g / (np.sqrt(st["S"]) + eps)

    else:

        def step(p, g, st, t):
            st["m"][...] = b1 * st["m"] + (1 - b1) * g
            st["v"][...] = b2 * st["v"] + (1 - b2) * g**2
            m_hat = st["m"] / (1 - b1**t)
            v_hat = st["v"] / (1 - b2**t)
            p[...] = p - LR * m_hat / (np.sqrt(v_hat) + eps)

    return step


class Textbook:
    """A list of arrays stepped by the textbook update."""

    def __init__(self, name, params):
        keys = {"sgd": (), "momentum": ("buf",), "rmsprop": ("S",), "adam": ("m", "v")}[name]
        self.params, self.update, self.t = params, _textbook(name), 0
        self.state = [{k: np.zeros_like(p) for k in keys} for p in params]

    def step(self, grads):
        self.t += 1
        for p, g, st in zip(self.params, grads, self.state, strict=True):
            self.update(p, g, st, self.t)


def gradstep_optimizer(name, params, backend):
    from gradstep import optim

    if name == "sgd":
        return optim.SGD(params, lr=LR, backend=backend)
    if name == "momentum":
        return optim.Momentum(params, lr=LR, beta=0.9, form="heavy_ball", backend=backend)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=LR, beta=0.99, eps_in_sqrt=False, backend=backend)
    return optim.Adam(params, lr=LR, eps_mode="outside_sqrt", backend=backend)


def torch_optimizer(name, params, mode):
    import torch

    kw = {"foreach": False} if mode == "default" else {mode: True}
    if name == "sgd":
        return torch.optim.SGD(params, lr=LR, **kw)
    if name == "momentum":
        return torch.optim.SGD(params, lr=LR, momentum=0.9, **kw)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=LR, alpha=0.99, **kw)
    return torch.optim.Adam(params, lr=LR, **kw)


def optax_stepper(name, params_np, grads_np):
    """A callable doing one jitted optax step (buffers donated), and its sync function."""
    import functools

    import jax
    import optax

    tx = {
        "sgd": lambda: optax.sgd(LR),
        "momentum": lambda: optax.sgd(LR, momentum=0.9),
        "rmsprop": lambda: optax.rmsprop(LR, decay=0.99, eps=1e-8),
        "adam": lambda: optax.adam(LR),
    }[name]()
    holder = {"params": [jax.numpy.asarray(p) for p in params_np]}
    grads = [jax.numpy.asarray(g) for g in grads_np]
    holder["state"] = tx.init(holder["params"])

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def update(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    def step():
        holder["params"], holder["state"] = update(holder["params"], holder["state"], grads)
        return holder["params"]

    return step, jax.block_until_ready


# -- the memory ceiling -------------------------------------------------------------------------------


def bandwidth(n: int, rounds: int) -> dict:
    """GB/s of a parallel triad and a parallel in-place axpy over float32 arrays of n elements."""
    import numba

    from gradstep.optim import _kernels  # noqa: F401  (same threading layer as the optimizers)

    @numba.njit(parallel=True, error_model="numpy", cache=True)
    def triad(a, b, c, s):
        for i in numba.prange(a.shape[0]):
            a[i] = b[i] + s * c[i]

    @numba.njit(parallel=True, error_model="numpy", cache=True)
    def axpy(y, x, s):
        for i in numba.prange(y.shape[0]):
            y[i] += s * x[i]

    a, b, c = np.zeros(n, np.float32), np.ones(n, np.float32), np.ones(n, np.float32)
    s = np.float32(1e-7)
    triad(a, b, c, s), axpy(a, b, s)
    calls = max(1, 20_000_000 // n)
    times = C.take_turns(
        {
            "triad": C.time_per_call(lambda: triad(a, b, c, s), calls),
            "axpy_inplace": C.time_per_call(lambda: axpy(a, b, s), calls),
        },
        rounds,
    )
    out = {"elements": n, "bytes_per_element": {"triad": 12, "axpy_inplace": 12}}
    for k, ts in times.items():
        out[k] = C.summary([12 * n / t / 1e9 for t in ts], 2)
    return out


# -- the benchmark ------------------------------------------------------------------------------------


def implementations(name: str, params: list[np.ndarray], grads: list[np.ndarray], peers: set[str]):
    """name -> (step callable, sync callable or None) for every implementation available."""
    impls = {}
    fused = gradstep_optimizer(name, params, "numba")
    impls["gradstep fused"] = (lambda: fused.step(grads), None)
    ref = gradstep_optimizer(name, params, "numpy")
    impls["gradstep numpy"] = (lambda: ref.step(grads), None)
    book = Textbook(name, params)
    impls["numpy textbook"] = (lambda: book.step(grads), None)
    if "torch" in peers:
        import torch

        tparams = [torch.from_numpy(p) for p in params]  # the same memory: no copies
        for tp, g in zip(tparams, grads, strict=True):
            tp.grad = torch.from_numpy(g)
        for mode in ("default", "foreach", "fused"):
            try:
                opt = torch_optimizer(name, tparams, mode)
                opt.step()
            except (RuntimeError, TypeError, ValueError):
                continue  # this torch has no such implementation for this optimizer on CPU
            impls[f"torch {mode}"] = (opt.step, None)
    if "optax" in peers:
        step, sync = optax_stepper(name, params, grads)
        impls["optax (jit)"] = (step, sync)
    return impls


def run(quick: bool = False, peers: set[str] | None = None, log=C.log) -> dict:
    peers = peers if peers is not None else default_peers(quick)
    if "torch" in peers:
        import torch

        torch.set_num_threads(C.THREADS)
    sizes = [20_000] if quick else [1_000_000, 10_000_000, 50_000_000]
    rounds = 1 if quick else 7
    optimizers = ["sgd", "momentum", "rmsprop", "adam"]
    bw_n = 100_000 if quick else 50_000_000
    log(f"optim: bandwidth at {bw_n:,} elements")
    result = {"bandwidth": bandwidth(bw_n, rounds), "rows": [], "peers": sorted(peers)}
    inplace_bw = result["bandwidth"]["axpy_inplace"]["median"]
    for n in sizes:
        # 100 separate arrays (a model's layers) at every size but the largest, to bound the run time.
        layouts = (1, 10) if quick else (1, 100) if n < sizes[-1] else (1,)
        for arrays in layouts:
            for name in optimizers:
                log(f"optim: {name} {n:,} params as {arrays} array(s)")
                rng = np.random.default_rng(0)
                size = n // arrays
                params = [rng.standard_normal(size, dtype=np.float32) for _ in range(arrays)]
                grads = [rng.standard_normal(size, dtype=np.float32) for _ in range(arrays)]
                impls = implementations(name, params, grads, peers)
                calls = 2 if quick else max(1, min(10, 10_000_000 // n))
                cases = {}
                for impl, (step, sync) in impls.items():
                    step(), step()  # warm-up: compilation, first-touch page faults
                    cases[impl] = C.time_per_call(step, calls, sync)
                times = C.take_turns(cases, rounds)
                rows = _rows(name, n, arrays, times, inplace_bw)
                result["rows"] += rows
                del impls, cases, params, grads
                gc.collect()
    return result


def _rows(name, n, arrays, times, inplace_bw) -> list[dict]:
    rows = []
    for impl, ts in times.items():
        row = {
            "optimizer": name,
            "params": n,
            "arrays": arrays,
            "impl": impl,
            "ms": C.summary([t * 1e3 for t in ts], 3),
        }
        gbps = [BYTES_PER_PARAM[name] * n / t / 1e9 for t in ts]
        row["gbps"] = C.summary(gbps, 2)
        if inplace_bw:
            row["fraction_of_inplace_bw"] = round(row["gbps"]["median"] / inplace_bw, 3)
        for peer in ("torch fused", "torch default", "torch foreach"):
            if peer in times and impl != peer:
                # > 1: this implementation is faster than the peer (ratios paired round by round).
                key = "speedup_vs_" + peer.replace(" ", "_")
                row[key] = C.summary(C.paired_ratios(times[peer], ts), 3)
        rows.append(row)
    return rows


def default_peers(quick: bool) -> set[str]:
    peers = set()
    if C.installed("torch"):
        peers.add("torch")
    if not quick and C.installed("optax") and C.installed("jax"):
        peers.add("optax")
    return peers


def main(argv=None) -> int:
    return C.script_main(__doc__, run, argv)


if __name__ == "__main__":
    sys.exit(main())

"""MLP training throughput (samples/s) of gradstep against PyTorch, JAX and scikit-learn.

Architectures (ReLU hidden layers, softmax cross-entropy, Adam lr 1e-3, float32):

- ``784-256-256-10`` at batch 32, 128 and 1024 (MNIST's shape; on digits the input is 64 wide);
- ``30 x 64``: thirty hidden layers of 64 units at batch 64.

Datasets: synthetic data of MNIST's shape (random pixels in [0, 1), random labels: the work per step
is what matters) and scikit-learn's digits (the training split, standardized).

Peers (``_peers.py``): gradstep's engine in a hand-written loop (``loss_and_grad`` + fused Adam) and
its public ``fit()``; ``torch.optim.Adam`` (CPU default) and fused Adam; the whole step in one
``jax.jit`` (optax Adam) where JAX is installed; scikit-learn's ``MLPClassifier(solver="adam")``,
``partial_fit`` over the rows of many batches at once. Each measurement is a number of steps chosen
from a warm-up to last about 0.3 s (consecutive batches, cycling through the data); the peers take
turns. Every framework gets the same number of threads (``run.py --threads``, default 2:
``torch.set_num_threads``, BLAS through threadpoolctl, numba, XLA).

Beside each throughput: the achieved GFLOP/s of the step's matrix products (the work a step must do,
``step_flop_per_sample``), and the fraction of the rate the same products reach alone with NumPy's BLAS
(``BLAS products only``, measured in the same rounds), so a table says how much of the machine each
engine uses; plus NumPy's float32 GEMM rate on a 2048 cube.

Also measured: the memory a training step allocates for temporaries (tracemalloc's peak above the
steady state, NumPy buffers and Python objects), for gradstep's lean step and for the same step the
way it was written before the lean engine (``forward`` returning new logits, the loss allocating its
gradient, ``backward`` computing the unused input gradient, the NumPy reference Adam).

    python benchmarks/bench_mlp.py [--quick] [--json PATH]
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import _peers as P  # noqa: E402

WIDE = (256, 256)
DEEP = (64,) * 30


def datasets(quick: bool) -> dict:
    from gradstep import data

    rng = np.random.default_rng(0)
    n = 256 if quick else 8192
    synthetic = (rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64))
    digits = data.load("digits", rng=0)
    return {"synthetic-mnist": synthetic, "digits": (digits.X_train, digits.y_train)}


def configs(quick: bool) -> list[tuple[str, tuple, int]]:
    if quick:
        return [("784-256-256-10", WIDE, 32), ("30x64", (64,) * 3, 64)]
    return [
        ("784-256-256-10", WIDE, 32),
        ("784-256-256-10", WIDE, 128),
        ("784-256-256-10", WIDE, 1024),
        ("30x64", DEEP, 64),
    ]


def make_trainers(X, y, sizes, batch, peers: set[str]) -> dict:
    trainers = {}
    lean = P.GradstepLoop(X, y, sizes, batch)
    trainers[lean.name] = lean
    weights = lean.initial_weights()
    trainers["gradstep fit()"] = P.GradstepFit(X, y, sizes, batch)
    if "torch" in peers:
        trainers["torch Adam"] = P.TorchLoop(X, y, sizes, batch, weights)
        trainers["torch fused Adam"] = P.TorchLoop(X, y, sizes, batch, weights, fused=True)
    if "jax" in peers:
        trainers["jax jit"] = P.JaxLoop(X, y, sizes, batch, weights)
    if "sklearn" in peers:
        trainers["sklearn MLPClassifier"] = P.SklearnLoop(X, y, sizes, batch)
    return trainers


def throughput(quick: bool, peers: set[str], log=C.log) -> list[dict]:
    rows = []
    rounds = 1 if quick else 5
    target_s = 0.02 if quick else 0.3
    for data_name, (X, y) in datasets(quick).items():
        for model_name, hidden, batch in configs(quick):
            sizes = (X.shape[1], *hidden, 10)
            label = model_name if data_name == "synthetic-mnist" else model_name.replace("784", "64")
            log(f"mlp: {label} batch {batch} on {data_name}")
            trainers = make_trainers(X, y, sizes, batch, peers)
            cases = {}
            for name, tr in trainers.items():
                tr.warm_up()
                cases[name] = _samples_per_s(tr, target_s)
            # The machine's limit on this work: the step's matrix products alone, NumPy's BLAS, taking
            # turns with the trainers (so the same load hits both).
            cases[GEMM] = _gemm_samples_per_s(sizes, batch, X.dtype, target_s)
            measured = C.take_turns(cases, rounds)
            gemm = measured.pop(GEMM)
            flop = step_flop_per_sample(sizes)
            gemm_gflops = C.summary([v * flop / 1e9 for v in gemm], 1)
            base, fit_ = measured.get("gradstep"), measured.get("gradstep fit()")
            for name, values in measured.items():
                row = {
                    "dataset": data_name,
                    "model": label,
                    "batch": batch,
                    "impl": name,
                    "samples_per_s": C.summary(values, 0),
                    "gflops": C.summary([v * flop / 1e9 for v in values], 1),
                    # achieved / the products' own rate, paired per round
                    "fraction_of_gemm": C.summary(C.paired_ratios(values, gemm), 3),
                    "gemm_gflops": gemm_gflops,
                    "flop_per_sample": flop,
                }
                if name != "gradstep" and base:
                    # > 1: gradstep is faster than this peer, paired round by round.
                    row["gradstep_speedup"] = C.summary(C.paired_ratios(base, values), 3)
                if name not in ("gradstep", "gradstep fit()") and fit_:
                    row["fit_speedup"] = C.summary(C.paired_ratios(fit_, values), 3)
                rows.append(row)
    return rows


GEMM = "BLAS products only"


def step_flop_per_sample(sizes) -> int:
    """Floating-point operations of one training step per sample, in its matrix products: forward
    (A @ W), weight gradients (A^T @ dZ) and input gradients of every layer but the first (dZ @ W^T)."""
    pairs = [a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    return 2 * (2 * sum(pairs) + sum(pairs[1:]))


def _gemm_samples_per_s(sizes, batch, dtype, target_s: float):
    """A measurement of the step's matrix products alone (np.matmul with out=), as samples/s."""
    rng = np.random.default_rng(0)
    acts = [rng.random((batch, s), dtype=np.float32).astype(dtype) for s in sizes]
    shapes = zip(sizes[:-1], sizes[1:], strict=True)
    # scaled by 1/fan_in so that 30 layers of products stay finite (inf would be measured otherwise)
    Ws = [(rng.random(shape, dtype=np.float32) / shape[0]).astype(dtype) for shape in shapes]
    dWs = [np.empty_like(W) for W in Ws]
    dAs = [np.empty_like(a) for a in acts]

    def products():
        for l, W in enumerate(Ws):
            np.matmul(acts[l], W, out=acts[l + 1])
        for l in range(len(Ws) - 1, -1, -1):
            np.matmul(acts[l].T, acts[l + 1], out=dWs[l])
            if l:
                np.matmul(acts[l + 1], Ws[l].T, out=dAs[l])

    products()
    start = time.perf_counter()
    products()
    k = max(2, int(target_s / max(time.perf_counter() - start, 1e-9)))

    def measure() -> float:
        start = time.perf_counter()
        for _ in range(k):
            products()
        return k * batch / (time.perf_counter() - start)

    return measure


def square_gemm_gflops(quick: bool) -> dict:
    """NumPy's float32 GEMM rate on one large square product (n^3, ``np.matmul`` with out=)."""
    n = 256 if quick else 2048
    rng = np.random.default_rng(0)
    A, B = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    out = np.empty_like(A)
    np.matmul(A, B, out=out)
    calls = 2 if quick else 5
    measure = C.time_per_call(lambda: np.matmul(A, B, out=out), calls)
    per_call = C.take_turns({"gemm": measure}, 3 if quick else 7)
    return {"n": n, "gflops": C.summary([2 * n**3 / t / 1e9 for t in per_call["gemm"]], 1)}


def _samples_per_s(trainer, target_s: float):
    """A measurement of ``k`` steps, ``k`` chosen from a warm-up so that it lasts about ``target_s``
    (a slow peer is measured over fewer steps rather than holding the run for minutes)."""
    trainer.steps(2)  # warm-up: buffers, first-touch page faults, allocator caches
    start = time.perf_counter()
    trainer.steps(2)
    per_step = (time.perf_counter() - start) / 2
    k = max(2, min(int(target_s / max(per_step, 1e-9)), 50 * trainer.n_batches))

    def measure() -> float:
        start = time.perf_counter()
        trainer.steps(k)
        return k * trainer.batch / (time.perf_counter() - start)

    return measure


# -- allocations per step ---------------------------------------------------------------------------


def allocations(quick: bool) -> list[dict]:
    """Transient bytes allocated per training step (tracemalloc peak above the steady state)."""
    from gradstep import Adam
    from gradstep.nn import MLP, losses

    rows = []
    for sizes, batch in [((784, 256, 256, 10), 32), ((784, 256, 256, 10), 1024)]:
        if quick and batch > 32:
            continue
        rng = np.random.default_rng(0)
        X = rng.random((batch * 4, sizes[0]), dtype=np.float32)
        y = rng.integers(0, sizes[-1], len(X))
        for path in (
            "before: forward + loss + backward(input grad) + numpy Adam",
            "lean: loss_and_grad + fused Adam",
        ):
            model = MLP(sizes, rng=0)
            lean = path.startswith("lean")
            opt = Adam([model.params], backend="numba" if lean else "numpy")

            def step(i, model=model, opt=opt, lean=lean, X=X, y=y, batch=batch):
                Xb, yb = X[i * batch : (i + 1) * batch], y[i * batch : (i + 1) * batch]
                if lean:
                    model.loss_and_grad(Xb, yb)
                else:
                    _, dlogits = losses.softmax_cross_entropy(model.forward(Xb), yb)
                    model.backward(dlogits)
                opt.step([model.grads])

            step(0), step(1)
            peaks = []
            tracemalloc.start()
            for i in range(2, 4):
                tracemalloc.reset_peak()
                before, _ = tracemalloc.get_traced_memory()
                step(i)
                _, peak = tracemalloc.get_traced_memory()
                peaks.append(peak - before)
            tracemalloc.stop()
            rows.append(
                {
                    "model": "-".join(map(str, sizes)),
                    "batch": batch,
                    "path": path,
                    "transient_bytes_per_step": int(np.median(peaks)),
                    "params_bytes": int(model.params.nbytes),
                }
            )
    return rows


def run(quick: bool = False, peers: set[str] | None = None, log=C.log) -> dict:
    peers = peers if peers is not None else C.mlp_peers(quick)
    return {
        "peers": sorted(peers),
        "square_gemm": square_gemm_gflops(quick),
        "rows": throughput(quick, peers, log),
        "allocations": allocations(quick),
    }


def main(argv=None) -> int:
    return C.script_main(__doc__, run, argv)


if __name__ == "__main__":
    sys.exit(main())

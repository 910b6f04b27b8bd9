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
            measured = C.take_turns(cases, rounds)
            base = measured.get("gradstep")
            for name, values in measured.items():
                row = {
                    "dataset": data_name,
                    "model": label,
                    "batch": batch,
                    "impl": name,
                    "samples_per_s": C.summary(values, 0),
                }
                if name != "gradstep" and base:
                    # > 1: gradstep is faster than this peer, paired round by round.
                    row["gradstep_speedup"] = C.summary(C.paired_ratios(base, values), 3)
                rows.append(row)
    return rows


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
        "rows": throughput(quick, peers, log),
        "allocations": allocations(quick),
    }


def main(argv=None) -> int:
    return C.script_main(__doc__, run, argv)


if __name__ == "__main__":
    sys.exit(main())

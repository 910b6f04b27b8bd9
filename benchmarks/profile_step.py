"""Where a training step's time goes: gradstep's step split by operation, and scikit-learn's under cProfile.

cProfile cannot see inside NumPy (a matrix product is one C call inside ``forward``), so gradstep's
step is split by replaying its operations one kind at a time on the model's own buffers: the matrix
products, the elementwise passes (bias, activation, its derivative, the bias gradient), the loss, the
optimizer step, each timed alone (medians of 7 turns); "rest" is the full step minus the parts: the
Python around them, and what the parts cost more inside a step than alone (cold caches); it can come
out negative when a part is cheaper inside the step. scikit-learn's
``partial_fit`` is profiled with cProfile, which shows its own Python functions.

    python benchmarks/profile_step.py [--threads N] [--batch 32 128 1024]
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import pstats
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def _per_call(fn, seconds=0.05) -> float:
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return (time.perf_counter() - start) / n


def gradstep_breakdown(sizes, batch) -> dict:
    from gradstep import Adam
    from gradstep.nn import MLP, losses

    rng = np.random.default_rng(0)
    X = rng.random((batch, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], batch)
    model = MLP(sizes, rng=0)
    opt = Adam([model.params])
    model.loss_and_grad(X, y)
    opt.step([model.grads])
    layers, Zs, As, dAs, dZs = model.layers, model._Z, model._A, model._dA, model._dZ

    def matmuls():  # inputs from the activations of the real forward pass above, which stay valid
        for l, (layer, Z) in enumerate(zip(layers[:-1], Zs, strict=True)):
            np.matmul(X if l == 0 else As[l - 1], layer.W, out=Z)
        np.matmul(As[-1] if As else X, layers[-1].W, out=model._logits)
        dZ = model._dlogits
        for l in range(len(layers) - 1, -1, -1):
            A_prev = X if l == 0 else As[l - 1]
            np.matmul(A_prev.T, dZ, out=layers[l].dW)
            if l:
                np.matmul(dZ, layers[l].W.T, out=dAs[l - 1])
                dZ = dZs[l - 1]

    def elementwise():
        for layer, Z, A in zip(layers[:-1], Zs, As, strict=True):
            Z += layer.b
            layer.act.forward(Z, out=A)
        model._logits += layers[-1].b
        dZ = model._dlogits
        for l in range(len(layers) - 1, -1, -1):
            np.add.reduce(dZ, axis=0, out=layers[l].db)
            if l:
                layers[l - 1].act.vjp(As[l - 1], dAs[l - 1], out=dZs[l - 1])
                dZ = dZs[l - 1]

    if model._step_kernels(batch) is not None:  # the compiled step: its fused elementwise passes
        from gradstep.nn import _fused as F

        def elementwise():  # noqa: F811
            for layer, Z, A in zip(layers[:-1], Zs, As, strict=True):
                F._bias_act(Z, layer.b, A, True)
            F._bias_act(model._logits, layers[-1].b, model._logits, False)
            F._colsum(model._dlogits, layers[-1].db)
            for l in range(len(layers) - 1, 0, -1):
                F._act_vjp_colsum(As[l - 1], dAs[l - 1], dZs[l - 1], layers[l - 1].db, True)

    def step():
        model.loss_and_grad(X, y)
        opt.step([model.grads])

    cases = {
        "matrix products": matmuls,
        "elementwise (bias, activation, derivative, bias grad)": elementwise,
        "loss (softmax cross-entropy)": lambda: losses.softmax_cross_entropy(
            model._logits, y, out=model._dlogits
        ),
        "optimizer step (fused Adam)": lambda: opt.step([model.grads]),
        "step": step,
    }
    times = C.take_turns({k: functools.partial(_per_call, fn) for k, fn in cases.items()}, 7)
    parts = {k: float(np.median(v)) for k, v in times.items()}
    total = parts.pop("step")
    parts["rest (Python, checks)"] = total - sum(parts.values())
    return {
        "model": "-".join(map(str, sizes)),
        "batch": batch,
        "total_us": round(total * 1e6, 1),
        "parts_us": {k: round(v * 1e6, 1) for k, v in parts.items()},
    }


def sklearn_profile(sizes, batch, top=12) -> str:
    import warnings

    from sklearn.neural_network import MLPClassifier

    warnings.filterwarnings("ignore")
    rng = np.random.default_rng(0)
    X = rng.random((batch * 64, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], len(X))
    clf = MLPClassifier(tuple(sizes[1:-1]), solver="adam", alpha=0.0, batch_size=batch, shuffle=False)
    clf.partial_fit(X, y, classes=np.arange(sizes[-1]))
    prof = cProfile.Profile()
    prof.enable()
    clf.partial_fit(X, y)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    return f"sklearn MLPClassifier {'-'.join(map(str, sizes))} batch {batch}, 64 steps:\n" + out.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, nargs="*", default=[32, 128, 1024])
    args = parser.parse_args(argv)
    C.set_threads(args.threads)
    configs = [((784, 256, 256, 10), b) for b in args.batch] + [((784, *(64,) * 30, 10), 64)]
    print(f"threads: {args.threads}; load average {C.load_average()}\n")
    print("| model | batch | step (us) | " + " | ".join(gradstep_breakdown((4, 4, 2), 2)["parts_us"]) + " |")
    print("|---|---|---|" + "---|" * 5)
    for sizes, batch in configs:
        r = gradstep_breakdown(sizes, batch)
        share = " | ".join(f"{v:.0f} ({v / r['total_us']:.0%})" for v in r["parts_us"].values())
        print(f"| {r['model']} | {batch} | {r['total_us']:.0f} | {share} |")
    print()
    for batch in (32, 1024):
        print(sklearn_profile((784, 256, 256, 10), batch))
    return 0


if __name__ == "__main__":
    sys.exit(main())

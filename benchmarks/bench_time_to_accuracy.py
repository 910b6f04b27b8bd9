"""Seconds (and epochs) to reach a target test accuracy on scikit-learn's digits.

Every framework trains the same network (64-128-128-10, ReLU, softmax cross-entropy) with Adam at
lr 1e-3 and batch 32 on the same standardized training split, visiting it in the same order (one
seeded permutation per epoch), and evaluates on the test split after every epoch; the clock stops at
the first evaluation at or above the target (0.95 by default) and includes the evaluations (a run
that has not reached it after 60 epochs or 60 s counts as not reaching it). gradstep,
torch and JAX start from the same weights; scikit-learn initializes itself (it cannot be given
weights), so its epoch count may differ for that reason too. ``gradstep fit()`` is the public loop
(its own shuffling, per-epoch validation metrics). Repeated over seeds; the table gives the median
with min and max.

    python benchmarks/bench_time_to_accuracy.py [--quick] [--json PATH]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import _peers as P  # noqa: E402

HIDDEN = (128, 128)
BATCH = 32


class _Shuffled:
    """Wrap a trainer so that each epoch visits the training set in a seeded order."""

    def __init__(self, trainer, X, y, seed):
        self.trainer, self.X, self.y, self.seed, self.epochs = trainer, X, y, seed, 0

    def epoch(self):
        order = np.random.default_rng([self.seed, self.epochs]).permutation(len(self.X))
        self.trainer.reset_data(self.X[order], self.y[order])
        self.trainer.epoch()
        self.epochs += 1


def trainers(X, y, sizes, seed, peers):
    lean = P.GradstepLoop(X, y, sizes, BATCH, seed=seed)
    weights = lean.initial_weights()
    out = {"gradstep": lean, "gradstep fit()": P.GradstepFit(X, y, sizes, BATCH, seed=seed)}
    if "torch" in peers:
        out["torch Adam"] = P.TorchLoop(X, y, sizes, BATCH, weights)
        out["torch fused Adam"] = P.TorchLoop(X, y, sizes, BATCH, weights, fused=True)
    if "jax" in peers:
        out["jax jit"] = P.JaxLoop(X, y, sizes, BATCH, weights)
    if "sklearn" in peers:
        out["sklearn MLPClassifier"] = P.SklearnLoop(X, y, sizes, BATCH, seed=seed)
    return out


def run(quick: bool = False, peers: set[str] | None = None, target: float = 0.95, log=C.log) -> dict:
    from gradstep import data

    peers = peers if peers is not None else C.mlp_peers(quick)
    ds = data.load("digits", rng=0)
    X, y, Xt, yt = ds.X_train, ds.y_train, ds.X_test, ds.y_test
    sizes = (X.shape[1], *HIDDEN, ds.n_classes)
    seeds = [0] if quick else [0, 1, 2]
    max_epochs = 1 if quick else 60
    max_seconds = 5.0 if quick else 60.0  # a peer that takes longer is reported as not reaching it
    found: dict[str, dict[str, list]] = {}
    for seed in seeds:
        log(f"accuracy: seed {seed}")
        built = trainers(X, y, sizes, seed, peers)
        for name, tr in built.items():
            # Compilation (JAX's jit, numba's first dispatch) is a one-off per process, not training:
            # it happens before the clock starts (the startup benchmark reports gradstep's).
            tr.warm_up(Xt)
            wrapped = _Shuffled(tr, X, y, seed)
            start, reached, acc = time.perf_counter(), None, 0.0
            for epoch in range(1, max_epochs + 1):
                wrapped.epoch()
                acc = tr.accuracy(Xt, yt)
                if acc >= target:
                    reached = epoch
                    break
                if time.perf_counter() - start > max_seconds:
                    break
            seconds = time.perf_counter() - start
            rec = found.setdefault(name, {"seconds": [], "epochs": [], "final_accuracy": []})
            rec["epochs"].append(reached)
            rec["seconds"].append(seconds if reached else None)
            rec["final_accuracy"].append(round(acc, 4))
            time.sleep(C.SETTLE_S)
    rows = []
    for name, rec in found.items():
        secs = [s for s in rec["seconds"] if s is not None]
        eps = [e for e in rec["epochs"] if e is not None]
        rows.append(
            {
                "impl": name,
                "target_accuracy": target,
                "reached": f"{len(secs)}/{len(rec['seconds'])}",
                "seconds": C.summary(secs, 3),
                "epochs": C.summary(eps, 1),
                "final_accuracy": rec["final_accuracy"],
            }
        )
    return {
        "dataset": "digits",
        "model": "-".join(map(str, sizes)),
        "batch": BATCH,
        "optimizer": "Adam lr=1e-3",
        "max_epochs": max_epochs,
        "max_seconds": max_seconds,
        "seeds": seeds,
        "peers": sorted(peers),
        "rows": rows,
    }


def main(argv=None) -> int:
    return C.script_main(__doc__, run, argv, target=0.95)


if __name__ == "__main__":
    sys.exit(main())

"""Claim 10: on a real task, over seeds, momentum, RMSprop and Adam need fewer epochs than mini-batch GD.

The notes' reason mini-batch gradient descent takes many epochs is its noisy, oscillating steps; momentum
averages them, RMSprop damps the oscillating directions, Adam does both. The race trains the same ReLU
network on digits with each optimizer, every one from the same initial weights and batch order at a
given seed (``gradstep.compare.grid``), and measures epochs and training seconds to a target validation
accuracy, mean and spread over seeds.

The learning rates are stated up front: gradstep's defaults (``gradstep train``), 0.05 for gradient
descent and momentum and 0.001 for RMSprop and Adam. For gradient descent and momentum the same rate is
the like-for-like comparison, because the notes' momentum averages the gradients (V = beta V + (1 - beta)
dw) and so steps, on average, as far as gradient descent at the same rate. RMSprop's and Adam's rate is a
step length per coordinate, not a multiple of the gradient, so it cannot be matched to gradient
descent's; 0.001 is the default of every framework. A sweep over 1, 3 and 10 times each default then
shows where each optimizer is at its best.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..base import Judgement, Result, conclude, experiment

NAME = "optim_race"
TITLE = "The optimizer race on digits"

OPTIMIZERS = ["sgd", "momentum", "rmsprop", "adam"]
LABELS = {"sgd": "mini-batch GD", "momentum": "momentum", "rmsprop": "RMSprop", "adam": "Adam"}
STATED_LR = {"sgd": 0.05, "momentum": 0.05, "rmsprop": 0.001, "adam": 0.001}
SWEEP = [1, 3, 10]  # multiples of the stated rate
TARGET = 0.95
HIDDEN = (128, 64)
BATCH = 32


@dataclass(frozen=True)
class Measurement:
    """What ``gradstep.compare.grid`` measured: every run, the summary table and the curves."""

    quick: bool
    seeds: list[int]
    epochs: int
    multiples: list[float]  # of the stated rates
    lrs: dict[str, list[float]]  # by optimizer
    runs: list[dict]
    table: list[dict]
    curves: list[dict]

    def runs_of(self, name: str, lr: float) -> list[dict]:
        return [r for r in self.runs if r["optimizer"] == name and r["lr"] == lr]


def _epochs_to_target(runs: list[dict], epochs: int) -> tuple[float, float, int]:
    """Mean and std over seeds of the epochs to the target; a run that never reached it counts as
    ``epochs + 1`` (a lower bound on what it would have needed). Also how many reached it."""
    values = [epochs + 1 if r["epochs_to_target"] is None else r["epochs_to_target"] for r in runs]
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return float(np.mean(values)), std, sum(r["epochs_to_target"] is not None for r in runs)


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]  # None: the run diverged
    return float(np.mean(present)) if present else None


def _seconds_to_target(runs: list[dict]) -> float | None:
    reached = [r["seconds_to_target"] for r in runs if r["seconds_to_target"] is not None]
    return float(np.mean(reached)) if reached else None


def measure(*, quick: bool, seed: int) -> Measurement:
    from ... import compare

    n_seeds, epochs = (2, 8) if quick else (5, 15)
    seeds = list(range(seed, seed + n_seeds))
    multiples = [1] if quick else SWEEP
    lrs = {name: [float(f"{STATED_LR[name] * m:.6g}") for m in multiples] for name in OPTIMIZERS}
    # In this process, one run at a time: worker processes would each pay seconds of imports and kernel
    # compilation, more than a second core saves on 60 short runs, and the timings stay uncontended.
    result = compare.grid(
        data="digits", optimizers=OPTIMIZERS, lrs=lrs, seeds=seeds, epochs=epochs, batch_size=BATCH,
        hidden=HIDDEN, activation="relu", target_accuracy=TARGET, jobs=1,
    )  # fmt: skip
    return Measurement(quick, seeds, epochs, multiples, lrs, result.runs, result.rows, result.curves())


def _stated(m: Measurement) -> dict[str, dict]:
    """Per optimizer, at its stated rate: epochs and seconds to the target over seeds, final accuracies."""
    stated = {}
    for name in OPTIMIZERS:
        runs = m.runs_of(name, STATED_LR[name])
        mean, std, reached = _epochs_to_target(runs, m.epochs)
        stated[name] = {
            "lr": STATED_LR[name],
            "epochs_to_target_mean": mean,
            "epochs_to_target_std": std,
            "reached": reached,
            "epochs_to_target_by_seed": [r["epochs_to_target"] for r in runs],
            "seconds_to_target_mean": _seconds_to_target(runs),
            "final_val_accuracy_mean": _mean([r["final_val_accuracy"] for r in runs]),
            "test_accuracy_mean": _mean([r["test_accuracy"] for r in runs]),
        }
    return stated


def sweep(m: Measurement) -> dict[str, list[dict]]:
    """Per optimizer, one row per rate of the sweep: epochs and seconds to the target over seeds."""
    rows: dict[str, list[dict]] = {}
    for name in OPTIMIZERS:
        rows[name] = []
        for lr in m.lrs[name]:
            mean, std, reached = _epochs_to_target(m.runs_of(name, lr), m.epochs)
            rows[name].append({
                "lr": lr, "epochs_to_target_mean": mean, "epochs_to_target_std": std, "reached": reached,
                "seconds_to_target_mean": _seconds_to_target(m.runs_of(name, lr)),
            })  # fmt: skip
    return rows


def _verdict(m: Measurement, stated: dict, tuned: dict, faster: dict) -> str:
    n_seeds = len(m.seeds)

    def said(name: str) -> str:
        s = stated[name]
        secs = s["seconds_to_target_mean"]
        return (
            f"{LABELS[name]} {s['epochs_to_target_mean']:.1f} ± {s['epochs_to_target_std']:.1f} epochs"
            + (f" ({secs:.2f} s)" if secs is not None else "")
            + f", {s['reached']}/{n_seeds} reached"
        )

    slower = [LABELS[n] for n, f in faster.items() if not f]
    verdict = (
        f"Epochs to {TARGET:.0%} validation accuracy at the stated rates, mean ± std over {n_seeds} seeds: "
        + "; ".join(said(n) for n in OPTIMIZERS)
        + ". "
        + (f"{' and '.join(slower)} did not need fewer epochs than mini-batch GD. " if slower else "")
    )
    if m.quick:
        return verdict
    verdict += (
        "At the best rate of the sweep (1, 3, 10 times the stated one): "
        + "; ".join(
            f"{LABELS[n]} {tuned[n]['epochs_to_target_mean']:.1f} epochs at lr {tuned[n]['lr']:g}"
            for n in OPTIMIZERS
        )
        + "."
    )
    stated_best = min(stated[n]["epochs_to_target_mean"] for n in ("rmsprop", "adam"))
    tuned_best = min(tuned[n]["epochs_to_target_mean"] for n in ("rmsprop", "adam"))
    gap = stated["sgd"]["epochs_to_target_mean"] - stated_best
    tuned_gap = tuned["sgd"]["epochs_to_target_mean"] - tuned_best
    return verdict + (
        f" Tuned, mini-batch GD's lag behind the faster of RMSprop and Adam went from {gap:.1f} to "
        f"{tuned_gap:.1f} epochs" + (": it reaches the target about as fast." if tuned_gap <= 0.5 else ".")
    )


def judge(m: Measurement) -> Judgement:
    stated, rows = _stated(m), sweep(m)
    tuned = {name: min(r, key=lambda x: (x["epochs_to_target_mean"], x["lr"])) for name, r in rows.items()}
    gd = stated["sgd"]["epochs_to_target_mean"]
    faster = {name: stated[name]["epochs_to_target_mean"] < gd for name in OPTIMIZERS[1:]}
    metrics = {
        "data": "digits",
        "hidden": list(HIDDEN),
        "batch_size": BATCH,
        "epochs": m.epochs,
        "seeds": m.seeds,
        "target_accuracy": TARGET,
        "stated": stated,
        "fewer_epochs_than_gd": faster,
        "sweep_multiples": m.multiples,
        "sweep": rows,
        "tuned": tuned,
        "table": m.table,
    }
    criterion = (
        f"On digits (MLP {HIDDEN}, ReLU, He init, batch 32), over {len(m.seeds)} seeds, each optimizer at "
        "its stated learning rate (gradstep's defaults: 0.05 for GD and momentum, 0.001 for RMSprop and "
        f"Adam): momentum, RMSprop and Adam each need fewer epochs on average than mini-batch GD to "
        f"reach {TARGET:.0%} validation accuracy (a run that never reaches it within {m.epochs} epochs "
        f"counts as {m.epochs + 1})."
    )
    verdict = _verdict(m, stated, tuned, faster)
    return Judgement(CLAIM, criterion, all(faster.values()), verdict, metrics, CAVEAT)


def figures(m: Measurement) -> dict:
    from ...plots import ComparisonFigure, Line, Panel, PanelFigure

    curves = []
    for c in m.curves:
        if c["lr"] == STATED_LR[c["optimizer"]]:
            curves.append({**c, "label": f"{LABELS[c['optimizer']]}, lr {c['lr']:g}"})
    title = f"digits, MLP {HIDDEN}: validation accuracy, mean ± std over {len(m.seeds)} seeds"
    out = {"race.png": ComparisonFigure(curves, target=TARGET, title=title)}
    if len(m.multiples) == 1:
        return out
    rows, x = sweep(m), m.multiples
    panels = [
        Panel(title=f"epochs to {TARGET:.0%} validation accuracy", xlabel="learning rate / stated rate",
              ylabel=f"epochs (mean; never = {m.epochs + 1})", logx=True,
              lines=[Line(x, [r["epochs_to_target_mean"] for r in rows[n]], marker="o",
                          label=f"{LABELS[n]} (stated lr {STATED_LR[n]:g})") for n in OPTIMIZERS]),
        Panel(title="training seconds to the same accuracy", xlabel="learning rate / stated rate",
              ylabel="seconds (mean of seeds reaching it)", logx=True,
              lines=[Line(x, [r["seconds_to_target_mean"] for r in rows[n]], marker="o", label=LABELS[n])
                     for n in OPTIMIZERS]),
    ]  # fmt: skip
    out["race_learning_rates.png"] = PanelFigure(
        panels, title="The race at 1, 3 and 10 times each stated learning rate"
    )
    return out


@experiment(NAME, TITLE, order=10)
def run(out: Path, *, quick: bool, seed: int) -> Result:
    m = measure(quick=quick, seed=seed)
    return conclude(NAME, TITLE, judge(m), figures(m), out)


CLAIM = (
    "Mini-batch gradient descent takes many epochs because its steps are noisy and oscillate; "
    "momentum (V = beta V + (1 - beta) dw), RMSprop and Adam smooth and damp those steps and so "
    "reach a given accuracy in fewer epochs."
)
CAVEAT = (
    "The notes' momentum is an average of the gradients, so at the same learning rate it moves as "
    "far per step as gradient descent on average, and it starts 1 - beta = 10 times slower "
    "(V_0 = 0): it smooths the path but does not shorten it. The heavy-ball form of PyTorch and "
    "Keras, V = beta V + dw (gradstep: Momentum(form='heavy_ball')), steps 1/(1 - beta) = 10 times "
    "further at the same rate, which is where 'momentum is faster' usually comes from. Digits is "
    "small and well conditioned; a tuned plain gradient descent is competitive on it. Seconds are "
    "training time only (forward, backward, step), one run at a time in the lab's process."
)

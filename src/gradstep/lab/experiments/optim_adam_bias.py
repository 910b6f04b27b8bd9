"""Claim 9: Adam combines momentum and RMSprop, and corrects the bias of both averages toward zero.

Adam keeps momentum's average ``V = beta1 V + (1 - beta1) dw`` and RMSprop's ``S = beta2 S + (1 - beta2)
dw^2``, both starting at 0, and steps ``lr * V_hat / sqrt(S_hat + eps)`` with ``V_hat = V / (1 - beta1^t)``
and ``S_hat = S / (1 - beta2^t)``. After the first step ``V_1 = (1 - beta1) dw`` and ``S_1 = (1 - beta2)
dw^2``: both are too small, 10 and 1000 times at the usual betas. Corrected, the first step is exactly
``lr * dw / sqrt(dw^2 + eps)``, about ``lr`` per coordinate. Uncorrected, it is

    lr * (1 - beta1) dw / sqrt((1 - beta2) dw^2 + eps)  ~  lr * (1 - beta1) / sqrt(1 - beta2)

and for a constant gradient the t-th step is ``lr (1 - beta1^t) / sqrt(1 - beta2^t)`` long: the two biases
partly cancel. The step is too small only when ``(1 - beta1)^2 < 1 - beta2``; at the usual (0.9, 0.999)
it is 3.16 lr, and more than 6 lr around step 12. The experiment measures these step sizes on
gradstep's Adam and the training loss after a fixed number of steps on digits, with and without the
correction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..base import Judgement, Result, conclude, experiment
from ..common import digits, fmt, train_steps

NAME = "optim_adam_bias"
TITLE = "Adam's bias correction and the size of its first steps"

BETAS = [(0.9, 0.999), (0.9, 0.99), (0.9, 0.9), (0.99, 0.999)]
LR, EPS = 1e-3, 1e-8
T = 2000  # steps of a constant gradient
TRAIN_LRS = [1e-3, 3e-3, 1e-2, 3e-2]


@dataclass(frozen=True)
class Measurement:
    first: dict[tuple[float, float], dict]  # by betas: the first step against its formulas
    steps_over_lr: dict[tuple[float, float], dict[str, list[float]]]  # by betas: "corrected"/"uncorrected"
    step_error: float  # largest relative error of a constant-gradient step against its formula
    seeds: list[int]
    train_steps: int
    training: dict[tuple[float, bool], dict]  # by (lr, bias_correction): what _train returns


def _first_step(g: np.ndarray, beta1: float, beta2: float, bias_correction: bool) -> tuple[np.ndarray, dict]:
    """|w_1 - w_0| per coordinate for gradient ``g`` on gradstep's Adam, and its moments after step 1."""
    from ... import optim

    w = np.zeros_like(g)
    opt = optim.Adam([w], lr=LR, beta1=beta1, beta2=beta2, eps=EPS, bias_correction=bias_correction)
    opt.step([g])
    return np.abs(w), {"V": opt.state["V"][0].copy(), "S": opt.state["S"][0].copy()}


def _step_sizes(T: int, beta1: float, beta2: float, bias_correction: bool) -> list[float]:
    """Step lengths / lr over T steps of a constant gradient (dw = 1)."""
    from ... import optim

    w = np.zeros(1)
    opt = optim.Adam([w], lr=LR, beta1=beta1, beta2=beta2, eps=EPS, bias_correction=bias_correction)
    sizes, prev = [], 0.0
    for _ in range(T):
        opt.step([np.ones(1)])
        sizes.append(abs(float(w[0]) - prev) / LR)
        prev = float(w[0])
    return sizes


def _train(lr: float, bias_correction: bool, seeds: list[int], steps: int) -> dict:
    from ... import optim
    from ...nn import MLP
    from ...train import evaluate

    curves, finals = [], []
    for seed in seeds:
        data = digits(seed)
        model = MLP((data.n_features, 128, data.n_classes), activation="relu", init="he_normal", rng=seed)
        opt = optim.Adam([model.params], lr=lr, bias_correction=bias_correction)
        with np.errstate(over="ignore", invalid="ignore"):
            curves.append(
                train_steps(
                    model, data.X_train, data.y_train, optimizer=opt, steps=steps, batch_size=32, seed=seed
                )
            )
            finals.append(evaluate(model, data.X_train, data.y_train)["loss"])
    # The mini-batch loss jumps from batch to batch: show its running mean over 10 steps.
    curve = np.convolve(np.mean(curves, axis=0), np.ones(10) / 10, mode="valid")
    return {"curve": curve.tolist(), "final_train_loss": float(np.mean(finals))}


def _first_steps(seed: int) -> dict:
    """Per betas: the first step's size (median and least, in units of lr) on gradients of every scale,
    corrected and not, its largest error against the formulas, and the moments after it."""
    rng = np.random.default_rng(seed)
    # Gradients of every scale, both signs: 1e-3 ... 1e3.
    g = rng.choice([-1.0, 1.0], 2000) * 10 ** rng.uniform(-3, 3, 2000)
    first = {}
    for b1, b2 in BETAS:
        corrected, _ = _first_step(g, b1, b2, True)
        raw, m_r = _first_step(g, b1, b2, False)
        exact_c = LR * np.abs(g) / np.sqrt(g**2 + EPS)
        exact_r = LR * (1 - b1) * np.abs(g) / np.sqrt((1 - b2) * g**2 + EPS)
        first[(b1, b2)] = {
            "corrected_over_lr_median": float(np.median(corrected) / LR),
            "corrected_over_lr_min": float(np.min(corrected) / LR),
            "uncorrected_over_lr_median": float(np.median(raw) / LR),
            "uncorrected_predicted_over_lr": (1 - b1) / np.sqrt(1 - b2),
            "max_rel_error_vs_formula": float(
                max(np.max(np.abs(corrected / exact_c - 1)), np.max(np.abs(raw / exact_r - 1)))
            ),
            "V1_over_dw": float(np.median(m_r["V"] / g)),
            "S1_over_dw2": float(np.median(m_r["S"] / g**2)),
            "moments_rel_error": float(
                max(
                    np.max(np.abs(m_r["V"] / ((1 - b1) * g) - 1)),
                    np.max(np.abs(m_r["S"] / ((1 - b2) * g**2) - 1)),
                )
            ),
        }
    return first


def _constant_gradient() -> tuple[dict, float]:
    """Per betas, T steps of a constant gradient, corrected and not; and their largest relative error
    against the formulas (1 - beta1^t) / sqrt(1 - beta2^t + eps) and 1 / sqrt(1 + eps)."""
    t = np.arange(1, T + 1)
    steps_over_lr, step_error = {}, 0.0
    for b1, b2 in BETAS:
        raw = _step_sizes(T, b1, b2, False)
        corr = _step_sizes(T, b1, b2, True)
        exact_raw = (1 - b1**t) / np.sqrt(1 - b2**t + EPS)
        exact_corr = np.full(T, 1 / np.sqrt(1 + EPS))  # dw = 1: V_hat = 1, S_hat = 1
        step_error = max(
            step_error,
            float(np.max(np.abs(np.array(raw) / exact_raw - 1))),
            float(np.max(np.abs(np.array(corr) / exact_corr - 1))),
        )
        steps_over_lr[(b1, b2)] = {"uncorrected": raw, "corrected": corr}
    return steps_over_lr, step_error


def measure(*, quick: bool, seed: int) -> Measurement:
    from threadpoolctl import threadpool_limits

    first = _first_steps(seed)
    steps_over_lr, step_error = _constant_gradient()
    seeds = [seed] if quick else [seed, seed + 1, seed + 2]
    n_steps = 100 if quick else 200
    with threadpool_limits(limits=1):
        training = {(lr, bc): _train(lr, bc, seeds, n_steps) for lr in TRAIN_LRS for bc in (True, False)}
    return Measurement(first, steps_over_lr, step_error, seeds, n_steps, training)


def judge(m: Measurement) -> Judgement:
    first, lrs = m.first, TRAIN_LRS
    default = m.steps_over_lr[(0.9, 0.999)]["uncorrected"]
    peak = int(np.argmax(default))
    above = int(np.sum(np.array(default) > 1.1))
    final = {bc: [m.training[(lr, bc)]["final_train_loss"] for lr in lrs] for bc in (True, False)}
    d = first[(0.9, 0.999)]
    holds = (
        all(f["max_rel_error_vs_formula"] < 1e-9 and f["moments_rel_error"] < 1e-9 for f in first.values())
        and all(abs(f["corrected_over_lr_median"] - 1) < 1e-3 for f in first.values())
        and all(f["corrected_over_lr_min"] > 0.99 for f in first.values())
        and m.step_error < 1e-9
    )
    formula_error = max(m.step_error, max(f["max_rel_error_vs_formula"] for f in first.values()))
    verdict = (
        f"After one step gradstep's Adam held V_1 = {d['V1_over_dw']:.3g} dw and "
        f"S_1 = {d['S1_over_dw2']:.3g} dw^2 (biased toward 0 by 1 - beta1 and 1 - beta2). With the "
        f"correction the first step was {d['corrected_over_lr_median']:.6f} lr per coordinate (at least "
        f"{d['corrected_over_lr_min']:.4f} lr for gradients down to 1e-3). Without it the first step was "
        f"{d['uncorrected_over_lr_median']:.3f} lr at betas (0.9, 0.999): not too small but too large, "
        f"growing to {default[peak]:.2f} lr at step {peak + 1} and staying over 1.1 lr for {above} steps; "
        f"it was too small only at (0.9, 0.9) ({first[(0.9, 0.9)]['uncorrected_over_lr_median']:.3f} lr) "
        f"and, for the first steps, (0.99, 0.999) ({first[(0.99, 0.999)]['uncorrected_over_lr_median']:.3f} "
        f"lr). Every measured step matched its formula to {fmt(formula_error, 2)}. Training loss on digits "
        f"after {m.train_steps} steps, lr {', '.join(f'{lr:g}' for lr in lrs)}: corrected "
        f"{', '.join(fmt(v, 3) for v in final[True])}; uncorrected "
        f"{', '.join(fmt(v, 3) for v in final[False])}."
    )
    metrics = {
        "lr": LR,
        "eps": EPS,
        "first_step": {f"{b1},{b2}": v for (b1, b2), v in first.items()},
        "uncorrected_peak_step_over_lr": default[peak],
        "uncorrected_peak_step_index": peak + 1,
        "uncorrected_steps_over_1_1_lr": above,
        "step_size_max_rel_error": m.step_error,
        "uncorrected_first_step_too_small_at_default_betas": d["uncorrected_over_lr_median"] < 1,
        "training": {
            "steps": m.train_steps,
            "seeds": m.seeds,
            "lrs": lrs,
            "final_train_loss_corrected": final[True],
            "final_train_loss_uncorrected": final[False],
            "best_lr_corrected": lrs[int(np.nanargmin(final[True]))],
            "best_lr_uncorrected": lrs[int(np.nanargmin(final[False]))],
        },
    }
    return Judgement(CLAIM, CRITERION, holds, verdict, metrics, CAVEAT)


def figures(m: Measurement) -> dict:
    from ...plots import Line, Panel, PanelFigure

    shown_t = np.unique(np.logspace(0, np.log10(T), 60).astype(int)).tolist()
    step_lines = [
        Line(shown_t, [m.steps_over_lr[(b1, b2)]["uncorrected"][k - 1] for k in shown_t],
             label=f"uncorrected, betas ({b1}, {b2})", color=f"C{i}")
        for i, (b1, b2) in enumerate(BETAS)
    ] + [Line(shown_t, [m.steps_over_lr[(0.9, 0.999)]["corrected"][k - 1] for k in shown_t],
              label="corrected (every betas)", color="black", linestyle="--")]  # fmt: skip
    x = list(range(10, m.train_steps + 1))
    curves = [
        Line(x, m.training[(lr, bc)]["curve"], color=f"C{i}", linestyle="-" if bc else ":",
             label=f"lr {lr:g}, {'corrected' if bc else 'uncorrected'}")
        for i, lr in enumerate((1e-3, 1e-2)) for bc in (True, False)
    ]  # fmt: skip
    final = {bc: [m.training[(lr, bc)]["final_train_loss"] for lr in TRAIN_LRS] for bc in (True, False)}
    panels = [
        Panel(title="step length of Adam, constant gradient", xlabel="step t", ylabel="|step| / lr",
              logx=True, logy=True, lines=step_lines),
        Panel(title=f"mini-batch loss on digits ({len(m.seeds)} seeds, mean of 10 steps)", xlabel="step",
              ylabel="cross-entropy", logy=True, lines=curves),
        Panel(title=f"training loss after {m.train_steps} steps", xlabel="learning rate",
              ylabel="cross-entropy", logx=True, logy=True,
              lines=[Line(TRAIN_LRS, final[True], label="corrected", marker="o"),
                     Line(TRAIN_LRS, final[False], label="uncorrected", marker="s", linestyle=":")]),
    ]  # fmt: skip
    title = "Adam with and without bias correction (eps inside the root, eps = 1e-8)"
    return {"adam_bias.png": PanelFigure(panels, title=title)}


@experiment(NAME, TITLE, order=9)
def run(out: Path, *, quick: bool, seed: int) -> Result:
    m = measure(quick=quick, seed=seed)
    return conclude(NAME, TITLE, judge(m), figures(m), out)


CLAIM = (
    "Adam combines momentum, V = beta1 V + (1 - beta1) dw, and RMSprop, S = beta2 S + "
    "(1 - beta2) dw^2, stepping lr * V_hat / sqrt(S_hat + eps). Both averages start at 0, so their "
    "first values are biased toward 0; the correction V_hat = V / (1 - beta1^t), S_hat = S / "
    "(1 - beta2^t) removes the bias to kickstart the algorithm: the first step is lr per "
    "coordinate. (The lab's summary adds that without the correction the first steps are too "
    "small; see the caveat.)"
)
CRITERION = (
    "On gradstep's Adam, for betas (0.9, 0.999), (0.9, 0.99), (0.9, 0.9) and (0.99, 0.999) and "
    "gradients from 1e-3 to 1e3: after one step V = (1 - beta1) dw and S = (1 - beta2) dw^2 "
    "exactly; the corrected first step is lr * |dw| / sqrt(dw^2 + eps), within 0.1% of lr at the "
    "median and 1% everywhere; the uncorrected one is lr * (1 - beta1) |dw| / sqrt((1 - beta2) dw^2 "
    "+ eps); and over 2000 steps of a constant gradient every step matches its formula to 1e-9."
)
CAVEAT = (
    "'Without bias correction the first steps are too small' is true of each average alone "
    "(momentum's V starts at (1 - beta1) dw), but not of Adam's step at the usual betas: the biases "
    "of V and sqrt(S) partly cancel, and the uncorrected first step is lr (1 - beta1) / "
    "sqrt(1 - beta2) = 3.16 lr at (0.9, 0.999), too large, and larger still for the next few hundred "
    "steps. It is too small only when (1 - beta1)^2 < 1 - beta2. The correction's real service is "
    "that lr means the same thing from the first step on: without it, Adam at lr 1e-3 trains faster "
    "only because it is effectively running at a several times larger rate, and at larger rates it "
    "is the uncorrected run that overshoots. gradstep applies the correction by default "
    "(bias_correction=True)."
)

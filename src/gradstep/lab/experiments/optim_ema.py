"""Claim 7: the exponential moving average V_t = beta V_{t-1} + (1 - beta) dw_t smooths noisy steps.

Feed the average a noisy "gradient" ``dw_t = mu + sigma eps_t`` (white noise around a constant). With
``V_0 = 0`` it is a weighted sum of everything seen, ``V_t = (1 - beta) sum_k beta^(t-k) dw_k``, so

    E[V_t]   = mu (1 - beta^t)                                   (biased toward 0 early on)
    Var[V_t] = sigma^2 (1 - beta)/(1 + beta) (1 - beta^(2t))     -> sigma^2 (1 - beta)/(1 + beta)

The larger beta (the friction of the notes' ball), the smaller the steady-state variance; dividing by
``1 - beta^t`` (Adam's bias correction) makes every V_t unbiased. The price of smoothing is lag: after
the gradient flips from +mu to -mu, V needs ``ln 2 / ln(1/beta)`` steps to change sign.

The averages are computed by :class:`gradstep.optim.Momentum` itself (its state ``V``) over many
independent series at once, one series per coordinate of a parameter vector.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..base import Judgement, Result, conclude, experiment
from ..common import fmt

NAME = "optim_ema"
TITLE = "The exponential moving average smooths noisy steps"

MU, SIGMA = 1.0, 1.0
BETAS = [0.5, 0.8, 0.9, 0.95, 0.98]
TAIL = 50  # the steady state: the last steps of each series
FLIP_AT, LAG_T = 60, 200


@dataclass(frozen=True)
class Measurement:
    series: int  # R independent series
    steps: int  # T
    noise: np.ndarray  # (T, R), standard normal
    runs: dict[float, dict]  # by beta: what _averages returns
    lags: dict[float, tuple[list[float], int]]  # by beta: V after the flip, steps until it changes sign


def _averages(beta: float, noise: np.ndarray) -> dict:
    """Run Momentum's V over the series (rows of ``noise``: time, columns: independent series)."""
    from ... import optim

    T, R = noise.shape
    w = np.zeros(R)
    opt = optim.Momentum([w], lr=1e-3, beta=beta)  # lr only moves w; V is what is measured
    V = opt.state["V"][0]
    direct = np.zeros(R)  # the notes' recursion written out, to check the optimizer against
    mean, var, mean_hat, first, first_hat = [], [], [], [], []
    max_diff = 0.0
    for t in range(1, T + 1):
        dw = MU + SIGMA * noise[t - 1]
        opt.step([dw])
        direct = beta * direct + (1 - beta) * dw
        max_diff = max(max_diff, float(np.max(np.abs(V - direct))))
        V_hat = V / (1 - beta**t)
        mean.append(float(V.mean()))
        var.append(float(V.var()))
        mean_hat.append(float(V_hat.mean()))
        first.append(float(V[0]))
        first_hat.append(float(V_hat[0]))
    return {
        "mean": mean,
        "var": var,
        "mean_hat": mean_hat,
        "first": first,
        "first_hat": first_hat,
        "max_diff_vs_recursion": max_diff,
    }


def _lag(beta: float, flip_at: int, T: int) -> tuple[list[float], int]:
    """V on a noise-free gradient that flips from +mu to -mu after step ``flip_at`` (from steady state)."""
    from ... import optim

    w = np.zeros(1)
    opt = optim.Momentum([w], lr=1e-3, beta=beta)
    opt.state["V"][0][...] = MU  # start settled at +mu, so only the flip is seen
    trace = []
    for t in range(1, T + 1):
        opt.step([np.array([MU if t <= flip_at else -MU])])
        trace.append(float(opt.state["V"][0][0]))
    crossing = next(t for t, v in enumerate(trace, start=1) if v < 0) - flip_at
    return trace, crossing


def measure(*, quick: bool, seed: int) -> Measurement:
    R, T = (4000, 200) if quick else (20000, 300)
    noise = np.random.default_rng(seed).standard_normal((T, R))
    runs = {b: _averages(b, noise) for b in BETAS}
    lags = {b: _lag(b, FLIP_AT, LAG_T) for b in BETAS}
    return Measurement(R, T, noise, runs, lags)


def _statistics(m: Measurement) -> dict:
    """Per beta: the steady-state variance against (1 - beta)/(1 + beta), and the bias of the first
    averages (corrected: in standard errors; uncorrected: the first one)."""
    R, T = m.series, m.steps
    t = np.arange(1, T + 1)
    measured, predicted, bias_hat_se, bias_raw_first = [], [], [], []
    for b in BETAS:
        steady = (1 - b) / (1 + b)
        late = slice(T - TAIL, T)
        expected_var = SIGMA**2 * steady * (1 - b ** (2 * t))
        # The mean of the variance over the last steps, against its exact expectation (~ the steady state).
        measured.append(float(np.mean(m.runs[b]["var"][late]) / np.mean(expected_var[late]) * steady))
        predicted.append(steady)
        # Bias of the first 10 averages, in standard errors of their mean over R series.
        se_hat = np.sqrt(expected_var[:10] / R) / (1 - b ** t[:10])
        bias_hat_se.append(float(np.max(np.abs(np.array(m.runs[b]["mean_hat"][:10]) - MU) / se_hat)))
        bias_raw_first.append(m.runs[b]["mean"][0])
    return {
        "steady_variance_measured": measured,
        "steady_variance_predicted": predicted,
        "steady_variance_relative_error": [abs(a / p - 1) for a, p in zip(measured, predicted, strict=True)],
        "first_average_uncorrected_mean": bias_raw_first,
        "first_average_uncorrected_expected": [(1 - b) * MU for b in BETAS],
        "corrected_first10_max_bias_in_se": bias_hat_se,
    }


def judge(m: Measurement) -> Judgement:
    R = m.series
    st = _statistics(m)
    measured, ratio_error = st["steady_variance_measured"], st["steady_variance_relative_error"]
    bias_hat_se, bias_raw_first = st["corrected_first10_max_bias_in_se"], st["first_average_uncorrected_mean"]
    lag_predicted = [math.log(2) / math.log(1 / b) for b in BETAS]
    max_diff = max(m.runs[b]["max_diff_vs_recursion"] for b in BETAS)
    holds = (
        all(e <= 0.10 for e in ratio_error)
        and all(a > b for a, b in zip(measured, measured[1:], strict=False))
        and all(z <= 5.0 for z in bias_hat_se)
        and all(
            abs(v - (1 - b) * MU) <= 5 * SIGMA * (1 - b) / math.sqrt(R)
            for v, b in zip(bias_raw_first, BETAS, strict=True)
        )
        and max_diff <= 1e-12
    )
    i9 = BETAS.index(0.9)
    verdict = (
        f"Over {R} series, the steady-state variance of V fell from {fmt(measured[0])} sigma^2 at "
        f"beta = {BETAS[0]} to {fmt(measured[-1])} at beta = {BETAS[-1]}, each within "
        f"{100 * max(ratio_error):.1f}% of (1 - beta)/(1 + beta) "
        f"({fmt(st['steady_variance_predicted'][i9])} at beta = 0.9). "
        f"Uncorrected, the first average was {bias_raw_first[i9]:.3f} mu at beta = 0.9 (expected 1 - beta = "
        f"0.1); bias-corrected, the first 10 averages were within {max(bias_hat_se):.1f} standard errors of "
        f"mu for every beta. The smoothing costs lag: after a sign flip V took {m.lags[0.9][1]} steps to "
        f"change sign at beta = 0.9 and {m.lags[0.98][1]} at 0.98 (ln 2 / ln(1/beta): "
        f"{lag_predicted[i9]:.1f}, {lag_predicted[-1]:.1f})."
    )
    metrics = {
        "mu": MU,
        "sigma": SIGMA,
        "series": R,
        "steps": m.steps,
        "betas": BETAS,
        **st,
        "corrected_first10_means": {str(b): m.runs[b]["mean_hat"][:10] for b in BETAS},
        "lag_steps_to_sign_change": [m.lags[b][1] for b in BETAS],
        "lag_predicted": lag_predicted,
        "momentum_state_vs_recursion_max_diff": max_diff,
    }
    return Judgement(CLAIM, CRITERION, holds, verdict, metrics, CAVEAT)


def figures(m: Measurement) -> dict:
    from ...plots import HLine, Line, Panel, PanelFigure, VLine

    shown, first = [0.5, 0.9, 0.98], 120
    x = list(range(1, first + 1))
    signal = (MU + SIGMA * m.noise[:first, 0]).tolist()
    one = Panel(
        title="one noisy gradient and its EMA V_t", xlabel="step t", ylabel="value",
        lines=[Line(x, signal, label="dw_t", color="lightgray", linewidth=0.8)]
        + [Line(x, m.runs[b]["first"][:first], label=f"beta = {b}") for b in shown]
        + [Line(x, m.runs[0.9]["first_hat"][:first], label="beta = 0.9, corrected", linestyle="--")],
        hlines=[HLine(MU)],
    )  # fmt: skip
    bias = Panel(
        title=f"bias: mean over {m.series} series", xlabel="step t", ylabel="mean of V_t",
        lines=[Line(x[:60], m.runs[b]["mean"][:60], label=f"V_t, beta = {b}", color=f"C{i}")
               for i, b in enumerate(shown)]
        + [Line(x[:60], m.runs[b]["mean_hat"][:60], label=f"V_t / (1 - beta^t), beta = {b}",
                linestyle="--", color=f"C{i}") for i, b in enumerate(shown)],
        hlines=[HLine(MU, label="mu")],
    )  # fmt: skip
    smooth = np.linspace(BETAS[0], BETAS[-1], 50)
    variance = Panel(
        title="steady-state variance of V", xlabel="beta", ylabel="Var[V] / sigma^2", logy=True,
        lines=[Line(BETAS, _statistics(m)["steady_variance_measured"], label="measured", marker="o",
                    linestyle=""),
               Line(list(smooth), [(1 - b) / (1 + b) for b in smooth], label="(1 - beta) / (1 + beta)")],
    )  # fmt: skip
    friction = Panel(
        title="friction: the gradient flips sign", xlabel="step t", ylabel="V_t",
        lines=[Line(list(range(1, LAG_T + 1)), m.lags[b][0], label=f"beta = {b}") for b in shown],
        vlines=[VLine(FLIP_AT + 0.5, label="dw: +mu -> -mu")],
        hlines=[HLine(0.0)],
    )  # fmt: skip
    title = "V_t = beta V_{t-1} + (1 - beta) dw_t, computed by gradstep.optim.Momentum"
    return {"ema.png": PanelFigure([one, bias, variance, friction], title=title, ncols=2)}


@experiment(NAME, TITLE, order=7)
def run(out: Path, *, quick: bool, seed: int) -> Result:
    m = measure(quick=quick, seed=seed)
    return conclude(NAME, TITLE, judge(m), figures(m), out)


CLAIM = (
    "The exponential moving average V_t = beta V_{t-1} + (1 - beta) dw_t weighs all past gradients, "
    "so the noise of the single steps averages out: the larger beta (friction), the smoother V. "
    "For white noise around a constant its steady-state variance is (1 - beta)/(1 + beta) of the "
    "gradient's. Starting from V_0 = 0 its first values are biased toward 0, E[V_t] = "
    "(1 - beta^t) E[dw]; the corrected V_t / (1 - beta^t) is unbiased."
)
CRITERION = (
    "Over many seeded series of dw_t = mu + sigma * noise, with V computed by gradstep's Momentum "
    "(equal to the recursion to 1e-12): the variance of V over the last 50 steps is within 10% of "
    "its exact expectation (~ (1 - beta)/(1 + beta) sigma^2) for each beta in 0.5 ... 0.98 and "
    "falls as beta grows; the mean of the first uncorrected average is (1 - beta) mu and the means "
    "of the first 10 corrected averages are mu, each within 5 standard errors."
)
CAVEAT = (
    "The notes' momentum optimizer steps along the uncorrected V, so its first steps are "
    "(1 - beta^t) times shorter than a gradient step (10x shorter at beta = 0.9 on the first "
    "step); gradstep's Momentum keeps that, as the notes write it. Adam applies the correction; "
    "see the Adam experiment. The variance law holds for uncorrelated noise; correlated gradient "
    "noise (as in successive mini-batches of a moving network) is smoothed less."
)

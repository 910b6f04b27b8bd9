"""Claim 5: why the fan: a unit's pre-activation variance grows with its number of inputs.

A unit sums its ``n = fan_in`` inputs, ``z = sum_i w_i x_i``; with independent zero-mean weights and inputs
the variances add up::

    Var(z) = n Var(w) Var(x)

so with a fixed weight variance Var(z) grows linearly with the fan (a slope of 1 on a log-log plot), and
with ``Var(w) = c / n`` it is ``c Var(x)`` whatever the fan (slope 0). The notes make the argument through
the gradient: ``dz^L / dw^L_11 = a^{L-1}_1``, the previous layer's activation, whose size follows
``Var(z^{L-1})``; with ReLU, ``E[a^2] = Var(z) / 2``, so the gradient's RMS grows as ``sqrt(n)`` unless
the weight variance shrinks as 1/n (He: ``Var(w) = 2 / n`` keeps ``E[a^2] = Var(x)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..base import Judgement, Result, conclude, experiment
from ..common import fit_line, fmt

NAME = "init_fan"
TITLE = "Why the fan: pre-activation variance grows with the number of inputs"
SIGMA_FIXED = 0.1  # a fixed weight std, whatever the fan (the "small random numbers" init)
UNITS = 32
KINDS = ("fixed", "lecun", "he")
LABELS = {"fixed": f"fixed std {SIGMA_FIXED}", "lecun": "Var(w) = 1/fan_in", "he": "Var(w) = 2/fan_in"}
COLORS = {"fixed": "tab:red", "lecun": "tab:blue", "he": "tab:green"}


@dataclass(frozen=True)
class Series:
    """One kind of weights, per fan: Var(z), the formula n Var(w) E[x^2] from the draw's own moments, and
    the RMS of relu(z) (the next layer's weight gradient)."""

    var_z: list[float]
    var_z_formula: list[float]
    relu_grad_rms: list[float]


@dataclass(frozen=True)
class Measurement:
    fans: list[int]
    samples: int
    var_x: list[float]
    series: dict[str, Series]  # by kind


def _sample(kind: str, n: int, gen: np.random.Generator) -> np.ndarray:
    from ... import init

    if kind == "fixed":
        return gen.normal(0.0, SIGMA_FIXED, size=(n, UNITS))
    return {"lecun": init.lecun_normal, "he": init.he_normal}[kind]((n, UNITS), rng=gen, dtype=np.float64)


def measure(*, quick: bool, seed: int) -> Measurement:
    gen = np.random.default_rng(seed)
    fans = [2**k for k in range(2, 10 if quick else 12)]
    n_samples = 500 if quick else 2000
    rows = {kind: ([], [], []) for kind in KINDS}
    var_x = []
    for n in fans:
        X = gen.standard_normal((n_samples, n))
        var_x.append(float(X.var()))
        for kind, (var_z, formula, grad_rms) in rows.items():
            W = _sample(kind, n, gen)
            Z = X @ W
            var_z.append(float(Z.var()))
            # The formula with this draw's own moments: n * Var(w) * E[x^2].
            formula.append(n * float(np.mean(W**2)) * float(np.mean(X**2)))
            # dz^L/dw^L_ij = a^{L-1}_i: the next layer's weight gradient is this layer's ReLU output.
            grad_rms.append(float(np.sqrt(np.mean(np.maximum(Z, 0) ** 2))))
    return Measurement(fans, n_samples, var_x, {kind: Series(*r) for kind, r in rows.items()})


def predicted(m: Measurement) -> dict[str, list[float]]:
    """Var(z) = n Var(w) Var(x) for each kind of weights, from the inputs' measured variance."""
    return {
        "fixed": [n * SIGMA_FIXED**2 * v for n, v in zip(m.fans, m.var_x, strict=True)],
        "lecun": list(m.var_x),
        "he": [2 * v for v in m.var_x],
    }


def _series_metrics(m: Measurement) -> dict[str, dict]:
    log_n = np.log10(m.fans)
    expected = predicted(m)
    out = {}
    for kind, s in m.series.items():
        d = {"var_z": s.var_z, "var_z_formula": s.var_z_formula, "relu_grad_rms": s.relu_grad_rms}
        d["var_z_loglog_slope"], _, d["var_z_r2"] = fit_line(log_n, np.log10(s.var_z))
        d["relu_grad_loglog_slope"], _, _ = fit_line(log_n, np.log10(s.relu_grad_rms))
        d["var_z_expected"] = expected[kind]
        d["max_relative_error"] = max(abs(a / b - 1) for a, b in zip(s.var_z, s.var_z_formula, strict=True))
        out[kind] = d
    return out


def judge(m: Measurement) -> Judgement:
    series = _series_metrics(m)
    fixed, lecun, he = series["fixed"], series["lecun"], series["he"]
    worst = max(s["max_relative_error"] for s in series.values())
    holds = (
        abs(fixed["var_z_loglog_slope"] - 1) < 0.1
        and fixed["var_z_r2"] > 0.99
        and abs(lecun["var_z_loglog_slope"]) < 0.05
        and abs(he["var_z_loglog_slope"]) < 0.05
        and worst < 0.1
        and abs(fixed["relu_grad_loglog_slope"] - 0.5) < 0.1
        and abs(he["relu_grad_loglog_slope"]) < 0.05
    )
    metrics = {"fans": m.fans, "units": UNITS, "samples": m.samples, "fixed_weight_std": SIGMA_FIXED,
               "var_x": m.var_x, "series": series}  # fmt: skip
    fans = m.fans
    verdict = (
        f"With a fixed weight std of {SIGMA_FIXED}, Var(z) went from {fmt(fixed['var_z'][0])} at fan_in "
        f"{fans[0]} to {fmt(fixed['var_z'][-1])} at {fans[-1]}: log-log slope "
        f"{fixed['var_z_loglog_slope']:.3f} (R^2 = {fixed['var_z_r2']:.4f}). With Var(w) = 1/fan_in it "
        f"stayed between {fmt(min(lecun['var_z']))} and {fmt(max(lecun['var_z']))} (slope "
        f"{lecun['var_z_loglog_slope']:+.3f}). Every measurement is within "
        f"{100 * worst:.1f}% of n Var(w) E[x^2] computed "
        f"from its own weights and inputs. The RMS "
        f"of the next layer's weight gradient a = relu(z) grows with slope "
        f"{fixed['relu_grad_loglog_slope']:.3f} (sqrt(n): 0.5) for fixed weights and "
        f"{he['relu_grad_loglog_slope']:+.3f} under He."
    )
    criterion = (
        "Over fan_in = 4 ... " + str(fans[-1]) + ": with a fixed weight std the log-log slope of Var(z) "
        "against fan_in is 1 +- 0.1 with R^2 > 0.99; with Var(w) = 1/fan_in or 2/fan_in it is 0 +- "
        "0.05; every Var(z) is within 10% of n Var(w) E[x^2] (the draw's own moments); the RMS of "
        "relu(z) grows with slope "
        "0.5 +- 0.1 (as sqrt(n)) for fixed weights and 0 +- 0.05 under He."
    )
    return Judgement(CLAIM, criterion, holds, verdict, metrics, CAVEAT)


def figures(m: Measurement) -> dict:
    from ...plots import Line, Panel, PanelFigure

    fans, expected = m.fans, predicted(m)
    var_lines = []
    for kind in ("fixed", "lecun"):
        var_lines.append(Line(fans, m.series[kind].var_z, label=LABELS[kind], color=COLORS[kind], marker="o"))
        var_lines.append(Line(fans, expected[kind], color=COLORS[kind], linestyle=":"))
    grad_lines = [Line(fans, m.series[kind].relu_grad_rms, label=LABELS[kind], color=COLORS[kind], marker="o")
                  for kind in ("fixed", "he")]  # fmt: skip
    panels = [
        Panel(title="Var(z) of z = sum_i w_i x_i (dotted: n Var(w) Var(x))", xlabel="fan_in n",
              ylabel="Var(z)", logx=True, logy=True, lines=var_lines),
        Panel(title="RMS of dz^L/dw^L = a^(L-1) = relu(z^(L-1))", xlabel="fan_in n",
              ylabel="RMS of the gradient", logx=True, logy=True, lines=grad_lines),
    ]  # fmt: skip
    title = f"one layer of {UNITS} units, x ~ N(0, 1), {m.samples} samples"
    return {"variance_vs_fan.png": PanelFigure(panels, title=title)}


@experiment(NAME, TITLE, order=5)
def run(out: Path, *, quick: bool, seed: int) -> Result:
    m = measure(quick=quick, seed=seed)
    return conclude(NAME, TITLE, judge(m), figures(m), out)


CLAIM = (
    "A unit with more inputs sums more terms: Var(z) = fan_in * Var(w) * Var(x). Unless the weight "
    "variance shrinks as 1/fan, the pre-activations, and with them the next layer's gradients "
    "dz^L/dw^L = a^(L-1), grow with the number of inputs. That is why initializers scale by the fan."
)
CAVEAT = (
    "The formula assumes independent weights of zero mean. Inputs need not be centred: Var(x) "
    "is then E[x^2], which is how He's factor 2 for ReLU arises; correlated inputs add covariance "
    "terms, which is why the deeper experiments measure layer by layer. Weights of nonzero mean "
    "break it: the notes' own uniform range is such a case (see the asymmetric-range experiment)."
)

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

from pathlib import Path

import numpy as np

from .base import Result, experiment
from .common import fit_line, fmt, jsonable

NAME = "init_fan"
TITLE = "Why the fan: pre-activation variance grows with the number of inputs"
SIGMA_FIXED = 0.1  # a fixed weight std, whatever the fan (the "small random numbers" init)
UNITS = 32


def _sample(kind: str, n: int, gen: np.random.Generator) -> np.ndarray:
    from .. import init

    if kind == "fixed":
        return gen.normal(0.0, SIGMA_FIXED, size=(n, UNITS))
    return {"lecun": init.lecun_normal, "he": init.he_normal}[kind]((n, UNITS), rng=gen, dtype=np.float64)


@experiment(NAME, TITLE, order=5)
def run(out: Path, *, quick: bool, seed: int) -> Result:
    from .. import plots

    gen = np.random.default_rng(seed)
    fans = [2**k for k in range(2, 10 if quick else 12)]
    n_samples = 500 if quick else 2000
    series = {
        kind: {"var_z": [], "var_z_formula": [], "relu_grad_rms": []} for kind in ("fixed", "lecun", "he")
    }
    var_x = []
    for n in fans:
        X = gen.standard_normal((n_samples, n))
        var_x.append(float(X.var()))
        for kind, s in series.items():
            W = _sample(kind, n, gen)
            Z = X @ W
            s["var_z"].append(float(Z.var()))
            # The formula with this draw's own moments: n * Var(w) * E[x^2].
            s["var_z_formula"].append(n * float(np.mean(W**2)) * float(np.mean(X**2)))
            # dz^L/dw^L_ij = a^{L-1}_i: the next layer's weight gradient is this layer's ReLU output.
            s["relu_grad_rms"].append(float(np.sqrt(np.mean(np.maximum(Z, 0) ** 2))))
    log_n = np.log10(fans)
    for s in series.values():
        s["var_z_loglog_slope"], _, s["var_z_r2"] = fit_line(log_n, np.log10(s["var_z"]))
        s["relu_grad_loglog_slope"], _, _ = fit_line(log_n, np.log10(s["relu_grad_rms"]))
    predicted = {
        "fixed": [n * SIGMA_FIXED**2 * v for n, v in zip(fans, var_x, strict=True)],
        "lecun": list(var_x),
        "he": [2 * v for v in var_x],
    }
    for kind, s in series.items():
        s["var_z_expected"] = predicted[kind]
        s["max_relative_error"] = max(
            abs(m / p - 1) for m, p in zip(s["var_z"], s["var_z_formula"], strict=True)
        )
    fixed, lecun, he = series["fixed"], series["lecun"], series["he"]
    holds = (
        abs(fixed["var_z_loglog_slope"] - 1) < 0.1
        and fixed["var_z_r2"] > 0.99
        and abs(lecun["var_z_loglog_slope"]) < 0.05
        and abs(he["var_z_loglog_slope"]) < 0.05
        and max(s["max_relative_error"] for s in series.values()) < 0.1
        and abs(fixed["relu_grad_loglog_slope"] - 0.5) < 0.1
        and abs(he["relu_grad_loglog_slope"]) < 0.05
    )
    metrics = {"fans": fans, "units": UNITS, "samples": n_samples, "fixed_weight_std": SIGMA_FIXED,
               "var_x": var_x, "series": series}  # fmt: skip
    verdict = (
        f"With a fixed weight std of {SIGMA_FIXED}, Var(z) went from {fmt(fixed['var_z'][0])} at fan_in "
        f"{fans[0]} to {fmt(fixed['var_z'][-1])} at {fans[-1]}: log-log slope "
        f"{fixed['var_z_loglog_slope']:.3f} (R^2 = {fixed['var_z_r2']:.4f}). With Var(w) = 1/fan_in it "
        f"stayed between {fmt(min(lecun['var_z']))} and {fmt(max(lecun['var_z']))} (slope "
        f"{lecun['var_z_loglog_slope']:+.3f}). Every measurement is within "
        f"{100 * max(s['max_relative_error'] for s in series.values()):.1f}% of n Var(w) E[x^2] computed "
        f"from its own weights and inputs. The RMS "
        f"of the next layer's weight gradient a = relu(z) grows with slope "
        f"{fixed['relu_grad_loglog_slope']:.3f} (sqrt(n): 0.5) for fixed weights and "
        f"{he['relu_grad_loglog_slope']:+.3f} under He."
    )

    labels = {"fixed": f"fixed std {SIGMA_FIXED}", "lecun": "Var(w) = 1/fan_in", "he": "Var(w) = 2/fan_in"}
    colors = {"fixed": "tab:red", "lecun": "tab:blue", "he": "tab:green"}
    fig = "variance_vs_fan.png"
    plots.plot_panels(
        [
            {"title": "Var(z) of z = sum_i w_i x_i (dotted: n Var(w) Var(x))", "xlabel": "fan_in n",
             "ylabel": "Var(z)", "logx": True, "logy": True,
             "lines": [line for kind in ("fixed", "lecun") for line in (
                 {"x": fans, "y": series[kind]["var_z"], "label": labels[kind], "color": colors[kind],
                  "marker": "o"},
                 {"x": fans, "y": predicted[kind], "color": colors[kind], "linestyle": ":"})]},
            {"title": "RMS of dz^L/dw^L = a^(L-1) = relu(z^(L-1))", "xlabel": "fan_in n",
             "ylabel": "RMS of the gradient", "logx": True, "logy": True,
             "lines": [{"x": fans, "y": series[kind]["relu_grad_rms"], "label": labels[kind],
                        "color": colors[kind], "marker": "o"} for kind in ("fixed", "he")]},
        ],
        out / fig,
        title=f"one layer of {UNITS} units, x ~ N(0, 1), {n_samples} samples",
    )  # fmt: skip
    return Result(
        name=NAME,
        title=TITLE,
        claim=(
            "A unit with more inputs sums more terms: Var(z) = fan_in * Var(w) * Var(x). Unless the weight "
            "variance shrinks as 1/fan, the pre-activations, and with them the next layer's gradients "
            "dz^L/dw^L = a^(L-1), grow with the number of inputs. That is why initializers scale by the fan."
        ),
        criterion=(
            "Over fan_in = 4 ... " + str(fans[-1]) + ": with a fixed weight std the log-log slope of Var(z) "
            "against fan_in is 1 +- 0.1 with R^2 > 0.99; with Var(w) = 1/fan_in or 2/fan_in it is 0 +- "
            "0.05; every Var(z) is within 10% of n Var(w) E[x^2] (the draw's own moments); the RMS of "
            "relu(z) grows with slope "
            "0.5 +- 0.1 (as sqrt(n)) for fixed weights and 0 +- 0.05 under He."
        ),
        holds=bool(holds),
        verdict=verdict,
        metrics=jsonable(metrics),
        figures=[fig],
        caveat=(
            "The formula assumes independent weights of zero mean. Inputs need not be centred: Var(x) "
            "is then E[x^2], which is how He's factor 2 for ReLU arises; correlated inputs add covariance "
            "terms, which is why the deeper experiments measure layer by layer. Weights of nonzero mean "
            "break it: the notes' own uniform range is such a case (see the asymmetric-range experiment)."
        ),
    )

"""Claim 3: a deep linear network computes y = W^L ... W^1 X, whose scale grows exponentially with depth.

With ``g(z) = z`` every layer multiplies by its weight matrix, so the output is one product of L
matrices. With independent zero-mean weights of variance ``sigma^2`` and ``n`` inputs per unit, each
layer multiplies the variance by ``n sigma^2``::

    Var(y^L) = (n sigma^2)^L Var(x)      =>  log10 std(y^L) = L * 0.5 log10(n sigma^2) + const

a straight line in depth on a log scale: exploding when ``n sigma^2 > 1``, vanishing when it is below 1,
flat only at ``sigma^2 = 1/n``. Backward, the gradient with respect to ``W^1`` is
``dW^1 = X^T dY (W^L)^T ... (W^2)^T``: the same kind of product, so it grows at the same rate. The
experiment takes ``dY`` to be a fixed random direction (the gradient of the loss ``mean <G, y>``), so
that the measured growth is the backward product's alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..base import Judgement, Result, conclude, experiment
from ..common import digits, fit_line, fmt, geometric_mean

NAME = "init_deep_linear"
TITLE = "Deep linear network: output and gradients grow exponentially with depth"
# Var(w) = c / n: c = 2 explodes, c = 1 preserves the variance (LeCun normal), c = 0.5 vanishes.
SCALES = {"large: Var(w) = 2/n": 2.0, "variance-preserving: Var(w) = 1/n": 1.0, "small: Var(w) = 0.5/n": 0.5}


@dataclass(frozen=True)
class Series:
    """One weight scale ``Var(w) = c / n``: per depth, the output std and std(dW^1), geometric means over
    seeds; and the largest relative error of the network's output against the explicit matrix product."""

    n_sigma2: float
    output_std: list[float]
    grad_W1_std: list[float]
    product_formula_relative_error: float


@dataclass(frozen=True)
class Measurement:
    width: int
    batch: int
    depths: list[int]
    seeds: int
    series: dict[str, Series]  # by label of SCALES


def _one_seed(
    c: float, X: np.ndarray, depths: list[int], seed: int
) -> tuple[list[float], list[float], float]:
    """Output std and std of dW^1 for each depth; and the product formula's relative error at the deepest."""
    from ... import init
    from ...nn import MLP

    n = X.shape[1]
    weights = init.get("variance_scaling", scale=c, mode="fan_in", distribution="normal")
    dY = np.random.default_rng([seed, 1]).standard_normal(X.shape) / len(X)  # d(mean <G, y>)/dy
    out_std, grad_std = [], []
    for L in depths:
        # Same seed: the depth-L network's layers are the first L layers of every deeper one.
        model = MLP((n,) * (L + 1), activation="linear", init=weights, rng=seed, dtype=np.float64)
        out_std.append(float(model.forward(X).std()))
        model.backward(dY, input_grad=False)
        grad_std.append(float(model.layers[0].dW.std()))
    product = np.linalg.multi_dot([X, *(layer.W for layer in model.layers)])
    error = float(np.abs(model.activations[-1] - product).max() / np.abs(product).max())
    return out_std, grad_std, error


def measure(*, quick: bool, seed: int) -> Measurement:
    X = digits(seed).X_train[:256].astype(np.float64)
    depths = list(range(1, 21, 2) if quick else range(1, 41, 3))
    seeds = [seed] if quick else [seed, seed + 1, seed + 2]
    series = {}
    for label, c in SCALES.items():
        runs = [_one_seed(c, X, depths, s) for s in seeds]
        series[label] = Series(
            n_sigma2=c,
            output_std=geometric_mean([r[0] for r in runs]),
            grad_W1_std=geometric_mean([r[1] for r in runs]),
            product_formula_relative_error=max(r[2] for r in runs),
        )
    return Measurement(X.shape[1], len(X), depths, len(seeds), series)


def _fits(m: Measurement, s: Series) -> dict:
    """The log10 slopes against depth of the output std and std(dW^1), with their predictions and R^2."""
    out_fit = fit_line(m.depths, np.log10(s.output_std))
    grad_fit = fit_line(m.depths, np.log10(s.grad_W1_std))
    return {
        "n_sigma2": s.n_sigma2,
        "output_std": s.output_std,
        "grad_W1_std": s.grad_W1_std,
        "output_log10_slope": out_fit.slope,
        "output_log10_slope_predicted": 0.5 * np.log10(s.n_sigma2),
        "output_r2": out_fit.r2,
        "grad_log10_slope": grad_fit.slope,
        "grad_log10_slope_predicted": 0.5 * np.log10(s.n_sigma2),
        "grad_r2": grad_fit.r2,
        "product_formula_relative_error": s.product_formula_relative_error,
    }


def judge(m: Measurement) -> Judgement:
    series = {label: _fits(m, s) for label, s in m.series.items()}
    metrics = {"width": m.width, "batch": m.batch, "depths": m.depths, "seeds": m.seeds, "series": series}
    big, keep = (series[k] for k in list(SCALES)[:2])
    product_error = max(s["product_formula_relative_error"] for s in series.values())
    holds = (
        big["output_log10_slope"] > 0
        and big["output_r2"] > 0.95
        and abs(big["output_log10_slope"] / big["output_log10_slope_predicted"] - 1) < 0.25
        and big["grad_r2"] > 0.95
        and abs(big["grad_log10_slope"] / big["grad_log10_slope_predicted"] - 1) < 0.25
        and abs(keep["output_log10_slope"]) < 0.1 * big["output_log10_slope"]
        and abs(keep["grad_log10_slope"]) < 0.1 * big["grad_log10_slope"]
        and product_error < 1e-10
    )
    L = m.depths[-1]
    verdict = (
        f"With Var(w) = 2/n the output std grows by 10^{big['output_log10_slope']:.3f} = "
        f"x{10 ** big['output_log10_slope']:.3f} per layer (predicted x{2**0.5:.3f}, R^2 = "
        f"{big['output_r2']:.3f}): x{fmt(big['output_std'][-1] / big['output_std'][0])} from depth 1 to {L}; "
        f"the gradient of W^1 by x{10 ** big['grad_log10_slope']:.3f} per layer "
        f"(R^2 = {big['grad_r2']:.3f}): "
        f"x{fmt(big['grad_W1_std'][-1] / big['grad_W1_std'][0])}. "
        f"With Var(w) = 1/n the slopes are {keep['output_log10_slope']:+.4f} and "
        f"{keep['grad_log10_slope']:+.4f} (log10 per layer). The network's output equals the product "
        f"X W^1 ... W^L to a relative {fmt(product_error)}."
    )
    return Judgement(CLAIM, CRITERION, holds, verdict, metrics, CAVEAT)


def figures(m: Measurement) -> dict:
    from ...plots import Line, Panel, PanelFigure

    colors = ["tab:red", "tab:green", "tab:blue"]
    d = m.depths
    panels = []
    for key, ylabel in (("output_std", "std of the output y"), ("grad_W1_std", "std of the gradient dW^1")):
        lines = []
        for color, (label, s) in zip(colors, m.series.items(), strict=True):
            values = getattr(s, key)
            lines.append(Line(d, values, label=label, color=color, marker="o", markersize=2.5))
            # The prediction sqrt(n sigma^2)^L, drawn from the first depth's measurement.
            slope = 0.5 * np.log10(s.n_sigma2)
            fitted = [values[0] * 10 ** (slope * (depth - d[0])) for depth in d]
            lines.append(Line(d, fitted, color=color, linestyle=":", linewidth=1))
        panels.append(Panel(title=ylabel, xlabel="depth L", ylabel=ylabel, logy=True, lines=lines))
    title = f"linear network of width {m.width} on digits; dotted: sqrt(n sigma^2)^L predicted"
    return {"scale_vs_depth.png": PanelFigure(panels, title=title)}


@experiment(NAME, TITLE, order=3)
def run(out: Path, *, quick: bool, seed: int) -> Result:
    m = measure(quick=quick, seed=seed)
    return conclude(NAME, TITLE, judge(m), figures(m), out)


CLAIM = (
    "With a linear activation a = g(z) = z in all L layers, y-hat = W^L W^(L-1) ... W^2 W^1 X. "
    "For a deep network that product of L matrices becomes very large, and so do the gradients: "
    "they grow exponentially with depth. Quantitatively Var(y) = (n sigma^2)^L Var(x) for "
    "weights of variance sigma^2 and n inputs per unit."
)
CRITERION = (
    "Fitting log10(scale) against depth L: with Var(w) = 2/n the slopes of the output std and "
    "of std(dW^1) are both within 25% of the predicted 0.5 log10(2) = 0.151 per layer (x1.41), "
    "with R^2 > 0.95; with the variance-preserving Var(w) = 1/n both slopes are under a tenth of "
    "those; the network's output equals the explicit matrix product to 1e-10."
)
CAVEAT = (
    "What explodes is n sigma^2 > 1, not weights that look large: entries of std 0.18 (2/64 "
    "variance) already grow the output x1.41 per layer, and n sigma^2 < 1 makes it vanish just as "
    "fast (the small series), which the notes do not mention. The notes write W^L ... W^1 X with "
    "column vectors; gradstep computes X W^1 ... W^L with W of shape (fan_in, fan_out), the "
    "transpose of the same product."
)

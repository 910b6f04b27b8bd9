"""Claim 11: the notes' range U[-1/sqrt(fan_in), 1/sqrt(fan_out)] is not centred when fan_in != fan_out.

For ``w ~ U[a, b]`` with ``a = -1/sqrt(fan_in)`` and ``b = 1/sqrt(fan_out)``::

    E[w] = (a + b) / 2 = (1/sqrt(fan_out) - 1/sqrt(fan_in)) / 2

which is 0 only for square layers. A mean ``mu`` splits every weight matrix into ``mu * ones + W0`` and
adds the same term ``mu * sum_i a_i`` to every unit of the layer: a common mode that, with ``fan_in``
inputs, grows as ``mu * fan_in * mean(a)`` while the useful, unit-specific part grows only as
``sqrt(fan_in)``. The experiment measures the mean of the weights, then what the common mode does in a
network whose layers alternate between 256 and 64 units (a bottleneck stack), against gradstep's
symmetric range ``U[-1/sqrt(fan_in), +1/sqrt(fan_in)]`` (:func:`gradstep.init.uniform`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..base import Judgement, Result, conclude, experiment
from ..common import dead_fraction, digits

NAME = "init_uniform_range"
TITLE = "The notes' uniform range is asymmetric when fan_in != fan_out"
SHAPES = [(256, 64), (64, 256), (64, 64)]
RANGES = {"notes_uniform": "notes: U[-1/sqrt(fan_in), 1/sqrt(fan_out)]",
          "uniform": "gradstep: U[-1/sqrt(fan_in), 1/sqrt(fan_in)]"}  # fmt: skip
ACTIVATIONS = ("relu", "tanh")
WIDTHS = (256, 64) * 5  # ten hidden layers, fan_in 4x fan_out and back


@dataclass(frozen=True)
class Measurement:
    quick: bool
    seed: int
    seeds: list[int]
    input_width: int
    moments: dict[str, list[dict]]  # by range: the weights' moments per shape in SHAPES
    nets: dict[tuple[str, str, int], dict]  # (range, activation, seed): per-layer measures of the stack
    sample_weights: dict[str, np.ndarray]  # by range: one (256, 64) draw, for the histogram


def mean_unit_correlation(Z: np.ndarray) -> float | None:
    """Mean correlation between the columns (units) of ``Z`` over the batch; None if fewer than two vary.

    Near 0 for independent units; near 1 when one common signal dominates every unit of the layer.
    """
    varying = Z[:, Z.std(axis=0) > 1e-12 * max(1.0, float(np.abs(Z).max()))]
    k = varying.shape[1]
    if k < 2:
        return None
    C = np.corrcoef(varying, rowvar=False)
    return float((C.sum() - k) / (k * (k - 1)))


def _weight_moments(init_name: str, seed: int) -> list[dict]:
    from ... import init

    rows = []
    for fan_in, fan_out in SHAPES:
        W = init.get(init_name)((fan_in, fan_out), rng=seed, dtype=np.float64)
        a = -1 / math.sqrt(fan_in)
        b = 1 / math.sqrt(fan_out) if init_name == "notes_uniform" else 1 / math.sqrt(fan_in)
        rows.append({
            "shape": [fan_in, fan_out],
            "mean": float(W.mean()),
            "mean_predicted": (a + b) / 2,
            "mean_standard_error": float(W.std() / math.sqrt(W.size)),
            "var": float(W.var()),
            "var_predicted": (b - a) ** 2 / 12,
        })  # fmt: skip
    return rows


def _network(init_name: str, activation: str, X, seed: int) -> dict:
    from ...nn import MLP

    model = MLP((X.shape[1], *WIDTHS, 10), activation=activation, init=init_name, rng=seed, dtype=np.float64)
    model.forward(X)
    Zs, As = model.pre_activations[:-1], model.activations[:-1]
    return {
        "z_mean_over_std": [float(Z.mean() / Z.std()) if Z.std() > 0 else None for Z in Zs],
        "unit_correlation": [mean_unit_correlation(Z) for Z in Zs],
        "a_rms": [float(np.sqrt(np.mean(A**2))) for A in As],
        "dead_fraction": [dead_fraction(A) for A in As],
        "logits_std_over_batch": float(model.activations[-1].std(axis=0).mean()),
    }


def measure(*, quick: bool, seed: int) -> Measurement:
    from ... import init

    X = digits(seed).X_train[:256].astype(np.float64)
    seeds = [seed] if quick else [seed, seed + 1, seed + 2]
    moments = {name: _weight_moments(name, seed) for name in RANGES}
    nets = {(name, act, s): _network(name, act, X, s) for name in RANGES for act in ACTIVATIONS
            for s in seeds}  # fmt: skip
    gen = np.random.default_rng(seed)
    sample = {n: init.get(n)((256, 64), rng=gen, dtype=np.float64) for n in RANGES}
    return Measurement(quick, seed, seeds, X.shape[1], moments, nets, sample)


def _worst_corr(m: Measurement, name: str, act: str, pick) -> float:
    """``pick`` (min or max) over the seeds of each network's most correlated layer."""
    return pick(max(c for c in m.nets[name, act, s]["unit_correlation"] if c is not None) for s in m.seeds)


def judge(m: Measurement) -> Judgement:
    notes_w, sym_w = m.moments["notes_uniform"], m.moments["uniform"]
    mean_ok = all(
        abs(r["mean"] - r["mean_predicted"]) < 4 * r["mean_standard_error"] for r in notes_w + sym_w
    )
    notes_nonzero = all(abs(r["mean"]) > 10 * r["mean_standard_error"] for r in notes_w[:2])
    collapse = {act: _worst_corr(m, "notes_uniform", act, min) for act in ACTIVATIONS}
    sym_corr = {act: _worst_corr(m, "uniform", act, max) for act in ACTIVATIONS}
    notes_dead = min(m.nets["notes_uniform", "relu", s]["dead_fraction"][-1] for s in m.seeds)
    sym_dead = max(m.nets["uniform", "relu", s]["dead_fraction"][-1] for s in m.seeds)
    holds = (
        mean_ok
        and notes_nonzero
        and all(c > 0.9 for c in collapse.values())
        and all(c < 0.1 for c in sym_corr.values())
        and notes_dead == 1.0
        and sym_dead < 0.5
    )
    metrics = {
        "weights": m.moments,
        "network_widths": [m.input_width, *WIDTHS, 10],
        "seeds": len(m.seeds),
        "max_unit_correlation_notes": collapse,
        "max_unit_correlation_symmetric": sym_corr,
        "last_layer_dead_fraction_notes_relu": notes_dead,
        "last_layer_dead_fraction_symmetric_relu": sym_dead,
        "networks": {f"{n}+{act}": m.nets[n, act, m.seed] for n in RANGES for act in ACTIVATIONS},
    }
    r0, first = notes_w[0], m.nets["notes_uniform", "relu", m.seed]
    first_dead = next((i + 1 for i, d in enumerate(first["dead_fraction"]) if d == 1.0), None)
    verdict = (
        f"For a (256, 64) layer the notes' range has mean {r0['mean']:+.4f} (predicted "
        f"{r0['mean_predicted']:+.4f}, {abs(r0['mean']) / r0['mean_standard_error']:.0f} standard errors "
        f"from 0); (64, 256) gives {notes_w[1]['mean']:+.4f}, (64, 64) {notes_w[2]['mean']:+.4f}. In the "
        f"256/64 bottleneck stack the common mode takes over: the mean correlation between units of a "
        f"layer reaches {collapse['relu']:.2f} (ReLU) and {collapse['tanh']:.2f} (tanh), against at "
        f"most {max(sym_corr.values()):.2f} with the symmetric range; with ReLU every unit is dead from "
        f"layer {first_dead} on (last layer: {100 * notes_dead:.0f}% dead vs {100 * sym_dead:.0f}% "
        f"symmetric)."
    )
    criterion = CRITERION + ("" if m.quick else ", for each of 3 seeds") + "."
    return Judgement(CLAIM, criterion, holds, verdict, metrics, CAVEAT)


def figures(m: Measurement) -> dict:
    from ...plots import Hist, Line, Panel, PanelFigure, VLine

    colors = {"notes_uniform": "tab:red", "uniform": "tab:blue"}
    # Under the notes' range ReLU's and tanh's curves coincide: each (range, activation) gets its own
    # colour and marker, and tanh is drawn thinner on top, so both stay visible where they overlap.
    curve = {
        ("notes_uniform", "relu"): dict(color="tab:red", marker="o", markersize=8, linewidth=3.0),
        ("notes_uniform", "tanh"): dict(
            color="#ffb000", marker="^", markersize=5, linewidth=1.2, linestyle="--"
        ),
        ("uniform", "relu"): dict(color="tab:blue", marker="o", markersize=8, linewidth=3.0),
        ("uniform", "tanh"): dict(color="#56b4e9", marker="^", markersize=5, linewidth=1.2, linestyle="--"),  # noqa: E501
    }
    short = {n: RANGES[n].split(":")[0] for n in RANGES}
    layers = list(range(1, len(WIDTHS) + 1))
    nets = {(n, act): m.nets[n, act, m.seed] for n in RANGES for act in ACTIVATIONS}
    weights = Panel(
        title="weights of a (256, 64) layer", xlabel="w", ylabel="count",
        hists=[Hist(m.sample_weights[n], label=short[n], color=colors[n]) for n in RANGES],
        vlines=[VLine(m.moments[n][0]["mean"], color=colors[n]) for n in RANGES],
    )  # fmt: skip
    correlation = Panel(
        title="mean correlation between the units of a layer", xlabel="hidden layer (256, 64, ...)",
        ylabel="correlation of pre-activations",
        lines=[Line(layers, nets[n, act]["unit_correlation"], label=f"{short[n]} range, {act}",
                    **curve[n, act]) for n in RANGES for act in ("relu", "tanh")],
    )  # fmt: skip
    dead = Panel(
        title="dead ReLU units (0 on the whole batch)", xlabel="hidden layer (256, 64, ...)",
        ylabel="fraction of units",
        lines=[Line(layers, nets[n, "relu"]["dead_fraction"], color=colors[n], marker="o", label=short[n])
               for n in RANGES],
    )  # fmt: skip
    title = "the notes' range vs the symmetric range, digits batch"
    return {"asymmetric_range.png": PanelFigure([weights, correlation, dead], title=title)}


@experiment(NAME, TITLE, order=11)
def run(out: Path, *, quick: bool, seed: int) -> Result:
    m = measure(quick=quick, seed=seed)
    return conclude(NAME, TITLE, judge(m), figures(m), out)


CLAIM = (
    "The notes initialize w_ij ~ uniform[-1/sqrt(fan_in), 1/sqrt(fan_out)]. When fan_in != "
    "fan_out the range is asymmetric, E[w] = (1/sqrt(fan_out) - 1/sqrt(fan_in)) / 2 != 0, and "
    "every unit of the layer receives the same extra input mu * sum_i a_i."
)
CRITERION = (  # completed by the number of seeds in full mode
    "The notes' weights have the predicted mean (within 4 standard errors) and it is nonzero "
    "(beyond 10 standard errors) for (256, 64) and (64, 256) layers; in a 10-layer stack "
    "alternating 256 and 64 units, the notes' range drives the mean correlation between units "
    "of some layer above 0.9 for both ReLU and tanh and kills every ReLU unit of the last layer, "
    "while the symmetric range keeps correlations below 0.1 and under half the last layer dead"
)
CAVEAT = (
    "gradstep's `uniform` is the symmetric U[-1/sqrt(fan_in), +1/sqrt(fan_in)], the 'commonly "
    "used heuristic' of Glorot & Bengio (2010) and PyTorch's nn.Linear default; the notes' range "
    "reads as a typo for it, and is kept verbatim as `notes_uniform` to reproduce the notes. The "
    "symmetric range has zero mean but is not variance-preserving either: Var(w) = 1/(3 fan_in) "
    "shrinks the signal layer after layer (see 'Glorot & Bengio 2010'). That is why gradstep's "
    "MLP defaults to He for ReLU and Xavier for tanh rather than either uniform range. In square "
    "layers (fan_in = fan_out) the two ranges coincide."
)

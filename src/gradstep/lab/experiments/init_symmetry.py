"""Claim 2: with W = k and b = k, the units of a layer are identical and stay identical through training.

Every unit j of hidden layer l computes ``z_j = sum_i a_i W_ij + b_j``; with every ``W_ij = k`` and
``b_j = k`` all units get the same z, the same activation and, going back, the same gradient
``dW_ij = a_i dz_j`` (the next layer's weights are identical per unit too, so ``dz_j`` is). Identical
gradients keep identical units identical, step after step: each hidden layer acts as one neuron. The
experiment trains such a network, counts the distinct units per layer, and folds it into a network
one unit wide that computes the same outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..base import Judgement, Result, conclude, experiment
from ..common import digits, fmt, train_steps

NAME = "init_symmetry"
TITLE = "W = k, b = k: every unit of a layer stays identical"
K = 0.1
ACTIVATIONS = ("relu", "tanh")
LR, BATCH = 0.1, 64


def distinct_units(A: np.ndarray, rtol: float = 1e-6) -> int:
    """How many different units (columns of ``A``) a layer has: columns closer than ``rtol`` times
    the layer's largest |activation| count as one."""
    tol = rtol * max(float(np.abs(A).max()), 1e-30)
    representatives: list[np.ndarray] = []
    for j in range(A.shape[1]):
        if not any(np.abs(A[:, j] - r).max() <= tol for r in representatives):
            representatives.append(A[:, j])
    return len(representatives)


def collapse_to_width_one(model):
    """The network one unit wide that computes what ``model`` computes when each hidden layer's units
    are identical: keep unit 0 of each hidden layer and sum the next layer's incoming weights."""
    from ...nn import MLP

    sizes = (model.layer_sizes[0], *([1] * (len(model.layers) - 1)), model.layer_sizes[-1])
    narrow = MLP(sizes, activation=model.activation, init="zeros", dtype=model.dtype)
    for l, (wide, thin) in enumerate(zip(model.layers, narrow.layers, strict=True)):
        W = wide.W if l == 0 else wide.W.sum(axis=0, keepdims=True)  # identical inputs: add their weights
        last = l == len(model.layers) - 1
        thin.W[...] = W if last else W[:, :1]
        thin.b[...] = wide.b if last else wide.b[:1]
    return narrow


def _train(activation: str, init, data, *, steps: int, seed: int):
    from ... import optim
    from ...nn import MLP

    sizes = (data.n_features, 16, 16, data.n_classes)
    # float64: BLAS sums every column in the same order there, so identical stays bit-identical.
    model = MLP(sizes, activation=activation, init=init, bias_init=K, rng=seed, dtype=np.float64)
    optimizer = optim.create("sgd", [model.params], lr=LR, backend="numpy")
    losses = train_steps(
        model, data.X_train, data.y_train, optimizer=optimizer, steps=steps, batch_size=BATCH, seed=seed
    )
    return model, losses


@dataclass(frozen=True)
class Twins:
    """One activation: the W = b = k network and its randomly initialized twin, both trained alike."""

    effective_width: list[int]
    effective_width_random_init: list[int]
    max_unit_difference: list[float]
    max_weight_column_difference: list[float]
    width_one_network_max_logit_difference: float
    max_abs_logit: float
    losses: list[float]
    random_losses: list[float]
    layer1: np.ndarray  # hidden layer 1's activations on 40 samples, W = b = k
    random_layer1: np.ndarray  # the same for the random twin


@dataclass(frozen=True)
class Measurement:
    steps: int
    twins: dict[str, Twins]  # by activation
    float32_relu_max_unit_difference: float


def _twins(act: str, data, *, steps: int, seed: int) -> Twins:
    from ... import init as initializers

    X = data.X_train.astype(np.float64)
    model, losses = _train(act, initializers.get("constant", value=K), data, steps=steps, seed=seed)
    random_model, random_losses = _train(act, None, data, steps=steps, seed=seed)
    logits = model.forward(X)
    fold_error = float(np.abs(collapse_to_width_one(model).predict(X) - logits).max())
    hidden = [A.copy() for A in model.activations[:-1]]
    random_model.forward(X)
    random_hidden = [A.copy() for A in random_model.activations[:-1]]
    return Twins(
        effective_width=[distinct_units(A) for A in hidden],
        effective_width_random_init=[distinct_units(A) for A in random_hidden],
        max_unit_difference=[float(np.abs(A - A[:, :1]).max()) for A in hidden],
        max_weight_column_difference=[float(np.abs(layer.W - layer.W[:, :1]).max())
                                      for layer in model.layers[:-1]],
        width_one_network_max_logit_difference=fold_error,
        max_abs_logit=float(np.abs(logits).max()),
        losses=losses, random_losses=random_losses,
        layer1=hidden[0][:40], random_layer1=random_hidden[0][:40],
    )  # fmt: skip


def measure(*, quick: bool, seed: int) -> Measurement:
    from ... import init as initializers

    data = digits(seed)
    steps = 60 if quick else 300
    twins = {act: _twins(act, data, steps=steps, seed=seed) for act in ACTIVATIONS}
    # The same network in float32: does rounding alone break the symmetry?
    model32 = _train("relu", initializers.get("constant", value=K), data, steps=steps, seed=seed)[0]
    model32.forward(data.X_train)
    f32 = max(float(np.abs(A - A[:, :1]).max()) for A in model32.activations[:-1])
    return Measurement(steps, twins, f32)


def _holds(t: Twins) -> bool:
    return (
        t.effective_width == [1, 1]
        and max(t.max_unit_difference + t.max_weight_column_difference) == 0.0
        and t.width_one_network_max_logit_difference <= 1e-9 * max(1.0, t.max_abs_logit)
        and min(t.effective_width_random_init) > 1
    )


def judge(m: Measurement) -> Judgement:
    metrics: dict = {"k": K, "steps": m.steps, "lr": LR, "batch_size": BATCH, "layer_sizes": [64, 16, 16, 10]}
    for act, t in m.twins.items():
        metrics[act] = {
            "effective_width": t.effective_width,
            "effective_width_random_init": t.effective_width_random_init,
            "max_unit_difference": t.max_unit_difference,
            "max_weight_column_difference": t.max_weight_column_difference,
            "width_one_network_max_logit_difference": t.width_one_network_max_logit_difference,
            "train_loss_first_step": t.losses[0],
            "train_loss_last_step": t.losses[-1],
            "random_init_train_loss_last_step": t.random_losses[-1],
        }
    metrics["float32_relu_max_unit_difference"] = m.float32_relu_max_unit_difference
    r, t = m.twins["relu"], m.twins["tanh"]
    fold = max(r.width_one_network_max_logit_difference, t.width_one_network_max_logit_difference)
    verdict = (
        f"After {m.steps} SGD steps the hidden layers of the W = b = {K} network have "
        f"{r.effective_width} distinct units (relu) and {t.effective_width} (tanh) out of 16; the "
        f"largest difference between two units of a layer is "
        f"{fmt(max(r.max_unit_difference + t.max_unit_difference))}, and a network one unit wide "
        f"reproduces its logits to {fmt(fold)}. "
        f"Randomly initialized, the same layers have {r.effective_width_random_init} distinct units."
    )
    criterion = (
        f"Trained {m.steps} SGD steps on digits (relu and tanh, k = {K}, float64): every hidden layer "
        "has exactly 1 distinct unit (effective width 1), the largest difference between units and "
        "between weight columns is exactly 0, a width-1 network folded from it gives the same logits "
        "(to 1e-9), and a randomly initialized twin has more than one distinct unit per layer."
    )
    caveat = (
        "The output layer is not symmetric: its units see different targets (softmax - onehot), so "
        "they learn different weights; the collapse is of the hidden layers. Bit-exact equality is "
        "measured in float64. In float32 the matrix-multiply kernels may round columns differently "
        "(largest unit difference after the same training: "
        f"{fmt(m.float32_relu_max_unit_difference)}): rounding-level, nowhere near distinct "
        "features. Breaking the symmetry takes random initialization."
    )
    holds = all(_holds(tw) for tw in m.twins.values())
    return Judgement(CLAIM, criterion, holds, verdict, metrics, caveat)


def figures(m: Measurement) -> dict:
    from ...plots import Image, Line, Panel, PanelFigure

    x = list(range(1, m.steps + 1))
    colors = {"relu": "tab:blue", "tanh": "tab:orange"}
    lines = []
    for act, t in m.twins.items():
        lines.append(Line(x, t.losses, label=f"{act}, W = b = {K}", color=colors[act]))
        lines.append(Line(x, t.random_losses, label=f"{act}, random init", color=colors[act], linestyle="--"))
    relu = m.twins["relu"]
    panels = [
        Panel(title="training loss", xlabel="step", ylabel="mini-batch cross-entropy", lines=lines),
        Panel(title=f"relu layer 1 after training, W = b = {K}", xlabel="unit", ylabel="sample",
              image=Image(relu.layer1, label="activation relu(z) of the unit")),
        Panel(title="relu layer 1 after training, He init", xlabel="unit", ylabel="sample",
              image=Image(relu.random_layer1, label="activation relu(z) of the unit")),
    ]  # fmt: skip
    return {"symmetry.png": PanelFigure(panels)}


@experiment(NAME, TITLE, order=2)
def run(out: Path, *, quick: bool, seed: int) -> Result:
    m = measure(quick=quick, seed=seed)
    return conclude(NAME, TITLE, judge(m), figures(m), out)


CLAIM = (
    "When W = k and b = k (k a constant) in every layer, all units of a layer compute the same "
    "z = k * sum_i a_i + k, receive the same gradient and take the same step, so they stay "
    "identical through training: the model acts as a network of one neuron per layer, "
    "however many it has."
)

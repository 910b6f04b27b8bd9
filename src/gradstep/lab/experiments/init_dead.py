"""Claim 1: with W = 0 and b = 0 in every layer of a ReLU network, every gradient is zero: nothing learns.

With all weights and biases zero, every pre-activation is ``Z^l = A^{l-1} W^l + b^l = 0``, so every ReLU
outputs ``relu(0) = 0`` and passes back ``relu'(0) = 0`` (the notes: relu'(z) = 0 if z <= 0). Going
back, ``dA^{l-1} = dZ^l (W^l)^T = 0`` and ``dW^l = (A^{l-1})^T dZ^l = 0``: no hidden parameter moves.
The one exception is the output bias, whose gradient ``mean(softmax(0) - onehot(y))`` is the class
frequencies minus 1/10: it can only learn the class priors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..base import Judgement, Result, conclude, experiment
from ..common import dead_fraction, digits, fmt, train_steps

NAME = "init_dead"
TITLE = "W = 0, b = 0 with ReLU: every gradient is zero"
LR, BATCH = 0.1, 64


@dataclass(frozen=True)
class Training:
    """One network trained with SGD: the loss before each step, what the gradients were at each step and
    the full training set's loss and accuracy before and after."""

    losses: list[float]
    before: dict
    after: dict
    max_hidden_grad: list[float]  # largest |dW|, |db| over the hidden layers
    max_output_W_grad: list[float]
    output_b_grad_norm: list[float]
    dead: list[list[float]]  # dead fraction per hidden layer


@dataclass(frozen=True)
class Measurement:
    sizes: tuple[int, ...]
    steps: int
    class_frequencies: np.ndarray
    zero: Training  # W = 0, b = 0
    he: Training  # the same network with He init, for contrast


def _train(init: str, data, *, steps: int, seed: int, sizes) -> Training:
    from ... import optim
    from ...nn import MLP
    from ...train import evaluate

    model = MLP(sizes, activation="relu", init=init, bias_init=0.0, rng=seed)
    before = evaluate(model, data.X_train, data.y_train)
    record = {"max_hidden_grad": [], "max_output_W_grad": [], "output_b_grad_norm": [], "dead": []}

    def watch(step: int, m) -> None:
        hidden = m.layers[:-1]
        record["max_hidden_grad"].append(
            max(float(np.abs(g).max()) for layer in hidden for g in (layer.dW, layer.db))
        )
        record["max_output_W_grad"].append(float(np.abs(m.layers[-1].dW).max()))
        record["output_b_grad_norm"].append(float(np.linalg.norm(m.layers[-1].db)))
        record["dead"].append([dead_fraction(A) for A in m.activations[:-1]])

    optimizer = optim.create("sgd", [model.params], lr=LR, backend="numpy")
    losses = train_steps(
        model, data.X_train, data.y_train, optimizer=optimizer, steps=steps, batch_size=BATCH,
        seed=seed, on_step=watch,
    )  # fmt: skip
    after = evaluate(model, data.X_train, data.y_train)
    return Training(losses, before, after, **record)


def measure(*, quick: bool, seed: int) -> Measurement:
    data = digits(seed)
    sizes = (data.n_features, 32, 32, data.n_classes)
    steps = 40 if quick else 200
    zero = _train("zeros", data, steps=steps, seed=seed, sizes=sizes)
    he = _train("he_normal", data, steps=steps, seed=seed, sizes=sizes)
    freq = np.bincount(data.y_train, minlength=data.n_classes) / len(data.y_train)
    return Measurement(sizes, steps, freq, zero, he)


def _prior_entropy(freq: np.ndarray) -> float:
    """The loss of predicting the class frequencies: the floor a network learning only priors reaches."""
    return float(-np.sum(freq[freq > 0] * np.log(freq[freq > 0])))


def judge(m: Measurement) -> Judgement:
    zero, he, steps = m.zero, m.he, m.steps
    prior_entropy = _prior_entropy(m.class_frequencies)
    max_hidden = max(zero.max_hidden_grad)
    max_out_w = max(zero.max_output_W_grad)
    dead_first, dead_last = zero.dead[0], zero.dead[-1]
    loss0, loss1 = zero.before["loss"], zero.after["loss"]
    he_drop = 1 - he.after["loss"] / he.before["loss"]
    metrics = {
        "layer_sizes": list(m.sizes),
        "steps": steps,
        "lr": LR,
        "batch_size": BATCH,
        "max_abs_hidden_grad": max_hidden,
        "max_abs_output_weight_grad": max_out_w,
        "output_bias_grad_norm_first_step": zero.output_b_grad_norm[0],
        "dead_fraction_first_step": dead_first,
        "dead_fraction_last_step": dead_last,
        "train_loss_before": loss0,
        "train_loss_after": loss1,
        "ln_10": math.log(10),
        "class_prior_entropy": prior_entropy,
        "train_accuracy_after": zero.after["accuracy"],
        "largest_class_fraction": float(m.class_frequencies.max()),
        "he_train_loss_before": he.before["loss"],
        "he_train_loss_after": he.after["loss"],
        "he_train_accuracy_after": he.after["accuracy"],
    }
    holds = (
        max_hidden == 0.0
        and max_out_w == 0.0
        and all(d == 1.0 for d in dead_first + dead_last)
        and loss1 >= prior_entropy - 1e-4
        and abs(loss1 - loss0) / loss0 < 0.01
        and he_drop > 0.5
    )
    verdict = (
        f"After {steps} SGD steps the largest hidden-layer gradient was {fmt(max_hidden)} and the largest "
        f"output-weight gradient {fmt(max_out_w)} at every step; "
        f"{100 * min(dead_first + dead_last):.0f}% of hidden units were dead. The training loss went "
        f"from {loss0:.4f} to {loss1:.4f} (the class-prior floor is {prior_entropy:.4f}), while the same "
        f"network with He init went from {he.before['loss']:.3f} to {he.after['loss']:.3f}."
    )
    return Judgement(CLAIM, CRITERION, holds, verdict, metrics, CAVEAT)


def figures(m: Measurement) -> dict:
    from ...plots import HLine, Line, Panel, PanelFigure

    x = list(range(1, m.steps + 1))
    loss = Panel(
        title="mini-batch training loss", xlabel="step", ylabel="cross-entropy",
        lines=[Line(x, m.zero.losses, label="W = 0, b = 0"), Line(x, m.he.losses, label="He normal")],
        hlines=[HLine(_prior_entropy(m.class_frequencies), label="class-prior entropy")],
    )  # fmt: skip
    grads = Panel(
        title="largest |gradient| in the hidden layers", xlabel="step",
        ylabel="max |dW|, |db| of layers 1..L-1",
        lines=[Line(x, m.zero.max_hidden_grad, label="W = 0, b = 0"),
               Line(x, m.he.max_hidden_grad, label="He normal")],
    )  # fmt: skip
    title = f"ReLU MLP {m.sizes} on digits, SGD lr={LR}"
    return {"loss_and_gradients.png": PanelFigure([loss, grads], title=title)}


@experiment(NAME, TITLE, order=1)
def run(out: Path, *, quick: bool, seed: int) -> Result:
    m = measure(quick=quick, seed=seed)
    return conclude(NAME, TITLE, judge(m), figures(m), out)


CLAIM = (
    "With W = 0 and b = 0 in every layer and ReLU activations, every pre-activation is 0, "
    "relu'(0) = 0 and dA^{l-1} = dZ^l (W^l)^T = 0: every gradient is zero, the weights never "
    "change and every hidden unit is dead. The network does not learn."
)
CRITERION = (
    "At every training step every hidden-layer gradient (dW, db) and the output weights' gradient "
    "are exactly 0; 100% of hidden units are dead (output 0 on the whole batch); the training "
    "loss moves by less than 1% and never below the class-prior entropy; and the same network "
    "with He init, trained identically, lowers its loss by more than half (so the setup can learn)."
)
CAVEAT = (
    "Not quite every gradient: the output layer's bias gets mean(softmax(0) - onehot(y)) = class "
    "frequency - 1/10, which is nonzero unless the classes are exactly balanced, so it learns the "
    "class priors and the loss can fall from ln 10 to the class-prior entropy, no further. The "
    "hidden layers are stuck twice over: relu'(0) = 0 (gradstep and PyTorch use 0 at z = 0, as "
    "the notes do) and W^L = 0 blocks the backward pass, so W = 0 freezes the hidden layers "
    "for tanh as well."
)

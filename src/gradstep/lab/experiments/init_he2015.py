"""He et al. 2015, scaled down: a 30-layer ReLU network stalls under Xavier and trains under He.

He, Zhang, Ren & Sun, "Delving Deep into Rectifiers" (ICCV 2015), Fig. 3: a 30-layer ReLU network
initialized with Xavier/Glorot does not learn at all, while the same network with their initialization
``Var(w) = 2 / fan_in`` converges. The cause is claim 4's: ReLU halves the variance each layer, so under
Xavier (``Var(w) = 1/n`` for square layers) the signal reaching the output after 30 layers is about
``2^-15`` of its input size, and the gradient reaching the first layers is as small.

Here the network is an MLP of 30 hidden layers of 64 units on digits (instead of a convolutional network
on ImageNet), trained with the notes' momentum; everything but the initializer is the same for both runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..base import Judgement, Result, conclude, experiment
from ..common import digits, fmt, layer_scales

NAME = "init_he2015"
TITLE = "He et al. 2015: a 30-layer ReLU net stalls under Xavier, trains under He"
INITS = {"xavier_normal": "Xavier", "he_normal": "He"}
DEPTH, WIDTH = 30, 64
LR, BETA, BATCH = 0.02, 0.9, 32


@dataclass(frozen=True)
class Measurement:
    epochs: int
    n_classes: int
    runs: dict[str, dict]  # by initializer: what _train returns


def _train(init: str, data, *, epochs: int, seed: int) -> dict:
    from ... import optim
    from ...nn import MLP
    from ...train import TrainingDiverged, evaluate, fit

    sizes = (data.n_features, *([WIDTH] * DEPTH), data.n_classes)
    model = MLP(sizes, activation="relu", init=init, rng=seed)
    X_eval, y_eval = data.X_train[:512], data.y_train[:512]  # a fixed slice: loss before and after
    scales = layer_scales(model, X_eval[:256], y_eval[:256])
    start = evaluate(model, X_eval, y_eval)
    start_val = evaluate(model, data.X_val, data.y_val)
    optimizer = optim.create("momentum", [model.params], lr=LR, beta=BETA, backend="numpy")
    diverged = None
    try:
        history = fit(model, optimizer, data, epochs=epochs, batch_size=BATCH, seed=seed, quiet=True).history
    except TrainingDiverged as exc:
        history, diverged = [], str(exc)
    end = evaluate(model, X_eval, y_eval)
    return {
        "train_loss": [start["loss"], *(h["train_loss"] for h in history)],
        "val_accuracy": [start_val["accuracy"], *(h["val_accuracy"] for h in history)],
        "final_train_loss": end["loss"],
        "final_train_accuracy": end["accuracy"],
        "final_val_accuracy": history[-1]["val_accuracy"] if history else None,
        "initial_train_loss": start["loss"],
        "a_std_at_init": scales["a_std"],
        "grad_std_at_init": scales["grad_std"],
        "diverged": diverged,
    }


def measure(*, quick: bool, seed: int) -> Measurement:
    data = digits(seed)
    epochs = 6 if quick else 15
    runs = {init: _train(init, data, epochs=epochs, seed=seed) for init in INITS}
    return Measurement(epochs, data.n_classes, runs)


def judge(m: Measurement) -> Judgement:
    xa, he = m.runs["xavier_normal"], m.runs["he_normal"]
    xa_move = abs(1 - xa["final_train_loss"] / xa["initial_train_loss"])
    he_drop = 1 - he["final_train_loss"] / he["initial_train_loss"]
    chance = math.log(m.n_classes)  # the loss of a uniform guess
    holds = (
        he["diverged"] is None
        and xa["diverged"] is None
        and xa_move < 0.02
        and he["final_train_loss"] < 0.75 * chance
        and he["final_val_accuracy"] > xa["final_val_accuracy"] + 0.1
    )
    metrics = {"hidden_layers": DEPTH, "width": WIDTH, "epochs": m.epochs, "batch_size": BATCH,
               "optimizer": f"momentum (EMA) lr={LR} beta={BETA}", "runs": m.runs,
               "xavier_relative_loss_change": xa_move, "he_relative_loss_drop": he_drop,
               "chance_loss": chance}  # fmt: skip
    verdict = (
        f"After {m.epochs} epochs the Xavier network's training loss went from "
        f"{xa['initial_train_loss']:.4f} to {xa['final_train_loss']:.4f} ({100 * xa_move:.2f}% change; "
        f"validation accuracy {fmt(xa['final_val_accuracy'])}); the He network's from "
        f"{he['initial_train_loss']:.3f} to {he['final_train_loss']:.3f} (-{100 * he_drop:.0f}%; "
        f"validation accuracy {fmt(he['final_val_accuracy'])}). At init the last hidden layer's activation "
        f"std is {fmt(xa['a_std_at_init'][-1])} under Xavier and {fmt(he['a_std_at_init'][-1])} under He."
        + ("" if he["diverged"] is None else f" He diverged: {he['diverged']}")
    )
    criterion = (
        f"Same 30-layer ReLU MLP, data, batches and optimizer, {m.epochs} epochs: Xavier's training loss "
        "(on a fixed slice of 512 training examples) changes by less than 2%; He's ends below 3/4 of "
        "the chance-level loss ln 10 = 2.303, and He's validation accuracy beats Xavier's by more "
        "than 0.1; neither diverges."
    )
    return Judgement(CLAIM, criterion, holds, verdict, metrics, CAVEAT)


def figures(m: Measurement) -> dict:
    from ...plots import Line, Panel, PanelFigure

    colors = {"xavier_normal": "tab:blue", "he_normal": "tab:red"}
    ep = list(range(m.epochs + 1))
    layers = list(range(1, DEPTH + 1))

    def per_epoch(key: str) -> list:
        return [Line(ep[: len(r[key])], r[key], label=INITS[i], color=colors[i], marker="o")
                for i, r in m.runs.items()]  # fmt: skip

    panels = [
        Panel(title="training loss", xlabel="epoch (0 = at init)", ylabel="cross-entropy",
              lines=per_epoch("train_loss")),
        Panel(title="validation accuracy", xlabel="epoch (0 = at init)", ylabel="accuracy",
              lines=per_epoch("val_accuracy")),
        Panel(title="activation std per layer at init", xlabel="hidden layer", ylabel="std", logy=True,
              lines=[Line(layers, r["a_std_at_init"], label=INITS[i], color=colors[i])
                     for i, r in m.runs.items()]),
    ]  # fmt: skip
    title = f"{DEPTH} hidden ReLU layers of {WIDTH} on digits, momentum lr={LR}, batch {BATCH}"
    return {"loss_curves.png": PanelFigure(panels, title=title)}


@experiment(NAME, TITLE, order=12)
def run(out: Path, *, quick: bool, seed: int) -> Result:
    m = measure(quick=quick, seed=seed)
    return conclude(NAME, TITLE, judge(m), figures(m), out)


CLAIM = (
    "He et al. (2015): with ReLU, Var(w) = 2 / fan_in (He) keeps the signal's scale through depth "
    "and a 30-layer network trains; Xavier's Var(w) = 2 / (fan_in + fan_out) loses half the "
    "variance per layer and the same network stalls."
)
CAVEAT = (
    "Scaled down to run in seconds: an MLP on 8x8 digits rather than the paper's convolutional "
    "network on ImageNet, and a few epochs; the paper trained with SGD and momentum, as here. "
    "In quick mode (6 epochs) He's network has only started to learn: the contrast is in the "
    "loss; its accuracy is still far from what the full run reaches."
)

"""Claim 6: mini-batch gradient descent takes noisy steps; the noise shrinks as the batch grows.

At one fixed point of a network, the full-batch gradient is ``g = (1/N) sum_i g_i`` over the N training
examples. A mini-batch of B examples drawn without replacement (as one epoch's batches are) gives
``g_B = (1/B) sum_{i in batch} g_i``, an unbiased estimate of ``g`` whose squared error is, exactly,

    E ||g_B - g||^2 = (tr Sigma / B) * (N - B) / (N - 1),     tr Sigma = (1/N) sum_i ||g_i - g||^2

the 1/B law with a finite-population factor. The per-batch loss spreads the same way, its standard
deviation as ``sigma_loss / sqrt(B)`` (times the square root of that factor). The experiment measures
both over whole epochs of the library's own seeded mini-batches, and the cosine between each step's
direction and the full-batch one: the "direction where it will never reach minima" of the notes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..base import Judgement, Result, conclude, experiment
from ..common import digits, fit_line, fmt

NAME = "optim_minibatch_noise"
TITLE = "Mini-batch gradients are noisy; the noise falls as 1/B"


@dataclass(frozen=True)
class Measurement:
    layer_sizes: tuple[int, ...]
    n_train: int
    batch_sizes: list[int]
    rows: dict[int, dict]  # by batch size: what _batches returns
    trace_sigma: float  # tr Sigma = (1/N) sum_i ||p_i - g||^2
    per_example_loss_std: float
    full_batch_grad_norm_sq: float
    gram_vs_backward_relative_diff: float  # the Gram route checked against the model's backward pass


def _point(data, seed: int):
    """A ReLU MLP (float64) after one epoch of mini-batch SGD: a typical point early in training."""
    from ... import data as data_mod
    from ... import optim
    from ...nn import MLP

    X, y = data.X_train.astype(np.float64), data.y_train
    model = MLP(
        (data.n_features, 64, data.n_classes), activation="relu", init="he_normal", rng=seed, dtype=np.float64
    )
    sgd = optim.create("sgd", [model.params], lr=0.05)
    for Xb, yb in data_mod.minibatches(X, y, 32, epoch=0, seed=seed):
        model.loss_and_grad(Xb, yb)
        sgd.step([model.grads])
    return model, X, y


def _gram(model, X, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inner products of the N per-example gradients, from one forward and backward pass.

    Example i's own gradient has ``dW^l_i = a_i^{l-1} (x) delta_i^l`` and ``db^l_i = delta_i^l``, where
    ``delta^l = N dZ^l`` (the batch-mean loss scales each row by 1/N). So, without forming any of them,

        <p_i, p_j> = sum_l (a_i^{l-1} . a_j^{l-1} + 1) (delta_i^l . delta_j^l)

    Returns ``G[i, j] = <p_i, p_j>``, ``c[i] = <p_i, g>`` (g, the full-batch gradient, is their mean, so
    ``c`` is the row mean of G) and every example's loss.
    """
    from ...nn import losses as losses_mod

    N = len(X)
    logits = model.forward(X)
    _, dlogits = losses_mod.softmax_cross_entropy(logits, y)
    model.backward(dlogits, input_grad=False)
    shifted = logits - logits.max(axis=1, keepdims=True)
    example_loss = np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(N), y]
    G = np.zeros((N, N))
    for l, layer in enumerate(model.layers):
        a_prev = X if l == 0 else model.activations[l - 1]
        if l == len(model.layers) - 1:
            delta = N * dlogits
        else:
            dZ = model.grad_activations[l] * layer.act.derivative(
                model.pre_activations[l], model.activations[l]
            )
            delta = N * dZ
        G += (a_prev @ a_prev.T + 1.0) * (delta @ delta.T)
    return G, G.mean(axis=1), example_loss


def _batches(G, c, example_loss, B: int, *, epochs: int, seed: int) -> dict:
    """Squared error, loss and cosine of every full mini-batch of ``epochs`` seeded epochs of size B.

    The batches are the library's own: epoch e visits the examples in ``data.epoch_order(N, e, seed)``
    in runs of B (``data.minibatches``); the smaller remainder batch of each epoch is left out. For a
    batch S, ``g_B = mean_{i in S} p_i``, so ``||g_B||^2 = sum_{S x S} G / B^2``, ``<g_B, g> = mean_S c``
    and ``||g_B - g||^2 = ||g_B||^2 - 2 <g_B, g> + ||g||^2``.
    """
    from ... import data as data_mod

    N = len(G)
    gg = float(c.mean())  # ||g||^2
    n_full = N // B
    sq_err, losses, cosines = [], [], []
    for epoch in range(epochs):
        idx = data_mod.epoch_order(N, epoch, seed)[: n_full * B].reshape(n_full, B)
        norm2 = G[idx[:, :, None], idx[:, None, :]].sum(axis=(1, 2)) / B**2
        dot = c[idx].mean(axis=1)
        sq_err.append(norm2 - 2 * dot + gg)
        losses.append(example_loss[idx].mean(axis=1))
        cosines.append(dot / np.sqrt(norm2 * gg))
    sq_err, losses, cosines = (np.concatenate(a) for a in (sq_err, losses, cosines))
    return {
        "sq_err": float(sq_err.mean()),
        "loss_std": float(losses.std()),
        "losses": losses.tolist(),
        "cosine": float(cosines.mean()),
        "batches": len(sq_err),
        "epochs": epochs,
    }


def measure(*, quick: bool, seed: int) -> Measurement:
    from threadpoolctl import threadpool_limits

    from ... import data as data_mod

    sizes = [1, 4, 16, 64, 256] if quick else [1, 2, 4, 8, 16, 32, 64, 128, 256]
    # Enough whole epochs that every size averages over at least this many batches.
    min_batches = 50 if quick else 400
    with threadpool_limits(limits=1):  # tiny matrices: one BLAS thread is faster and steadier
        model, X, y = _point(digits(seed), seed)
        N = len(X)
        G, c, example_loss = _gram(model, X, y)
        full_loss = model.loss_and_grad(X, y)
        g = model.grads.copy()
        # One mini-batch gradient straight from the model's own backward pass, against the Gram route.
        first = data_mod.epoch_order(N, 0, seed)[:32]
        model.loss_and_grad(X[first], y[first])
        direct = float(np.sum((model.grads - g) ** 2))
        via_gram = float(G[np.ix_(first, first)].sum() / 32**2 - 2 * c[first].mean() + c.mean())
        rows = {
            B: _batches(G, c, example_loss, B, epochs=max(1, math.ceil(min_batches * B / N)), seed=seed)
            for B in sizes
        }
    check = max(
        abs(via_gram - direct) / direct,
        abs(float(c.mean()) - float(g @ g)) / float(g @ g),
        abs(float(example_loss.mean()) - full_loss) / full_loss,
    )
    return Measurement(
        layer_sizes=tuple(model.layer_sizes), n_train=N, batch_sizes=sizes, rows=rows,
        trace_sigma=float(np.mean(np.diag(G)) - c.mean()),  # mean ||p_i||^2 - ||g||^2
        per_example_loss_std=float(example_loss.std()), full_batch_grad_norm_sq=float(g @ g),
        gram_vs_backward_relative_diff=check,
    )  # fmt: skip


@dataclass(frozen=True)
class Laws:
    """The measured noise per batch size next to the 1/B law with the finite-population factor."""

    var: np.ndarray  # E ||g_B - g||^2
    predicted: np.ndarray
    loss_std: np.ndarray
    predicted_loss_std: np.ndarray
    cosines: list[float]


def laws(m: Measurement) -> Laws:
    N, B = m.n_train, np.array(m.batch_sizes, dtype=float)
    fpc = np.array([(N - b) / (N - 1) for b in m.batch_sizes])
    return Laws(
        var=np.array([m.rows[b]["sq_err"] for b in m.batch_sizes]),
        predicted=m.trace_sigma / B * fpc,
        loss_std=np.array([m.rows[b]["loss_std"] for b in m.batch_sizes]),
        predicted_loss_std=m.per_example_loss_std / np.sqrt(B) * np.sqrt(fpc),
        cosines=[m.rows[b]["cosine"] for b in m.batch_sizes],
    )


def judge(m: Measurement) -> Judgement:
    sizes, N = m.batch_sizes, m.n_train
    law = laws(m)
    var, loss_std, cosines = law.var, law.loss_std, law.cosines
    log_b = np.log10(np.array(sizes, dtype=float))
    fpc = np.array([(N - b) / (N - 1) for b in sizes])
    # The finite-population factor is known exactly; dividing it out leaves the pure 1/B law to fit.
    var_fit = fit_line(log_b, np.log10(var / fpc))
    raw_fit = fit_line(log_b, np.log10(var))
    loss_fit = fit_line(log_b, np.log10(loss_std / np.sqrt(fpc)))
    ratio = var / law.predicted
    holds = (
        abs(var_fit.slope + 1) <= 0.1
        and bool(np.all(np.abs(ratio - 1) <= 0.2))
        and abs(loss_fit.slope + 0.5) <= 0.1
        and bool(np.all(np.diff(var) < 0))
        and bool(np.all(np.diff(cosines) > 0))
        and m.gram_vs_backward_relative_diff < 1e-9
    )
    verdict = (
        f"From B = 1 to B = {sizes[-1]} the mini-batch gradient's squared error fell from {fmt(var[0])} to "
        f"{fmt(var[-1])}: log-log slope {var_fit.slope:.3f} (R^2 {var_fit.r2:.3f}) after the exact "
        f"finite-population factor, {raw_fit.slope:.3f} without it; every batch size within "
        f"{100 * np.max(np.abs(ratio - 1)):.1f}% of tr(Sigma)/B (N-B)/(N-1). The per-batch loss spread fell "
        f"from {loss_std[0]:.3f} to {loss_std[-1]:.3f} (slope {loss_fit.slope:.3f}, 1/sqrt(B) is -0.5), and "
        f"the step's cosine with the full-batch gradient rose from {cosines[0]:.2f} to {cosines[-1]:.2f}."
    )
    metrics = {
        "n_train": N,
        "layer_sizes": list(m.layer_sizes),
        "batch_sizes": sizes,
        "batches_per_size": [m.rows[B]["batches"] for B in sizes],
        "grad_sq_error": var,
        "grad_sq_error_predicted": law.predicted,
        "ratio_to_predicted": ratio,
        "trace_sigma": m.trace_sigma,
        "slope_grad_variance": var_fit.slope,
        "slope_grad_variance_r2": var_fit.r2,
        "slope_grad_variance_raw": raw_fit.slope,
        "loss_std": loss_std,
        "loss_std_predicted": law.predicted_loss_std,
        "slope_loss_std": loss_fit.slope,
        "per_example_loss_std": m.per_example_loss_std,
        "cosine_to_full_gradient": cosines,
        "epochs_per_size": [m.rows[B]["epochs"] for B in sizes],
        "full_batch_grad_norm_sq": m.full_batch_grad_norm_sq,
        "gram_vs_backward_relative_diff": m.gram_vs_backward_relative_diff,
    }
    caveat = (
        "The 1/B law is for independent draws; the batches of one epoch are drawn without "
        "replacement, which shrinks the variance by (N-B)/(N-1) (20% at B = 256 of N = "
        f"{N}) and makes the raw log-log slope a little steeper than -1. Full-batch gradient descent "
        "(B = N) has no noise at all."
    )
    return Judgement(CLAIM, CRITERION, holds, verdict, metrics, caveat)


def figures(m: Measurement) -> dict:
    from ...plots import Hist, Line, Panel, PanelFigure

    sizes, law = m.batch_sizes, laws(m)
    B = np.array(sizes, dtype=float)
    shown = [b for b in (4, 32, 256) if b in m.rows]
    bins = np.linspace(0.0, float(np.quantile(m.rows[shown[0]]["losses"], 0.995)), 60).tolist()
    panels = [
        Panel(title="mini-batch gradient noise", xlabel="batch size B", ylabel="E ||g_B - g||^2",
              logx=True, logy=True,
              lines=[Line(sizes, law.var.tolist(), label="measured", marker="o", linestyle=""),
                     Line(sizes, law.predicted.tolist(), label="tr(Sigma)/B (N-B)/(N-1)"),
                     Line(sizes, (m.trace_sigma / B).tolist(), label="tr(Sigma)/B", linestyle=":",
                          color="gray")]),
        Panel(title="spread of the per-batch loss", xlabel="batch size B", ylabel="std of mini-batch loss",
              logx=True, logy=True,
              lines=[Line(sizes, law.loss_std.tolist(), label="measured", marker="o", linestyle=""),
                     Line(sizes, law.predicted_loss_std.tolist(), label="sigma/sqrt(B), finite-pop.")]),
        Panel(title="direction of the step", xlabel="batch size B", ylabel="mean cos(g_B, g)", logx=True,
              lines=[Line(sizes, law.cosines, marker="o")]),
        Panel(title="per-batch losses at one point", xlabel="mini-batch loss", ylabel="density",
              hists=[Hist(m.rows[b]["losses"], label=f"B = {b}", density=True, bins=bins) for b in shown]),
    ]  # fmt: skip
    title = f"ReLU MLP {m.layer_sizes} on digits after one epoch of SGD (N = {m.n_train})"
    return {"minibatch_noise.png": PanelFigure(panels, title=title, ncols=2)}


@experiment(NAME, TITLE, order=6)
def run(out: Path, *, quick: bool, seed: int) -> Result:
    m = measure(quick=quick, seed=seed)
    return conclude(NAME, TITLE, judge(m), figures(m), out)


CLAIM = (
    "Mini-batch gradient descent takes noisy steps: some batches have a small loss and others a "
    "large one, so the gradients fluctuate from step to step. The noise shrinks as the batch "
    "grows: the mini-batch gradient g_B scatters around the full-batch gradient g with "
    "E||g_B - g||^2 = tr(Sigma)/B * (N-B)/(N-1), the 1/B law."
)
CRITERION = (
    "At one fixed point, over whole epochs of the library's seeded mini-batches (per-example "
    "gradients checked against the model's own backward pass to 1e-9): the log-log slope of "
    "E||g_B - g||^2 against B (finite-population factor divided out) is within 0.1 of -1; every "
    "measured value is within 20% of tr(Sigma)/B (N-B)/(N-1) with tr(Sigma) computed from all "
    "per-example gradients; the per-batch loss std has slope within 0.1 of -0.5; the squared "
    "error falls and the cosine with the full-batch direction rises at every larger batch."
)

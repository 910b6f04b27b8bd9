"""Helpers every lab experiment shares: the data, per-layer scales of a network, line fits.

Kept small and stable: experiments of both families (initialization and optimizers) import from here.

- :func:`digits` loads the default dataset once per process and seed.
- :func:`layer_scales` runs one forward and backward pass of an :class:`~gradstep.nn.MLP` on a batch and
  returns, per hidden layer, the std of the pre-activations ``Z``, of the activations ``A`` and of the
  back-propagated gradient ``dA = d(loss)/dA``, plus the fractions of dead and saturated units.
- :func:`dead_fraction` and :func:`saturated_fraction` are the lab's one definition of those two words.
- :func:`fit_line` / :func:`log10_slope` fit ``y = slope * x + intercept`` with R^2: an exponential
  trend is a straight line in log10, and its slope is the per-step factor's log10.
- :func:`train_steps` trains a model a fixed number of mini-batch steps and returns the loss per step.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

__all__ = [
    "digits",
    "layer_scales",
    "LineFit",
    "fit_line",
    "log10_slope",
    "geometric_mean",
    "drift_factor",
    "train_steps",
    "dead_fraction",
    "saturated_fraction",
    "fmt",
]

# tanh output with |a| above this, or sigmoid output below 1 - this or above it, is saturated: the
# derivative is under 0.02 (tanh) or 0.01 (sigmoid). The same threshold as gradstep.doctor's.
SATURATION = 0.99


def dead_fraction(A: np.ndarray) -> float:
    """The fraction of units (columns of ``A``) whose activation is exactly 0 on every row: the doctor's
    own measure (:func:`gradstep.doctor.dead_fraction`)."""
    from ..doctor import dead_fraction as doctor_dead_fraction

    return doctor_dead_fraction(A)


def saturated_fraction(A: np.ndarray, activation: str, threshold: float = SATURATION) -> float | None:
    """The fraction of activations ``A`` in the flat tails of ``activation``, by the doctor's
    activation-aware rule (:func:`gradstep.doctor.saturated_mask`: ``|a| > threshold`` for tanh,
    ``a < 1 - threshold`` or ``a > threshold`` for sigmoid). None for an activation that does not
    saturate (ReLU, linear, ...)."""
    from ..doctor import SATURATING, saturated_mask

    if activation not in SATURATING:
        return None
    return float(saturated_mask(A, activation, threshold).mean())


@functools.lru_cache(maxsize=4)
def digits(seed: int = 0):
    """``gradstep.data.load("digits", rng=seed)``, loaded once per process (scikit-learn is slow to import).

    The arrays are shared between callers: copy before modifying them.
    """
    from .. import data

    return data.load("digits", rng=seed)


def layer_scales(model, X, y=None, loss: str = "softmax_cross_entropy") -> dict[str, list[float]]:
    """Per hidden layer of ``model``: the spread of its signals forward and backward on one batch.

    One forward pass on ``X`` and, when ``y`` is given, one backward pass of ``loss``. Returns lists with
    one float per hidden layer (layer 1 first):

    - ``z_std``: std of the pre-activations ``Z^l = A^{l-1} W^l + b^l`` over the batch and the units;
    - ``a_std``: std of the activations ``A^l = g(Z^l)``; ``a_rms``: their root mean square;
    - ``grad_std``: std of ``dA^l = d(loss)/dA^l`` (only with ``y``), the back-propagated gradient;
    - ``dead_fraction``: units whose activation is exactly 0 on every row (a dead ReLU);
    - ``saturated_fraction``: activations in tanh's or sigmoid's flat tails (:func:`saturated_fraction`;
      None per layer for an activation that does not saturate).

    ``model.grads`` is overwritten when ``y`` is given.
    """
    from ..nn import losses

    logits = model.forward(X)
    hidden = model.activations[:-1]
    out = {
        "z_std": [float(Z.std()) for Z in model.pre_activations[:-1]],
        "a_std": [float(A.std()) for A in hidden],
        "a_rms": [float(np.sqrt(np.mean(np.square(A, dtype=np.float64)))) for A in hidden],
        "dead_fraction": [dead_fraction(A) for A in hidden],
        "saturated_fraction": [saturated_fraction(A, model.activation) for A in hidden],
    }
    if y is not None:
        _, dlogits = losses.get(loss)(logits, y)
        model.backward(dlogits, input_grad=False)
        out["grad_std"] = [float(dA.std()) for dA in model.grad_activations]
    return out


class LineFit(NamedTuple):
    """A least-squares line ``y = slope * x + intercept`` and its coefficient of determination."""

    slope: float
    intercept: float
    r2: float


def fit_line(x: Sequence[float], y: Sequence[float]) -> LineFit:
    """Fit ``y = slope * x + intercept`` by least squares; ``r2 = 1 - SS_res / SS_tot`` (1 when y is flat)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    ss_res = float(np.sum(residual**2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0  # a flat y is fitted exactly (up to rounding)
    return LineFit(float(slope), float(intercept), float(r2))


def log10_slope(values: Sequence[float], x: Sequence[float] | None = None) -> LineFit:
    """Fit ``log10(values)`` against ``x`` (default 1, 2, ...): the slope is log10 of the factor per step.

    A slope of 0.15 means x10^0.15 = x1.41 per step; 0 means no exponential trend.
    """
    v = np.asarray(values, dtype=np.float64)
    x = np.arange(1, len(v) + 1) if x is None else np.asarray(x, dtype=np.float64)
    return fit_line(x, np.log10(v))


def geometric_mean(rows: Sequence[Sequence[float]]) -> list[float]:
    """Element-wise geometric mean of equally long rows of positive numbers (e.g. one row per seed):
    the right average for scales that vary by orders of magnitude."""
    return [float(v) for v in np.exp(np.mean(np.log(np.asarray(rows, dtype=np.float64)), axis=0))]


def drift_factor(values: Sequence[float]) -> float:
    """How far a per-layer scale moves from the first layer to the last: ``max(r, 1/r)``, ``r = last/first``.

    1 means the same scale at both ends; 10 means ten times larger or smaller.
    """
    r = float(values[-1]) / float(values[0])
    return max(r, 1.0 / r) if r > 0 else math.inf


def train_steps(
    model,
    X,
    y,
    *,
    optimizer,
    steps: int,
    batch_size: int,
    seed: int = 0,
    loss: str = "softmax_cross_entropy",
    on_step=None,
) -> list[float]:
    """Train ``model`` for ``steps`` mini-batch steps and return the mini-batch loss before each step.

    Batches come from :func:`gradstep.data.minibatches`, epoch after epoch, seeded by ``seed``.
    ``on_step(step, model)`` (optional) runs after each backward pass and before the optimizer step,
    when ``model.grads`` holds that step's gradient.
    """
    from .. import data
    from ..nn import losses

    loss_fn = losses.get(loss)
    history: list[float] = []
    epoch = 0
    while len(history) < steps:
        for Xb, yb in data.minibatches(X, y, batch_size, epoch=epoch, seed=seed):
            if len(history) == steps:
                break
            value, dlogits = loss_fn(model.forward(Xb), yb)
            model.backward(dlogits, input_grad=False)
            if on_step is not None:
                on_step(len(history), model)
            optimizer.step([model.grads])
            history.append(float(value))
        epoch += 1
    return history


def fmt(x: float, digits: int = 3) -> str:
    """A number with ``digits`` significant digits for a verdict sentence: 0.0123, 1.5e-08, 42."""
    if x is None or not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    return f"{x:.{digits}g}"

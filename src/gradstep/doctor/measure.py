"""The doctor's measurements: the numbers of one layer on one batch, and their trends across depth.

Engine-neutral: everything here takes arrays in gradstep's layout (a :class:`LayerData` per layer, axis 0
of an activation the samples) and knows nothing of the model that produced them. :func:`dead_fraction`,
:func:`saturated_mask` and :func:`saturated_fraction` are public and stable: the lab measures with them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import GradstepError
from .report import AttentionStats, LayerStats, ResidualStats, Thresholds

__all__ = [
    "LayerData", "Trend", "dead_fraction", "saturated_mask", "saturated_fraction", "duplicate_groups",
    "measure_layer", "trend", "activation_trend", "gradient_trend", "trends_dict", "update_ratios",
    "RELU_FAMILY", "SATURATING", "AttentionData", "ResidualData", "measure_attention", "measure_residual",
]  # fmt: skip

RELU_FAMILY = ("relu", "leaky_relu")
SATURATING = ("tanh", "sigmoid")


@dataclass(frozen=True, eq=False)
class LayerData:
    """One dense layer ``Z = A_prev @ W + b``, ``A = g(Z)`` as seen on one batch of n samples.

    ``W`` is (fan_in, fan_out), ``b`` (fan_out,) or None; ``Z`` and ``A`` are (n, fan_out);
    ``activation`` is g's name ("linear" for the output layer); ``dW``, ``db`` are the loss gradients
    and ``dA`` is d(loss)/dA (n, fan_out), all optional (no gradient numbers without them).
    """

    W: Any
    b: Any
    Z: Any
    A: Any
    activation: str
    dW: Any = None
    db: Any = None
    dA: Any = None


def dead_fraction(A) -> float:
    """The fraction of units whose output is exactly 0 on every sample of the batch.

    ``A``: activations of shape (n, units), or (n, ...) where every position after the sample axis is a
    unit. For ReLU a unit is dead when ``z <= 0`` on every sample; for leaky ReLU only when ``z == 0``.
    Such a unit passes no gradient to its weights.

    >>> dead_fraction([[0.0, 1.0], [0.0, 0.0]])
    0.5
    """
    return float(np.mean(np.all(np.asarray(A) == 0, axis=0)))


def saturated_mask(A, activation: str, saturation: float = 0.99) -> np.ndarray:
    """Where ``A`` (any shape) is saturated: ``|a| > saturation`` for tanh, ``a < 1 - saturation`` or
    ``a > saturation`` for sigmoid; there the derivative is below ``1 - saturation**2`` (tanh) or
    ``saturation * (1 - saturation)`` (sigmoid). Any other activation raises :class:`GradstepError`.

    >>> saturated_mask([[0.995, -0.5]], "tanh").tolist()
    [[True, False]]
    """
    A = np.asarray(A)
    if activation == "tanh":
        return np.abs(A) > saturation
    if activation == "sigmoid":
        return (A < 1 - saturation) | (A > saturation)
    raise GradstepError(
        f"Saturation is measured for {' and '.join(SATURATING)}; received activation={activation!r}."
    )


def saturated_fraction(A, activation: str, saturation: float = 0.99, samples: float = 0.5) -> float:
    """The fraction of units saturated (see :func:`saturated_mask`) on more than ``samples`` of the batch.

    ``A``: activations of shape (n, units), or (n, ...) with every position after the sample axis a unit;
    ``activation``: "tanh" or "sigmoid". The doctor's defaults: ``saturation=0.99``, ``samples=0.5``
    (:class:`Thresholds` ``saturation`` and ``saturated_samples``).

    >>> saturated_fraction([[0.999, 0.2], [-0.999, 0.3]], "tanh")
    0.5
    """
    return float(np.mean(saturated_mask(A, activation, saturation).mean(axis=0) > samples))


def duplicate_groups(W: np.ndarray, b: np.ndarray, rtol: float) -> list[list[int]]:
    """Groups (of 2 or more) of units whose incoming weights and bias agree within a tolerance.

    Unit j is the vector ``v_j = (W[:, j], b[j])``; units i and j are duplicates when
    ``||v_i - v_j|| <= rtol * rms_j ||v_j||``. Candidates come from sorting the projections ``v_j . r`` on
    one fixed random direction r (duplicates project within the tolerance of each other), so random
    weights cost one sort; each group is formed around its first member (leader clustering).
    """
    V = np.concatenate([W, b[None, :]], axis=0).T
    n_units = V.shape[0]
    if n_units < 2:
        return []
    tol = rtol * float(np.sqrt(np.mean(np.sum(V * V, axis=1))))
    r = np.random.default_rng(0).standard_normal(V.shape[1])
    r /= np.linalg.norm(r)
    p = V @ r
    order = np.argsort(p, kind="stable")
    p_sorted = p[order]
    group_of = np.full(n_units, -1)
    groups = []
    # Only a unit whose next projection is within tol can lead a group of two or more.
    for k in np.flatnonzero(np.diff(p_sorted) <= tol):
        i = order[k]
        if group_of[i] >= 0:
            continue
        end = int(np.searchsorted(p_sorted, p_sorted[k] + tol, side="right"))
        cands = order[k + 1 : end]
        cands = cands[group_of[cands] < 0]
        members = cands[np.sqrt(np.sum((V[cands] - V[i]) ** 2, axis=1)) <= tol]
        if len(members):
            group_of[i] = group_of[members] = len(groups)
            groups.append(sorted([int(i), *map(int, members)]))
    return sorted(groups)


def _as_f64(name: str, x, shape=None) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if shape is not None and a.shape != shape:
        raise GradstepError(f"LayerData.{name} has shape {a.shape}; expected {shape}.")
    return a


def measure_layer(d: LayerData, index: int, output: bool, th: Thresholds) -> LayerStats:
    """The numbers of layer ``index`` (1-based; ``output``: the last layer), without its update ratio."""
    W = _as_f64("W", d.W)
    if W.ndim != 2:
        raise GradstepError(f"LayerData.W of layer {index} must be 2-D (fan_in, fan_out); got {W.shape}.")
    fan_in, fan_out = W.shape
    b = np.zeros(fan_out) if d.b is None else _as_f64("b", d.b, (fan_out,))
    Z = _as_f64("Z", d.Z)
    if Z.ndim != 2 or Z.shape[1] != fan_out:
        raise GradstepError(f"LayerData.Z of layer {index} must be (n, {fan_out}); got {Z.shape}.")
    A = _as_f64("A", d.A, Z.shape)
    act = str(d.activation)
    dead = dead_fraction(A) if act in RELU_FAMILY and not output else None
    sat = None
    if act in SATURATING and not output:
        sat = saturated_fraction(A, act, th.saturation, th.saturated_samples)
    groups = duplicate_groups(W, b, th.duplicate_rtol)
    grad_w = None if d.dW is None else float(np.linalg.norm(_as_f64("dW", d.dW, W.shape)))
    grad_b = None if d.db is None else float(np.linalg.norm(_as_f64("db", d.db, (fan_out,))))
    grad_rms = None if d.dA is None else float(np.sqrt(np.mean(np.square(_as_f64("dA", d.dA, Z.shape)))))
    return LayerStats(
        layer=index, activation=act, fan_in=fan_in, fan_out=fan_out,
        z_mean=float(Z.mean()), z_std=float(Z.std()), a_mean=float(A.mean()), a_std=float(A.std()),
        dead_fraction=dead, saturated_fraction=sat,
        effective_width=fan_out - sum(len(g) - 1 for g in groups), duplicate_groups=groups,
        weight_norm=float(np.linalg.norm(W)), weight_gain=float(fan_in * np.mean(np.square(W))),
        grad_w_norm=grad_w, grad_b_norm=grad_b, grad_rms=grad_rms, update_ratio=None, output=output,
    )  # fmt: skip


@dataclass(frozen=True)
class Trend:
    """How a scale changes along the hidden layers: the geometric-mean factor per layer, the ratio last /
    first, or (both None) the reason it was not measured."""

    per_layer: float | None
    total: float | None
    note: str | None = None


def trend(values: list[float | None], what: str) -> Trend:
    """The :class:`Trend` of ``values`` (one per hidden layer, in the direction of travel)."""
    if len(values) < 2:
        return Trend(None, None, "fewer than 2 hidden layers")
    if any(v is None for v in values):
        return Trend(None, None, f"no {what} given")
    if not all(math.isfinite(v) for v in values):
        return Trend(math.inf, math.inf)
    if values[0] == 0:
        return Trend(None, None, f"{what} is 0 at the first layer")
    total = values[-1] / values[0]
    return Trend(total ** (1 / (len(values) - 1)), total)


def activation_trend(hidden: list[LayerStats]) -> Trend:
    """The pre-activation std with depth."""
    return trend([s.z_std for s in hidden], "activation")


def gradient_trend(hidden: list[LayerStats]) -> Trend:
    """The RMS of d(loss)/d(activation) toward the input."""
    return trend([s.grad_rms for s in reversed(hidden)], "gradient")


def trends_dict(hidden: list[LayerStats], activation: Trend, gradient: Trend) -> dict[str, Any]:
    """``Report.trends``: the hidden layers, then per kind the factor, the total and a note if any."""
    out: dict[str, Any] = {"layers": [s.layer for s in hidden]}
    for key, t in (("activation", activation), ("gradient", gradient)):
        out[f"{key}_per_layer"], out[f"{key}_total"] = t.per_layer, t.total
        if t.note:
            out[f"{key}_note"] = t.note
    return out


def update_ratios(layers: list[LayerData], optimizer, lr) -> tuple[list[float | None], dict[str, Any]]:
    """``||delta W|| / ||W||`` per layer for one step of ``optimizer``, taken on float64 copies, and what
    was stepped (``optimizer``, ``lr``, ``optimizer_steps_taken``) for the report's meta.

    ``optimizer``: None (SGD), a name (built at its own default ``lr`` unless ``lr`` is given), or a
    gradstep optimizer whose hyperparameters and state are used on a copy.
    """
    from .. import optim
    from ..optim.base import Optimizer

    if any(d.dW is None for d in layers):
        return [None] * len(layers), {"optimizer": None}
    params, grads = [], []
    for d in layers:
        W = np.array(d.W, dtype=np.float64)
        params += [W, np.zeros(W.shape[1]) if d.b is None else np.array(d.b, dtype=np.float64)]
        grads += [np.asarray(d.dW, dtype=np.float64),
                  np.zeros(W.shape[1]) if d.db is None else np.asarray(d.db, dtype=np.float64)]  # fmt: skip
    before = [p.copy() for p in params]
    if optimizer is None or isinstance(optimizer, str):
        cls = optim.get("sgd" if optimizer is None else optimizer)
        opt = cls(params) if lr is None else cls(params, lr=lr)  # the class carries its default lr
        opt.step(grads)
        t = 0
    elif isinstance(optimizer, Optimizer):
        opt, t = _step_clone(optimizer, params, grads, lr)
    else:
        raise GradstepError(
            f"Argument `optimizer` must be None, an optimizer name or a gradstep optimizer. "
            f"Received: optimizer={optimizer!r}"
        )
    ratios = []
    for W0, W1 in zip(before[::2], params[::2], strict=True):
        norm = float(np.linalg.norm(W0))
        ratios.append(float(np.linalg.norm(W1 - W0)) / norm if norm > 0 else None)
    return ratios, {"optimizer": opt.name, "lr": float(opt.lr), "optimizer_steps_taken": t}


def _step_clone(optimizer, params: list[np.ndarray], grads: list[np.ndarray], lr):
    """Step a copy of ``optimizer`` (its hyperparameters and state) over ``params``, in place."""
    shapes = [p.shape for p in optimizer.params]
    flat = False
    if shapes != [p.shape for p in params]:
        total = sum(p.size for p in params)
        if len(shapes) != 1 or optimizer.params[0].size != total:
            raise GradstepError(
                "The optimizer's parameters do not match the layers: it must hold [W1, b1, W2, b2, ...] or "
                f"one flat array of them all ({total} numbers); it holds arrays of shapes {shapes}."
            )
        flat = True
    work = [np.concatenate([p.ravel() for p in params])] if flat else params
    clone = type(optimizer)(work, **optimizer.hyperparams())
    clone.load_state_dict(optimizer.state_dict())
    if lr is not None:
        clone.lr = lr
    clone.step([np.concatenate([g.ravel() for g in grads])] if flat else grads)
    if flat:
        offset = 0
        for p in params:
            p[...] = work[0][offset : offset + p.size].reshape(p.shape)
            offset += p.size
    return clone, optimizer.t


@dataclass(frozen=True, eq=False)
class AttentionData:
    """One attention softmax on one batch: ``probs`` of shape (..., queries, keys), each row summing to 1
    over its allowed keys; ``allowed`` (same shape, bool) marks the keys a query may attend to (None:
    all). The mask is given apart from ``probs`` because a collapsed row underflows to exact zeros too."""

    name: str
    probs: Any
    allowed: Any = None


@dataclass(frozen=True)
class ResidualData:
    """One residual stream: where each addition ``x + f(x)`` ran, and the RMS of the stream after it."""

    names: tuple[str, ...]
    rms: tuple[float, ...]


def measure_attention(d: AttentionData, th: Thresholds) -> AttentionStats:
    """How peaked the rows of an attention softmax are, over the rows with 2 or more allowed keys."""
    P = np.asarray(d.probs, dtype=np.float64)
    allowed = (
        np.ones(P.shape, bool) if d.allowed is None else np.broadcast_to(np.asarray(d.allowed, bool), P.shape)
    )
    P, allowed = P.reshape(-1, P.shape[-1]), allowed.reshape(-1, P.shape[-1])
    keys = allowed.sum(axis=1)
    rows = keys >= 2
    P, keys = P[rows], keys[rows]
    if not len(P):
        return AttentionStats(d.name, 0, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        H = -np.sum(np.where(P > 0, P * np.log(P), 0.0), axis=1)
    return AttentionStats(
        name=d.name, rows=int(len(P)), peaked=float(np.mean(P.max(axis=1) > th.saturation)),
        entropy=float(np.clip(np.mean(H / np.log(keys)), 0.0, 1.0)),
    )  # fmt: skip


def measure_residual(d: ResidualData) -> ResidualStats:
    return ResidualStats(list(d.names), [float(r) for r in d.rms])

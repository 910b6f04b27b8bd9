"""The doctor: why a network does not train, measured layer by layer on one batch.

The notes name the failures; each has a measurement here and a verdict that names the layers, the
evidence and the fix:

- **dead** units (W = 0, b = 0 with ReLU; dying ReLU): a ReLU-family unit whose output is 0 on every
  sample of the batch receives no gradient;
- **symmetric** units (W = k, b = k): units with identical incoming weights and bias compute the same
  thing and get the same update forever, so a layer of them acts as one neuron; the number of distinct
  units is the layer's *effective width*;
- **exploding** / **vanishing** activations and gradients (the deep linear network's W^L ... W^1 X; a
  30-layer ReLU network under Xavier): the std of the pre-activations across the hidden layers, and the
  RMS of the gradient flowing back, change by a steady factor per layer;
- **saturated** units (tanh |a| > 0.99, sigmoid a < 0.01 or > 0.99, on most samples): their derivative
  is nearly 0;
- **mismatched init**: the weights' ``fan_in * mean(W**2)`` (2 for He, 1 for Xavier on square layers)
  is not the one the activation needs, by enough to compound over the depth;
- **update ratio** ``||delta W|| / ||W||`` of one optimizer step (run on copies), too large or too small.

The core, :func:`diagnose_layers`, takes one :class:`LayerData` per dense layer (weights, biases,
pre-activations, activations, gradients) and knows nothing of the NumPy MLP; :func:`diagnose` collects
them from a :class:`gradstep.nn.MLP` with one forward and one backward pass on a private copy of the
model, so the model's gradients and caches are left as they were. A PyTorch bridge collects the same
LayerData with hooks.

>>> import numpy as np, gradstep
>>> from gradstep.nn import MLP
>>> X = np.random.default_rng(0).standard_normal((256, 16))
>>> gradstep.diagnose(MLP((16, 32, 32, 4), init="zeros"), X).kinds()[0]
'dead'
>>> gradstep.diagnose(MLP((16, 32, 32, 4), init="he_normal", rng=0), X).healthy
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import GradstepError
from .doctor_report import RELU_FAMILY, LayerStats, Report, Thresholds, Verdict, judge

__all__ = ["LayerData", "diagnose", "diagnose_layers", "Thresholds", "Report", "Verdict", "LayerStats"]

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


def diagnose(model, X, y=None, *, loss=None, optimizer=None, lr=None, thresholds=None, rng=0) -> Report:
    """Diagnose a :class:`gradstep.nn.MLP` on the batch ``X`` (n, n_features).

    One forward and one backward pass run on a private copy of the model, so the model's gradients and
    caches are left as they were. With targets ``y`` the backward pass starts from the gradient of
    ``loss`` (default: softmax cross-entropy; binary cross-entropy for one output column and 0/1
    targets, else MSE). Without ``y`` it starts from a *probe*: ``d(loss)/d(logits)`` drawn standard
    normal and divided by n (the scale of a mean loss's gradient), from ``rng``. The probe measures how
    the network carries a gradient back whatever it predicts; the model's own argmax as labels would
    not, since a network whose logits have exploded agrees with its own argmax and sends back 0.

    ``optimizer`` (None: SGD; a name; or an optimizer instance over the model's parameters, whose state
    is used) and ``lr`` (default: the instance's own, or the CLI's default for the name) give the step
    whose update ratio is measured, on copies. ``thresholds``: a :class:`Thresholds` or a dict of fields.
    """
    from .nn import MLP, losses

    if not isinstance(model, MLP):
        raise GradstepError(
            f"diagnose() needs a gradstep MLP; received {type(model).__name__}. For another model, collect "
            "one LayerData per layer and call gradstep.doctor.diagnose_layers."
        )
    if not np.all(np.isfinite(np.asarray(X, dtype=np.float64))):
        raise GradstepError("diagnose() needs finite inputs; X holds NaN or infinite values.")
    hidden_act = model.layers[0].act if len(model.layers) > 1 else model.activation
    shadow = MLP(model.layer_sizes, activation=hidden_act, init="zeros", dtype=model.dtype)
    shadow.set_params(model.params)
    # An exploding network is what the doctor is for: its overflow is a finding, not a warning.
    with np.errstate(over="ignore", invalid="ignore"):
        logits = shadow.forward(X)
    n, k = logits.shape
    if n == 0:
        raise GradstepError("diagnose() needs at least one sample in X. Received 0 rows.")
    if y is None:
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        dlogits = (gen.standard_normal(logits.shape) / n).astype(logits.dtype)
        value, loss_name = None, "probe: standard-normal d(loss)/d(logits) / n"
    else:
        y = np.asarray(y)
        if loss is None:
            binary = y.size and np.all((y == 0) | (y == 1))
            loss = "softmax_cross_entropy" if k > 1 else ("binary_cross_entropy" if binary else "mse")
        loss_fn = losses.get(loss)
        with np.errstate(over="ignore", invalid="ignore"):
            value, dlogits = loss_fn(logits, y)
        loss_name = getattr(loss_fn, "__name__", str(loss))
    with np.errstate(over="ignore", invalid="ignore"):
        shadow.backward(dlogits, input_grad=False)
    last = len(shadow.layers) - 1
    layers = [
        LayerData(W=layer.W, b=layer.b, Z=shadow.pre_activations[l], A=shadow.activations[l],
                  activation=layer.activation, dW=layer.dW, db=layer.db,
                  dA=dlogits if l == last else shadow.grad_activations[l])
        for l, layer in enumerate(shadow.layers)
    ]  # fmt: skip
    meta = {"samples": n, "loss": loss_name, "loss_value": value}
    return diagnose_layers(layers, optimizer=optimizer, lr=lr, thresholds=thresholds, meta=meta)


def diagnose_layers(layers, *, optimizer=None, lr=None, thresholds=None, meta=None) -> Report:
    """The doctor's core: measure every layer of ``layers`` (a list of :class:`LayerData`, input side
    first, the last one the output layer) and judge the measurements against ``thresholds``.

    ``optimizer``/``lr`` as in :func:`diagnose`: one step of it is taken on copies of the weights to
    measure ``||delta W|| / ||W||``; an optimizer instance must hold either one array per parameter
    ``[W1, b1, W2, b2, ...]`` or one flat array of them all in that order. ``meta`` is copied into the
    report.
    """
    th = Thresholds.coerce(thresholds)
    layers = list(layers)
    if not layers or not all(isinstance(d, LayerData) for d in layers):
        raise GradstepError("diagnose_layers() needs a non-empty list of LayerData, one per layer.")
    with np.errstate(over="ignore", invalid="ignore"):  # non-finite numbers are findings here
        stats = [_measure(d, i + 1, i == len(layers) - 1, th) for i, d in enumerate(layers)]
        ratios, step_meta = _update_ratios(layers, optimizer, lr)
    for s, r in zip(stats, ratios, strict=True):
        s.update_ratio = r
    trends = _trends(stats)
    meta = {**(meta or {}), **step_meta}
    return Report(stats, trends, judge(layers, stats, trends, th, meta), th, meta)


# -- measurements ------------------------------------------------------------------------------------


def _as_f64(name: str, x, shape=None) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if shape is not None and a.shape != shape:
        raise GradstepError(f"LayerData.{name} has shape {a.shape}; expected {shape}.")
    return a


def _measure(d: LayerData, index: int, output: bool, th: Thresholds) -> LayerStats:
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
    z_mean, z_std, a_mean, a_std = float(Z.mean()), float(Z.std()), float(A.mean()), float(A.std())
    dead = sat = None
    if act in RELU_FAMILY and not output:
        dead = float(np.mean(np.all(A == 0, axis=0)))  # relu: z <= 0; leaky_relu: only z == 0
    if act in SATURATING and not output:
        s = th.saturation
        mask = np.abs(A) > s if act == "tanh" else (A < 1 - s) | (A > s)
        sat = float(np.mean(mask.mean(axis=0) > th.saturated_samples))
    groups = duplicate_groups(W, b, th.duplicate_rtol)
    grad_w = None if d.dW is None else float(np.linalg.norm(_as_f64("dW", d.dW, W.shape)))
    grad_b = None if d.db is None else float(np.linalg.norm(_as_f64("db", d.db, (fan_out,))))
    grad_rms = None if d.dA is None else float(np.sqrt(np.mean(np.square(_as_f64("dA", d.dA, Z.shape)))))
    return LayerStats(
        layer=index, activation=act, fan_in=fan_in, fan_out=fan_out,
        z_mean=z_mean, z_std=z_std, a_mean=a_mean, a_std=a_std,
        dead_fraction=dead, saturated_fraction=sat,
        effective_width=fan_out - sum(len(g) - 1 for g in groups), duplicate_groups=groups,
        weight_norm=float(np.linalg.norm(W)), weight_gain=float(fan_in * np.mean(np.square(W))),
        grad_w_norm=grad_w, grad_b_norm=grad_b, grad_rms=grad_rms, update_ratio=None, output=output,
    )  # fmt: skip


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


def _trend(values: list[float | None], what: str) -> tuple[float | None, float | None, str | None]:
    """(geometric-mean factor per layer, last / first, why not measured) along ``values``."""
    if len(values) < 2:
        return None, None, "fewer than 2 hidden layers"
    if any(v is None for v in values):
        return None, None, f"no {what} given"
    if not all(math.isfinite(v) for v in values):
        return math.inf, math.inf, None
    if values[0] == 0:
        return None, None, f"{what} is 0 at the first layer"
    total = values[-1] / values[0]
    return total ** (1 / (len(values) - 1)), total, None


def _trends(stats: list[LayerStats]) -> dict[str, Any]:
    """Across the hidden layers: the pre-activation std with depth, the gradient RMS toward the input."""
    hidden = stats[:-1]
    out: dict[str, Any] = {"layers": [s.layer for s in hidden]}
    per, total, note = _trend([s.z_std for s in hidden], "activation")
    out.update(activation_per_layer=per, activation_total=total)
    if note:
        out["activation_note"] = note
    per, total, note = _trend([s.grad_rms for s in reversed(hidden)], "gradient")
    out.update(gradient_per_layer=per, gradient_total=total)
    if note:
        out["gradient_note"] = note
    return out


def _update_ratios(layers: list[LayerData], optimizer, lr) -> tuple[list[float | None], dict[str, Any]]:
    """``||delta W|| / ||W||`` per layer for one step of ``optimizer``, taken on float64 copies."""
    from . import optim
    from .config import DEFAULT_LR
    from .optim.base import Optimizer

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
        lr = DEFAULT_LR.get(cls.name, 1e-3) if lr is None else lr
        opt = cls(params, lr=lr)
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

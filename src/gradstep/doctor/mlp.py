"""The doctor for a :class:`gradstep.nn.MLP`: :func:`diagnose` collects one :class:`LayerData` per layer
with one forward and one backward pass on a private copy of the model, and hands them to the core."""

from __future__ import annotations

import numpy as np

from .._validation import GradstepError, as_rng
from .core import diagnose_layers
from .measure import LayerData
from .report import Report

__all__ = ["diagnose"]

PROBE = "probe: standard-normal d(loss)/d(logits) / n"


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
    is used) and ``lr`` (default: the instance's own, or the optimizer class's default for a name) give
    the step whose update ratio is measured, on copies. ``thresholds``: a :class:`Thresholds` or a dict of
    fields.
    """
    from ..nn import MLP, losses

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
        dlogits = (as_rng(rng).standard_normal(logits.shape) / n).astype(logits.dtype)
        value, loss_name = None, PROBE
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
    classes = k if loss_name == "softmax_cross_entropy" else None
    return diagnose_layers(
        layers, optimizer=optimizer, lr=lr, thresholds=thresholds, meta=meta, classes=classes
    )

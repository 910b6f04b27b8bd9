"""Losses on logits, each returning its value and its gradient with respect to the logits.

Every loss is a function ``loss(logits, y, out=None) -> (value, dlogits)``:

* ``value`` is a Python float, the mean over the batch;
* ``dlogits`` is d(value)/d(logits), with the shape and dtype of ``logits``, written into ``out`` if
  given (a preallocated array of that shape and dtype).

The network's last layer is linear, so the output nonlinearity (sigmoid, softmax) lives inside the
loss. That is what makes the losses stable for any logits (|z| = 1000 included) and their gradients
simple: ``sigmoid(z) - y`` and ``softmax(z) - onehot(y)``, divided by the batch size.

Conventions match PyTorch's defaults (``reduction="mean"``), so each value equals
``F.mse_loss``, ``F.binary_cross_entropy_with_logits`` and ``F.cross_entropy``.

>>> import numpy as np
>>> value, dlogits = softmax_cross_entropy(np.array([[2.0, 0.0], [0.0, 2.0]]), np.array([0, 1]))
>>> round(value, 4)
0.1269
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._validation import GradstepError, lookup
from .activations import sigmoid

__all__ = [
    "mse",
    "binary_cross_entropy",
    "softmax_cross_entropy",
    "accuracy",
    "get",
    "available",
    "is_builtin",
]

Loss = Callable[..., "tuple[float, np.ndarray]"]


def _as_logits(logits, loss: str) -> np.ndarray:
    logits = np.asarray(logits)
    if logits.dtype.kind != "f":
        logits = logits.astype(np.float64)
    if logits.ndim == 0 or logits.shape[0] == 0:
        raise GradstepError(f"{loss} needs a non-empty batch of logits. Received shape {logits.shape}.")
    return logits


def _targets_like(logits: np.ndarray, y, loss: str) -> np.ndarray:
    """``y`` cast to the logits' dtype and shape; a (n,) target is accepted for (n, 1) logits."""
    y = np.asarray(y, dtype=logits.dtype)
    if y.shape != logits.shape:
        if logits.ndim == 2 and logits.shape[1] == 1 and y.shape == logits.shape[:1]:
            y = y.reshape(logits.shape)
        else:
            raise GradstepError(
                f"{loss}: y has shape {y.shape} but the logits have shape {logits.shape}; "
                "they must match (a (n,) target is also accepted for (n, 1) logits)."
            )
    return y


def mse(logits, y, out: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Mean squared error over all elements, as ``torch.nn.functional.mse_loss``.

    value = (1/N) * sum((z - y)**2) over all N = n * k elements (no factor 1/2);
    dlogits = (2/N) * (z - y).

    ``y`` has the logits' shape, or is (n,) for logits of shape (n, 1).
    """
    z = _as_logits(logits, "mse")
    y = _targets_like(z, y, "mse")
    diff = np.subtract(z, y, out=out)
    value = float(np.vdot(diff, diff)) / diff.size
    diff *= 2 / diff.size
    return value, diff


def binary_cross_entropy(logits, y, out: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Binary cross-entropy of sigmoid(logits), as ``F.binary_cross_entropy_with_logits``.

    Per element, with p = sigmoid(z):  -[y log p + (1 - y) log(1 - p)] = softplus(z) - y z,
    evaluated as max(z, 0) - y z + log1p(exp(-|z|)) so that no exponent is positive.
    value = mean over elements; dlogits = (sigmoid(z) - y) / N.

    ``logits`` is (n, 1) (or (n,)); ``y`` is (n,) or (n, 1) with values in [0, 1] (labels 0 and 1,
    or soft labels).
    """
    z = _as_logits(logits, "binary_cross_entropy")
    y = _targets_like(z, y, "binary_cross_entropy")
    if y.min() < 0 or y.max() > 1:
        raise GradstepError(
            f"binary_cross_entropy needs y in [0, 1]. Received values from {y.min()} to {y.max()}."
        )
    per_element = np.maximum(z, 0) - y * z + np.log1p(np.exp(-np.abs(z)))
    value = float(np.mean(per_element))
    grad = sigmoid.forward(z, out=out)
    grad -= y
    grad /= z.size
    return value, grad


def _class_labels(y, n: int, k: int, loss: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.reshape(-1)
    if y.shape != (n,):
        raise GradstepError(f"{loss}: y must be integer labels of shape ({n},). Received shape {y.shape}.")
    if y.dtype.kind not in "iu":
        if y.dtype.kind not in "fb" or not np.all(y == np.round(y)):
            raise GradstepError(f"{loss}: y must hold integer class labels. Received dtype {y.dtype}.")
        y = y.astype(np.int64)
    if n and (y.min() < 0 or y.max() >= k):
        raise GradstepError(
            f"{loss}: labels must be in [0, {k - 1}] for {k} classes. "
            f"Received labels from {y.min()} to {y.max()}."
        )
    return y


def softmax_cross_entropy(logits, y, out: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Cross-entropy of softmax(logits) against integer labels, as ``F.cross_entropy``.

    Per row i:  -log softmax(z_i)[y_i] = logsumexp(z_i) - z_i[y_i], with the row maximum subtracted
    before exponentiating (log-sum-exp trick). value = mean over rows;
    dlogits = (softmax(z) - onehot(y)) / n.

    ``logits`` is (n, k); ``y`` is (n,) integer labels in [0, k).
    """
    z = _as_logits(logits, "softmax_cross_entropy")
    if z.ndim != 2:
        raise GradstepError(f"softmax_cross_entropy needs logits of shape (n, k). Received shape {z.shape}.")
    n, k = z.shape
    y = _class_labels(y, n, k, "softmax_cross_entropy")
    rows = np.arange(n)
    shifted = np.subtract(z, np.max(z, axis=1, keepdims=True), out=out)
    picked = shifted[rows, y]
    probs = np.exp(shifted, out=shifted)
    row_sum = np.sum(probs, axis=1, keepdims=True)
    value = float(np.mean(np.log(row_sum[:, 0]) - picked))
    probs /= row_sum
    probs[rows, y] -= 1
    probs /= n
    return value, probs


def accuracy(logits, y) -> float:
    """Fraction of correct predictions: argmax of the logits for (n, k) with k > 1; for one output
    column (or 1-D logits) the binary prediction ``logit > 0`` (sigmoid > 1/2) against labels 0/1."""
    z = np.asarray(logits)
    y = np.asarray(y).reshape(-1)
    if z.ndim == 1 or (z.ndim == 2 and z.shape[1] == 1):
        predicted = (z.reshape(-1) > 0).astype(np.int64)
    elif z.ndim == 2:
        predicted = np.argmax(z, axis=1)
    else:
        raise GradstepError(f"accuracy needs logits of shape (n, k). Received shape {z.shape}.")
    if predicted.shape != y.shape:
        raise GradstepError(
            f"accuracy: y has {y.shape[0]} labels but the logits have {predicted.shape[0]} rows."
        )
    if y.size == 0:
        raise GradstepError("accuracy needs a non-empty batch.")
    return float(np.mean(predicted == y))


_REGISTRY: dict[str, Loss] = {
    "mse": mse,
    "binary_cross_entropy": binary_cross_entropy,
    "softmax_cross_entropy": softmax_cross_entropy,
}


def available() -> list[str]:
    """The names :func:`get` accepts, sorted."""
    return sorted(_REGISTRY)


def is_builtin(loss_fn) -> bool:
    """Whether ``loss_fn`` is one of this module's losses (which all take ``out=``)."""
    return any(loss_fn is f for f in _REGISTRY.values())


def get(name: str | Loss) -> Loss:
    """Return the loss function called ``name``; a callable passes through unchanged."""
    if callable(name):
        return name
    return lookup("loss", name, _REGISTRY)

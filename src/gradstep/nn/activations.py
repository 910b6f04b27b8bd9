"""Activation functions g, each with its local derivative g' written right beside it.

A hidden layer computes ``A = g(Z)`` and, going back, ``dZ = dA * g'(Z)``. Every activation here is a
small object with a ``name``, ``forward(z, out=None) -> a`` and, when g acts elementwise,
``derivative(z, a, out=None) -> da/dz`` (elementwise, so the chain rule is one multiplication). The
derivative receives both ``z`` and ``a = forward(z)`` so that each one uses whichever is cheaper:
``tanh' = 1 - a**2`` and ``sigmoid' = a * (1 - a)`` reuse the forward output, ReLU looks at ``z``.

Backpropagation needs ``grad_a * g'(z)``, the vector-Jacobian product; ``vjp(a, grad_a, out=None,
z=None)`` computes it in place, without temporaries (the MLP's backward pass calls it). ReLU, tanh and
sigmoid compute it from ``a`` alone; the default multiplies ``derivative(z, a)`` by ``grad_a``.

``softmax`` is not elementwise (each output depends on the whole row), so it has no ``derivative``;
its ``vjp(a, grad_a)`` is the Jacobian-vector product ``a * (grad_a - sum(grad_a * a))``
row by row. In gradstep softmax is meant as an *output* paired with cross-entropy:
:func:`gradstep.nn.losses.softmax_cross_entropy` takes logits and folds softmax into the loss, whose
gradient is then simply ``softmax(z) - onehot(y)``.

``out`` (optional) is a preallocated array of the same shape and dtype that receives the result, which
is also returned. ``forward`` may be done in place (``out=z``); ``derivative`` and ``vjp`` may write over
any of their inputs; ``vjp``'s ``out`` must not be ``grad_a``. Results keep the input's floating dtype
(float32 stays float32).

>>> import numpy as np
>>> from gradstep.nn import activations
>>> z = np.array([-1.0, 0.5])
>>> activations.relu.forward(z), activations.relu.derivative(z, activations.relu.forward(z))
(array([0. , 0.5]), array([0., 1.]))
"""

from __future__ import annotations

import numpy as np

from .._validation import GradstepError, lookup

__all__ = [
    "Activation",
    "linear",
    "relu",
    "leaky_relu",
    "tanh",
    "sigmoid",
    "softmax",
    "get",
    "available",
]


class Activation:
    """Base class: ``name``; ``forward(z, out=None)``; ``derivative(z, a, out=None)`` if elementwise."""

    name: str = ""
    elementwise: bool = True

    def forward(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def derivative(self, z: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def vjp(
        self, a: np.ndarray, grad_a: np.ndarray, out: np.ndarray | None = None, z: np.ndarray | None = None
    ) -> np.ndarray:
        """``grad_a * g'(z)``: the gradient reaching z from the gradient reaching ``a = g(z)``."""
        out = self.derivative(z, a, out=out)
        out *= grad_a
        return out

    def __call__(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return self.forward(z, out=out)

    def __repr__(self) -> str:
        return f"<activation {self.name}>"


def _empty_like_float(z: np.ndarray) -> np.ndarray:
    return np.empty_like(z, dtype=z.dtype if z.dtype.kind == "f" else np.float64)


class Linear(Activation):
    """g(z) = z, g'(z) = 1. The output layer's activation: its output is the logits."""

    name = "linear"

    def forward(self, z, out=None):
        if out is None:
            return np.array(z, copy=True)
        if out is not z:
            np.copyto(out, z)
        return out

    def derivative(self, z, a, out=None):
        if out is None:
            return np.ones_like(z)
        out.fill(1)
        return out


class ReLU(Activation):
    """g(z) = max(z, 0); g'(z) = 1 if z > 0 else 0 (0 at z = 0, as in PyTorch)."""

    name = "relu"

    def forward(self, z, out=None):
        return np.maximum(z, 0, out=out)

    def derivative(self, z, a, out=None):
        if out is None:
            out = _empty_like_float(z)
        return np.greater(z, 0, out=out)

    def vjp(self, a, grad_a, out=None, z=None):
        # a = max(z, 0) is 0 or positive, so sign(a) is g'(z) (0 at z = 0) without the bool-to-float
        # cast of z > 0, which needs a scratch buffer.
        out = np.sign(a, out=out)
        out *= grad_a
        return out


class LeakyReLU(Activation):
    """g(z) = z if z > 0 else slope * z; g'(z) = 1 if z > 0 else slope (slope at z = 0, as in PyTorch)."""

    name = "leaky_relu"

    def __init__(self, slope: float = 0.01):
        self.slope = slope

    def forward(self, z, out=None):
        if out is None:
            out = _empty_like_float(z)
        if out is not z:
            np.copyto(out, z)
        return np.multiply(out, self.slope, out=out, where=out <= 0)

    def derivative(self, z, a, out=None):
        if out is None:
            out = _empty_like_float(z)
        np.greater(z, 0, out=out)
        # out is 1 or 0; (1 - slope) * out + slope maps it to 1 or slope.
        out *= 1 - self.slope
        out += self.slope
        return out


class Tanh(Activation):
    """g(z) = tanh(z); g'(z) = 1 - tanh(z)**2 = 1 - a**2."""

    name = "tanh"

    def forward(self, z, out=None):
        return np.tanh(z, out=out)

    def derivative(self, z, a, out=None):
        out = np.multiply(a, a, out=out)
        return np.subtract(1, out, out=out)

    def vjp(self, a, grad_a, out=None, z=None):
        out = self.derivative(z, a, out=out)
        out *= grad_a
        return out


class Sigmoid(Activation):
    """g(z) = 1 / (1 + exp(-z)); g'(z) = a * (1 - a).

    Computed as ``exp(-softplus(-z))`` with ``softplus(x) = log(1 + exp(x))`` evaluated by
    ``np.logaddexp(0, x)``: no overflow for any z (z = -1000 gives 0, not a warning) and full relative
    precision in both tails.
    """

    name = "sigmoid"

    def forward(self, z, out=None):
        out = np.negative(z, out=out)
        np.logaddexp(0, out, out=out)
        np.negative(out, out=out)
        return np.exp(out, out=out)

    def derivative(self, z, a, out=None):
        if out is not None and np.may_share_memory(out, a):
            out[...] = a * (1 - a)
            return out
        out = np.subtract(1, a, out=out)
        return np.multiply(out, a, out=out)


class Softmax(Activation):
    """Row-wise softmax(z)_j = exp(z_j - max(z)) / sum_k exp(z_k - max(z)) over the last axis.

    Not elementwise, so instead of ``derivative`` it gives the Jacobian-vector product
    ``vjp(a, grad_a) = a * (grad_a - sum_k grad_a_k * a_k)`` (row by row). Use it as an output with
    :func:`gradstep.nn.losses.softmax_cross_entropy`, which takes the logits directly.
    """

    name = "softmax"
    elementwise = False

    def forward(self, z, out=None):
        # Subtracting the row maximum makes every exponent <= 0: no overflow, same result.
        out = np.subtract(z, np.max(z, axis=-1, keepdims=True), out=out)
        np.exp(out, out=out)
        out /= np.sum(out, axis=-1, keepdims=True)
        return out

    def derivative(self, z, a, out=None):
        raise GradstepError(
            "softmax has no elementwise derivative; use softmax.vjp(a, grad_a), or feed logits to "
            "losses.softmax_cross_entropy."
        )

    def vjp(
        self, a: np.ndarray, grad_a: np.ndarray, out: np.ndarray | None = None, z: np.ndarray | None = None
    ) -> np.ndarray:
        """Return ``J^T grad_a`` where ``J = diag(a) - a a^T`` is softmax's Jacobian, row by row."""
        row_dot = np.sum(grad_a * a, axis=-1, keepdims=True)
        if out is not None and np.may_share_memory(out, a):
            out[...] = a * (grad_a - row_dot)
            return out
        out = np.subtract(grad_a, row_dot, out=out)
        return np.multiply(out, a, out=out)


linear = Linear()
relu = ReLU()
leaky_relu = LeakyReLU(0.01)
tanh = Tanh()
sigmoid = Sigmoid()
softmax = Softmax()

_REGISTRY: dict[str, Activation] = {a.name: a for a in (linear, relu, leaky_relu, tanh, sigmoid, softmax)}


def available() -> list[str]:
    """The names :func:`get` accepts, sorted."""
    return sorted(_REGISTRY)


def get(name: str | Activation) -> Activation:
    """Return the activation called ``name`` (an :class:`Activation` passes through unchanged).

    >>> get("tanh").name
    'tanh'
    """
    if isinstance(name, Activation):
        return name
    return lookup("activation", name, _REGISTRY)

"""LARS: momentum SGD with a per-parameter learning rate proportional to ||w|| / ||gradient||."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import GradstepError
from .base import register
from .hyperparameters import flag, learning_rate, real, weight_decay
from .layerwise import LayerwiseOptimizer, norm, trust_ratio

__all__ = ["LARS"]


@register
class LARS(LayerwiseOptimizer):
    r"""LARS (layer-wise adaptive rate scaling): momentum SGD, each parameter's rate scaled by a trust ratio.

    For each parameter array :math:`w` (a "layer") with gradient :math:`g` and :math:`V_0 = 0`:

    .. math::

        r &= \eta\, \|w\| / (\|g\| + \lambda \|w\| + \epsilon)
            \quad (r = 1 \text{ if } \|w\| = 0 \text{ or } \|g\| = 0) \\
        V &\leftarrow \beta V + \alpha\, r\, (g + \lambda w) \\
        w &\leftarrow w - V \qquad (\text{Nesterov: } w \leftarrow w - (\alpha r (g + \lambda w) + \beta V))

    The local rate :math:`\alpha r` makes each layer's step about :math:`\alpha \eta \|w\|` long
    whatever its gradient's scale, which is what lets ResNet-50 train at batch 32k (the paper).

    Symbols: :math:`\alpha` = ``lr``, :math:`\eta` = ``eta`` (the trust coefficient; optax's
    ``trust_coefficient``, default 0.001 as the paper and optax), :math:`\beta` = ``beta`` (momentum;
    optax's ``momentum``, default 0.9), :math:`\lambda` = ``weight_decay`` (added to the gradient and
    to the ratio's denominator, as the paper: neither the base class's coupled nor decoupled kind),
    :math:`\epsilon` = ``eps`` (default 0: the zero guard alone, as optax). State: ``"V"`` (the
    momentum buffer; optax's ``trace``, torch's ``momentum_buffer`` in LARC-style code).

    The learning rate is inside the buffer, as in the paper's Algorithm 1 and optax's
    ``chain(add_decayed_weights, scale_by_trust_ratio, scale_by_learning_rate, trace)``: with a
    constant rate this is torch's heavy ball ``SGD(momentum=beta)`` on the rescaled gradient
    :math:`r (g + \lambda w)` (so ``eta`` making :math:`r = 1` is momentum SGD); when the rate changes,
    the buffer keeps the old rates, as Keras's momentum does. Where the frameworks differ:

    - optax ``lars(lr, weight_decay, trust_coefficient=0.001, eps=0.0, momentum=0.9)`` divides by
      :math:`\|g + \lambda w\| + \epsilon` instead of :math:`\|g\| + \lambda\|w\| + \epsilon` (the
      same when :math:`\lambda = 0`), and applies the ratio to every parameter unless masked.
    - NVIDIA Apex's ``LARC`` (used with ``torch.optim.SGD``, as in Goyal et al.'s setup) has the
      paper's ratio with ``eps=1e-8`` and applies it to torch's SGD, learning rate outside the buffer.
    - The paper and most recipes exclude biases and normalization weights from the decay and the
      ratio; here, give those to another optimizer (one optimizer per parameter list).

    Fast path: none fused (the norms couple all of a parameter's elements); the reference is a few
    whole-array NumPy operations and two BLAS norms per parameter.

    Reference: Y. You, I. Gitman, B. Ginsburg, "Large batch training of convolutional networks",
    arXiv:1708.03888, 2017.

    Example (a gradient 100 times too large still moves the weight by lr * eta * ||w||):

    >>> import numpy as np
    >>> from gradstep.optim import LARS
    >>> w = np.array([3.0, 4.0])
    >>> opt = LARS([w], lr=10.0, eta=0.01)
    >>> opt.step([np.array([300.0, 400.0])])  # r = 0.01 * 5 / 500
    >>> w
    array([2.7, 3.6])
    """

    name = "lars"
    hyperparameters = (
        learning_rate(1.0),
        real("eta", 0.001, 0.0, low_open=True, help="trust coefficient: the ratio is eta*||w||/(...)"),
        real("beta", 0.9, 0.0, 1.0, high_open=True, help="momentum coefficient (lr inside the buffer)"),
        flag("nesterov", False, help="Nesterov's look-ahead momentum"),
        real("eps", 0.0, 0.0, help="added to the trust ratio's denominator"),
        weight_decay(),
    )
    state_names = ("V",)

    @classmethod
    def _check_combination(cls, hp: dict[str, Any]) -> None:
        if hp["nesterov"] and hp["beta"] == 0.0:
            raise GradstepError(
                "Nesterov momentum needs a momentum: argument `beta` must be in (0, 1) when nesterov=True. "
                f"Received: beta={hp['beta']!r}"
            )

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        lr, eta, beta, wd = self.lr, self.eta, self.beta, self.weight_decay
        V = state["V"]
        w_norm, g_norm = norm(p), norm(g)
        # r = eta*||w|| / (||g|| + wd*||w|| + eps)
        r = trust_ratio(eta * w_norm, g_norm + wd * w_norm + self.eps) if g_norm > 0 else 1.0
        # u = (lr*r) * (g + wd*w)
        u = g + wd * p if wd else g.copy()
        u *= lr * r
        # V = beta*V + u;  w = w - V  (Nesterov: w = w - (u + beta*V))
        V *= beta
        V += u
        if self.nesterov:
            u += beta * V
            p -= u
        else:
            p -= V

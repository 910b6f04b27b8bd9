"""LAMB: Adam's direction, rescaled per parameter so that its step is proportional to the weight's norm."""

from __future__ import annotations

import numpy as np

from .base import register
from .hyperparameters import flag, learning_rate, real, weight_decay
from .layerwise import LayerwiseOptimizer, norm, trust_ratio

__all__ = ["LAMB"]


@register
class LAMB(LayerwiseOptimizer):
    r"""LAMB (layer-wise adaptive moments): Adam's direction, scaled per parameter by a trust ratio.

    For each parameter array :math:`w` (a "layer") with gradient :math:`g`, :math:`V_0 = S_0 = 0` and
    :math:`t` the step number (1 first):

    .. math::

        V &\leftarrow \beta_1 V + (1 - \beta_1)\, g, \qquad
        S \leftarrow \beta_2 S + (1 - \beta_2)\, g^2 \\
        \hat V &= V / (1 - \beta_1^t), \qquad \hat S = S / (1 - \beta_2^t) \\
        u &= \hat V / (\sqrt{\hat S} + \epsilon) + \lambda w \\
        r &= \|w\| / \|u\| \quad (r = 1 \text{ if } \|w\| = 0 \text{ or } \|u\| = 0) \\
        w &\leftarrow w - \alpha\, (r\, u)

    Each parameter's step has length :math:`\alpha \|w\|` whatever the scale of its gradient, so one
    learning rate suits layers whose gradients differ by orders of magnitude (the paper's point, for
    batches of 32k). ``trust_ratio=False`` fixes :math:`r = 1`: the update is then AdamW's (Adam with
    :math:`\epsilon` outside the root plus decoupled decay), which is what LAMB is built on.

    Symbols: :math:`\alpha` = ``lr``, :math:`\beta_1` = ``beta1``, :math:`\beta_2` = ``beta2``,
    :math:`\epsilon` = ``eps``, :math:`\lambda` = ``weight_decay`` (added to the update, inside the
    trust ratio: neither coupled L2 nor the base class's decoupled shrink), :math:`r` the trust ratio.
    State: ``"V"`` (optax's ``mu``, Keras's ``momentums``) and ``"S"`` (``nu``, ``velocities``); the
    norms are Euclidean norms over all of a parameter's elements (``np.linalg.norm``, BLAS).

    Defaults are optax's ``lamb(learning_rate, b1=0.9, b2=0.999, eps=1e-6, weight_decay=0.0)``, and
    gradstep's rule is optax's: ``chain(scale_by_adam, add_decayed_weights, scale_by_trust_ratio,
    scale_by_learning_rate)`` multiplies in the same order. Where the frameworks differ:

    - Keras 3 ``Lamb(learning_rate=1e-3, epsilon=1e-6)`` computes the same ratio but multiplies as
      ``w -= (r * lr) * u`` (rounding only); its ``weight_decay`` is its optimizers' decoupled shrink
      ``w -= lr*wd*w`` outside the trust ratio, not :math:`\lambda w` inside it.
    - The paper (Algorithm 2) scales by :math:`\phi(\|w\|)/\|u\|` with a clipping function
      :math:`\phi(z) = \min(\max(z, \gamma_l), \gamma_u)`; optax, Keras and gradstep use
      :math:`\phi(z) = z`. Its experiments use :math:`\lambda = 0.01`.
    - torch.optim has no LAMB.

    Fast path: none fused (the two norms couple all of a parameter's elements); the reference is a
    few whole-array NumPy operations and two BLAS norms per parameter.

    Reference: Y. You, J. Li, S. Reddi, et al., "Large batch optimization for deep learning: training
    BERT in 76 minutes", ICLR 2020 (arXiv:1904.00962, 2019).

    Example (the first step has length lr * ||w|| whatever the gradient's scale):

    >>> import numpy as np
    >>> from gradstep.optim import LAMB
    >>> w = np.array([3.0, 4.0])
    >>> opt = LAMB([w], lr=0.1)
    >>> opt.step([np.array([0.5, -50.0])])  # u = (1, -1) up to eps; r = 5 / sqrt(2)
    >>> np.round(w, 4)
    array([2.6464, 4.3536])
    >>> round(float(np.linalg.norm(w - [3.0, 4.0])), 6)  # = lr * ||w||
    0.5
    """

    name = "lamb"
    hyperparameters = (
        learning_rate(0.001),
        real("beta1", 0.9, 0.0, 1.0, high_open=True, help="first-moment (V) coefficient"),
        real("beta2", 0.999, 0.0, 1.0, high_open=True, help="second-moment (S) coefficient"),
        real("eps", 1e-6, 0.0, low_open=True, help="epsilon, added to sqrt(S_hat)"),
        flag("trust_ratio", True, help="scale each parameter's update by ||w|| / ||u|| (False: AdamW)"),
        weight_decay(),
    )
    state_names = ("V", "S")

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        lr, beta1, beta2, eps, wd, t = self.lr, self.beta1, self.beta2, self.eps, self.weight_decay, self.t
        V, S = state["V"], state["S"]
        # V = beta1*V + (1-beta1)*g;  S = beta2*S + (1-beta2)*g^2
        V *= beta1
        V += (1 - beta1) * g
        S *= beta2
        S += (1 - beta2) * (g * g)
        V_hat = V / (1 - beta1**t)
        S_hat = S / (1 - beta2**t)
        # u = V_hat/(sqrt(S_hat) + eps) + wd*w
        u = V_hat / (np.sqrt(S_hat) + eps)
        if wd:
            u += wd * p
        r = trust_ratio(norm(p), norm(u)) if self.trust_ratio else 1.0
        # w = w - lr*(r*u)
        u *= r
        p -= lr * u

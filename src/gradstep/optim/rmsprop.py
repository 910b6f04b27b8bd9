"""RMSprop: divide each gradient by the root of a moving average of its recent squares.

The default is the notes' formula, epsilon inside the square root. PyTorch's epsilon outside the root,
its centered variant and its momentum buffer are options, so every ``torch.optim.RMSprop``
configuration can be reproduced (``docs/conventions.md`` has the table, with Keras and optax).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Optimizer, _empty, register
from .hyperparameters import flag, learning_rate, real, weight_decay

__all__ = ["RMSprop"]


@register
class RMSprop(Optimizer):
    r"""RMSprop: scale each coordinate's step by the root mean square of its recent gradients.

    The notes' rule (the default, ``eps_in_sqrt=True``), with :math:`S_0 = 0`:

    .. math::

        S &\leftarrow \beta S + (1 - \beta)\, dw^2 \\
        w &\leftarrow w - \alpha \, \frac{dw}{\sqrt{S + \epsilon}}

    ``eps_in_sqrt=False`` divides by :math:`\sqrt{S} + \epsilon` instead (PyTorch's convention).

    ``centered=True`` (Graves 2013; PyTorch's ``centered``) also keeps the moving average of the
    gradient, :math:`V \leftarrow \beta V + (1 - \beta)\, dw` (computed as PyTorch rounds it,
    :math:`V + (1 - \beta)(dw - V)`), and uses the variance estimate :math:`S - V^2` in place of
    :math:`S` under the root.

    ``momentum=mu > 0`` (PyTorch's ``momentum``) accumulates the scaled gradients in a buffer and steps
    along it: :math:`B \leftarrow \mu B + dw / \mathrm{denom}`, :math:`w \leftarrow w - \alpha B`
    (:math:`B_0 = 0`), where denom is :math:`\sqrt{S + \epsilon}` or :math:`\sqrt{S} + \epsilon`.

    Symbols: :math:`\alpha` = ``lr``, :math:`\beta` = ``beta`` (the notes' symbol; PyTorch calls it
    ``alpha``, Keras ``rho``, optax ``decay``), :math:`\epsilon` = ``eps``, :math:`\mu` = ``momentum``,
    :math:`dw` the gradient plus ``weight_decay * w`` (coupled L2 decay, as PyTorch). State names:
    ``"S"`` (moving average of :math:`dw^2`, PyTorch's ``square_avg``), ``"V"`` (moving average of
    :math:`dw`, only when ``centered``; PyTorch's ``grad_avg``), ``"buf"`` (only when ``momentum > 0``;
    PyTorch's ``momentum_buffer``). There is no bias correction (none of the three frameworks' defaults
    has one; ``Adam(beta1=0)`` is RMSprop with it, see ``docs/conventions.md``).

    Where the frameworks differ:

    - PyTorch ``torch.optim.RMSprop(lr=0.01, alpha=0.99, eps=1e-8)``: epsilon outside the root
      (``eps_in_sqrt=False``) and different default ``lr`` and ``beta``.
    - Keras 3 ``RMSprop(learning_rate=0.001, rho=0.9, epsilon=1e-7)``: epsilon inside the root, as
      here; its momentum buffer accumulates ``lr * dw / denom`` (the learning rate inside the buffer),
      which equals gradstep's only while the learning rate is constant.
    - optax ``rmsprop(lr, decay=0.9, eps=1e-8, initial_scale=0., eps_in_sqrt=True)``: epsilon inside
      the root, as here; ``initial_scale`` (the starting :math:`S`, 1 in TF1) must be 0 to match;
      like Keras it applies momentum after the learning rate.

    References: G. Hinton, N. Srivastava, K. Swersky, "Neural networks for machine learning",
    lecture 6e, 2012. A. Graves, "Generating sequences with recurrent neural networks", 2013 (centered).

    ``backend`` (keyword-only) chooses how the step is computed: ``"auto"`` (default) the fused numba
    kernel when numba imports, ``"numpy"`` the reference above, ``"numba"`` the kernel; both give
    the same bits (see :mod:`gradstep.optim.base`). It is not a hyperparameter and not saved.

    Example (the first step divides by sqrt((1 - beta) * dw^2), so it is about lr / sqrt(0.1) per
    coordinate whatever the gradient's size):

    >>> import numpy as np
    >>> from gradstep.optim import RMSprop
    >>> w = np.array([1.0, -2.0])
    >>> opt = RMSprop([w], lr=0.01, beta=0.9)
    >>> opt.step([np.array([0.5, -100.0])])
    >>> np.round(w, 6)
    array([ 0.968377, -1.968377])
    """

    name = "rmsprop"
    hyperparameters = (
        learning_rate(0.001),
        real("beta", 0.9, 0.0, 1.0, high_open=True, help="moving average coefficient of dw^2"),
        real("eps", 1e-8, 0.0, low_open=True, help="epsilon, added to the denominator"),
        flag("eps_in_sqrt", True, help="epsilon inside the square root (the notes) or outside (PyTorch)"),
        flag("centered", False, help="centered RMSprop: divide by the variance estimate (Graves)"),
        real("momentum", 0.0, 0.0, 1.0, high_open=True, help="momentum buffer on the scaled step (PyTorch)"),
        weight_decay(),
    )
    state_names = ("S",)
    fused = True

    @classmethod
    def state_names_for(cls, hp: dict[str, Any]) -> tuple[str, ...]:
        return ("S",) + (("V",) if hp["centered"] else ()) + (("buf",) if hp["momentum"] else ())

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        lr, beta, eps = self.lr, self.beta, self.eps
        S = state["S"]
        # S = beta*S + (1-beta)*dw^2, computed as (beta*S) + ((1-beta)*(dw*dw))
        S *= beta
        S += (1 - beta) * (g * g)
        if self.centered:
            V = state["V"]
            # V = beta*V + (1-beta)*dw, computed as V + (1-beta)*(dw - V) (PyTorch's lerp): S - V*V
            # cancels, so V's rounding is amplified and a different order drifts from PyTorch in float32.
            V += (1 - beta) * (g - V)
            S_used = S - V * V
        else:
            S_used = S
        denom = np.sqrt(S_used + eps) if self.eps_in_sqrt else np.sqrt(S_used) + eps
        if self.momentum:
            buf = state["buf"]
            # buf = mu*buf + dw/denom; w = w - lr*buf
            buf *= self.momentum
            buf += g / denom
            p -= lr * buf
        else:
            # w = w - (lr*dw)/denom
            p -= lr * g / denom

    def _fused_kernel(self, kernels, parallel: bool):
        decay = self._decay_mode(kernels)
        return kernels.rmsprop_kernel(self.eps_in_sqrt, self.centered, bool(self.momentum), decay, parallel)

    def _fused_scalars(self) -> tuple:
        return (self.lr, self.beta, 1 - self.beta, self.eps, self.momentum, self.weight_decay)

    def _fused_state(self, i: int, dtype: np.dtype) -> tuple[np.ndarray, ...]:
        empty = _empty(dtype)
        V = self.state["V"][i] if self.centered else empty
        buf = self.state["buf"][i] if self.momentum else empty
        return (self.state["S"][i], V, buf)

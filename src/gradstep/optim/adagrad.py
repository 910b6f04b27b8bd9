"""Adagrad: divide each coordinate's step by the root of the sum of all its past squared gradients.

The rule and defaults are ``torch.optim.Adagrad``'s (epsilon outside the root, the accumulator starting
at 0); Keras's and optax's (epsilon inside the root, the accumulator starting at 0.1) are options
(``docs/conventions.md``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Optimizer, register
from .hyperparameters import flag, learning_rate, real, weight_decay

__all__ = ["Adagrad"]


@register
class Adagrad(Optimizer):
    r"""Adagrad: a per-coordinate learning rate that shrinks with the gradients seen so far.

    With :math:`S_0 = s_0` (``initial_accumulator_value``, default 0) and :math:`t` the step number:

    .. math::

        \alpha_t &= \alpha / (1 + (t - 1)\, \eta) \\
        S &\leftarrow S + dw^2 \\
        w &\leftarrow w - \alpha_t \, \frac{dw}{\sqrt{S} + \epsilon}

    ``eps_in_sqrt=True`` divides by :math:`\sqrt{S + \epsilon}` instead (Keras's and optax's form).

    Symbols: :math:`\alpha` = ``lr``, :math:`\eta` = ``lr_decay`` (PyTorch's, a 1/t schedule on top),
    :math:`\epsilon` = ``eps``, :math:`s_0` = ``initial_accumulator_value``, :math:`dw` the gradient
    plus ``weight_decay * w`` (coupled L2 decay, as PyTorch). State: ``"S"``, the sum of squared
    gradients (PyTorch's ``sum``, Keras's ``accumulator``, optax's ``sum_of_squares``), which starts at
    :math:`s_0`. Unlike every other optimizer here the state does not start at zero when
    :math:`s_0 > 0`. The step divides as PyTorch does, :math:`(\alpha_t\, dw) / (\sqrt{S} + \epsilon)`.

    Defaults are PyTorch's: ``torch.optim.Adagrad(lr=0.01, lr_decay=0, weight_decay=0,
    initial_accumulator_value=0, eps=1e-10)`` is ``Adagrad(p)``, exactly.

    Where the frameworks differ: Keras 3 ``Adagrad(learning_rate=0.001,
    initial_accumulator_value=0.1, epsilon=1e-7)`` and optax ``adagrad(lr,
    initial_accumulator_value=0.1, eps=1e-7)`` put epsilon inside the root and start :math:`S` at
    0.1: ``Adagrad(p, lr, initial_accumulator_value=0.1, eps=1e-7, eps_in_sqrt=True)``. Neither has
    ``lr_decay`` (see ``docs/conventions.md``).

    Reference: J. Duchi, E. Hazan, Y. Singer, "Adaptive subgradient methods for online learning and
    stochastic optimization", JMLR 12, 2011.

    ``backend`` (keyword-only) chooses how the step is computed: ``"auto"`` (default) the fused numba
    kernel when numba imports, ``"numpy"`` the reference above, ``"numba"`` the kernel; both give
    the same bits (see :mod:`gradstep.optim.base`). It is not a hyperparameter and not saved.

    Example (the first step is lr * sign(dw), whatever the gradient's size; the second is smaller):

    >>> import numpy as np
    >>> from gradstep.optim import Adagrad
    >>> w = np.array([1.0, -2.0])
    >>> opt = Adagrad([w], lr=0.1)
    >>> opt.step([np.array([0.5, -100.0])])
    >>> w
    array([ 0.9, -1.9])
    >>> opt.state["S"][0]
    array([2.5e-01, 1.0e+04])
    """

    name = "adagrad"
    hyperparameters = (
        learning_rate(0.01),
        real("lr_decay", 0.0, 0.0, help="learning rate decay: lr / (1 + (t-1)*lr_decay) (PyTorch)"),
        weight_decay(),
        real("initial_accumulator_value", 0.0, 0.0, help="starting value of S (0 PyTorch, 0.1 Keras, optax)"),
        real("eps", 1e-10, 0.0, low_open=True, help="epsilon, added to the denominator"),
        flag("eps_in_sqrt", False, help="epsilon inside the square root (Keras, optax) or outside (PyTorch)"),
    )
    state_names = ("S",)
    fused = True

    def __init__(self, params, *args: Any, **kwargs: Any):
        super().__init__(params, *args, **kwargs)
        # The base creates zeros; Adagrad's sum starts at its initial value (PyTorch's full_like).
        for S in self.state["S"]:
            S.fill(self.initial_accumulator_value)

    def _lr_t(self) -> float:
        # A Python float (double precision) whatever the parameters' dtype, as PyTorch's clr.
        return self.lr / (1 + (self.t - 1) * self.lr_decay)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        S = state["S"]
        # S = S + dw*dw
        S += g * g
        denom = np.sqrt(S + self.eps) if self.eps_in_sqrt else np.sqrt(S) + self.eps
        # w = w - (lr_t*dw)/denom
        p -= self._lr_t() * g / denom

    def _fused_kernel(self, kernels, parallel: bool):
        return kernels.adagrad_kernel(self.eps_in_sqrt, self._decay_mode(kernels), parallel)

    def _fused_scalars(self) -> tuple:
        return (self._lr_t(), self.eps, self.weight_decay)

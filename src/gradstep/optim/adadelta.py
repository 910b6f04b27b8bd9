"""Adadelta: steps whose units are the parameter's, from moving averages of squared gradients and steps.

The rule and defaults are ``torch.optim.Adadelta``'s (and optax's); Keras differs in its defaults only
(``docs/conventions.md``).
"""

from __future__ import annotations

import numpy as np

from .base import Optimizer, register
from .hyperparameters import learning_rate, real, weight_decay

__all__ = ["Adadelta"]


@register
class Adadelta(Optimizer):
    r"""Adadelta: scale each gradient by RMS(past steps) / RMS(past gradients).

    With :math:`S_0 = D_0 = 0`:

    .. math::

        S &\leftarrow \rho S + (1 - \rho)\, dw^2 \\
        \Delta &= \frac{\sqrt{D + \epsilon}}{\sqrt{S + \epsilon}} \, dw \\
        D &\leftarrow \rho D + (1 - \rho)\, \Delta^2 \\
        w &\leftarrow w - \alpha \Delta

    computed in PyTorch's order: each average as :math:`\rho X + ((1 - \rho)\, x)\, x` (its
    ``addcmul``) and :math:`\Delta` as :math:`(\sqrt{D + \epsilon} / \sqrt{S + \epsilon})\, dw`. The
    numerator uses :math:`D` before this step's update, so the first step is
    :math:`\alpha \sqrt{\epsilon / ((1 - \rho)\, dw^2 + \epsilon)}\, dw`: tiny (about
    :math:`\alpha \sqrt{\epsilon / (1 - \rho)}` per coordinate, 3e-3 at the defaults). Zeiler's
    method has no learning rate (:math:`\alpha = 1`, PyTorch's default).

    Symbols: :math:`\alpha` = ``lr``, :math:`\rho` = ``rho`` (PyTorch's, Keras's and optax's name),
    :math:`\epsilon` = ``eps``, :math:`dw` the gradient plus ``weight_decay * w`` (coupled L2 decay,
    as PyTorch). State: ``"S"`` (moving average of :math:`dw^2`; PyTorch's ``square_avg``, Keras's
    ``accumulated_grad``, optax's ``e_g``) and ``"S_delta"`` (moving average of :math:`\Delta^2`;
    ``acc_delta``, ``accumulated_delta_var``, ``e_x``).

    Defaults are PyTorch's: ``torch.optim.Adadelta(lr=1.0, rho=0.9, eps=1e-6)`` is ``Adadelta(p)``;
    optax ``adadelta(learning_rate, rho=0.9, eps=1e-6)`` is the same rule. Keras 3
    ``Adadelta(learning_rate=0.001, rho=0.95, epsilon=1e-7)`` is the same rule with other defaults.

    Reference: M. D. Zeiler, "ADADELTA: an adaptive learning rate method", arXiv:1212.5701, 2012.

    ``backend`` (keyword-only) chooses how the step is computed: ``"auto"`` (default) the fused numba
    kernel when numba imports, ``"numpy"`` the reference above, ``"numba"`` the kernel; both give
    the same bits (see :mod:`gradstep.optim.base`). It is not a hyperparameter and not saved.

    Example (the first step is sqrt(eps) / sqrt((1 - rho) dw^2 + eps) * dw: about 3e-3 * sign(dw)):

    >>> import numpy as np
    >>> from gradstep.optim import Adadelta
    >>> w = np.array([1.0, -2.0])
    >>> opt = Adadelta([w])
    >>> opt.step([np.array([0.5, -100.0])])
    >>> np.round(w, 5)
    array([ 0.99684, -1.99684])
    """

    name = "adadelta"
    hyperparameters = (
        learning_rate(1.0),
        real(
            "rho", 0.9, 0.0, 1.0, high_open=True, help="moving average coefficient of dw^2 and of the steps^2"
        ),
        real("eps", 1e-6, 0.0, low_open=True, help="epsilon, inside both square roots"),
        weight_decay(),
    )
    state_names = ("S", "S_delta")
    fused = True

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        rho, eps = self.rho, self.eps
        S, S_delta = state["S"], state["S_delta"]
        # S = (rho*S) + ((1-rho)*dw)*dw
        S *= rho
        S += (1 - rho) * g * g
        # delta = (sqrt(S_delta + eps)/sqrt(S + eps))*dw
        delta = np.sqrt(S_delta + eps) / np.sqrt(S + eps) * g
        # S_delta = (rho*S_delta) + ((1-rho)*delta)*delta
        S_delta *= rho
        S_delta += (1 - rho) * delta * delta
        # w = w - lr*delta
        p -= self.lr * delta

    def _fused_kernel(self, kernels, parallel: bool):
        return kernels.adadelta_kernel(self._decay_mode(kernels), parallel)

    def _fused_scalars(self) -> tuple:
        return (self.lr, self.rho, 1 - self.rho, self.eps, self.weight_decay)

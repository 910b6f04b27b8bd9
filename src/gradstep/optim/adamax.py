"""Adamax: Adam with the second moment replaced by an exponentially weighted infinity norm.

The rule and defaults are ``torch.optim.Adamax``'s (epsilon inside the maximum, as optax);
``docs/conventions.md`` says how Keras differs.
"""

from __future__ import annotations

import numpy as np

from .base import Optimizer, register
from .hyperparameters import learning_rate, real, weight_decay

__all__ = ["Adamax"]


@register
class Adamax(Optimizer):
    r"""Adamax: a bias-corrected moving average of the gradient divided by a decaying max of its size.

    With :math:`V_0 = U_0 = 0` and :math:`t` the step number (1 first):

    .. math::

        V &\leftarrow \beta_1 V + (1 - \beta_1)\, dw \\
        U &\leftarrow \max(\beta_2 U,\; |dw| + \epsilon) \\
        w &\leftarrow w - \frac{\alpha}{1 - \beta_1^t} \, \frac{V}{U}

    :math:`V` is computed in PyTorch's order, :math:`V + (1 - \beta_1)(dw - V)` (its ``lerp``), and
    the step as :math:`(\alpha_t V) / U` with :math:`\alpha_t = \alpha / (1 - \beta_1^t)` a Python
    float. There is no bias correction of :math:`U` (a maximum is not biased towards 0 as an average
    is). :math:`U \ge \epsilon > 0`, so the division is always defined.

    Symbols: :math:`\alpha` = ``lr``, :math:`\beta_1` = ``beta1``, :math:`\beta_2` = ``beta2``
    (PyTorch's ``betas``, Keras's ``beta_1``/``beta_2``, optax's ``b1``/``b2``), :math:`\epsilon` =
    ``eps``, :math:`dw` the gradient plus ``weight_decay * w`` (coupled L2 decay, as PyTorch). State:
    ``"V"`` (first moment; PyTorch's ``exp_avg``, optax's ``mu``, Keras's ``momentum``) and ``"U"``
    (the infinity norm; PyTorch's ``exp_inf``, optax's ``nu``, Keras's ``norm``).

    Defaults are PyTorch's: ``torch.optim.Adamax(lr=2e-3, betas=(0.9, 0.999), eps=1e-8)`` is
    ``Adamax(p)``, exactly.

    Where the frameworks differ: the paper (Algorithm 2) has no epsilon. optax ``adamax(lr, b1=0.9,
    b2=0.999, eps=1e-8)`` puts it inside the maximum as PyTorch (and divides the bias-corrected
    :math:`V` by :math:`U`, then scales by ``lr``: the same rule, rounded differently). Keras 3
    ``Adamax(learning_rate=0.001, epsilon=1e-7)`` keeps :math:`U = \max(\beta_2 U, |dw|)` and divides
    by :math:`U + \epsilon`; gradstep has no such option (the two agree when :math:`\epsilon` is
    negligible against :math:`|dw|`).

    Reference: D. P. Kingma, J. Ba, "Adam: a method for stochastic optimization", ICLR 2015,
    Section 7.1 and Algorithm 2.

    ``backend`` (keyword-only) chooses how the step is computed: ``"auto"`` (default) the fused numba
    kernel when numba imports, ``"numpy"`` the reference above, ``"numba"`` the kernel; both give
    the same bits (see :mod:`gradstep.optim.base`). It is not a hyperparameter and not saved.

    Example (the first step is lr * dw / (|dw| + eps), about lr per coordinate):

    >>> import numpy as np
    >>> from gradstep.optim import Adamax
    >>> w = np.array([1.0, -2.0])
    >>> opt = Adamax([w], lr=0.1)
    >>> opt.step([np.array([0.5, -100.0])])
    >>> np.round(w, 6)
    array([ 0.9, -1.9])
    >>> sorted(opt.state)
    ['U', 'V']
    """

    name = "adamax"
    hyperparameters = (
        learning_rate(0.002),
        real("beta1", 0.9, 0.0, 1.0, high_open=True, help="first-moment (V) coefficient"),
        real("beta2", 0.999, 0.0, 1.0, high_open=True, help="infinity-norm (U) decay"),
        real("eps", 1e-8, 0.0, low_open=True, help="epsilon, added to |dw| inside the maximum"),
        weight_decay(),
    )
    state_names = ("V", "U")
    fused = True

    def _lr_t(self) -> float:
        return self.lr / (1 - self.beta1**self.t)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        beta1, beta2, eps = self.beta1, self.beta2, self.eps
        V, U = state["V"], state["U"]
        # V = V + (1-beta1)*(dw - V), PyTorch's lerp order
        V += (1 - beta1) * (g - V)
        # U = max(beta2*U, |dw| + eps); np.maximum propagates NaN as torch.maximum does
        U *= beta2
        np.maximum(U, np.abs(g) + eps, out=U)
        # w = w - (lr_t*V)/U
        p -= self._lr_t() * V / U

    def _fused_kernel(self, kernels, parallel: bool):
        return kernels.adamax_kernel(self._decay_mode(kernels), parallel)

    def _fused_scalars(self) -> tuple:
        return (self._lr_t(), 1 - self.beta1, self.beta2, self.eps, self.weight_decay)

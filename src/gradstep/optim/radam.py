"""RAdam (Adam with a rectified adaptive step) and RAdamW (decoupled weight decay).

The rule and defaults are ``torch.optim.RAdam``'s; ``RAdamW`` is ``torch.optim.RAdam(...,
decoupled_weight_decay=True)``. ``docs/conventions.md`` says how optax differs.
"""

from __future__ import annotations

import numpy as np

from .base import Optimizer, register
from .hyperparameters import learning_rate, real, weight_decay

__all__ = ["RAdam", "RAdamW", "rectification"]


def rectification(beta1: float, beta2: float, t: int) -> tuple[float, float, float | None]:
    """Step ``t``'s ``c1``, ``sqrt(c2)`` and ``r_t``, or None for ``r_t`` while ``rho_t <= 5``."""
    correction1, correction2 = 1 - beta1**t, 1 - beta2**t
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * t * (beta2**t) / correction2
    if not rho_t > 5.0:
        return correction1, correction2**0.5, None
    rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
    return correction1, correction2**0.5, rect


@register
class RAdam(Optimizer):
    r"""RAdam: momentum SGD while the second moment is too young to trust, then rectified Adam.

    With :math:`V_0 = S_0 = 0`, :math:`t` the step number (1 first), :math:`c_1 = 1 - \beta_1^t`,
    :math:`c_2 = 1 - \beta_2^t`, and the length of the approximated simple moving average

    .. math::

        \rho_\infty = \frac{2}{1 - \beta_2} - 1, \qquad
        \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{c_2}, \qquad
        r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\,\rho_\infty}{(\rho_\infty - 4)(\rho_\infty - 2)\,\rho_t}}

    the update is

    .. math::

        V &\leftarrow \beta_1 V + (1 - \beta_1)\, dw, \qquad
        S \leftarrow \beta_2 S + (1 - \beta_2)\, dw^2, \qquad \hat V = V / c_1 \\
        w &\leftarrow \begin{cases}
            w - \alpha \hat V \cdot \dfrac{\sqrt{c_2}}{\sqrt{S} + \epsilon} \cdot r_t & \rho_t > 5 \\
            w - \alpha \hat V & \text{otherwise (the first 5 steps, for any } \beta_2 \text{ near 1)}
        \end{cases}

    computed in PyTorch's order: :math:`V + (1 - \beta_1)(dw - V)` (its ``lerp``),
    :math:`\beta_2 S + ((1 - \beta_2)\, dw)\, dw`, and the rectified step as
    :math:`((\hat V \alpha) \cdot a) \cdot r_t` with :math:`a = (1 / (\sqrt S + \epsilon)) \cdot
    \sqrt{c_2}` (PyTorch divides a number by a tensor as a reciprocal times the number). The scalars
    :math:`c_1, c_2, \rho_t, r_t` are Python floats (double precision).

    Symbols: :math:`\alpha` = ``lr``, :math:`\beta_1` = ``beta1``, :math:`\beta_2` = ``beta2``
    (PyTorch's ``betas``, optax's ``b1``/``b2``), :math:`\epsilon` = ``eps``, :math:`dw` the gradient
    plus ``weight_decay * w`` (coupled L2 decay; see :class:`RAdamW`). State: ``"V"`` (PyTorch's
    ``exp_avg``, optax's ``mu``) and ``"S"`` (``exp_avg_sq``, ``nu``).

    Defaults are PyTorch's: ``torch.optim.RAdam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8)`` is
    ``RAdam(p)``.

    Where the frameworks differ: the paper switches to the rectified step when :math:`\rho_t > 4`;
    PyTorch and optax (``threshold=5.0``) when :math:`\rho_t > 5`, as here. optax ``radam(lr,
    b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, threshold=5.0)`` divides by
    :math:`\sqrt{S / c_2} + \epsilon`, that is PyTorch's rule with :math:`\epsilon` replaced by
    :math:`\epsilon \sqrt{c_2}`: not reproducible exactly here (the difference is below
    :math:`\epsilon` in the denominator). Keras 3 has no RAdam.

    Reference: L. Liu, H. Jiang, P. He, W. Chen, X. Liu, J. Gao, J. Han, "On the variance of the
    adaptive learning rate and beyond", ICLR 2020.

    ``backend`` (keyword-only) chooses how the step is computed: ``"auto"`` (default) the fused numba
    kernel when numba imports, ``"numpy"`` the reference above, ``"numba"`` the kernel; both give
    the same bits (see :mod:`gradstep.optim.base`). It is not a hyperparameter and not saved.

    Example (rho_1 = 1 <= 5: the first step is lr * V_hat = lr * dw, unnormalized):

    >>> import numpy as np
    >>> from gradstep.optim import RAdam
    >>> w = np.array([1.0, -2.0])
    >>> opt = RAdam([w], lr=0.1)
    >>> opt.step([np.array([0.5, -10.0])])
    >>> np.round(w, 12)
    array([ 0.95, -1.  ])
    """

    name = "radam"
    hyperparameters = (
        learning_rate(0.001),
        real("beta1", 0.9, 0.0, 1.0, high_open=True, help="first-moment (V) coefficient"),
        real("beta2", 0.999, 0.0, 1.0, high_open=True, help="second-moment (S) coefficient"),
        real("eps", 1e-8, 0.0, low_open=True, help="epsilon, added to the denominator"),
        weight_decay(),
    )
    state_names = ("V", "S")
    fused = True

    def _scalars(self) -> tuple[float, float, float | None]:
        return rectification(self.beta1, self.beta2, self.t)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        beta1, beta2 = self.beta1, self.beta2
        V, S = state["V"], state["S"]
        correction1, sqrt_c2, rect = self._scalars()
        # V = V + (1-beta1)*(dw - V), PyTorch's lerp order
        V += (1 - beta1) * (g - V)
        # S = (beta2*S) + ((1-beta2)*dw)*dw, PyTorch's addcmul order
        S *= beta2
        S += (1 - beta2) * g * g
        V_hat = V / correction1
        if rect is None:
            # w = w - V_hat*lr
            p -= V_hat * self.lr
            return
        adaptive = 1 / (np.sqrt(S) + self.eps) * sqrt_c2
        # w = w - ((V_hat*lr)*adaptive)*r_t
        p -= V_hat * self.lr * adaptive * rect

    def _fused_kernel(self, kernels, parallel: bool):
        return kernels.radam_kernel(self._decay_mode(kernels), parallel)

    def _fused_scalars(self) -> tuple:
        correction1, sqrt_c2, rect = self._scalars()
        # 1.0 when this step is rectified (and the kernel's 1 of 1/x), 0.0 when it is not
        rect_scalars = (0.0, 0.0) if rect is None else (1.0, rect)
        keep = 1 - self.lr * self.weight_decay  # RAdamW's shrink factor (decoupled kernels only)
        betas = (1 - self.beta1, self.beta2, 1 - self.beta2)
        return (self.lr, *betas, correction1, sqrt_c2, self.eps, *rect_scalars, self.weight_decay, keep)


@register
class RAdamW(RAdam):
    r"""RAdam with decoupled weight decay: shrink the weights, then take the RAdam step.

    .. math::

        w &\leftarrow (1 - \alpha \lambda)\, w \\
        w &\leftarrow w - \ldots \quad \text{(the RAdam update)}

    :math:`\lambda` = ``weight_decay``, applied to the weight directly and never entering :math:`V`
    or :math:`S` (Loshchilov & Hutter's decoupling, as :class:`gradstep.optim.AdamW`). This is
    ``torch.optim.RAdam(..., decoupled_weight_decay=True)``, and its default ``weight_decay`` is
    PyTorch's, 0 (``AdamW``'s is 0.01): pass one. Every other argument and the state are
    :class:`RAdam`'s.

    Reference: I. Loshchilov, F. Hutter, "Decoupled weight decay regularization", ICLR 2019.

    Example (the decay alone, with a zero gradient: each weight shrinks by lr * weight_decay):

    >>> import numpy as np
    >>> from gradstep.optim import RAdamW
    >>> w = np.array([1.0, -2.0])
    >>> opt = RAdamW([w], lr=0.1, weight_decay=0.5)
    >>> opt.step([np.zeros(2)])
    >>> w
    array([ 0.95, -1.9 ])
    """

    name = "radamw"
    hyperparameters = tuple(
        weight_decay(decoupled=True) if h.name == "weight_decay" else h for h in RAdam.hyperparameters
    )
    decoupled_decay = True

"""NAdam (Adam with Nesterov momentum, Dozat's momentum schedule) and NAdamW (decoupled weight decay).

The rule and defaults are ``torch.optim.NAdam``'s; ``NAdamW`` is ``torch.optim.NAdam(...,
decoupled_weight_decay=True)``. ``docs/conventions.md`` says how Keras and optax differ.
"""

from __future__ import annotations

import numpy as np

from .base import Optimizer, register
from .hyperparameters import learning_rate, real, weight_decay

__all__ = ["NAdam", "NAdamW", "mu_schedule", "mu_product", "step_coefficients"]


def mu_schedule(beta1: float, momentum_decay: float, t: int) -> float:
    """Dozat's momentum at step ``t``: ``beta1 * (1 - 0.5 * 0.96**(t * momentum_decay))``."""
    return beta1 * (1.0 - 0.5 * (0.96 ** (t * momentum_decay)))


# The last product computed per (beta1, momentum_decay): each step needs the next one, so a run
# multiplies once per step; any other t (a resumed run) is recomputed from step 1, in the same order.
_last_product: dict[tuple[float, float], tuple[int, float]] = {}


def mu_product(beta1: float, momentum_decay: float, t: int) -> float:
    """``mu_1 * mu_2 * ... * mu_t`` in double precision, multiplied left to right (1.0 for t = 0)."""
    key = (beta1, momentum_decay)
    k, product = _last_product.get(key, (0, 1.0))
    if k > t:
        k, product = 0, 1.0
    for s in range(k + 1, t + 1):
        product *= mu_schedule(beta1, momentum_decay, s)
    _last_product[key] = (t, product)
    return product


def step_coefficients(lr: float, beta1: float, beta2: float, momentum_decay: float, t: int):
    """Step ``t``'s ``1 - beta2^t`` and the coefficients of ``dw/D`` and ``V/D``, as Python floats."""
    mu, mu_next = mu_schedule(beta1, momentum_decay, t), mu_schedule(beta1, momentum_decay, t + 1)
    product = mu_product(beta1, momentum_decay, t)
    product_next = product * mu_next
    coef_g = lr * (1.0 - mu) / (1.0 - product)
    coef_v = (lr * mu_next) / (1.0 - product_next)
    return 1 - beta2**t, coef_g, coef_v


@register
class NAdam(Optimizer):
    r"""NAdam: Adam whose step looks ahead along the momentum, with a momentum that warms up.

    With :math:`V_0 = S_0 = 0`, :math:`t` the step number (1 first) and Dozat's schedule
    :math:`\mu_t = \beta_1 (1 - \tfrac12 \cdot 0.96^{t \psi})`:

    .. math::

        V &\leftarrow \beta_1 V + (1 - \beta_1)\, dw \\
        S &\leftarrow \beta_2 S + (1 - \beta_2)\, dw^2 \\
        D &= \sqrt{S / (1 - \beta_2^t)} + \epsilon \\
        w &\leftarrow w - \alpha \frac{1 - \mu_t}{1 - \prod_{i \le t} \mu_i} \, \frac{dw}{D}
               - \alpha \frac{\mu_{t+1}}{1 - \prod_{i \le t+1} \mu_i} \, \frac{V}{D}

    computed in PyTorch's order: :math:`V + (1 - \beta_1)(dw - V)` (its ``lerp``),
    :math:`\beta_2 S + ((1 - \beta_2)\, dw)\, dw`, and the two terms subtracted one after the other,
    each as :math:`(c\, x) / D` with :math:`c` a Python float. The products of :math:`\mu` are
    computed in double precision from :math:`t` (:func:`mu_product`); they are not state.

    Symbols: :math:`\alpha` = ``lr``, :math:`\beta_1` = ``beta1``, :math:`\beta_2` = ``beta2``
    (PyTorch's ``betas``), :math:`\epsilon` = ``eps``, :math:`\psi` = ``momentum_decay`` (PyTorch's
    name), :math:`dw` the gradient plus ``weight_decay * w`` (coupled L2 decay; see :class:`NAdamW`).
    State: ``"V"`` (PyTorch's ``exp_avg``, optax's ``mu``, Keras's ``momentums``) and ``"S"``
    (``exp_avg_sq``, ``nu``, ``velocities``). PyTorch also keeps ``mu_product`` per parameter as a
    scalar tensor of its default dtype, float32 unless ``torch.set_default_dtype(torch.float64)``,
    so it rounds the product to float32 every step: a relative difference of about 1e-7 in the step
    size from gradstep's double-precision product (``tests/test_optim_torch.py`` measures it).

    Defaults are PyTorch's: ``torch.optim.NAdam(lr=2e-3, betas=(0.9, 0.999), eps=1e-8,
    momentum_decay=4e-3)`` is ``NAdam(p)``.

    Where the frameworks differ: Keras 3 ``Nadam(learning_rate=0.001, beta_1=0.9, beta_2=0.999,
    epsilon=1e-7)`` computes the same rule with :math:`\mu_t = \beta_1 (1 - \tfrac12 \cdot 0.96^t)`,
    that is :math:`\psi = 1`: ``NAdam(p, lr, beta1, beta2, eps=1e-7, momentum_decay=1.0)``, rounded
    differently (Keras keeps the product of :math:`\mu` in the variables' dtype). optax ``nadam``
    (``adam(..., nesterov=True)``) has no schedule: :math:`\mu_t = \beta_1` and the products are
    :math:`\beta_1^t`, which is the limit :math:`\psi \to \infty`; ``momentum_decay=1e6`` gives
    exactly :math:`\mu_t = \beta_1` (:math:`0.96^{10^6}` is 0 in double precision), the same rule
    rounded differently. See ``docs/conventions.md``.

    Reference: T. Dozat, "Incorporating Nesterov momentum into Adam", ICLR 2016 workshop.

    ``backend`` (keyword-only) chooses how the step is computed: ``"auto"`` (default) the fused numba
    kernel when numba imports, ``"numpy"`` the reference above, ``"numba"`` the kernel; both give
    the same bits (see :mod:`gradstep.optim.base`). It is not a hyperparameter and not saved.

    Example (on the first step D = |dw| + eps: the gradient's term moves each coordinate by lr, the
    momentum's by lr * mu_2 / (1 - mu_1 mu_2) * (1 - beta1), about 0.056 lr more):

    >>> import numpy as np
    >>> from gradstep.optim import NAdam
    >>> w = np.array([1.0, -2.0])
    >>> opt = NAdam([w], lr=0.1)
    >>> opt.step([np.array([0.5, -100.0])])
    >>> np.round(w, 4)
    array([ 0.8944, -1.8944])
    """

    name = "nadam"
    hyperparameters = (
        learning_rate(0.002),
        real("beta1", 0.9, 0.0, 1.0, high_open=True, help="first-moment (V) coefficient"),
        real("beta2", 0.999, 0.0, 1.0, high_open=True, help="second-moment (S) coefficient"),
        real("eps", 1e-8, 0.0, low_open=True, help="epsilon, added to the denominator"),
        weight_decay(),
        real("momentum_decay", 0.004, 0.0, help="psi in the momentum schedule beta1*(1 - 0.5*0.96^(t*psi))"),
    )
    state_names = ("V", "S")
    fused = True

    def _coefficients(self) -> tuple[float, float, float]:
        return step_coefficients(self.lr, self.beta1, self.beta2, self.momentum_decay, self.t)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        beta1, beta2 = self.beta1, self.beta2
        V, S = state["V"], state["S"]
        correction2, coef_g, coef_v = self._coefficients()
        # V = V + (1-beta1)*(dw - V), PyTorch's lerp order
        V += (1 - beta1) * (g - V)
        # S = (beta2*S) + ((1-beta2)*dw)*dw, PyTorch's addcmul order
        S *= beta2
        S += (1 - beta2) * g * g
        D = np.sqrt(S / correction2) + self.eps
        # w = w - (coef_g*dw)/D, then w = w - (coef_v*V)/D
        p -= coef_g * g / D
        p -= coef_v * V / D

    def _fused_kernel(self, kernels, parallel: bool):
        return kernels.nadam_kernel(self._decay_mode(kernels), parallel)

    def _fused_scalars(self) -> tuple:
        correction2, coef_g, coef_v = self._coefficients()
        keep = 1 - self.lr * self.weight_decay  # NAdamW's shrink factor (decoupled kernels only)
        betas = (1 - self.beta1, self.beta2, 1 - self.beta2)
        return (*betas, correction2, self.eps, coef_g, coef_v, self.weight_decay, keep)


@register
class NAdamW(NAdam):
    r"""NAdam with decoupled weight decay: shrink the weights, then take the NAdam step.

    .. math::

        w &\leftarrow (1 - \alpha \lambda)\, w \\
        w &\leftarrow w - \ldots \quad \text{(the NAdam update)}

    :math:`\lambda` = ``weight_decay``, applied to the weight directly and never entering :math:`V`
    or :math:`S` (Loshchilov & Hutter's decoupling, as :class:`gradstep.optim.AdamW`). This is
    ``torch.optim.NAdam(..., decoupled_weight_decay=True)``, and its default ``weight_decay`` is
    PyTorch's, 0 (``AdamW``'s is 0.01): pass one. optax ``nadamw`` and Keras's ``Nadam(weight_decay=)``
    also decay decoupled, with the differences of :class:`NAdam`. Every other argument and the state
    are :class:`NAdam`'s.

    Reference: I. Loshchilov, F. Hutter, "Decoupled weight decay regularization", ICLR 2019.

    Example (the decay alone, with a zero gradient: each weight shrinks by lr * weight_decay):

    >>> import numpy as np
    >>> from gradstep.optim import NAdamW
    >>> w = np.array([1.0, -2.0])
    >>> opt = NAdamW([w], lr=0.1, weight_decay=0.5)
    >>> opt.step([np.zeros(2)])
    >>> w
    array([ 0.95, -1.9 ])
    """

    name = "nadamw"
    hyperparameters = tuple(
        weight_decay(decoupled=True) if h.name == "weight_decay" else h for h in NAdam.hyperparameters
    )
    decoupled_decay = True

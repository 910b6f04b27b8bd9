"""Adam (momentum and RMSprop together, bias-corrected), AMSGrad, and AdamW's decoupled weight decay.

The default is the notes' formula: epsilon inside the square root of the bias-corrected second moment.
PyTorch/optax/the paper (epsilon outside the root) and Keras (the paper's "epsilon hat") are options;
``docs/conventions.md`` lists the settings that reproduce each framework exactly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .base import Optimizer, _empty, register
from .hyperparameters import choice, flag, learning_rate, real, weight_decay, with_defaults

__all__ = ["Adam", "AdamW"]

EPS_MODES = ("inside_sqrt", "outside_sqrt", "hat")
EPS_MODE_HELP = "where epsilon goes: inside_sqrt (the notes), outside_sqrt (PyTorch, optax), hat (Keras)"


@register
class Adam(Optimizer):
    r"""Adam: a bias-corrected moving average of the gradient divided by that of its square.

    The notes' rule (the default), with :math:`V_0 = S_0 = 0` and :math:`t` the step number (1 first):

    .. math::

        V &\leftarrow \beta_1 V + (1 - \beta_1)\, dw \\
        S &\leftarrow \beta_2 S + (1 - \beta_2)\, dw^2 \\
        \hat V &= V / (1 - \beta_1^t), \qquad \hat S = S / (1 - \beta_2^t) \\
        w &\leftarrow w - \alpha \, \frac{\hat V}{\sqrt{\hat S + \epsilon}}

    ``eps_mode`` says where :math:`\epsilon` goes:

    - ``"inside_sqrt"`` (default, the notes): :math:`\hat V / \sqrt{\hat S + \epsilon}`.
    - ``"outside_sqrt"`` (Kingma & Ba's Algorithm 1, PyTorch, optax):
      :math:`\hat V / (\sqrt{\hat S} + \epsilon)`.
    - ``"hat"`` (Keras 3, the paper's "epsilon hat" form before its Section 2.1): the bias correction
      moves into the step size, :math:`\alpha_t = \alpha \sqrt{1 - \beta_2^t} / (1 - \beta_1^t)`,
      :math:`w \leftarrow w - \alpha_t V / (\sqrt{S} + \hat\epsilon)`. This equals ``"outside_sqrt"``
      with :math:`\epsilon = \hat\epsilon \sqrt{1 - \beta_2^t}`, a larger effective epsilon early on.

    ``bias_correction=False`` uses :math:`V` and :math:`S` unscaled (:math:`\hat V = V`,
    :math:`\hat S = S`, :math:`\alpha_t = \alpha`). Both averages then start too small, :math:`V` by
    :math:`1 - \beta_1` and :math:`S` by :math:`1 - \beta_2` (the notes' reason for the correction);
    their ratio does not cancel: the first step is :math:`\alpha (1 - \beta_1) / \sqrt{1 - \beta_2}`
    per coordinate, about :math:`3.16\,\alpha` at the default betas, while :math:`|dw|^2 \gg \epsilon`.

    ``amsgrad=True`` (Reddi et al.), as PyTorch and Keras do it: keep the running maximum of the raw
    second moment, :math:`S_{max} \leftarrow \max(S_{max}, S)`, and use it in place of :math:`S`,
    bias-corrected afterwards (:math:`\hat S = S_{max} / (1 - \beta_2^t)`). optax's ``amsgrad`` takes
    the maximum of the bias-corrected :math:`\hat S` instead, which is not the same sequence.

    Symbols: :math:`\alpha` = ``lr``, :math:`\beta_1` = ``beta1``, :math:`\beta_2` = ``beta2``
    (PyTorch's ``betas``, Keras's ``beta_1``/``beta_2``, optax's ``b1``/``b2``), :math:`\epsilon` =
    ``eps``, :math:`dw` the gradient plus ``weight_decay * w`` (coupled L2 decay, as
    ``torch.optim.Adam``; see :class:`AdamW` for the decoupled kind). State names: ``"V"`` (first
    moment; PyTorch's ``exp_avg``, optax's ``mu``, Keras's ``momentum``), ``"S"`` (second moment;
    ``exp_avg_sq``, ``nu``, ``velocity``), ``"S_max"`` (only with ``amsgrad``; ``max_exp_avg_sq``).

    Defaults elsewhere: PyTorch ``Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8)`` = ``eps_mode=
    "outside_sqrt"``; Keras 3 ``Adam(learning_rate=1e-3, epsilon=1e-7)`` = ``eps_mode="hat", eps=1e-7``;
    optax ``adam(lr, eps=1e-8, eps_root=0.0)`` = ``eps_mode="outside_sqrt"`` (optax's ``eps_root`` is
    an epsilon inside the root: ``adam(eps=0, eps_root=e)`` is ``eps_mode="inside_sqrt", eps=e``).

    Reference: D. P. Kingma, J. Ba, "Adam: a method for stochastic optimization", ICLR 2015.
    S. J. Reddi, S. Kale, S. Kumar, "On the convergence of Adam and beyond", ICLR 2018 (AMSGrad).

    ``backend`` (keyword-only) chooses how the step is computed: ``"auto"`` (default) the fused numba
    kernel when numba imports, ``"numpy"`` the reference above, ``"numba"`` the kernel; both give
    the same bits (see :mod:`gradstep.optim.base`). It is not a hyperparameter and not saved.

    Example (bias correction makes the first step about lr per coordinate):

    >>> import numpy as np
    >>> from gradstep.optim import Adam
    >>> w = np.array([1.0, -2.0])
    >>> opt = Adam([w], lr=0.1)
    >>> opt.step([np.array([0.5, -100.0])])
    >>> w
    array([ 0.9, -1.9])
    >>> sorted(opt.state)
    ['S', 'V']
    """

    name = "adam"
    hyperparameters = (
        learning_rate(0.001),
        real("beta1", 0.9, 0.0, 1.0, high_open=True, help="first-moment (V) coefficient"),
        real("beta2", 0.999, 0.0, 1.0, high_open=True, help="second-moment (S) coefficient"),
        real("eps", 1e-8, 0.0, low_open=True, help="epsilon, added to the denominator"),
        choice("eps_mode", "inside_sqrt", EPS_MODES, help=EPS_MODE_HELP),
        flag("bias_correction", True, help="divide V and S by 1 - beta^t"),
        flag("amsgrad", False, help="AMSGrad: use the running maximum of S"),
        weight_decay(),
    )
    state_names = ("V", "S")
    fused = True

    @classmethod
    def state_names_for(cls, hp: dict[str, Any]) -> tuple[str, ...]:
        return ("V", "S", "S_max") if hp["amsgrad"] else ("V", "S")

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        lr, beta1, beta2, eps, t = self.lr, self.beta1, self.beta2, self.eps, self.t
        V, S = state["V"], state["S"]
        # V = beta1*V + (1-beta1)*dw, computed as (beta1*V) + ((1-beta1)*dw)
        V *= beta1
        V += (1 - beta1) * g
        # S = beta2*S + (1-beta2)*dw^2, computed as (beta2*S) + ((1-beta2)*(dw*dw))
        S *= beta2
        S += (1 - beta2) * (g * g)
        if self.amsgrad:
            S_max = state["S_max"]
            np.maximum(S_max, S, out=S_max)
            S = S_max
        # The corrections are Python floats (double precision) whatever the parameters' dtype.
        correction1 = 1 - beta1**t if self.bias_correction else 1.0
        correction2 = 1 - beta2**t if self.bias_correction else 1.0
        if self.eps_mode == "hat":
            lr_t = lr * math.sqrt(correction2) / correction1
            # w = w - (lr_t*V)/(sqrt(S) + eps)
            p -= lr_t * V / (np.sqrt(S) + eps)
            return
        V_hat = V / correction1 if self.bias_correction else V
        S_hat = S / correction2 if self.bias_correction else S
        if self.eps_mode == "inside_sqrt":
            # w = w - (lr*V_hat)/sqrt(S_hat + eps)
            p -= lr * V_hat / np.sqrt(S_hat + eps)
        else:
            # w = w - (lr*V_hat)/(sqrt(S_hat) + eps)
            p -= lr * V_hat / (np.sqrt(S_hat) + eps)

    def _fused_kernel(self, kernels, parallel: bool):
        eps_in_sqrt = self.eps_mode == "inside_sqrt"
        return kernels.adam_kernel(eps_in_sqrt, self.amsgrad, self._decay_mode(kernels), parallel)

    def _fused_scalars(self) -> tuple:
        lr, beta1, beta2, t = self.lr, self.beta1, self.beta2, self.t
        correction1 = 1 - beta1**t if self.bias_correction else 1.0
        correction2 = 1 - beta2**t if self.bias_correction else 1.0
        if self.eps_mode == "hat":
            # The outside-sqrt kernel with the correction moved into the step size; V/1 is exactly V.
            lr = lr * math.sqrt(correction2) / correction1
            correction1 = correction2 = 1.0
        keep = 1 - self.lr * self.weight_decay  # AdamW's shrink factor (decoupled kernels only)
        betas = (beta1, 1 - beta1, beta2, 1 - beta2)
        return (lr, *betas, correction1, correction2, self.eps, self.weight_decay, keep)

    def _fused_state(self, i: int, dtype: np.dtype) -> tuple[np.ndarray, ...]:
        S_max = self.state["S_max"][i] if self.amsgrad else _empty(dtype)
        return (self.state["V"][i], self.state["S"][i], S_max)


@register
class AdamW(Adam):
    r"""Adam with decoupled weight decay: shrink the weights, then take the Adam step.

    .. math::

        w &\leftarrow (1 - \alpha \lambda)\, w \\
        w &\leftarrow w - \alpha \, \hat V / \sqrt{\hat S + \epsilon} \quad \text{(the Adam update)}

    :math:`\lambda` = ``weight_decay`` (default 0.01, as PyTorch). The decay is applied to the weight
    directly and never enters :math:`V` or :math:`S`, so its effect is not divided by
    :math:`\sqrt{\hat S}` (with coupled L2 decay, ``Adam(weight_decay=...)``, weights with large
    gradients are barely regularized). The shrink factor uses the current learning rate, as PyTorch
    (Loshchilov & Hutter scale :math:`\lambda` by a schedule multiplier instead). Every other argument
    and the state are :class:`Adam`'s.

    Where the frameworks differ: PyTorch ``AdamW(lr=1e-3, eps=1e-8, weight_decay=1e-2)`` is
    ``eps_mode="outside_sqrt"`` with the same decay; Keras 3 ``AdamW(weight_decay=0.004)`` applies
    ``w -= lr * wd * w`` before the ``"hat"`` update; optax ``adamw(weight_decay=1e-4)`` adds
    ``wd * w`` to the Adam direction before scaling by ``lr`` (the same rule, rounded differently).

    Reference: I. Loshchilov, F. Hutter, "Decoupled weight decay regularization", ICLR 2019.

    Example (the decay alone, with a zero gradient: each weight shrinks by lr * weight_decay):

    >>> import numpy as np
    >>> from gradstep.optim import AdamW
    >>> w = np.array([1.0, -2.0])
    >>> opt = AdamW([w], lr=0.1, weight_decay=0.5)
    >>> opt.step([np.zeros(2)])
    >>> w
    array([ 0.95, -1.9 ])
    """

    name = "adamw"
    hyperparameters = with_defaults(
        Adam.hyperparameters[:-1] + (weight_decay(decoupled=True),), weight_decay=0.01
    )
    decoupled_decay = True

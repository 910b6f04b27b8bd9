"""Lion: a step of fixed size per coordinate, along the sign of an interpolated momentum.

No ``torch.optim`` counterpart; the rule is the paper's (Chen et al. 2023) with decoupled weight decay,
as Keras 3, optax and the authors' PyTorch code (``docs/conventions.md``).
"""

from __future__ import annotations

import numpy as np

from .base import Optimizer, register
from .hyperparameters import learning_rate, real, weight_decay

__all__ = ["Lion"]


@register
class Lion(Optimizer):
    r"""Lion (EvoLved Sign Momentum): step by the sign of a blend of the momentum and the gradient.

    With :math:`V_0 = 0` and decoupled weight decay :math:`\lambda`:

    .. math::

        c &= \beta_1 V + (1 - \beta_1)\, dw \\
        w &\leftarrow w - \alpha\, (\mathrm{sign}(c) + \lambda w) \\
        V &\leftarrow \beta_2 V + (1 - \beta_2)\, dw

    The decay is applied first, as :math:`w \leftarrow (1 - \alpha\lambda)\, w`, then
    :math:`w \leftarrow w - \alpha\, \mathrm{sign}(c)`: the paper's rule, rounded as the base class
    decouples every decay (:class:`gradstep.optim.AdamW`). Every coordinate moves by exactly
    :math:`\alpha` (or 0 where :math:`c = 0`). Two betas: :math:`\beta_1` blends this step's
    direction, :math:`\beta_2` the momentum that is kept; with :math:`\beta_1 = \beta_2` the
    direction is the sign of the updated momentum itself.

    Symbols: :math:`\alpha` = ``lr``, :math:`\beta_1` = ``beta1``, :math:`\beta_2` = ``beta2`` (Keras's
    ``beta_1``/``beta_2``, optax's ``b1``/``b2``, the authors' ``betas``), :math:`\lambda` =
    ``weight_decay`` (decoupled), :math:`dw` the gradient. State: ``"V"`` (the momentum; Keras's
    ``momentum``, optax's ``mu``, the authors' PyTorch ``exp_avg``).

    Defaults are the paper's and its authors' PyTorch code's (``lion-pytorch``: ``lr=1e-4,
    betas=(0.9, 0.99), weight_decay=0``); there is no ``torch.optim.Lion``. Keras 3
    ``Lion(learning_rate=0.001, beta_1=0.9, beta_2=0.99)`` and optax ``lion(learning_rate, b1=0.9,
    b2=0.99, weight_decay=1e-3)`` compute the same rule: Keras decays as
    ``w -= w * wd * lr`` first, optax adds ``wd * w`` to the sign before scaling by ``lr``. Use a
    learning rate 3-10 times smaller than AdamW's, and a decay 3-10 times larger (the paper).

    Reference: X. Chen, C. Liang, D. Huang, E. Real, K. Wang, Y. Liu, H. Pham, X. Dong, T. Luong,
    C.-J. Hsieh, Y. Lu, Q. V. Le, "Symbolic discovery of optimization algorithms", NeurIPS 2023.

    ``backend`` (keyword-only) chooses how the step is computed: ``"auto"`` (default) the fused numba
    kernel when numba imports, ``"numpy"`` the reference above, ``"numba"`` the kernel; both give
    the same bits (see :mod:`gradstep.optim.base`). It is not a hyperparameter and not saved.

    Example (every coordinate moves by lr, against the gradient's sign):

    >>> import numpy as np
    >>> from gradstep.optim import Lion
    >>> w = np.array([1.0, -2.0, 3.0])
    >>> opt = Lion([w], lr=0.1)
    >>> opt.step([np.array([0.5, -100.0, 0.0])])
    >>> w
    array([ 0.9, -1.9,  3. ])
    """

    name = "lion"
    hyperparameters = (
        learning_rate(0.0001),
        real("beta1", 0.9, 0.0, 1.0, help="blend of momentum and gradient whose sign is the step"),
        real("beta2", 0.99, 0.0, 1.0, high_open=True, help="momentum (V) coefficient"),
        weight_decay(decoupled=True),
    )
    state_names = ("V",)
    decoupled_decay = True
    fused = True

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        beta1, beta2 = self.beta1, self.beta2
        V = state["V"]
        # c = (beta1*V) + ((1-beta1)*dw); w = w - lr*sign(c)
        c = beta1 * V + (1 - beta1) * g
        p -= self.lr * np.sign(c)
        # V = (beta2*V) + ((1-beta2)*dw)
        V *= beta2
        V += (1 - beta2) * g

    def _fused_kernel(self, kernels, parallel: bool):
        return kernels.lion_kernel(self._decay_mode(kernels), parallel)

    def _fused_scalars(self) -> tuple:
        keep = 1 - self.lr * self.weight_decay
        return (self.lr, self.beta1, 1 - self.beta1, self.beta2, 1 - self.beta2, keep)

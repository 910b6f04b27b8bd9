"""Gradient descent and gradient descent with momentum (the notes' exponential moving average).

Full-batch, mini-batch and stochastic gradient descent are one algorithm here: the caller chooses the
batch that the gradient is computed on. :class:`Momentum` defaults to the notes' exponential moving
average of the gradients and also speaks PyTorch's heavy-ball convention (``form="heavy_ball"``), with
dampening and Nesterov's variant. ``docs/conventions.md`` lists the settings that reproduce PyTorch,
Keras and optax exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import GradstepError
from .base import Optimizer, register
from .hyperparameters import choice, flag, learning_rate, real, weight_decay

__all__ = ["SGD", "Momentum"]

MOMENTUM_FORMS = ("ema", "heavy_ball")


@register
class SGD(Optimizer):
    r"""Plain gradient descent: step against the gradient, scaled by the learning rate.

    Update rule, for each parameter :math:`w` with gradient :math:`dw`:

    .. math::  w \leftarrow w - \alpha \, dw

    Symbols: :math:`\alpha` = ``lr``; :math:`dw` is the gradient passed to :meth:`step`, plus
    ``weight_decay * w`` when ``weight_decay > 0`` (coupled L2 decay, as ``torch.optim.SGD``).

    Whether this is full-batch, mini-batch or stochastic gradient descent depends only on how many
    examples the caller averages the gradient over.

    PyTorch (``torch.optim.SGD(momentum=0)``), Keras 3 (``keras.optimizers.SGD(momentum=0.0)``) and
    optax (``optax.sgd(momentum=None)``) compute the same update. Keras's ``weight_decay`` is decoupled
    (``w -= lr * wd * w`` before the step), which for plain gradient descent is the same rule.

    ``backend`` (keyword-only) chooses how the step is computed: ``"auto"`` (default) the fused numba
    kernel when numba imports, ``"numpy"`` the reference above, ``"numba"`` the kernel; both give
    the same bits (see :mod:`gradstep.optim.base`). It is not a hyperparameter and not saved.

    Example:

    >>> import numpy as np
    >>> from gradstep.optim import SGD
    >>> w = np.array([1.0, -2.0])
    >>> opt = SGD([w], lr=0.1)
    >>> opt.step([np.array([0.5, -1.0])])
    >>> w
    array([ 0.95, -1.9 ])
    """

    name = "sgd"
    hyperparameters = (learning_rate(0.05), weight_decay())
    fused = True

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        p -= self.lr * g

    def _fused_kernel(self, kernels, parallel: bool):
        return kernels.sgd_kernel(self._decay_mode(kernels), parallel)

    def _fused_scalars(self) -> tuple:
        return (self.lr, self.weight_decay)


@register
class Momentum(Optimizer):
    r"""Gradient descent with momentum: step along a running average of the gradients.

    Default, ``form="ema"`` (the notes: an exponential moving average of the gradients, ``V_0 = 0``):

    .. math::

        V &\leftarrow \beta V + (1 - \beta)\, dw \\
        w &\leftarrow w - \alpha V

    ``form="heavy_ball"`` (Polyak's heavy ball as ``torch.optim.SGD`` writes it, dampening :math:`\tau`):

    .. math::

        V &\leftarrow \begin{cases} dw & t = 1 \\ \beta V + (1 - \tau)\, dw & t > 1 \end{cases} \\
        w &\leftarrow w - \alpha V

    ``nesterov=True`` steps along the look-ahead direction instead of :math:`V` (after updating
    :math:`V`): :math:`dw + \beta V` in the heavy-ball form (PyTorch's), and :math:`(1 - \beta)\, dw +
    \beta V` in the EMA form, the same direction scaled by :math:`1 - \beta`, consistently with how the
    EMA scales the gradient.

    Symbols: :math:`\alpha` = ``lr``, :math:`\beta` = ``beta`` (PyTorch, Keras and optax call it
    ``momentum``), :math:`\tau` = ``dampening`` (heavy-ball form only), :math:`t` the step number
    (``self.t``), :math:`V` the state ``"V"`` (PyTorch's ``momentum_buffer``), :math:`dw` the gradient
    plus ``weight_decay * w`` (coupled L2 decay).

    The two forms are one algorithm with a different learning rate: with ``V_0 = 0`` the EMA is
    :math:`(1 - \beta)` times the heavy-ball buffer, so ``Momentum(lr, beta)`` equals
    ``Momentum(lr * (1 - beta), beta, form="heavy_ball")`` in exact arithmetic (up to rounding).
    The EMA's first step is :math:`(1 - \beta)` times smaller than a plain gradient step (no bias
    correction, as in the notes); the heavy ball's first step is a plain gradient step because PyTorch
    starts its buffer at the first gradient, not at zero (with dampening, the first step is undamped).

    Where the frameworks differ:

    - PyTorch ``torch.optim.SGD(lr, momentum=beta, dampening, nesterov)`` is ``form="heavy_ball"``
      exactly; it rejects ``nesterov`` with zero momentum or nonzero dampening, and so does gradstep.
    - Keras 3 ``SGD(momentum=m)`` keeps ``v = m*v - lr*g; w += v`` with ``v_0 = 0``: with a constant
      learning rate this is the heavy ball (dampening 0), Nesterov included; when the learning rate
      changes, Keras's velocity carries the old rates while PyTorch's (and gradstep's) buffer is scaled
      by the current one.
    - optax ``sgd(momentum=m, nesterov)`` keeps ``trace = g + m * trace`` from zero, scaled by the
      current learning rate: the heavy ball with dampening 0, exactly.

    References: B. T. Polyak, "Some methods of speeding up the convergence of iteration methods",
    USSR Comp. Math. and Math. Physics, 1964. I. Sutskever, J. Martens, G. Dahl, G. Hinton, "On the
    importance of initialization and momentum in deep learning", ICML 2013 (Nesterov's momentum in
    this form).

    ``backend`` (keyword-only) chooses how the step is computed: ``"auto"`` (default) the fused numba
    kernel when numba imports, ``"numpy"`` the reference above, ``"numba"`` the kernel; both give
    the same bits (see :mod:`gradstep.optim.base`). It is not a hyperparameter and not saved.

    Example (the notes' form: the first step is 1 - beta = 0.1 of a gradient step):

    >>> import numpy as np
    >>> from gradstep.optim import Momentum
    >>> w = np.array([1.0, -2.0])
    >>> opt = Momentum([w], lr=0.1, beta=0.9)
    >>> opt.step([np.array([0.5, -1.0])])
    >>> w
    array([ 0.995, -1.99 ])
    >>> opt.state["V"][0]
    array([ 0.05, -0.1 ])
    """

    name = "momentum"
    hyperparameters = (
        learning_rate(0.05),
        real("beta", 0.9, 0.0, 1.0, high_open=True, help="momentum: the moving average's coefficient"),
        choice("form", "ema", MOMENTUM_FORMS, help="momentum form: ema (the notes) or heavy_ball (PyTorch)"),
        flag("nesterov", False, help="Nesterov's look-ahead momentum"),
        real("dampening", 0.0, 0.0, 1.0, help="heavy-ball dampening (PyTorch's)"),
        weight_decay(),
    )
    state_names = ("V",)
    fused = True

    @classmethod
    def _check_combination(cls, hp: dict[str, Any]) -> None:
        if hp["dampening"] and hp["form"] == "ema":
            raise GradstepError(
                "Argument `dampening` must be 0 with form='ema' (the moving average already scales the "
                f"gradient by 1 - beta); use form='heavy_ball'. Received: dampening={hp['dampening']!r}"
            )
        if hp["nesterov"] and hp["beta"] == 0.0:
            raise GradstepError(
                "Nesterov momentum needs a momentum: argument `beta` must be in (0, 1) when nesterov=True. "
                f"Received: beta={hp['beta']!r}"
            )
        if hp["nesterov"] and hp["dampening"]:
            raise GradstepError(
                "Nesterov momentum needs zero dampening, as in torch.optim.SGD: argument `dampening` must "
                f"be 0 when nesterov=True. Received: dampening={hp['dampening']!r}"
            )

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        lr, beta = self.lr, self.beta
        V = state["V"]
        if self.form == "ema":
            # V = beta*V + (1-beta)*dw, computed as (beta*V) + ((1-beta)*dw)
            V *= beta
            V += (1 - beta) * g
            direction = (1 - beta) * g + beta * V if self.nesterov else V
        else:
            if self.t == 1:
                V[...] = g  # PyTorch starts the buffer at the first gradient, undamped
            else:
                # V = beta*V + (1-dampening)*dw, computed as (beta*V) + ((1-dampening)*dw)
                V *= beta
                V += (1 - self.dampening) * g
            direction = g + beta * V if self.nesterov else V
        # w = w - lr*direction, computed as w - (lr*direction)
        p -= lr * direction

    def _fused_kernel(self, kernels, parallel: bool):
        return kernels.momentum_kernel(self.nesterov, self._decay_mode(kernels), parallel)

    def _fused_scalars(self) -> tuple:
        # One kernel for both forms: V = beta*V + c*dw, Nesterov direction cg*dw + beta*V.
        ema = self.form == "ema"
        c = 1 - self.beta if ema else 1 - self.dampening
        cg = 1 - self.beta if ema else 1.0
        first = 1.0 if not ema and self.t == 1 else 0.0
        return (self.lr, self.beta, c, cg, self.weight_decay, first)

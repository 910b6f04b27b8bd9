r"""Schedule-Free SGD and AdamW: train at an interpolation y, evaluate at the running average x.

Defazio et al. replace the learning-rate schedule by an average. Three sequences, with :math:`z_1 =
x_1 = w_0` (the starting parameters) and :math:`\beta` the interpolation (the "momentum"):

.. math::

    y_t &= (1 - \beta)\, z_t + \beta\, x_t \quad \text{(the gradient is computed here)} \\
    z_{t+1} &= z_t - \gamma_t\, u_t \quad (u_t = \text{the base optimizer's direction at } y_t) \\
    x_{t+1} &= (1 - c_{t+1})\, x_t + c_{t+1}\, z_{t+1}, \qquad
        c_{t+1} = \frac{w_t}{\sum_{i \le t} w_i}, \quad w_t = t^r\, (\max_{i \le t} \gamma_i)^{p}

:math:`\gamma_t` is the learning rate times the linear warmup :math:`\min(1, t/T_w)`. The parameters
hold :math:`y` during training; :math:`x` is never stored: it is eliminated as the ``schedulefree``
package does, by updating :math:`y` directly,

.. math::  y \leftarrow \mathrm{lerp}(y, z, c) + \gamma\, (\beta (1 - c) - 1)\, u,
    \qquad z \leftarrow z - \gamma\, u

(exact algebra from the three lines above), and recovered for evaluation as
:math:`x = (y - (1 - \beta) z) / \beta = \mathrm{lerp}(y, z, 1 - 1/\beta)`. So evaluate inside
:meth:`ScheduleFree.eval_parameters`, which puts :math:`x` in the parameters and the exact bits of
:math:`y` back afterwards: in a training loop, compute validation losses and the final model's
predictions inside it, and keep stepping outside it (``fit()`` evaluates the parameters as they are:
wrap its evaluation, or evaluate after training inside the block).

Reference: A. Defazio, X. Yang, H. Mehta, K. Mishchenko, A. Khaled, A. Cutkosky, "The road less
scheduled", NeurIPS 2024 (arXiv:2405.15682); code: the ``schedulefree`` package
(github.com/facebookresearch/schedule_free), whose ``SGDScheduleFree`` and ``AdamWScheduleFree``
these follow operation by operation.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from .._validation import GradstepError
from .base import Optimizer, register
from .hyperparameters import integer, learning_rate, real, weight_decay
from .muon import lerp

__all__ = ["ScheduleFree", "SGDScheduleFree", "AdamWScheduleFree"]

_SCHEDULE = (
    integer("warmup", 0, 0, help="Schedule-Free: linear warmup over this many steps (package: warmup_steps)"),
    real("r", 0.0, 0.0, help="Schedule-Free: the average's weights grow as t**r"),
    real("weight_lr_power", 2.0, 0.0, help="Schedule-Free: the average's weights are lr_max**power"),
)


class ScheduleFree(Optimizer):
    """The part both Schedule-Free optimizers share: z, the average's scalars, evaluation at x."""

    #: Optimizer-wide scalars: the sum of the average's weights and the largest rate seen so far.
    scalar_names = ("weight_sum", "lr_max")
    #: State arrays that start at the parameters instead of at zero (z_1 = w_0).
    starts_at_params: ClassVar[tuple[str, ...]] = ("z",)

    def __init__(self, params: Iterable[np.ndarray], *args: Any, backend: str = "auto", **kwargs: Any):
        super().__init__(params, *args, backend=backend, **kwargs)
        for z, p in zip(self.state["z"], self.params, strict=True):
            z[...] = p
        self._gamma = self._c = 0.0  # this step's rate and averaging weight (set by step())

    @property
    def interpolation(self) -> float:
        """:math:`\\beta`, where y sits between z (0) and x (1)."""
        raise NotImplementedError

    @classmethod
    def scheduled_lr(cls, hp: Mapping[str, Any], t: int) -> float:
        """:math:`\\gamma_t`: the rate of step ``t`` after warmup (and, for AdamW, bias correction)."""
        return hp["lr"] * (t / hp["warmup"] if t <= hp["warmup"] else 1.0)

    @classmethod
    def advance(
        cls, hp: Mapping[str, Any], t: int, scalars: Mapping[str, float]
    ) -> tuple[float, float, dict[str, float]]:
        """Step ``t``'s rate :math:`\\gamma_t`, averaging weight :math:`c` and new scalars, from the
        hyperparameters ``hp`` and the scalars before it (shared with the torch twin, per group)."""
        gamma = cls.scheduled_lr(hp, t)
        lr_max = max(gamma, scalars["lr_max"])
        weight = t ** hp["r"] * lr_max ** hp["weight_lr_power"]
        weight_sum = scalars["weight_sum"] + weight
        # c = w_t / sum w (0 while every weight is 0: a zero rate moves nothing)
        c = weight / weight_sum if weight_sum else 0.0
        return gamma, c, {"weight_sum": weight_sum, "lr_max": lr_max}

    def step(self, grads: Sequence[np.ndarray]) -> None:
        """Apply one update to every parameter (y), in place, from ``grads`` computed at y."""
        grads = self._check_grads(grads)  # before the scalars change
        self._gamma, self._c, self.scalars = self.advance(self.hyperparams(), self.t + 1, self.scalars)
        super().step(grads)

    def _interpolate(self, p: np.ndarray, z: np.ndarray, u: np.ndarray) -> None:
        """``y = lerp(y, z, c) + gamma*(beta*(1-c) - 1)*u;  z = z - gamma*u``."""
        gamma, c = self._gamma, self._c
        p[...] = lerp(p, z, c)
        p += (gamma * (self.interpolation * (1 - c) - 1)) * u
        z -= gamma * u

    def _fused_lerp_scalars(self) -> tuple:
        # The branch of lerp is chosen on the double-precision c, as the reference does.
        c = self._c
        return (
            c,
            1 - c,
            1.0 if c < 0.5 else 0.0,
            self._gamma * (self.interpolation * (1 - c) - 1),
            self._gamma,
        )

    def evaluation_parameters(self) -> contextlib.AbstractContextManager:
        """Evaluation sees the average x (:meth:`eval_parameters`), except with ``beta=0``, where x cannot
        be recovered from the parameters and evaluation sees y = z."""
        return contextlib.nullcontext() if self.interpolation == 0 and self.t else self.eval_parameters()

    @contextlib.contextmanager
    def eval_parameters(self) -> Iterator[None]:
        """Inside the block the parameters hold the average x; afterwards exactly the y they held."""
        beta = self.interpolation
        if beta == 0 and self.t:
            raise GradstepError(
                "eval_parameters() needs an interpolation beta > 0: with beta=0 the parameters are z and "
                "the average x cannot be recovered from them. Received: beta=0.0"
            )
        saved = [p.copy() for p in self.params]
        try:
            for p, z in zip(self.params, self.state["z"], strict=True):
                # x = (y - (1-beta)*z)/beta, as the package's lerp(y, z, 1 - 1/beta)
                p[...] = lerp(p.astype(z.dtype), z, 1 - 1 / beta) if self.t else p
            yield
        finally:
            for p, s in zip(self.params, saved, strict=True):
                p[...] = s


@register
class SGDScheduleFree(ScheduleFree):
    r"""Schedule-Free SGD: plain SGD steps on z, gradients at y, the average x for evaluation.

    The rule of :mod:`gradstep.optim.schedulefree` with :math:`u = dw = g + \lambda y` (coupled L2
    decay at y, as the package), so each step is

    .. math::

        y \leftarrow \mathrm{lerp}(y, z, c) + \gamma(\beta(1 - c) - 1)\, dw, \qquad
        z \leftarrow z - \gamma\, dw

    Symbols: :math:`\gamma` = ``lr`` (times the warmup :math:`\min(1, t/T_w)`), :math:`\beta` =
    ``beta`` (the package's ``momentum``), :math:`T_w` = ``warmup`` (the package's ``warmup_steps``;
    the command line's ``--warmup-steps`` is the run's schedule), :math:`r` = ``r``, :math:`p` =
    ``weight_lr_power``, :math:`\lambda` = ``weight_decay``. State: ``"z"`` (starts at the
    parameters) and the scalars ``weight_sum`` and ``lr_max`` (:meth:`state_dict` saves them). With
    :math:`\beta = 0`, y = z and training is plain SGD (then x, the average, is not recoverable, and
    :meth:`eval_parameters` says so); with :math:`\beta \to 1`, y approaches x (primal averaging).

    Where the frameworks differ: the package (``SGDScheduleFree(lr=1.0, momentum=0.9)``) requires
    :math:`0 < \beta < 1`, keeps ``k``, ``weight_sum``, ``lr_max`` (starting at -1; gradstep at 0, the
    same since rates are >= 0) and ``train_mode`` in each parameter group, and swaps x in and out with
    ``optimizer.eval()`` / ``optimizer.train()`` (lerps that round y back only approximately; gradstep
    saves its bits). optax's ``schedule_free_sgd`` has the same rule with its own defaults. torch.optim
    has none.

    Fast path: a fused kernel (``_kernels.sgd_schedulefree_kernel``), bit-identical to this reference.

    Example (the first step: c = 1, so y = z - lr*g, the SGD step):

    >>> import numpy as np
    >>> from gradstep.optim import SGDScheduleFree
    >>> w = np.array([1.0, -2.0])
    >>> opt = SGDScheduleFree([w], lr=0.1, beta=0.9)
    >>> opt.step([np.array([1.0, 1.0])])
    >>> w, opt.state["z"][0], opt.scalars
    (array([ 0.9, -2.1]), array([ 0.9, -2.1]), {'weight_sum': 0.010000000000000002, 'lr_max': 0.1})
    >>> opt.step([np.array([1.0, 1.0])])  # c = 1/2: z = (0.8, -2.2), x = (x + z)/2, y = 0.1 z + 0.9 x
    >>> with opt.eval_parameters():
    ...     print(np.round(w, 6))
    [ 0.85 -2.15]
    >>> np.round(w, 6)
    array([ 0.845, -2.155])
    """

    name = "sgd_schedulefree"
    hyperparameters = (
        learning_rate(1.0),
        real("beta", 0.9, 0.0, 1.0, high_open=True, help="Schedule-Free: y's interpolation between z and x"),
        *_SCHEDULE,
        weight_decay(),
    )
    state_names = ("z",)
    fused = True

    @property
    def interpolation(self) -> float:
        return self.beta

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        self._interpolate(p, state["z"], g)

    def _fused_kernel(self, kernels, parallel: bool):
        return kernels.sgd_schedulefree_kernel(self._decay_mode(kernels), parallel)

    def _fused_scalars(self) -> tuple:
        return (*self._fused_lerp_scalars(), self.weight_decay)


@register
class AdamWScheduleFree(ScheduleFree):
    r"""Schedule-Free AdamW: Adam-normalized steps on z, gradients at y, the average x for evaluation.

    The rule of :mod:`gradstep.optim.schedulefree` with the direction

    .. math::

        S &\leftarrow \beta_2 S + (1 - \beta_2)\, g^2, \qquad
            u = g / (\sqrt S + \epsilon) + \lambda y \\
        \gamma_t &= \alpha\, \min(1, t/T_w)\, \sqrt{1 - \beta_2^t}

    The second moment's bias correction is folded into the rate (the package's form, Adam's "hat"
    epsilon): :math:`\gamma_t u` equals :math:`\alpha\,\hat g / (\sqrt{\hat S} + \epsilon')` with
    :math:`\hat S = S/(1 - \beta_2^t)`, :math:`\epsilon' = \epsilon / \sqrt{1 - \beta_2^t}`. Because
    :math:`\gamma_t` is the rate, it also sets ``lr_max`` and the average's weights. The decay
    :math:`\lambda y` is added to the normalized gradient (neither L2 through :math:`S` nor AdamW's
    shrink): it enters both the y and the z updates. There is no first moment: :math:`\beta_1` is
    the interpolation, and the average plays momentum's part.

    Symbols: :math:`\alpha` = ``lr``, :math:`\beta_1` = ``beta1`` (the interpolation), :math:`\beta_2`
    = ``beta2``, :math:`\epsilon` = ``eps``, :math:`T_w` = ``warmup`` (the package's ``warmup_steps``),
    :math:`r`, ``weight_lr_power`` and :math:`\lambda` = ``weight_decay`` as in :class:`SGDScheduleFree`.
    State: ``"z"``, ``"S"`` (the package's ``exp_avg_sq``) and the scalars ``weight_sum``, ``lr_max``.
    With :math:`\beta_1 = 0` training on y = z is Adam with ``beta1=0`` in its ``"hat"`` form.

    Where the frameworks differ: the package's ``AdamWScheduleFree(lr=0.0025, betas=(0.9, 0.999),
    eps=1e-8)`` (current version; earlier releases divided :math:`S` by the correction instead of
    scaling the rate, which changes ``lr_max``); optax's ``schedule_free_adamw`` is the same algorithm
    with its own defaults and warmup. torch.optim has none.

    Fast path: a fused kernel (``_kernels.adamw_schedulefree_kernel``), bit-identical to this reference.

    Example (the first step: c = 1, u = sign(g)/sqrt(1 - beta2) and the rate lr*sqrt(1 - beta2), so
    y = z = w - lr*sign(g), Adam's first step):

    >>> import numpy as np
    >>> from gradstep.optim import AdamWScheduleFree
    >>> w = np.array([1.0, -2.0])
    >>> opt = AdamWScheduleFree([w], lr=0.1)
    >>> opt.step([np.array([0.5, -100.0])])
    >>> np.round(w, 6)
    array([ 0.9, -1.9])
    """

    name = "adamw_schedulefree"
    hyperparameters = (
        learning_rate(0.0025),
        real("beta1", 0.9, 0.0, 1.0, high_open=True, help="Schedule-Free: y's interpolation between z and x"),
        real("beta2", 0.999, 0.0, 1.0, high_open=True, help="second-moment (S) coefficient"),
        real("eps", 1e-8, 0.0, low_open=True, help="epsilon, added to sqrt(S)"),
        *_SCHEDULE,
        real("weight_decay", 0.0, 0.0, help="weight decay (at y, added to the normalized gradient)"),
    )
    state_names = ("z", "S")
    decay_in_update = True
    fused = True

    @property
    def interpolation(self) -> float:
        return self.beta1

    @classmethod
    def scheduled_lr(cls, hp: Mapping[str, Any], t: int) -> float:
        return super().scheduled_lr(hp, t) * math.sqrt(1 - hp["beta2"] ** t)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        beta2, S = self.beta2, state["S"]
        # S = beta2*S + (1-beta2)*g^2;  u = g/(sqrt(S) + eps) + wd*y
        S *= beta2
        S += (1 - beta2) * (g * g)
        u = g / (np.sqrt(S) + self.eps)
        if self.weight_decay:
            u += self.weight_decay * p
        self._interpolate(p, state["z"], u)

    def _fused_kernel(self, kernels, parallel: bool):
        return kernels.adamw_schedulefree_kernel(bool(self.weight_decay), parallel)

    def _fused_scalars(self) -> tuple:
        beta2 = self.beta2
        return (*self._fused_lerp_scalars(), beta2, 1 - beta2, self.eps, self.weight_decay)

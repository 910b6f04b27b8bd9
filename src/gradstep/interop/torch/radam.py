"""RAdam and RAdamW as torch optimizers: :class:`gradstep.optim.RAdam` and ``RAdamW``.

The formulas, symbols and the comparison with ``torch.optim.RAdam`` are in the NumPy classes'
docstrings; these classes evaluate them in the same order (see :mod:`.base`).
"""

from __future__ import annotations

import torch

from ...optim import radam as np_radam
from .base import Optimizer, foreach_scaled, register
from .blocks import foreach_lerp_moments

__all__ = ["RAdam", "RAdamW"]


@register
class RAdam(Optimizer):
    r"""RAdam, :class:`gradstep.optim.RAdam` as a ``torch.optim.Optimizer``.

    Adam's moments; while :math:`\rho_t \le 5` the step is :math:`\alpha \hat V`, afterwards the
    rectified :math:`\alpha \hat V \sqrt{c_2} / (\sqrt{S} + \epsilon) \cdot r_t`. ``RAdam(params, lr,
    beta1=b1, beta2=b2, eps, weight_decay)`` is ``torch.optim.RAdam(params, lr, betas=(b1, b2), eps,
    weight_decay)``. State: ``"V"`` (torch's ``exp_avg``), ``"S"`` (``exp_avg_sq``) and ``"step"``.

    >>> import torch
    >>> w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    >>> opt = RAdam([w], lr=0.1)
    >>> w.grad = torch.tensor([0.5, -10.0], dtype=torch.float64)
    >>> opt.step()
    >>> [round(x, 12) for x in w.detach().tolist()]
    [0.95, -1.0]
    """

    numpy_class = np_radam.RAdam

    def _update(self, p, g, state, group, t, tmp):
        lr, beta1, beta2, eps = group["lr"], group["beta1"], group["beta2"], group["eps"]
        V, S = state["V"], state["S"]
        a, b = tmp
        correction1, sqrt_c2, rect = np_radam.rectification(beta1, beta2, t)
        # V = V + (1-beta1)*(dw - V);  S = (beta2*S) + ((1-beta2)*dw)*dw
        V.add_(torch.sub(g, V, out=a).mul_(1 - beta1))
        S.mul_(beta2).add_(torch.mul(g, 1 - beta2, out=a).mul_(g))
        V_hat = torch.div(V, correction1, out=a)
        if rect is None:
            p.sub_(V_hat.mul_(lr))  # w = w - V_hat*lr
            return
        adaptive = torch.sqrt(S, out=b).add_(eps).reciprocal_().mul_(sqrt_c2)
        # w = w - ((V_hat*lr)*adaptive)*r_t
        p.sub_(V_hat.mul_(lr).mul_(adaptive).mul_(rect))

    def _update_foreach(self, ps, gs, states, group, ts, tmp):
        lr, beta1, beta2, eps = group["lr"], group["beta1"], group["beta2"], group["eps"]
        Vs, Ss = [s["V"] for s in states], [s["S"] for s in states]
        a, b = tmp
        scalars = [np_radam.rectification(beta1, beta2, t) for t in ts]
        foreach_lerp_moments(Vs, Ss, gs, beta1, beta2, a)
        steps = foreach_scaled(a, Vs, 1.0)
        torch._foreach_div_(steps, [c1 for c1, _, _ in scalars])
        torch._foreach_mul_(steps, lr)
        # Parameters at different step counts may be on either side of rho_t = 5.
        rectified = [i for i, (_, _, rect) in enumerate(scalars) if rect is not None]
        if rectified:
            adaptive = [b[i] for i in rectified]
            torch._foreach_copy_(adaptive, [Ss[i] for i in rectified])
            torch._foreach_sqrt_(adaptive)
            torch._foreach_add_(adaptive, eps)
            torch._foreach_reciprocal_(adaptive)
            torch._foreach_mul_(adaptive, [scalars[i][1] for i in rectified])
            rectified_steps = [steps[i] for i in rectified]
            torch._foreach_mul_(rectified_steps, adaptive)
            torch._foreach_mul_(rectified_steps, [scalars[i][2] for i in rectified])
        torch._foreach_sub_(ps, steps)


@register
class RAdamW(RAdam):
    r"""RAdam with decoupled weight decay, :class:`gradstep.optim.RAdamW` as a ``torch.optim.Optimizer``.

    :math:`w \leftarrow (1 - \alpha\lambda)\, w`, then the RAdam step: ``torch.optim.RAdam(...,
    decoupled_weight_decay=True)``. Every other argument and the state are :class:`RAdam`'s.

    >>> import torch
    >>> w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    >>> opt = RAdamW([w], lr=0.1, weight_decay=0.5)
    >>> w.grad = torch.zeros(2, dtype=torch.float64)
    >>> opt.step()
    >>> w.detach().tolist()
    [0.95, -1.9]
    """

    numpy_class = np_radam.RAdamW

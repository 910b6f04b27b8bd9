"""NAdam and NAdamW as torch optimizers: :class:`gradstep.optim.NAdam` and ``NAdamW``.

The formulas, symbols and the comparison with ``torch.optim.NAdam`` are in the NumPy classes'
docstrings; these classes evaluate them in the same order (see :mod:`.base`).
"""

from __future__ import annotations

import torch

from ...optim import nadam as np_nadam
from .base import Optimizer, foreach_scaled, register
from .blocks import foreach_lerp_moments

__all__ = ["NAdam", "NAdamW"]


@register
class NAdam(Optimizer):
    r"""NAdam, :class:`gradstep.optim.NAdam` as a ``torch.optim.Optimizer``.

    Adam's moments, :math:`D = \sqrt{S / (1 - \beta_2^t)} + \epsilon`, and a step along the gradient
    and the momentum with Dozat's schedule :math:`\mu_t`. ``NAdam(params, lr, beta1=b1, beta2=b2,
    eps, weight_decay, momentum_decay)`` is ``torch.optim.NAdam(params, lr, betas=(b1, b2), eps,
    weight_decay, momentum_decay)``, except that the product of the :math:`\mu` is a double here and
    torch's default-dtype scalar tensor there (see the NumPy class). State: ``"V"`` (torch's
    ``exp_avg``), ``"S"`` (``exp_avg_sq``) and ``"step"``; no ``mu_product``, which follows from
    ``step``.

    >>> import torch
    >>> w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    >>> opt = NAdam([w], lr=0.1)
    >>> w.grad = torch.tensor([0.5, -100.0], dtype=torch.float64)
    >>> opt.step()
    >>> [round(x, 4) for x in w.detach().tolist()]
    [0.8944, -1.8944]
    """

    numpy_class = np_nadam.NAdam

    @staticmethod
    def _coefficients(group, t: int) -> tuple[float, float, float]:
        lr, beta1, beta2, psi = group["lr"], group["beta1"], group["beta2"], group["momentum_decay"]
        return np_nadam.step_coefficients(float(lr), beta1, beta2, psi, t)

    def _update(self, p, g, state, group, t, tmp):
        beta1, beta2, eps = group["beta1"], group["beta2"], group["eps"]
        V, S = state["V"], state["S"]
        a, b = tmp
        correction2, coef_g, coef_v = self._coefficients(group, t)
        # V = V + (1-beta1)*(dw - V);  S = (beta2*S) + ((1-beta2)*dw)*dw
        V.add_(torch.sub(g, V, out=a).mul_(1 - beta1))
        S.mul_(beta2).add_(torch.mul(g, 1 - beta2, out=a).mul_(g))
        D = torch.div(S, correction2, out=b).sqrt_().add_(eps)
        # w = w - (coef_g*dw)/D, then w = w - (coef_v*V)/D
        p.sub_(torch.mul(g, coef_g, out=a).div_(D))
        p.sub_(torch.mul(V, coef_v, out=a).div_(D))

    def _update_foreach(self, ps, gs, states, group, ts, tmp):
        beta1, beta2, eps = group["beta1"], group["beta2"], group["eps"]
        Vs, Ss = [s["V"] for s in states], [s["S"] for s in states]
        a, b = tmp
        coefficients = [self._coefficients(group, t) for t in ts]
        foreach_lerp_moments(Vs, Ss, gs, beta1, beta2, a)
        Ds = foreach_scaled(b, Ss, 1.0)
        torch._foreach_div_(Ds, [c2 for c2, _, _ in coefficients])
        torch._foreach_sqrt_(Ds)
        torch._foreach_add_(Ds, eps)
        steps = foreach_scaled(a, gs, 1.0)
        torch._foreach_mul_(steps, [coef_g for _, coef_g, _ in coefficients])
        torch._foreach_div_(steps, Ds)
        torch._foreach_sub_(ps, steps)
        steps = foreach_scaled(a, Vs, 1.0)
        torch._foreach_mul_(steps, [coef_v for _, _, coef_v in coefficients])
        torch._foreach_div_(steps, Ds)
        torch._foreach_sub_(ps, steps)


@register
class NAdamW(NAdam):
    r"""NAdam with decoupled weight decay, :class:`gradstep.optim.NAdamW` as a ``torch.optim.Optimizer``.

    :math:`w \leftarrow (1 - \alpha\lambda)\, w`, then the NAdam step: ``torch.optim.NAdam(...,
    decoupled_weight_decay=True)``. Every other argument and the state are :class:`NAdam`'s.

    >>> import torch
    >>> w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    >>> opt = NAdamW([w], lr=0.1, weight_decay=0.5)
    >>> w.grad = torch.zeros(2, dtype=torch.float64)
    >>> opt.step()
    >>> w.detach().tolist()
    [0.95, -1.9]
    """

    numpy_class = np_nadam.NAdamW

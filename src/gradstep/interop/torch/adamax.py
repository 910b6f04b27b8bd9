"""Adamax as a torch optimizer: :class:`gradstep.optim.Adamax`.

The formula, symbols and the comparison with ``torch.optim.Adamax`` are in the NumPy class's
docstring; this class evaluates it in the same order (see :mod:`.base`).
"""

from __future__ import annotations

import torch

from ...optim import adamax as np_adamax
from .base import Optimizer, foreach_scaled, register

__all__ = ["Adamax"]


@register
class Adamax(Optimizer):
    r"""Adamax, :class:`gradstep.optim.Adamax` as a ``torch.optim.Optimizer``.

    :math:`V \leftarrow \beta_1 V + (1 - \beta_1)\, dw`, :math:`U \leftarrow \max(\beta_2 U, |dw| +
    \epsilon)`, :math:`w \leftarrow w - \alpha / (1 - \beta_1^t) \cdot V / U`: ``Adamax(params, lr,
    beta1=b1, beta2=b2, eps, weight_decay)`` is ``torch.optim.Adamax(params, lr, betas=(b1, b2), eps,
    weight_decay)``. State: ``"V"`` (torch's ``exp_avg``), ``"U"`` (``exp_inf``) and ``"step"``.

    >>> import torch
    >>> w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    >>> opt = Adamax([w], lr=0.1)
    >>> w.grad = torch.tensor([0.5, -100.0], dtype=torch.float64)
    >>> opt.step()
    >>> [round(x, 6) for x in w.detach().tolist()]
    [0.9, -1.9]
    """

    numpy_class = np_adamax.Adamax

    @staticmethod
    def _lr_t(group, t: int) -> float:
        return float(group["lr"]) / (1 - group["beta1"] ** t)

    def _update(self, p, g, state, group, t, tmp):
        beta1, beta2, eps = group["beta1"], group["beta2"], group["eps"]
        V, U = state["V"], state["U"]
        a, b = tmp
        # V = V + (1-beta1)*(dw - V)
        V.add_(torch.sub(g, V, out=a).mul_(1 - beta1))
        # U = max(beta2*U, |dw| + eps)
        torch.maximum(U.mul_(beta2), torch.abs(g, out=a).add_(eps), out=U)
        # w = w - (lr_t*V)/U
        p.sub_(torch.mul(V, self._lr_t(group, t), out=a).div_(U))

    def _update_foreach(self, ps, gs, states, group, ts, tmp):
        beta1, beta2, eps = group["beta1"], group["beta2"], group["eps"]
        Vs, Us = [s["V"] for s in states], [s["U"] for s in states]
        a, _ = tmp
        diffs = foreach_scaled(a, gs, 1.0)
        torch._foreach_sub_(diffs, Vs)
        torch._foreach_mul_(diffs, 1 - beta1)
        torch._foreach_add_(Vs, diffs)
        torch._foreach_mul_(Us, beta2)
        sizes = foreach_scaled(a, gs, 1.0)
        torch._foreach_abs_(sizes)
        torch._foreach_add_(sizes, eps)
        torch._foreach_maximum_(Us, sizes)
        steps = foreach_scaled(a, Vs, 1.0)
        torch._foreach_mul_(steps, [self._lr_t(group, t) for t in ts])
        torch._foreach_div_(steps, Us)
        torch._foreach_sub_(ps, steps)

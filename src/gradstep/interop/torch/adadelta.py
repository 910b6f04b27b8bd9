"""Adadelta as a torch optimizer: :class:`gradstep.optim.Adadelta`.

The formula, symbols and the comparison with ``torch.optim.Adadelta`` are in the NumPy class's
docstring; this class evaluates it in the same order (see :mod:`.base`).
"""

from __future__ import annotations

import torch

from ...optim import adadelta as np_adadelta
from .base import Optimizer, foreach_scaled, register

__all__ = ["Adadelta"]


@register
class Adadelta(Optimizer):
    r"""Adadelta, :class:`gradstep.optim.Adadelta` as a ``torch.optim.Optimizer``.

    :math:`S \leftarrow \rho S + (1 - \rho)\, dw^2`, :math:`\Delta = \sqrt{D + \epsilon} /
    \sqrt{S + \epsilon} \cdot dw`, :math:`D \leftarrow \rho D + (1 - \rho)\, \Delta^2`,
    :math:`w \leftarrow w - \alpha \Delta`: ``Adadelta(params, lr, rho, eps, weight_decay)`` is
    ``torch.optim.Adadelta`` with the same arguments. State: ``"S"`` (torch's ``square_avg``),
    ``"S_delta"`` (``acc_delta``) and ``"step"``.

    >>> import torch
    >>> w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    >>> opt = Adadelta([w])
    >>> w.grad = torch.tensor([0.5, -100.0], dtype=torch.float64)
    >>> opt.step()
    >>> [round(x, 5) for x in w.detach().tolist()]
    [0.99684, -1.99684]
    """

    numpy_class = np_adadelta.Adadelta

    def _update(self, p, g, state, group, t, tmp):
        lr, rho, eps = group["lr"], group["rho"], group["eps"]
        S, S_delta = state["S"], state["S_delta"]
        a, b = tmp
        # S = (rho*S) + ((1-rho)*dw)*dw
        S.mul_(rho).add_(torch.mul(g, 1 - rho, out=a).mul_(g))
        # delta = (sqrt(S_delta + eps)/sqrt(S + eps))*dw
        delta = torch.add(S_delta, eps, out=a).sqrt_().div_(torch.add(S, eps, out=b).sqrt_()).mul_(g)
        # S_delta = (rho*S_delta) + ((1-rho)*delta)*delta
        S_delta.mul_(rho).add_(torch.mul(delta, 1 - rho, out=b).mul_(delta))
        # w = w - lr*delta
        p.sub_(delta.mul_(lr))

    def _update_foreach(self, ps, gs, states, group, ts, tmp):
        lr, rho, eps = group["lr"], group["rho"], group["eps"]
        Ss, S_deltas = [s["S"] for s in states], [s["S_delta"] for s in states]
        a, b = tmp
        torch._foreach_mul_(Ss, rho)
        squares = foreach_scaled(a, gs, 1 - rho)
        torch._foreach_mul_(squares, gs)
        torch._foreach_add_(Ss, squares)
        deltas = foreach_scaled(a, S_deltas, 1.0)
        torch._foreach_add_(deltas, eps)
        torch._foreach_sqrt_(deltas)
        stds = foreach_scaled(b, Ss, 1.0)
        torch._foreach_add_(stds, eps)
        torch._foreach_sqrt_(stds)
        torch._foreach_div_(deltas, stds)
        torch._foreach_mul_(deltas, gs)
        torch._foreach_mul_(S_deltas, rho)
        squares = foreach_scaled(b, deltas, 1 - rho)
        torch._foreach_mul_(squares, deltas)
        torch._foreach_add_(S_deltas, squares)
        torch._foreach_mul_(deltas, lr)
        torch._foreach_sub_(ps, deltas)

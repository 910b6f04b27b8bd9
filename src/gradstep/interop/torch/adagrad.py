"""Adagrad as a torch optimizer: :class:`gradstep.optim.Adagrad`.

The formula, symbols and the comparison with ``torch.optim.Adagrad`` are in the NumPy class's
docstring; this class evaluates it in the same order (see :mod:`.base`).
"""

from __future__ import annotations

import torch

from ...optim import adagrad as np_adagrad
from .base import Optimizer, foreach_scaled, register

__all__ = ["Adagrad"]


@register
class Adagrad(Optimizer):
    r"""Adagrad, :class:`gradstep.optim.Adagrad` as a ``torch.optim.Optimizer``.

    :math:`S \leftarrow S + dw^2`, :math:`w \leftarrow w - \alpha_t\, dw / (\sqrt{S} + \epsilon)` with
    :math:`\alpha_t = \alpha / (1 + (t - 1)\,\eta)`. With the default ``eps_in_sqrt=False`` this is
    ``torch.optim.Adagrad`` with the same arguments (``lr, lr_decay, weight_decay,
    initial_accumulator_value, eps``). State: ``"S"`` (torch's ``sum``, starting at
    ``initial_accumulator_value``) and ``"step"``.

    >>> import torch
    >>> w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    >>> opt = Adagrad([w], lr=0.1)
    >>> w.grad = torch.tensor([0.5, -100.0], dtype=torch.float64)
    >>> opt.step()
    >>> [round(x, 6) for x in w.detach().tolist()]
    [0.9, -1.9]
    """

    numpy_class = np_adagrad.Adagrad

    def _init_state(self, p, group):
        fresh = not self.state[p]
        state = super()._init_state(p, group)
        if fresh:  # the sum starts at its initial value, as torch.optim.Adagrad's
            state["S"].fill_(group["initial_accumulator_value"])
        return state

    @staticmethod
    def _lr_t(group, t: int) -> float:
        return float(group["lr"]) / (1 + (t - 1) * group["lr_decay"])

    def _update(self, p, g, state, group, t, tmp):
        S, eps = state["S"], group["eps"]
        a, b = tmp
        # S = S + dw*dw
        S.add_(torch.mul(g, g, out=a))
        if group["eps_in_sqrt"]:
            denom = torch.add(S, eps, out=b).sqrt_()
        else:
            denom = torch.sqrt(S, out=b).add_(eps)
        # w = w - (lr_t*dw)/denom
        p.sub_(torch.mul(g, self._lr_t(group, t), out=a).div_(denom))

    def _update_foreach(self, ps, gs, states, group, ts, tmp):
        eps = group["eps"]
        a, b = tmp
        Ss = [s["S"] for s in states]
        squares = foreach_scaled(a, gs, 1.0)
        torch._foreach_mul_(squares, gs)
        torch._foreach_add_(Ss, squares)
        denoms = foreach_scaled(b, Ss, 1.0)
        if group["eps_in_sqrt"]:
            torch._foreach_add_(denoms, eps)
            torch._foreach_sqrt_(denoms)
        else:
            torch._foreach_sqrt_(denoms)
            torch._foreach_add_(denoms, eps)
        steps = foreach_scaled(a, gs, 1.0)
        torch._foreach_mul_(steps, [self._lr_t(group, t) for t in ts])
        torch._foreach_div_(steps, denoms)
        torch._foreach_sub_(ps, steps)

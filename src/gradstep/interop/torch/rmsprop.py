"""RMSprop as a torch optimizer: :class:`gradstep.optim.RMSprop`, epsilon inside the root by default.

The formulas, symbols and the comparison with ``torch.optim.RMSprop`` are in the NumPy class's
docstring; this class evaluates them in the same order (see :mod:`.base`).
"""

from __future__ import annotations

import torch

from ...optim import rmsprop as np_rmsprop
from .base import Optimizer, foreach_scaled, register

__all__ = ["RMSprop"]


@register
class RMSprop(Optimizer):
    r"""RMSprop, :class:`gradstep.optim.RMSprop` as a ``torch.optim.Optimizer``.

    Default (the notes): :math:`S \leftarrow \beta S + (1 - \beta)\, dw^2`,
    :math:`w \leftarrow w - \alpha\, dw / \sqrt{S + \epsilon}`. ``eps_in_sqrt=False`` divides by
    :math:`\sqrt{S} + \epsilon`: then ``RMSprop(params, lr, beta=a, eps=e, eps_in_sqrt=False,
    centered, momentum)`` equals ``torch.optim.RMSprop(params, lr, alpha=a, eps=e, centered,
    momentum)``. Note the defaults differ from torch's (``lr=0.001, beta=0.9`` against
    ``lr=0.01, alpha=0.99``). State: ``"S"``, ``"V"`` (when ``centered``), ``"buf"`` (when
    ``momentum > 0``) and ``"step"``.

    >>> import torch
    >>> w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    >>> opt = RMSprop([w], lr=0.01, beta=0.9)
    >>> w.grad = torch.tensor([0.5, -100.0], dtype=torch.float64)
    >>> opt.step()
    >>> [round(x, 6) for x in w.detach().tolist()]
    [0.968377, -1.968377]
    """

    numpy_class = np_rmsprop.RMSprop

    def _update(self, p, g, state, group, t, tmp):
        lr, beta, eps, S = group["lr"], group["beta"], group["eps"], state["S"]
        a, b = tmp
        # S = beta*S + (1-beta)*dw^2
        S.mul_(beta).add_(torch.mul(g, g, out=a).mul_(1 - beta))
        if group["centered"]:
            V = state["V"]
            # V = V + (1-beta)*(dw - V), torch's lerp order (see the NumPy class); then S - V^2
            V.add_(torch.sub(g, V, out=a).mul_(1 - beta))
            denom = torch.sub(S, torch.mul(V, V, out=b), out=b)
        else:
            denom = b.copy_(S)
        if group["eps_in_sqrt"]:
            denom.add_(eps).sqrt_()
        else:
            denom.sqrt_().add_(eps)
        if group["momentum"]:
            buf = state["buf"]
            # buf = mu*buf + dw/denom; w = w - lr*buf
            buf.mul_(group["momentum"]).add_(torch.div(g, denom, out=a))
            p.sub_(torch.mul(buf, lr, out=a))
        else:
            # w = w - (lr*dw)/denom
            p.sub_(torch.mul(g, lr, out=a).div_(denom))

    def _update_foreach(self, ps, gs, states, group, ts, tmp):
        lr, beta, eps = group["lr"], group["beta"], group["eps"]
        a, b = tmp
        Ss = [s["S"] for s in states]
        torch._foreach_mul_(Ss, beta)
        squares = foreach_scaled(a, gs, 1.0)
        torch._foreach_mul_(squares, gs)
        torch._foreach_mul_(squares, 1 - beta)
        torch._foreach_add_(Ss, squares)
        if group["centered"]:
            Vs = [s["V"] for s in states]
            diffs = foreach_scaled(a, gs, 1.0)
            torch._foreach_sub_(diffs, Vs)
            torch._foreach_mul_(diffs, 1 - beta)
            torch._foreach_add_(Vs, diffs)
            denoms = foreach_scaled(b, Vs, 1.0)
            torch._foreach_mul_(denoms, Vs)
            torch._foreach_neg_(denoms)
            torch._foreach_add_(denoms, Ss)  # -(V*V) + S, exactly S - V*V
        else:
            denoms = foreach_scaled(b, Ss, 1.0)
        if group["eps_in_sqrt"]:
            torch._foreach_add_(denoms, eps)
            torch._foreach_sqrt_(denoms)
        else:
            torch._foreach_sqrt_(denoms)
            torch._foreach_add_(denoms, eps)
        if group["momentum"]:
            bufs = [s["buf"] for s in states]
            torch._foreach_mul_(bufs, group["momentum"])
            ratios = foreach_scaled(a, gs, 1.0)
            torch._foreach_div_(ratios, denoms)
            torch._foreach_add_(bufs, ratios)
            torch._foreach_sub_(ps, foreach_scaled(a, bufs, lr))
        else:
            steps = foreach_scaled(a, gs, lr)
            torch._foreach_div_(steps, denoms)
            torch._foreach_sub_(ps, steps)

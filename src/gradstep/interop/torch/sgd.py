"""Gradient descent and momentum as torch optimizers: :class:`gradstep.optim.SGD` and ``Momentum``.

The formulas, symbols and the comparison with ``torch.optim.SGD`` are in the NumPy classes'
docstrings; these classes evaluate them in the same order (see :mod:`.base`).
"""

from __future__ import annotations

import torch

from ...optim import sgd as np_sgd
from .base import Optimizer, foreach_scaled, register

__all__ = ["SGD", "Momentum"]


@register
class SGD(Optimizer):
    r"""Plain gradient descent, :math:`w \leftarrow w - \alpha\, dw`, as a ``torch.optim.Optimizer``.

    :class:`gradstep.optim.SGD` (``lr`` has no default; ``weight_decay`` is coupled L2 decay), equal
    to ``torch.optim.SGD(params, lr, weight_decay=...)``.

    >>> import torch
    >>> w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    >>> opt = SGD([w], lr=0.1)
    >>> w.grad = torch.tensor([0.5, -1.0], dtype=torch.float64)
    >>> opt.step()
    >>> w.detach().tolist()
    [0.95, -1.9]
    """

    numpy_class = np_sgd.SGD

    _scratch_count = 1

    def _update(self, p, g, state, group, t, tmp):
        # w = w - lr*dw
        p.sub_(torch.mul(g, group["lr"], out=tmp[0]))

    def _update_foreach(self, ps, gs, states, group, ts, tmp):
        torch._foreach_sub_(ps, foreach_scaled(tmp[0], gs, group["lr"]))


@register
class Momentum(Optimizer):
    r"""Gradient descent with momentum, :class:`gradstep.optim.Momentum` as a ``torch.optim.Optimizer``.

    ``form="ema"`` (default, the notes): :math:`V \leftarrow \beta V + (1 - \beta)\, dw`,
    :math:`w \leftarrow w - \alpha V`. ``form="heavy_ball"``: ``torch.optim.SGD(momentum=beta,
    dampening, nesterov)`` exactly (the buffer starts at the first gradient). ``nesterov`` and
    ``dampening`` as in the NumPy class. State: ``"V"`` (torch's ``momentum_buffer``) and ``"step"``.

    >>> import torch
    >>> w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    >>> opt = Momentum([w], lr=0.1, beta=0.9)
    >>> w.grad = torch.tensor([0.5, -1.0], dtype=torch.float64)
    >>> opt.step()
    >>> w.detach().tolist()
    [0.995, -1.99]
    """

    numpy_class = np_sgd.Momentum

    def _update(self, p, g, state, group, t, tmp):
        lr, beta, V = group["lr"], group["beta"], state["V"]
        a, b = tmp
        if group["form"] == "ema":
            # V = beta*V + (1-beta)*dw
            V.mul_(beta).add_(torch.mul(g, 1 - beta, out=a))
            if group["nesterov"]:  # (1-beta)*dw + beta*V
                direction = torch.mul(g, 1 - beta, out=a).add_(torch.mul(V, beta, out=b))
            else:
                direction = V
        else:
            if t == 1:
                V.copy_(g)  # torch starts the buffer at the first gradient, undamped
            else:
                # V = beta*V + (1-dampening)*dw
                V.mul_(beta).add_(torch.mul(g, 1 - group["dampening"], out=a))
            direction = torch.mul(V, beta, out=a).add_(g) if group["nesterov"] else V  # dw + beta*V
        # w = w - lr*direction
        p.sub_(torch.mul(direction, lr, out=b))

    def _update_foreach(self, ps, gs, states, group, ts, tmp):
        lr, beta = group["lr"], group["beta"]
        Vs = [s["V"] for s in states]
        a, b = tmp
        if group["form"] == "ema":
            torch._foreach_mul_(Vs, beta)
            torch._foreach_add_(Vs, foreach_scaled(a, gs, 1 - beta))
            if group["nesterov"]:
                directions = foreach_scaled(a, gs, 1 - beta)
                torch._foreach_add_(directions, foreach_scaled(b, Vs, beta))
            else:
                directions = Vs
        else:
            first = [i for i, t in enumerate(ts) if t == 1]
            later = [i for i, t in enumerate(ts) if t > 1]
            if first:
                torch._foreach_copy_([Vs[i] for i in first], [gs[i] for i in first])
            if later:
                V_later = [Vs[i] for i in later]
                torch._foreach_mul_(V_later, beta)
                scaled = foreach_scaled([a[i] for i in later], [gs[i] for i in later], 1 - group["dampening"])
                torch._foreach_add_(V_later, scaled)
            if group["nesterov"]:
                directions = foreach_scaled(a, Vs, beta)
                torch._foreach_add_(directions, gs)
            else:
                directions = Vs
        torch._foreach_sub_(ps, foreach_scaled(b, directions, lr))

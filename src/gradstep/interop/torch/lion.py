"""Lion as a torch optimizer: :class:`gradstep.optim.Lion` (``torch.optim`` has none).

The formula, symbols and the comparison with other frameworks are in the NumPy class's docstring;
this class evaluates it in the same order (see :mod:`.base`).
"""

from __future__ import annotations

import torch

from ...optim import lion as np_lion
from .base import Optimizer, foreach_scaled, register

__all__ = ["Lion"]


@register
class Lion(Optimizer):
    r"""Lion, :class:`gradstep.optim.Lion` as a ``torch.optim.Optimizer``.

    :math:`w \leftarrow (1 - \alpha\lambda)\, w`, then :math:`w \leftarrow w - \alpha\,
    \mathrm{sign}(\beta_1 V + (1 - \beta_1)\, dw)` and :math:`V \leftarrow \beta_2 V + (1 - \beta_2)\,
    dw`. The authors' ``lion_pytorch.Lion(params, lr, betas=(b1, b2), weight_decay)`` is the same
    rule (it decays as ``w *= 1 - lr*wd`` too). State: ``"V"`` (their ``exp_avg``) and ``"step"``.

    >>> import torch
    >>> w = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64, requires_grad=True)
    >>> opt = Lion([w], lr=0.1)
    >>> w.grad = torch.tensor([0.5, -100.0, 0.0], dtype=torch.float64)
    >>> opt.step()
    >>> w.detach().tolist()
    [0.9, -1.9, 3.0]
    """

    numpy_class = np_lion.Lion

    def _update(self, p, g, state, group, t, tmp):
        lr, beta1, beta2 = group["lr"], group["beta1"], group["beta2"]
        V = state["V"]
        a, b = tmp
        # c = (beta1*V) + ((1-beta1)*dw);  w = w - lr*sign(c)
        c = torch.mul(V, beta1, out=a).add_(torch.mul(g, 1 - beta1, out=b))
        p.sub_(c.sign_().mul_(lr))
        # V = (beta2*V) + ((1-beta2)*dw)
        V.mul_(beta2).add_(torch.mul(g, 1 - beta2, out=a))

    def _update_foreach(self, ps, gs, states, group, ts, tmp):
        lr, beta1, beta2 = group["lr"], group["beta1"], group["beta2"]
        Vs = [s["V"] for s in states]
        a, b = tmp
        cs = foreach_scaled(a, Vs, beta1)
        torch._foreach_add_(cs, foreach_scaled(b, gs, 1 - beta1))
        torch._foreach_sign_(cs)
        torch._foreach_mul_(cs, lr)
        torch._foreach_sub_(ps, cs)
        torch._foreach_mul_(Vs, beta2)
        torch._foreach_add_(Vs, foreach_scaled(a, gs, 1 - beta2))

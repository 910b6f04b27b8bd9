"""LARS as a torch optimizer: :class:`gradstep.optim.LARS`.

The formula, symbols and the comparison with optax and Apex's LARC are in the NumPy class's
docstring; this class evaluates it in the same order (see :mod:`.base` and :mod:`.layerwise`).
"""

from __future__ import annotations

import torch

from ...optim import lars as np_lars
from ...optim.layerwise import trust_ratio
from .base import register
from .layerwise import LayerwiseOptimizer, norm

__all__ = ["LARS"]


@register
class LARS(LayerwiseOptimizer):
    r"""LARS, :class:`gradstep.optim.LARS` as a ``torch.optim.Optimizer`` (torch has none).

    :math:`r = \eta \|w\| / (\|g\| + \lambda\|w\| + \epsilon)` (1 if a norm is 0),
    :math:`V \leftarrow \beta V + \alpha r (g + \lambda w)`, :math:`w \leftarrow w - V`.
    State: ``"V"`` and ``"step"``.

    >>> import torch
    >>> w = torch.tensor([3.0, 4.0], dtype=torch.float64, requires_grad=True)
    >>> opt = LARS([w], lr=10.0, eta=0.01)
    >>> w.grad = torch.tensor([300.0, 400.0], dtype=torch.float64)
    >>> opt.step()
    >>> w.detach().tolist()
    [2.7, 3.6]
    """

    numpy_class = np_lars.LARS

    def _update(self, p, g, state, group, t, tmp):
        lr, eta, beta, wd = group["lr"], group["eta"], group["beta"], group["weight_decay"]
        V = state["V"]
        w_norm, g_norm = norm(p), norm(g)
        # r = eta*||w|| / (||g|| + wd*||w|| + eps)
        r = trust_ratio(eta * w_norm, g_norm + wd * w_norm + group["eps"]) if g_norm > 0 else 1.0
        # u = (lr*r)*(g + wd*w);  V = beta*V + u;  w = w - V  (Nesterov: w - (u + beta*V))
        u = torch.mul(p, wd).add_(g) if wd else g.clone()
        u.mul_(lr * r)
        V.mul_(beta).add_(u)
        p.sub_(u.add_(torch.mul(V, beta)) if group["nesterov"] else V)

    def _update_foreach(self, ps, gs, states, group, ts, tmp):
        # Every operation needs a tensor's own trust ratio: the loop's update, tensor by tensor.
        for p, g, state, t in zip(ps, gs, states, ts, strict=True):
            self._update(p, g, state, group, t, tmp)

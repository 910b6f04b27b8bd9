"""LAMB as a torch optimizer: :class:`gradstep.optim.LAMB`.

The formula, symbols and the comparison with optax and Keras are in the NumPy class's docstring; this
class evaluates it in the same order (see :mod:`.base` and :mod:`.layerwise`).
"""

from __future__ import annotations

import torch

from ...optim import lamb as np_lamb
from ...optim.layerwise import trust_ratio
from .base import register
from .layerwise import LayerwiseOptimizer, norm

__all__ = ["LAMB"]


@register
class LAMB(LayerwiseOptimizer):
    r"""LAMB, :class:`gradstep.optim.LAMB` as a ``torch.optim.Optimizer`` (torch has none).

    :math:`u = \hat V / (\sqrt{\hat S} + \epsilon) + \lambda w`, :math:`r = \|w\| / \|u\|` (1 if
    either norm is 0, or with ``trust_ratio=False``), :math:`w \leftarrow w - \alpha (r u)`.
    State: ``"V"``, ``"S"`` and ``"step"``.

    >>> import torch
    >>> w = torch.tensor([3.0, 4.0], dtype=torch.float64, requires_grad=True)
    >>> opt = LAMB([w], lr=0.1)
    >>> w.grad = torch.tensor([0.5, -50.0], dtype=torch.float64)
    >>> opt.step()
    >>> round(float(torch.linalg.vector_norm(w.detach() - torch.tensor([3.0, 4.0]))), 6)
    0.5
    """

    numpy_class = np_lamb.LAMB

    @staticmethod
    def _direction(V, S, t, group):
        """``u = V_hat/(sqrt(S_hat) + eps)``, a new tensor."""
        V_hat = torch.div(V, 1 - group["beta1"] ** t)
        return V_hat.div_(torch.div(S, 1 - group["beta2"] ** t).sqrt_().add_(group["eps"]))

    def _finish(self, p, u, group):
        # u = u + wd*w;  r = ||w||/||u||;  w = w - lr*(r*u)
        if group["weight_decay"]:
            u.add_(torch.mul(p, group["weight_decay"]))
        r = trust_ratio(norm(p), norm(u)) if group["trust_ratio"] else 1.0
        p.sub_(u.mul_(r).mul_(group["lr"]))

    def _update(self, p, g, state, group, t, tmp):
        beta1, beta2 = group["beta1"], group["beta2"]
        V, S = state["V"], state["S"]
        # V = beta1*V + (1-beta1)*g;  S = beta2*S + (1-beta2)*g^2
        V.mul_(beta1).add_(torch.mul(g, 1 - beta1))
        S.mul_(beta2).add_(torch.mul(g, g).mul_(1 - beta2))
        self._finish(p, self._direction(V, S, t, group), group)

    def _update_foreach(self, ps, gs, states, group, ts, tmp):
        beta1, beta2 = group["beta1"], group["beta2"]
        Vs, Ss = [s["V"] for s in states], [s["S"] for s in states]
        torch._foreach_mul_(Vs, beta1)
        torch._foreach_add_(Vs, torch._foreach_mul(gs, 1 - beta1))
        torch._foreach_mul_(Ss, beta2)
        squares = torch._foreach_mul(gs, gs)
        torch._foreach_mul_(squares, 1 - beta2)
        torch._foreach_add_(Ss, squares)
        V_hats = torch._foreach_div(Vs, [1 - beta1**t for t in ts])
        denoms = torch._foreach_div(Ss, [1 - beta2**t for t in ts])
        torch._foreach_sqrt_(denoms)
        torch._foreach_add_(denoms, group["eps"])
        torch._foreach_div_(V_hats, denoms)
        for p, u in zip(ps, V_hats, strict=True):  # the trust ratio needs each tensor's norms
            self._finish(p, u, group)

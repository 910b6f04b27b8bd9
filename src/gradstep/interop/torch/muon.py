"""Muon as a torch optimizer: :class:`gradstep.optim.Muon` (Newton-Schulz in the parameter's dtype).

The formula, symbols and the comparison with ``torch.optim.Muon`` (which runs Newton-Schulz in
bfloat16) are in the NumPy class's docstring; this class evaluates it in the same order (see
:mod:`.base` and :mod:`.layerwise`).
"""

from __future__ import annotations

import torch

from ...optim import muon as np_muon
from .base import register
from .layerwise import LayerwiseOptimizer

__all__ = ["Muon", "newton_schulz"]


def newton_schulz(G: torch.Tensor, eps: float, steps: int = np_muon.NS_STEPS) -> torch.Tensor:
    """:func:`gradstep.optim.muon.newton_schulz` in torch, in ``G``'s dtype."""
    a, b, c = np_muon.NS_COEFFICIENTS
    tall = G.shape[0] > G.shape[1]
    X = G.T if tall else G
    X = X / max(float(torch.linalg.vector_norm(X)), eps)
    for _ in range(steps):
        A = X @ X.T
        B = b * A + c * (A @ A)
        X = a * X + B @ X
    return X.T if tall else X


def _lerp(a: torch.Tensor, b: torch.Tensor, w: float) -> torch.Tensor:
    return a + w * (b - a) if abs(w) < 0.5 else b - (b - a) * (1 - w)


@register
class Muon(LayerwiseOptimizer):
    r"""Muon for 2-D parameters and AdamW for the rest, :class:`gradstep.optim.Muon` as a torch optimizer.

    :math:`V \leftarrow \mathrm{lerp}(V, G, 1 - \beta)`, :math:`O = \mathrm{NS}_5(\mathrm{lerp}(G, V,
    \beta))`, :math:`W \leftarrow (1 - \alpha\lambda) W - \alpha_{adj} O`, computed in the parameter's
    dtype (``torch.optim.Muon`` uses bfloat16 for :math:`\mathrm{NS}`). State: ``"V"``, ``"S"``, ``"step"``.

    >>> import torch
    >>> W = torch.zeros(3, 3, dtype=torch.float64, requires_grad=True)
    >>> opt = Muon([W], lr=0.1, weight_decay=0.0)
    >>> W.grad = torch.diag(torch.tensor([4.0, 2.0, 1.0], dtype=torch.float64))
    >>> opt.step()
    >>> [round(x, 4) for x in torch.diag(W.detach()).tolist()]
    [-0.0821, -0.1133, -0.0699]
    """

    numpy_class = np_muon.Muon

    def _update(self, p, g, state, group, t, tmp):
        if p.ndim != 2:
            self._adamw(p, g, state["V"], state["S"], group, t)
            return
        lr, beta, V = group["lr"], group["beta"], state["V"]
        V.copy_(_lerp(V, g, 1 - beta))
        M = _lerp(g, V, beta) if group["nesterov"] else V
        O = newton_schulz(M, group["eps"])
        p.mul_(1 - lr * group["weight_decay"])
        p.sub_(np_muon.adjusted_lr(lr, group["adjust_lr"], tuple(p.shape)) * O)

    @staticmethod
    def _adamw(p, g, V, S, group, t):
        lr, beta1, beta2 = group["lr"] * group["adamw_lr_ratio"], group["adamw_beta1"], group["adamw_beta2"]
        p.mul_(1 - lr * group["weight_decay"])
        V.mul_(beta1).add_(torch.mul(g, 1 - beta1))
        S.mul_(beta2).add_(torch.mul(g, g).mul_(1 - beta2))
        V_hat, S_hat = torch.div(V, 1 - beta1**t), torch.div(S, 1 - beta2**t)
        p.sub_(V_hat.mul_(lr).div_(S_hat.sqrt_().add_(group["adamw_eps"])))

    def _update_foreach(self, ps, gs, states, group, ts, tmp):
        # Matrix products per parameter: the loop's update, tensor by tensor.
        for p, g, state, t in zip(ps, gs, states, ts, strict=True):
            self._update(p, g, state, group, t, tmp)

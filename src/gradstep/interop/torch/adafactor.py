"""Adafactor as a torch optimizer: :class:`gradstep.optim.Adafactor`.

The formula, symbols and the comparison with the paper, Hugging Face and optax are in the NumPy class's
docstring; this class evaluates it with torch.optim.Adafactor's operations, in the same order (see
:mod:`.base` and :mod:`.layerwise`).
"""

from __future__ import annotations

import torch

from ...optim import adafactor as np_adafactor
from .base import register
from .layerwise import LayerwiseOptimizer, norm

__all__ = ["Adafactor"]


@register
class Adafactor(LayerwiseOptimizer):
    r""":class:`gradstep.optim.Adafactor` as a ``torch.optim.Optimizer`` (``torch.optim.Adafactor``'s rule).

    :math:`\alpha_t = \max(\epsilon_2, \mathrm{RMS}(W)) \min(\alpha, 1/\sqrt t)`; factored :math:`R, C`
    (2-D and up) or full :math:`S`, lerped towards the mean squares with weight :math:`t^{c}`;
    :math:`W \leftarrow W - \alpha_t U / \max(1, \mathrm{RMS}(U)/d)`. State: ``"S_row"``, ``"S_col"``,
    ``"S"`` (shape ``(0,)`` where unused) and ``"step"``.

    >>> import torch
    >>> W = torch.full((3, 2), 2.0, dtype=torch.float64, requires_grad=True)
    >>> opt = Adafactor([W], lr=0.01)
    >>> W.grad = torch.full((3, 2), 5.0, dtype=torch.float64)
    >>> opt.step()
    >>> W.detach()[0]
    tensor([1.9800, 1.9800], dtype=torch.float64)
    """

    numpy_class = np_adafactor.Adafactor

    def _update(self, p, g, state, group, t, tmp):
        lr, d, wd = group["lr"], group["d"], group["weight_decay"]
        eps1 = torch.finfo(p.dtype).eps if group["eps1"] is None else group["eps1"]
        beta2_t = t ** group["beta2_decay"]
        # rho = min(lr, 1/sqrt(t));  alpha = max(eps2, RMS(W))*rho, read before the decay
        alpha = max(group["eps2"], norm(p) / p.numel() ** 0.5) * min(lr, 1 / t**0.5)
        if wd:
            p.mul_(1 - lr * wd)
        if g.dim() >= 2:
            R, C = state["S_row"], state["S_col"]
            # R = lerp(R, mean_-1(G^2), beta2_t);  C = lerp(C, mean_-2(G^2), beta2_t)
            R.lerp_(torch.mul(g, g).mean(dim=-1, keepdim=True), beta2_t)
            C.lerp_(torch.mul(g, g).mean(dim=-2, keepdim=True), beta2_t)
            S_hat = (R @ C).div_(R.mean(dim=-2, keepdim=True).clamp_(min=eps1))
        else:
            S = state["S"]
            S.lerp_(torch.mul(g, g), beta2_t)
            S_hat = S.clone()
        # U = G / sqrt(max(S_hat, eps1^2));  W = W - (alpha/max(1, RMS(U)/d)) U
        U = S_hat.clamp_(min=eps1 * eps1).sqrt_().reciprocal_().mul_(g)
        p.add_(U, alpha=-alpha / max(1.0, norm(U) / (U.numel() ** 0.5 * d)))

    def _update_foreach(self, ps, gs, states, group, ts, tmp):
        # Each parameter needs its own norms and reductions, as in torch's multi-tensor Adafactor; the
        # per-tensor update is the loop's, so both paths give the same bits.
        for p, g, state, t in zip(ps, gs, states, ts, strict=True):
            self._update(p, g, state, group, t, tmp)

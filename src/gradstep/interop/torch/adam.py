"""Adam, AMSGrad and AdamW as torch optimizers: :class:`gradstep.optim.Adam` and ``AdamW``.

The formulas, symbols and the comparison with ``torch.optim.Adam`` are in the NumPy classes'
docstrings; these classes evaluate them in the same order (see :mod:`.base`).
"""

from __future__ import annotations

import math

import torch

from ...optim import adam as np_adam
from .base import Optimizer, foreach_scaled, register

__all__ = ["Adam", "AdamW"]


@register
class Adam(Optimizer):
    r"""Adam, :class:`gradstep.optim.Adam` as a ``torch.optim.Optimizer``.

    The notes' rule (default): bias-corrected :math:`\hat V, \hat S` and
    :math:`w \leftarrow w - \alpha\, \hat V / \sqrt{\hat S + \epsilon}`. ``eps_mode="outside_sqrt"``
    is ``torch.optim.Adam`` exactly (``Adam(params, lr, beta1=b1, beta2=b2, eps=e,
    eps_mode="outside_sqrt", amsgrad=a)`` = ``torch.optim.Adam(params, lr, betas=(b1, b2), eps=e,
    amsgrad=a)``); ``"hat"`` is Keras's. ``bias_correction`` and ``amsgrad`` as in the NumPy class;
    ``weight_decay`` is coupled (L2, as ``torch.optim.Adam``). State: ``"V"`` (torch's ``exp_avg``),
    ``"S"`` (``exp_avg_sq``), ``"S_max"`` (``max_exp_avg_sq``, with ``amsgrad``) and ``"step"``.

    >>> import torch
    >>> w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    >>> opt = Adam([w], lr=0.1)
    >>> w.grad = torch.tensor([0.5, -100.0], dtype=torch.float64)
    >>> opt.step()
    >>> w.detach().tolist()
    [0.9, -1.9]
    """

    numpy_class = np_adam.Adam

    @staticmethod
    def _corrections(group, t: int) -> tuple[float, float]:
        # Python floats (double precision) whatever the parameters' dtype, as the NumPy reference.
        if not group["bias_correction"]:
            return 1.0, 1.0
        return 1 - group["beta1"] ** t, 1 - group["beta2"] ** t

    def _update(self, p, g, state, group, t, tmp):
        lr, beta1, beta2, eps = group["lr"], group["beta1"], group["beta2"], group["eps"]
        V, S = state["V"], state["S"]
        a, b = tmp
        # V = beta1*V + (1-beta1)*dw;  S = beta2*S + (1-beta2)*dw^2
        V.mul_(beta1).add_(torch.mul(g, 1 - beta1, out=a))
        S.mul_(beta2).add_(torch.mul(g, g, out=a).mul_(1 - beta2))
        if group["amsgrad"]:
            S = torch.maximum(state["S_max"], S, out=state["S_max"])
        correction1, correction2 = self._corrections(group, t)
        if group["eps_mode"] == "hat":
            lr_t = lr * math.sqrt(correction2) / correction1
            # w = w - (lr_t*V)/(sqrt(S) + eps)
            p.sub_(torch.mul(V, lr_t, out=a).div_(torch.sqrt(S, out=b).add_(eps)))
            return
        # V_hat = V/correction1, S_hat = S/correction2
        V_hat = torch.div(V, correction1, out=a) if group["bias_correction"] else a.copy_(V)
        denom = torch.div(S, correction2, out=b) if group["bias_correction"] else b.copy_(S)
        if group["eps_mode"] == "inside_sqrt":
            denom.add_(eps).sqrt_()  # sqrt(S_hat + eps)
        else:
            denom.sqrt_().add_(eps)  # sqrt(S_hat) + eps
        # w = w - (lr*V_hat)/denom
        p.sub_(V_hat.mul_(lr).div_(denom))

    def _update_foreach(self, ps, gs, states, group, ts, tmp):
        lr, beta1, beta2, eps = group["lr"], group["beta1"], group["beta2"], group["eps"]
        Vs, Ss = [s["V"] for s in states], [s["S"] for s in states]
        a, b = tmp
        torch._foreach_mul_(Vs, beta1)
        torch._foreach_add_(Vs, foreach_scaled(a, gs, 1 - beta1))
        torch._foreach_mul_(Ss, beta2)
        squares = foreach_scaled(a, gs, 1.0)
        torch._foreach_mul_(squares, gs)
        torch._foreach_mul_(squares, 1 - beta2)
        torch._foreach_add_(Ss, squares)
        if group["amsgrad"]:
            S_maxs = [s["S_max"] for s in states]
            torch._foreach_maximum_(S_maxs, Ss)
            Ss = S_maxs
        corrections = [self._corrections(group, t) for t in ts]
        steps, denoms = foreach_scaled(a, Vs, 1.0), foreach_scaled(b, Ss, 1.0)
        if group["eps_mode"] == "hat":
            torch._foreach_mul_(steps, [lr * math.sqrt(c2) / c1 for c1, c2 in corrections])
            torch._foreach_sqrt_(denoms)
            torch._foreach_add_(denoms, eps)
        else:
            if group["bias_correction"]:
                torch._foreach_div_(steps, [c1 for c1, _ in corrections])
                torch._foreach_div_(denoms, [c2 for _, c2 in corrections])
            if group["eps_mode"] == "inside_sqrt":
                torch._foreach_add_(denoms, eps)
                torch._foreach_sqrt_(denoms)
            else:
                torch._foreach_sqrt_(denoms)
                torch._foreach_add_(denoms, eps)
            torch._foreach_mul_(steps, lr)
        torch._foreach_div_(steps, denoms)
        torch._foreach_sub_(ps, steps)


@register
class AdamW(Adam):
    r"""Adam with decoupled weight decay, :class:`gradstep.optim.AdamW` as a ``torch.optim.Optimizer``.

    :math:`w \leftarrow (1 - \alpha\lambda)\, w`, then the Adam step; :math:`\lambda` =
    ``weight_decay`` (default 0.01). With ``eps_mode="outside_sqrt"`` this is ``torch.optim.AdamW``
    exactly. Every other argument and the state are :class:`Adam`'s.

    >>> import torch
    >>> w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    >>> opt = AdamW([w], lr=0.1, weight_decay=0.5)
    >>> w.grad = torch.zeros(2, dtype=torch.float64)
    >>> opt.step()
    >>> w.detach().tolist()
    [0.95, -1.9]
    """

    numpy_class = np_adam.AdamW

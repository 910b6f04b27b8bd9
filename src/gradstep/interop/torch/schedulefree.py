"""Schedule-Free SGD and AdamW as torch optimizers: :mod:`gradstep.optim.schedulefree`.

The formulas, symbols and the comparison with the ``schedulefree`` package are in the NumPy classes'
docstrings; these classes evaluate them with the package's torch operations, in the same order. As in
the package, the average's scalars (``weight_sum``, ``lr_max``) live in each parameter group, so
``state_dict()`` saves them and each group averages with its own rates; ``z`` starts at the parameter
at its first step. Loop and multi-tensor paths run the same per-tensor update (bit-identical).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from ..._validation import GradstepError
from ...optim import schedulefree as np_sf
from .base import register
from .layerwise import LayerwiseOptimizer

__all__ = ["SGDScheduleFree", "AdamWScheduleFree"]


class ScheduleFree(LayerwiseOptimizer):
    """What both twins share: group scalars, z starting at the parameter, evaluation at x."""

    numpy_class: Any
    _interpolation_name = "beta"

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        for name in self.numpy_class.scalar_names:
            self.param_groups[-1].setdefault(name, 0.0)

    def _init_state(self, p: torch.Tensor, group) -> dict[str, Any]:
        new = not self.state[p]
        state = super()._init_state(p, group)
        if new:
            state["z"].copy_(p)  # z_1 = w_0
        return state

    def _advance(self, group, t: int) -> None:
        hp = {**group, "lr": float(group["lr"])}
        self._gamma, self._c, scalars = self.numpy_class.advance(hp, t, group)
        group.update(scalars)

    def _step_loop(self, group, params, states) -> None:
        self._advance(group, int(states[0]["step"]) + 1)
        super()._step_loop(group, params, states)

    def _step_foreach(self, group, params, states) -> None:
        self._advance(group, int(states[0]["step"]) + 1)
        super()._step_foreach(group, params, states)

    def _interpolate(self, p, z, u, group) -> None:
        # y = lerp(y, z, c) + gamma*(beta*(1-c) - 1)*u;  z = z - gamma*u
        gamma, c, beta = self._gamma, self._c, group[self._interpolation_name]
        p.lerp_(z, c)
        p.add_(u, alpha=gamma * (beta * (1 - c) - 1))
        z.sub_(u, alpha=gamma)

    def _update_foreach(self, ps, gs, states, group, ts, tmp):
        for p, g, state, t in zip(ps, gs, states, ts, strict=True):
            self._update(p, g, state, group, t, tmp)

    @contextlib.contextmanager
    def eval_parameters(self) -> Iterator[None]:
        """Inside the block the parameters hold the average x; afterwards exactly the y they held."""
        saved = []
        try:
            with torch.no_grad():
                for group in self.param_groups:
                    beta = group[self._interpolation_name]
                    for p in group["params"]:
                        if "z" not in self.state[p]:
                            continue  # no step yet: x = y
                        if beta == 0:
                            raise GradstepError(
                                "eval_parameters() needs an interpolation beta > 0: with beta=0 the "
                                "parameters are z and the average x cannot be recovered from them"
                            )
                        saved.append((p, p.detach().clone()))
                        # x = (y - (1-beta)*z)/beta, as the package's lerp(y, z, 1 - 1/beta)
                        p.lerp_(self.state[p]["z"].to(p.dtype), 1 - 1 / beta)
            yield
        finally:
            with torch.no_grad():
                for p, y in saved:
                    p.copy_(y)


@register
class SGDScheduleFree(ScheduleFree):
    r""":class:`gradstep.optim.SGDScheduleFree` as a ``torch.optim.Optimizer`` (the package's rule).

    :math:`dw = g + \lambda y`; :math:`y \leftarrow \mathrm{lerp}(y, z, c) + \gamma(\beta(1-c) - 1)\,dw`;
    :math:`z \leftarrow z - \gamma\, dw`. State: ``"z"`` and ``"step"``; each group holds
    ``weight_sum`` and ``lr_max``.

    >>> import torch
    >>> w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    >>> opt = SGDScheduleFree([w], lr=0.1)
    >>> for _ in range(2):
    ...     w.grad = torch.ones(2, dtype=torch.float64)
    ...     opt.step()
    >>> with opt.eval_parameters():
    ...     print(w.detach())
    tensor([ 0.8500, -2.1500], dtype=torch.float64)
    >>> w.detach()
    tensor([ 0.8450, -2.1550], dtype=torch.float64)
    """

    numpy_class = np_sf.SGDScheduleFree

    def _update(self, p, g, state, group, t, tmp):
        if group["weight_decay"]:
            g = g.add(p, alpha=group["weight_decay"])  # coupled, at y
        self._interpolate(p, state["z"], g, group)


@register
class AdamWScheduleFree(ScheduleFree):
    r""":class:`gradstep.optim.AdamWScheduleFree` as a ``torch.optim.Optimizer`` (the package's rule).

    :math:`S \leftarrow \beta_2 S + (1-\beta_2) g^2`, :math:`u = g/(\sqrt S + \epsilon) + \lambda y`,
    then the Schedule-Free step with :math:`\gamma_t = \alpha \min(1, t/T_w) \sqrt{1 - \beta_2^t}`.
    State: ``"z"``, ``"S"`` and ``"step"``; each group holds ``weight_sum`` and ``lr_max``.

    >>> import torch
    >>> w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    >>> opt = AdamWScheduleFree([w], lr=0.1)
    >>> w.grad = torch.tensor([0.5, -100.0], dtype=torch.float64)
    >>> opt.step()
    >>> w.detach()
    tensor([ 0.9000, -1.9000], dtype=torch.float64)
    """

    numpy_class = np_sf.AdamWScheduleFree
    _interpolation_name = "beta1"

    def _update(self, p, g, state, group, t, tmp):
        beta2, S = group["beta2"], state["S"]
        # S = beta2*S + (1-beta2)*g^2;  u = g/(sqrt(S) + eps) + wd*y
        S.mul_(beta2).add_(torch.mul(g, g).mul_(1 - beta2))
        u = torch.div(g, S.sqrt().add_(group["eps"]))
        if group["weight_decay"]:
            u.add_(p, alpha=group["weight_decay"])
        self._interpolate(p, state["z"], u, group)

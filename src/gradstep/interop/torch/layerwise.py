"""The torch base of the layer-wise optimizers (LAMB, LARS): whole tensors, and their own weight decay.

:class:`gradstep.optim.layerwise.LayerwiseOptimizer` as torch sees it. The elementwise optimizers of
:mod:`.base` cut parameters into blocks and decay the weights before ``_update``; a layer-wise update
needs the norm of a whole parameter and decays inside the update, so this base hands ``_update`` (one
parameter) and ``_update_foreach`` (a list of parameters of one dtype) whole tensors and the raw
gradients. Norms are ``torch.linalg.vector_norm`` of each tensor in both paths, so the loop and the
multi-tensor path give the same bits.
"""

from __future__ import annotations

import torch

from .base import _REDUCED, Optimizer

__all__ = ["LayerwiseOptimizer", "norm"]


def norm(x: torch.Tensor) -> float:
    """The Euclidean norm of all of ``x``'s elements, as a Python float (the NumPy reference's ``norm``)."""
    return float(torch.linalg.vector_norm(x))


class LayerwiseOptimizer(Optimizer):
    """A torch twin whose update sees whole parameters and applies its own weight decay."""

    _scratch_count = 0

    def _step_loop(self, group, params, states) -> None:
        names = self._state_names(group)
        for p, state in zip(params, states, strict=True):
            state["step"] += 1
            work = p.float() if p.dtype in _REDUCED else p
            g = p.grad.to(work.dtype)
            self._update(work, g, {s: state[s] for s in names}, group, int(state["step"]), [])
            if work is not p:
                p.copy_(work)

    def _step_foreach(self, group, params, states) -> None:
        names = self._state_names(group)
        by_dtype: dict[tuple, list[int]] = {}
        for i, p in enumerate(params):
            by_dtype.setdefault((p.device, p.dtype), []).append(i)
        for (_, dtype), index in by_dtype.items():
            steps = [states[i]["step"] for i in index]
            torch._foreach_add_(steps, 1)
            ps = [params[i] for i in index]
            work = [p.float() for p in ps] if dtype in _REDUCED else ps
            gs = [p.grad.to(w.dtype) for p, w in zip(ps, work, strict=True)]
            sub = [{s: states[i][s] for s in names} for i in index]
            self._update_foreach(work, gs, sub, group, [int(s) for s in steps], [])
            if dtype in _REDUCED:
                torch._foreach_copy_(ps, work)

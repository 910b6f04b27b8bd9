"""Optimizers whose update needs a whole parameter at once: norms (LAMB, LARS), matrices (Muon).

The base class (:mod:`gradstep.optim.base`) applies weight decay for its subclasses, coupled
(``dw = g + wd*w``) or decoupled (``w *= 1 - lr*wd``) before ``_update`` runs. The layer-wise
optimizers decay in a third place: inside the update, where it is scaled by a trust ratio (LAMB's and
LARS's ``||w|| / ||update||``) or after a quantity that depends on the weights has been read (Adafactor's
weight RMS). :class:`LayerwiseOptimizer` therefore hands ``_update`` the raw gradient and leaves the
decay to it; everything else (float16 in float32, state, checkpoints) is the base's.

Their updates are not elementwise (a norm or a matrix product couples every element of a parameter),
so they have no fused kernel: ``fused`` is False and ``elementwise`` says why. Their fast path is the
NumPy reference itself, whose per-parameter work is a few whole-array operations plus BLAS reductions
(``np.linalg.norm``, ``@``), each named in the class's docstring.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from .base import Optimizer, _compute_dtype

__all__ = ["LayerwiseOptimizer", "trust_ratio"]


def trust_ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, or 1 when either is 0 (optax's and Keras's guard): a zero weight
    (a freshly zeroed bias) or a zero update takes the plain step instead of a step of 0 or inf."""
    if numerator > 0 and denominator > 0:
        return numerator / denominator
    return 1.0


class LayerwiseOptimizer(Optimizer):
    """An optimizer whose ``_update`` sees a whole parameter and applies its own weight decay."""

    #: False: the update couples the elements of a parameter, so there is no elementwise kernel.
    elementwise: ClassVar[bool] = False

    def step(self, grads: Sequence[np.ndarray]) -> None:
        """Apply one update to every parameter, in place, from ``grads`` (same order and shapes)."""
        grads = self._check_grads(grads)
        self.t += 1
        for i, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            work = p if _compute_dtype(p) == p.dtype else p.astype(_compute_dtype(p))
            g = np.asarray(g, dtype=work.dtype)
            self._update(work, g, {s: self.state[s][i] for s in self.state_names})
            if work is not p:
                p[...] = work


def norm(x: np.ndarray) -> float:
    """The Euclidean norm of all of ``x``'s elements, as a Python float."""
    return float(np.linalg.norm(x.reshape(-1)))

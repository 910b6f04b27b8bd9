"""Gradient clipping over a list of gradient arrays, in place, as torch's ``clip_grad_norm_`` / ``_value_``.

Clip between the backward pass and ``opt.step(grads)``: ``norm = clip_by_global_norm(grads, 1.0)``. The
global norm treats all arrays as one vector, so clipping rescales every gradient by the same factor and
keeps the update's direction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .._validation import GradstepError, check_real

__all__ = ["global_norm", "clip_by_global_norm", "clip_by_value"]

# torch adds this to the norm in clip_grad_norm_'s denominator; kept for exact parity (see below).
NORM_EPS = 1e-6


def _as_grad_list(grads: Iterable[np.ndarray] | np.ndarray, *, writeable: bool) -> list[np.ndarray]:
    if isinstance(grads, np.ndarray):
        grads = [grads]
    out = list(grads)
    for i, g in enumerate(out):
        if not isinstance(g, np.ndarray) or g.dtype.kind != "f":
            got = type(g).__name__ + (f" with dtype {g.dtype}" if isinstance(g, np.ndarray) else "")
            raise GradstepError(
                f"Argument `grads` must hold floating-point NumPy arrays. Received: grads[{i}] {got}"
            )
        if writeable and not g.flags.writeable:
            raise GradstepError(
                f"Argument `grads` must hold writeable arrays. Received: grads[{i}] read-only"
            )
    return out


def global_norm(grads: Iterable[np.ndarray] | np.ndarray) -> float:
    """``||g|| = sqrt(sum_i sum_j g_ij^2)`` over every array, accumulated in float64; 0.0 for no arrays.

    float64 accumulation keeps float16/float32 gradients from overflowing or losing digits in the sum.

    >>> global_norm([np.array([3.0]), np.array([[4.0]])])
    5.0
    """
    total = 0.0
    for g in _as_grad_list(grads, writeable=False):
        flat = g.astype(np.float64, copy=False).ravel()
        total += float(flat @ flat)
    return math.sqrt(total)


def clip_by_global_norm(
    grads: Iterable[np.ndarray] | np.ndarray, max_norm: float, *, error_if_nonfinite: bool = False
) -> float:
    """Rescale every gradient in place so the global norm is at most ``max_norm``; return the norm before.

    ``g <- g * min(1, max_norm / (||g|| + 1e-6))``, torch's ``clip_grad_norm_`` exactly (torch 2.x adds
    1e-6 to the denominator, so a clipped norm is ``max_norm * ||g|| / (||g|| + 1e-6)``, a hair below
    ``max_norm``, and zero gradients give 0, never NaN). Below the threshold nothing is written. A NaN or
    infinite norm propagates as in torch (the factor becomes 0 or NaN) unless ``error_if_nonfinite``, which
    raises :class:`GradstepError` before touching the arrays.

    >>> g = [np.array([3.0, 4.0])]
    >>> clip_by_global_norm(g, 1.0), g[0].round(6)
    (5.0, array([0.6, 0.8]))
    """
    max_norm = check_real("max_norm", max_norm, 0.0, low_open=True)
    grads = _as_grad_list(grads, writeable=True)
    norm = global_norm(grads)
    if error_if_nonfinite and not math.isfinite(norm):
        raise GradstepError(
            f"The global gradient norm is {norm}; the gradients hold NaN or inf, which clipping cannot fix"
        )
    coef = max_norm / (norm + NORM_EPS)
    if not coef >= 1.0:  # also true for NaN, which torch propagates the same way
        for g in grads:
            g *= g.dtype.type(coef)
    return norm


def clip_by_value(grads: Iterable[np.ndarray] | np.ndarray, limit: float) -> None:
    """Clamp every gradient element in place to ``[-limit, limit]``, torch's ``clip_grad_value_``.

    Unlike :func:`clip_by_global_norm` this changes the update's direction; NaN stays NaN.

    >>> g = [np.array([-3.0, 0.5, 2.0])]
    >>> clip_by_value(g, 1.0); g[0]
    array([-1. ,  0.5,  1. ])
    """
    limit = check_real("limit", limit, 0.0, low_open=True)
    for g in _as_grad_list(grads, writeable=True):
        np.clip(g, -limit, limit, out=g)

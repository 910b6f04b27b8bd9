"""LSUV: layer-sequential unit-variance initialization, the one initializer that needs data."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._validation import GradstepError, as_rng, check_int, check_real
from .structured import orthogonal


class LSUVLayer(NamedTuple):
    """What :func:`lsuv` did to one layer: its output variance before and after, and the rescalings."""

    layer: int  # 0-based index into model.layers
    variance_before: float  # Var(Z) on the batch right after the orthogonal draw
    variance: float  # Var(Z) after the last rescaling
    iterations: int  # rescalings applied (0 if the first measurement was already within tol)


def lsuv(model, X, *, tol: float = 0.1, max_iter: int = 10, rng=None) -> list[LSUVLayer]:
    """Layer-sequential unit-variance initialization of an MLP, in place (Mishkin & Matas 2016, Alg. 1).

    1. Pre-initialize every weight orthogonally (:func:`orthogonal`) and every bias to 0.
    2. For each layer ``l`` in order, on the batch ``X``: compute its output ``Z^l = A^{l-1} W^l + b^l``
       (the pre-activation, the layer's own output before the nonlinearity, as the paper's Caffe layers
       and the official ports do), then, while ``|Var(Z^l) - 1| >= tol`` and fewer than ``max_iter``
       rescalings were made, ``W^l <- W^l / sqrt(Var(Z^l))`` and measure again.

    ``Var`` is over all entries of ``Z^l`` (batch and units together). The paper's settings are
    ``tol=0.1``, ``max_iter=10``; every layer, the output layer included, is rescaled. Earlier layers are
    final when a layer is measured, so one pass of the layer loop is the paper's algorithm. ``model`` is a
    :class:`gradstep.nn.MLP` (anything with ``layers`` holding ``W``, ``b`` and an activation ``act``);
    torch modules: :func:`gradstep.interop.torch.lsuv_`. Needs data, so it is not an ``--init`` name.

    >>> from gradstep.nn import MLP
    >>> X = np.random.default_rng(0).normal(size=(256, 20))
    >>> report = lsuv(MLP((20, 64, 64, 3), rng=0), X, rng=0)
    >>> all(abs(r.variance - 1) < 0.1 for r in report)
    True
    """
    tol = check_real("tol", tol, 0.0, low_open=True)
    max_iter = check_int("max_iter", max_iter, 0)
    gen = as_rng(rng)
    A = np.asarray(X, dtype=model.dtype)
    if A.ndim != 2 or A.shape[0] < 2 or A.shape[1] != model.layers[0].W.shape[0]:
        raise GradstepError(
            f"lsuv needs a batch X of shape (n >= 2, {model.layers[0].W.shape[0]}). Received shape {A.shape}"
        )
    for layer in model.layers:
        layer.W[...] = orthogonal(layer.W.shape, rng=gen, dtype=model.dtype)
        layer.b[...] = 0
    report = []
    for l, layer in enumerate(model.layers):
        Z = A @ layer.W + layer.b
        before = var = float(np.var(Z, dtype=np.float64))
        iterations = 0
        while abs(var - 1.0) >= tol and iterations < max_iter and var > 0:
            layer.W /= math.sqrt(var)
            Z = A @ layer.W + layer.b
            var = float(np.var(Z, dtype=np.float64))
            iterations += 1
        report.append(LSUVLayer(l, before, var, iterations))
        A = layer.act.forward(Z, out=Z)
    return report

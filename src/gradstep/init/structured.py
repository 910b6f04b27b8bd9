"""Initializers that are not a variance scaling: orthogonal, truncated normal, identity (eye, Dirac),
and PyTorch's own default for Linear and Conv."""

from __future__ import annotations

import math

import numpy as np

from .._validation import GradstepError, as_rng, check_choice, check_int, check_real
from .scaling import _LAYOUTS, _as_float_dtype, _as_shape, fans, gain


def orthogonal(shape, *, gain: float = 1.0, rng=None, dtype=np.float32, layout="keras") -> np.ndarray:
    """A (semi-)orthogonal matrix times ``gain``: ``W^T W = gain^2 I`` (or ``W W^T`` when wider than tall).

    Saxe et al. 2014. The shape is flattened to ``(prod(shape[:-1]), shape[-1])`` as in Keras
    (``layout="torch"``: ``(shape[0], prod(shape[1:]))`` as torch's ``orthogonal_``); a Gaussian
    ``(max, min)`` matrix is factored ``A = QR`` and ``Q``'s columns multiplied by ``sign(diag(R))``, which
    makes ``Q`` Haar-distributed (Mezzadri 2007) instead of biased by the QR routine's sign choice.

    >>> W = orthogonal((4, 3), rng=0, dtype=np.float64)
    >>> bool(np.allclose(W.T @ W, np.eye(3)))
    True
    """
    gain = check_real("gain", gain, 0.0, low_open=True)
    layout = check_choice("layout", layout, _LAYOUTS)
    shape, dtype = _as_shape(shape), _as_float_dtype(dtype)
    if len(shape) < 2:
        raise GradstepError(f"orthogonal needs at least 2 dimensions; received shape {shape}")
    gen = as_rng(rng)
    if layout == "keras":
        rows, cols = math.prod(shape[:-1]), shape[-1]
    else:
        rows, cols = shape[0], math.prod(shape[1:])
    if rows * cols == 0:
        return np.zeros(shape, dtype=dtype)
    a = gen.standard_normal(size=(max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.where(np.diag(r) < 0, -1.0, 1.0)
    if rows < cols:
        q = q.T
    return (gain * q).reshape(shape).astype(dtype, copy=False)


def truncated_normal(
    shape, *, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0, rng=None, dtype=np.float32
) -> np.ndarray:
    """``w ~ N(mean, std^2)`` truncated to the absolute interval ``[a, b]`` (draws outside are redrawn).

    torch's ``nn.init.trunc_normal_(w, mean, std, a, b)`` with the same defaults: ``a`` and ``b`` are
    values, not multiples of ``std``, and the std after truncation is *smaller* than ``std`` (no
    correction; with the defaults ``N(0, 1)`` cut at +-2 has std 0.8796...). Keras' ``TruncatedNormal``
    cuts at ``mean +- 2 std`` instead, and the fan-based ``variance_scaling(..., "truncated_normal")``
    corrects the std so that it is exactly ``sqrt(scale / n)``. The interval must hold at least 0.1% of
    ``N(mean, std^2)`` (rejection sampling); torch switches to an inverse-CDF draw below 30%.

    >>> w = truncated_normal((100, 100), std=0.02, a=-0.04, b=0.04, rng=0)
    >>> bool(abs(w).max() <= 0.04)
    True
    """
    mean, std = check_real("mean", mean), check_real("std", std, 0.0, low_open=True)
    a, b = check_real("a", a), check_real("b", b)
    if not a < b:
        raise GradstepError(f"Arguments `a` < `b` are required for truncated_normal. Received: a={a}, b={b}")
    mass = (math.erf((b - mean) / (std * math.sqrt(2.0))) - math.erf((a - mean) / (std * math.sqrt(2.0)))) / 2
    if mass < 1e-3:
        raise GradstepError(
            f"truncated_normal's interval [{a}, {b}] holds only {mass:.2g} of N({mean}, {std}^2); "
            "move it nearer the mean or widen it"
        )
    shape, dtype = _as_shape(shape), _as_float_dtype(dtype)
    gen = as_rng(rng)
    w = gen.normal(mean, std, size=shape)
    outside = (w < a) | (w > b)
    while outside.any():
        w[outside] = gen.normal(mean, std, size=int(outside.sum()))
        outside = (w < a) | (w > b)
    return w.astype(dtype, copy=False)


def eye(shape, *, rng=None, dtype=np.float32, layout="keras") -> np.ndarray:
    """The identity on a dense weight: ``w_ij = 1`` if ``i == j`` else 0 (``np.eye(rows, cols)``).

    torch's ``nn.init.eye_``: 2-D only; a non-square weight keeps the first ``min(fan_in, fan_out)``
    inputs and drops (or zero-pads) the rest. ``X @ W`` with a square ``W`` is ``X``, which is how an
    identity-initialized recurrent or residual layer starts (Le et al. 2015). The identity's transpose is
    the identity, so both layouts give ``np.eye(*shape)``; ``rng`` and ``layout`` are accepted for a
    uniform signature.

    >>> eye((2, 3))
    array([[1., 0., 0.],
           [0., 1., 0.]], dtype=float32)
    """
    check_choice("layout", layout, _LAYOUTS)
    shape, dtype = _as_shape(shape), _as_float_dtype(dtype)
    if len(shape) != 2:
        raise GradstepError(f"eye needs a 2-D (dense) weight; received shape {shape}")
    return np.eye(*shape, dtype=dtype)


def dirac(shape, *, groups: int = 1, rng=None, dtype=np.float32, layout="keras") -> np.ndarray:
    """The identity convolution: a kernel whose centre tap passes channel ``d`` to output channel ``d``.

    torch's ``nn.init.dirac_(w, groups)``: with ``out`` output and ``in`` input channels (per group,
    ``out_g = out / groups``), ``w[g * out_g + d, d, centre] = 1`` for ``d < min(out_g, in)`` and every
    group ``g``, 0 elsewhere, ``centre = (k_1 // 2, ..., k_d // 2)``. A same-padded convolution with it
    copies its input's first ``min(out_g, in)`` channels. Kernels of 1-3 spatial dimensions, laid out
    ``(k..., in, out)`` (gradstep's and Keras') or ``(out, in, k...)`` with ``layout="torch"`` (bit-equal
    to ``dirac_``). ``rng`` is accepted for a uniform signature.

    >>> w = dirac((3, 3, 2, 2))
    >>> w[1, 1].tolist(), float(w.sum())
    ([[1.0, 0.0], [0.0, 1.0]], 2.0)
    """
    layout = check_choice("layout", layout, _LAYOUTS)
    shape, dtype = _as_shape(shape), _as_float_dtype(dtype)
    groups = check_int("groups", groups, 1)
    if not 3 <= len(shape) <= 5:
        raise GradstepError(f"dirac needs a convolution kernel of 3 to 5 dimensions; received shape {shape}")
    torch_shape = shape if layout == "torch" else (shape[-1], shape[-2], *shape[:-2])
    out, in_, kernel = torch_shape[0], torch_shape[1], torch_shape[2:]
    if out % groups:
        raise GradstepError(f"dirac: {out} output channels cannot be split into groups={groups}")
    w = np.zeros(torch_shape, dtype=dtype)
    out_g = out // groups
    centre = tuple(k // 2 for k in kernel)
    for g in range(groups):
        for d in range(min(out_g, in_)):
            w[(g * out_g + d, d, *centre)] = 1
    if layout == "torch":
        return w
    return np.ascontiguousarray(np.transpose(w, (*range(2, len(shape)), 1, 0)))


# torch's nn.Linear / nn.Conv*d reset_parameters: kaiming_uniform_(w, a=sqrt(5)).
_TORCH_DEFAULT_SLOPE = math.sqrt(5.0)


def torch_default(shape, *, rng=None, dtype=np.float32, layout="keras") -> np.ndarray:
    """PyTorch's default weights for ``nn.Linear`` and ``nn.Conv*d``: ``w ~ U[-bound, bound]``.

    ``reset_parameters`` calls ``kaiming_uniform_(w, a=sqrt(5))``: gain ``sqrt(2 / (1 + a^2)) =
    sqrt(1/3)``, std ``gain / sqrt(fan_in)``, ``bound = sqrt(3) * std = 1 / sqrt(fan_in)``, computed here
    in that order so that the bound is torch's float for float. The same distribution as :func:`uniform`
    (variance ``1 / (3 fan_in)``, a third of He's: torch's layers start small on purpose); kept under
    this name so the doctor and the lab can compare against "what torch would have done". Its bias
    rule, ``b ~ U[-1/sqrt(fan_in), 1/sqrt(fan_in)]``, is :func:`torch_default_bias`. Keras' layer
    default is :func:`xavier_uniform` with zero biases.

    >>> bool(abs(torch_default((400, 30), rng=0)).max() <= 1 / math.sqrt(400))
    True
    """
    fan_in, _ = fans(shape, layout=layout)
    dtype = _as_float_dtype(dtype)
    gen = as_rng(rng)
    std = gain("leaky_relu", _TORCH_DEFAULT_SLOPE) / math.sqrt(fan_in) if fan_in else 0.0
    bound = math.sqrt(3.0) * std
    return gen.uniform(-bound, bound, size=_as_shape(shape)).astype(dtype, copy=False)


def torch_default_bias(shape, *, fan_in: int, rng=None, dtype=np.float32) -> np.ndarray:
    """PyTorch's default bias for ``nn.Linear`` and ``nn.Conv*d``: ``b ~ U[-1/sqrt(fan_in), 1/sqrt(fan_in)]``.

    ``fan_in`` is the layer's weight's (a bias has no fan of its own); 0 gives zeros, as torch does.

    >>> b = torch_default_bias(5, fan_in=100, rng=0)
    >>> b.shape, bool(abs(b).max() <= 0.1)
    ((5,), True)
    """
    fan_in = check_int("fan_in", fan_in, 0)
    dtype = _as_float_dtype(dtype)
    gen = as_rng(rng)
    bound = 1.0 / math.sqrt(fan_in) if fan_in else 0.0
    return gen.uniform(-bound, bound, size=_as_shape(shape)).astype(dtype, copy=False)


# Aliases: the same functions under the other authors' names.
